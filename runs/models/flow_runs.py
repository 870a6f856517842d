from django.db import models

from .base import RunModel, StateModel


class FlowRun(RunModel):
    state = models.ForeignKey(
        "runs.FlowRunState", null=True, blank=True, on_delete=models.DO_NOTHING, db_constraint=False, related_name="+"
    )
    flow = models.ForeignKey("runs.Flow", on_delete=models.CASCADE, related_name="flow_runs")
    # Deployments and work queues arrive with their own issue; until then these are plain references.
    deployment_id = models.UUIDField(null=True, blank=True)
    deployment_version = models.CharField(max_length=255, null=True, blank=True)
    work_queue_name = models.CharField(max_length=255, null=True, blank=True)
    work_queue_id = models.UUIDField(null=True, blank=True)
    flow_version = models.CharField(max_length=255, null=True, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    context = models.JSONField(default=dict, blank=True)
    parent_task_run = models.ForeignKey(
        "runs.TaskRun", null=True, blank=True, on_delete=models.SET_NULL, related_name="subflow_runs"
    )
    auto_scheduled = models.BooleanField(default=False)
    infrastructure_document_id = models.UUIDField(null=True, blank=True)
    infrastructure_pid = models.CharField(max_length=255, null=True, blank=True)
    created_by = models.JSONField(null=True, blank=True)
    job_variables = models.JSONField(default=dict, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["flow", "-expected_start_time"], name="flow_run_flow_expected"),
            # Every sort ends with the id as tie-breaker; the indexes include it so a sorted page is
            # read straight off the index instead of sorting the whole table.
            models.Index(fields=["-expected_start_time", "-id"], name="flow_run_expected_start"),
            models.Index(fields=["state_type", "-expected_start_time"], name="flow_run_state_type"),
            # The home page's counts per state and time bucket, read from the index alone (no table scan).
            models.Index(fields=["expected_start_time", "state_type"], name="flow_run_expected_state"),
            models.Index(fields=["-total_run_time", "-id"], name="flow_run_run_time"),  # "longest run time" sort
            models.Index(fields=["-start_time", "-id"], name="flow_run_start_time"),
            models.Index(fields=["-end_time", "-id"], name="flow_run_end_time"),
            models.Index(fields=["next_scheduled_start_time"], name="flow_run_next_scheduled"),
            models.Index(fields=["deployment_id", "-expected_start_time"], name="flow_run_deployment"),
            models.Index(fields=["name"], name="flow_run_name"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["flow", "idempotency_key"],
                condition=models.Q(idempotency_key__isnull=False),
                name="flow_run_idempotency_key_unique",
            ),
        ]


class FlowRunState(StateModel):
    flow_run = models.ForeignKey(FlowRun, on_delete=models.CASCADE, related_name="states")

    class Meta:
        indexes = [models.Index(fields=["flow_run", "timestamp"], name="flow_run_state_by_run")]
