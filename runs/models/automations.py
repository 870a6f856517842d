from django.db import models

from .base import TimestampedModel


class Automation(TimestampedModel):
    """A trigger (which events, or their absence) and the actions to take when it fires.

    The trigger and actions are stored as the validated, normalised JSON the API returns;
    runs/automations evaluates the trigger and runs the actions.
    """

    name = models.CharField(max_length=255)
    description = models.TextField(blank=True, default="")
    enabled = models.BooleanField(default=True)
    tags = models.JSONField(default=list, blank=True)
    trigger = models.JSONField()
    actions = models.JSONField(default=list)
    actions_on_trigger = models.JSONField(default=list, blank=True)
    actions_on_resolve = models.JSONField(default=list, blank=True)

    class Meta:
        indexes = [models.Index(fields=["name", "id"], name="automation_name")]

    def __str__(self):
        return self.name


class AutomationRelatedResource(TimestampedModel):
    """A resource (`prefect.deployment.<id>`...) an automation belongs to or acts on.

    `owned_by_resource` marks the automations a deployment's triggers created: they are replaced
    whenever the deployment is (re)deployed.
    """

    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="related_resources")
    resource_id = models.CharField(max_length=1024, db_index=True)
    owned_by_resource = models.BooleanField(default=False)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["automation", "resource_id"], name="automation_related_resource_unique"),
        ]

    def __str__(self):
        return f"{self.automation_id} -> {self.resource_id}"


class AutomationBucket(models.Model):
    """The events one event trigger has counted in its current window, for one `for_each` key.

    Kept in the database (not in a process) so any server instance or worker can evaluate the
    trigger; a row is locked while an event or the proactive service updates it.
    """

    id = models.BigAutoField(primary_key=True)
    automation = models.ForeignKey(Automation, on_delete=models.CASCADE, related_name="buckets")
    trigger_id = models.UUIDField()
    # The trigger's for_each label values (sorted by label) as a JSON list: one bucket per key.
    bucketing_key = models.TextField(default="[]")
    start = models.DateTimeField()
    end = models.DateTimeField(db_index=True)
    count = models.IntegerField(default=0)
    last_event = models.JSONField(null=True, blank=True)
    updated = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["automation", "trigger_id", "bucketing_key"], name="automation_bucket_unique"
            ),
        ]

    def __str__(self):
        return f"{self.trigger_id} {self.bucketing_key}: {self.count}"
