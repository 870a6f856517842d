"""Background tasks: the task workers subscribed to scheduled task runs, and what was handed to them.

Both live in the database, not in a web process's memory: a task worker may be connected to any
gunicorn worker (or server instance), and a run scheduled through one must reach a worker on another.
"""

import uuid

from django.db import models


class TaskWorker(models.Model):
    """One open subscription (`/api/task_runs/subscriptions/scheduled`); `client_id` names the process."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    client_id = models.CharField(max_length=255)
    task_keys = models.JSONField(default=list)
    connected = models.DateTimeField()
    # Touched while the socket is open; a row whose server process died goes stale and is ignored.
    last_seen = models.DateTimeField(db_index=True)

    def __str__(self):
        return self.client_id


class TaskRunDelivery(models.Model):
    """A deferred Scheduled state handed to a task worker.

    Keyed on the state, so a run scheduled again (a new deferred Scheduled state) is delivered again.
    The subscriber holds it while `lease_until` is ahead, renewing the lease while its socket is open;
    a run still in this state once the lease ran out (its worker left) is handed out again.
    """

    state_id = models.UUIDField(primary_key=True)
    task_run = models.ForeignKey("runs.TaskRun", on_delete=models.CASCADE, related_name="+")
    subscriber = models.UUIDField(db_index=True)  # the TaskWorker connection holding it
    lease_until = models.DateTimeField()
    acknowledged = models.DateTimeField(null=True, blank=True)
    deliveries = models.IntegerField(default=1)  # how many times it was handed out

    class Meta:
        verbose_name_plural = "task run deliveries"
