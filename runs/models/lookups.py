"""`tags__has_tag="x"`: membership in a JSON list column, on PostgreSQL and SQLite alike.

Django's JSON `contains` lookup is not available on SQLite, and a LIKE on the JSON text would
match substrings of other tags.
"""

import json

from django.db.models import JSONField, Lookup


@JSONField.register_lookup
class HasTag(Lookup):
    lookup_name = "has_tag"
    prepare_rhs = False

    def get_db_prep_lookup(self, value, connection):
        return ("%s", [value])

    def as_sql(self, compiler, connection):
        lhs, lhs_params = self.process_lhs(compiler, connection)
        if connection.vendor == "postgresql":
            return f"{lhs} @> %s::jsonb", [*lhs_params, json.dumps([self.rhs])]
        return f"EXISTS (SELECT 1 FROM json_each({lhs}) WHERE json_each.value = %s)", [*lhs_params, self.rhs]
