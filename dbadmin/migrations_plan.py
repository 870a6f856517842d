"""The project's migrations as one ordered list, and the plans the database commands follow.

All apps' migrations (contenttypes, auth, admin, sessions, django_q, runs, ...) form one list in
the order they were applied: first those recorded as applied (in the order the database recorded
them), then the pending ones in the order `migrate` would apply them. Because both parts respect
dependencies, undoing a tail of the applied part, or applying a head of the pending part, is always
safe; that is what lets `-r -N`, `-r NAME` and `-r base` work across apps.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.apps import apps as installed_apps
from django.core.management.sql import emit_post_migrate_signal, emit_pre_migrate_signal
from django.db import connection
from django.db.migrations.executor import MigrationExecutor
from django.db.migrations.loader import MigrationLoader
from django.db.migrations.recorder import MigrationRecorder
from django.db.migrations.state import ModelState

MigrationKey = tuple[str, str]  # (app_label, migration name)


class RevisionError(Exception):
    """A revision argument that names nothing, or more than one migration."""


@dataclass(frozen=True)
class Revision:
    key: MigrationKey
    applied: bool

    @property
    def label(self) -> str:
        return f"{self.key[0]}.{self.key[1]}"


@dataclass(frozen=True)
class Plan:
    direction: str  # "upgrade" or "downgrade"
    steps: list[MigrationKey]  # in the order they will run

    @property
    def labels(self) -> list[str]:
        return [f"{app}.{name}" for app, name in self.steps]


def list_revisions(*, read_database: bool = True) -> list[Revision]:
    """Every migration of the project, applied ones first in applied order, then pending ones.

    With read_database False (a database file that does not exist yet) all are pending and no
    connection is opened, so a dry run cannot create the file.
    """
    loader = MigrationLoader(None, ignore_no_migrations=True)
    graph = loader.graph
    applied = recorded_order(graph) if read_database else []
    applied_set = set(applied)
    pending: list[MigrationKey] = []
    seen = set(applied_set)
    for leaf in sorted(graph.leaf_nodes()):
        for key in graph.forwards_plan(leaf):
            if key not in seen:
                seen.add(key)
                pending.append(key)
    return [Revision(key, True) for key in applied] + [Revision(key, False) for key in pending]


def recorded_order(graph) -> list[MigrationKey]:
    recorder = MigrationRecorder(connection)
    if not recorder.has_table():
        return []
    rows = recorder.migration_qs.order_by("id").values_list("app", "name")
    # Records of migrations whose files are gone (or replaced by a squash) are not ours to undo.
    return [key for key in rows if key in graph.nodes]


def resolve(revisions: list[Revision], text: str) -> Revision:
    """A migration named by `app.name`, `app:name` or `name`, or any unique prefix of those."""
    wanted = text.strip().replace(":", ".")
    exact = [rev for rev in revisions if wanted in (rev.label, rev.key[1])]
    matches = exact or [
        rev for rev in revisions if rev.label.startswith(wanted) or rev.key[1].startswith(wanted)
    ]
    if len(matches) == 1:
        return matches[0]
    if not matches:
        raise RevisionError(
            f"No migration matches {text!r}. `python manage.py database revisions` lists them; "
            "use `base`, `head`, a negative step count like -1, or a migration name."
        )
    names = ", ".join(rev.label for rev in matches)
    raise RevisionError(f"{text!r} matches {len(matches)} migrations ({names}); give more of the name.")


def step_count(text: str) -> int | None:
    """-N (or +N) as a number of steps, else None."""
    text = text.strip()
    if text[:1] in "+-" and text[1:].isdigit():
        count = int(text[1:])
        if count == 0:
            raise RevisionError("A step count must not be zero.")
        return count
    return None


def plan_upgrade(revisions: list[Revision], target: str = "head") -> Plan:
    """Apply pending migrations: all (head), the next N (-N), or up to and including NAME."""
    pending = [rev.key for rev in revisions if not rev.applied]
    target = target.strip()
    if target == "head":
        return Plan("upgrade", pending)
    if target == "base":
        raise RevisionError("`base` is the empty database: upgrading to it would remove migrations; "
                            "use `database downgrade -r base`.")
    count = step_count(target)
    if count is not None:
        return Plan("upgrade", pending[:count])
    revision = resolve(revisions, target)
    if revision.applied:
        return Plan("upgrade", [])
    return Plan("upgrade", pending[: pending.index(revision.key) + 1])


def plan_downgrade(revisions: list[Revision], target: str = "-1") -> Plan:
    """Undo applied migrations: the last N (-N), everything after NAME, or everything (base)."""
    applied = [rev.key for rev in revisions if rev.applied]
    target = target.strip()
    if target == "base":
        undo = applied
    elif target == "head":
        undo = []
    elif (count := step_count(target)) is not None:
        undo = applied[-count:] if count else []
    else:
        revision = resolve(revisions, target)
        if not revision.applied:
            raise RevisionError(f"{revision.label} is not applied, so the database cannot be downgraded to it.")
        undo = applied[applied.index(revision.key) + 1 :]
    return Plan("downgrade", list(reversed(undo)))


def execute(plan: Plan, *, verbosity: int = 1, progress=None) -> None:
    """Run a plan with the same signals `migrate` sends, so content types and permissions follow."""
    if not plan.steps:
        return
    executor = MigrationExecutor(connection, progress_callback=progress)
    backwards = plan.direction == "downgrade"
    steps = [(executor.loader.graph.nodes[key], backwards) for key in plan.steps]
    pre_state = executor._create_project_state(with_applied_migrations=True)
    emit_pre_migrate_signal(verbosity, False, connection.alias, apps=pre_state.apps, plan=steps)
    post_state = executor.migrate(None, plan=steps, state=pre_state.clone())
    emit_post_migrate_signal(verbosity, False, connection.alias, apps=post_migrate_apps(post_state), plan=steps)


def post_migrate_apps(state):
    # Apps without migrations are rendered without relations until the final state is known;
    # re-render them from the code so post_migrate receivers see complete models.
    state.clear_delayed_apps_cache()
    apps = state.apps
    with apps.bulk_update():
        current = [(model_state.app_label, model_state.name_lower) for model_state in apps.real_models]
        for key in current:
            apps.unregister_model(*key)
    apps.render_multiple([ModelState.from_model(installed_apps.get_model(*key)) for key in current])
    return apps
