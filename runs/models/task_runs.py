from django.db import models

from .base import RunModel, StateModel


class TaskRun(RunModel):
    state = models.ForeignKey(
        "runs.TaskRunState", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    flow_run = models.ForeignKey(
        "runs.FlowRun", null=True, blank=True, on_delete=models.CASCADE, related_name="task_runs"
    )
    task_key = models.CharField(max_length=255)
    dynamic_key = models.CharField(max_length=255)
    cache_key = models.TextField(null=True, blank=True)
    cache_expiration = models.DateTimeField(null=True, blank=True)
    task_version = models.CharField(max_length=255, null=True, blank=True)
    task_inputs = models.JSONField(default=dict, blank=True)
    flow_run_run_count = models.IntegerField(default=0)

    class Meta:
        indexes = [
            models.Index(fields=["flow_run", "-expected_start_time"], name="task_run_by_flow_run"),
            models.Index(fields=["-expected_start_time", "-id"], name="task_run_expected_start"),
            models.Index(fields=["state_type", "-expected_start_time"], name="task_run_state_type"),
            models.Index(fields=["name"], name="task_run_name"),
        ]
        constraints = [
            # The natural key the client's events are matched on; a run is never recorded twice.
            models.UniqueConstraint(fields=["flow_run", "task_key", "dynamic_key"], name="task_run_natural_key"),
        ]


class TaskRunState(StateModel):
    task_run = models.ForeignKey(TaskRun, on_delete=models.CASCADE, related_name="states")

    class Meta:
        indexes = [models.Index(fields=["task_run", "timestamp"], name="task_run_state_by_run")]
