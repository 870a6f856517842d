"""Rules shared by flow runs and task runs."""

import math

from django.utils import timezone

from runs.models import StateType

from ..datetimes import parse_instant
from .base import Rule


class CopyScheduledTime(Rule):
    """Carry the scheduled time from Scheduled into Pending.

    Guards: a run submitted from its schedule would otherwise lose the time it was due, and
    WaitForScheduledTime could no longer hold back an early Running. A time proposed on the
    Pending state itself wins.
    """

    FROM_STATES = frozenset({StateType.SCHEDULED})
    TO_STATES = frozenset({StateType.PENDING})

    def before_transition(self, ctx):
        if not ctx.proposed_details.get("scheduled_time"):
            ctx.proposed_details["scheduled_time"] = ctx.initial_details.get("scheduled_time")


class WaitForScheduledTime(Rule):
    """Hold back a Running proposed before the current state's scheduled time.

    Guards: a worker or client whose clock runs ahead starting a run early. Nothing is written;
    the client is told to wait the remaining whole seconds (rounded to the nearest second, as the
    wire format is an integer) and propose again.
    """

    FROM_STATES = frozenset({StateType.SCHEDULED, StateType.PENDING})
    TO_STATES = frozenset({StateType.RUNNING})

    def before_transition(self, ctx):
        scheduled_time = parse_instant(ctx.initial_details.get("scheduled_time"))
        if scheduled_time is None:
            return
        delay_seconds = math.floor((scheduled_time - timezone.now()).total_seconds() + 0.5)
        if delay_seconds > 0:
            ctx.wait(delay_seconds, "Scheduled time is in the future")
