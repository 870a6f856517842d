"""Deployment concurrency: at most `concurrency_limit` runs of a deployment in progress at once.

The limit is a global concurrency limit named `deployment:<id>` (runs/domain/deployments.py keeps
it in step with the deployment). A run takes a slot, held by a lease, when it moves to Pending
and gives it back when it leaves Pending / Running / Cancelling for anything else; the lease id
travels in `state_details.deployment_concurrency_lease_id` (the client renews it while running).
"""

from datetime import timedelta

from django.utils import timezone

from runs.domain import concurrency
from runs.models import Deployment, StateType

from ..context import new_state
from .base import ANY_STATE, Rule

IN_PROGRESS = frozenset({StateType.PENDING, StateType.RUNNING, StateType.CANCELLING})
# The first lease covers submission and start-up; the running client renews it from then on.
INITIAL_LEASE_SECONDS = 300
# An enqueued run is offered again this much later (a served process or worker polls every ~10 s).
SLOT_WAIT_SECONDS = 30


def deployment_limit(ctx):
    """(deployment, limit name) when the run's deployment has a concurrency limit, else None."""
    if not ctx.is_flow_run or not ctx.run.deployment_id:
        return None
    deployment = (
        Deployment.objects.filter(pk=ctx.run.deployment_id)
        .only("id", "concurrency_limit", "concurrency_options")
        .first()
    )
    if deployment is None or deployment.concurrency_limit is None:
        return None
    return deployment, deployment_limit_name(deployment.id)


def deployment_limit_name(deployment_id) -> str:
    return f"deployment:{deployment_id}"


def refuse_for_full_limit(ctx, deployment) -> None:
    """The collision strategy's answer when the deployment's limit is full."""
    strategy = (deployment.concurrency_options or {}).get("collision_strategy") or "ENQUEUE"
    if strategy == "CANCEL_NEW":
        ctx.reject(new_state(StateType.CANCELLED, message="Deployment concurrency limit reached."),
                   "Deployment concurrency limit reached.")
    else:
        retry_at = timezone.now() + timedelta(seconds=SLOT_WAIT_SECONDS)
        ctx.reject(new_state(StateType.SCHEDULED, name="AwaitingConcurrencySlot", scheduled_time=retry_at),
                   "Deployment concurrency limit reached.")


def take_slot(ctx, name: str):
    """A leased slot on the deployment's limit for this run (None if the limit is gone)."""
    acquired = concurrency.acquire_slots(
        names=[name], slots=1, lease_duration=INITIAL_LEASE_SECONDS, holder_type="flow_run", holder_id=ctx.run.id,
    )
    return acquired.lease_id if acquired.limits else None


class ValidateDeploymentConcurrencyAtRunning(Rule):
    """Check the run still holds its slot when it starts running.

    Guards: a run that sat in Pending longer than its lease (a slow worker, a long pull step) and
    lost its slot to lease expiry; starting it anyway could exceed the limit. The lease is renewed;
    if it is gone a slot is taken again, and if none is free the collision strategy applies.
    """

    FROM_STATES = frozenset({StateType.PENDING})
    TO_STATES = frozenset({StateType.RUNNING})

    def before_transition(self, ctx):
        self.new_lease_id = None
        found = deployment_limit(ctx)
        if found is None:
            return
        deployment, name = found
        lease_id = ctx.initial_details.get("deployment_concurrency_lease_id")
        if lease_id:
            try:
                concurrency.renew_lease(lease_id=lease_id, lease_duration=INITIAL_LEASE_SECONDS)
                return
            except concurrency.LeaseGone:
                pass
        try:
            self.new_lease_id = take_slot(ctx, name)
        except concurrency.SlotsLocked:
            refuse_for_full_limit(ctx, deployment)
            return
        if self.new_lease_id:
            ctx.proposed_details["deployment_concurrency_lease_id"] = str(self.new_lease_id)

    def cleanup(self, ctx):
        if self.new_lease_id:
            concurrency.release_lease(lease_id=self.new_lease_id)


class SecureFlowConcurrencySlots(Rule):
    """Take a deployment concurrency slot on the way into Pending.

    Guards: more runs of a deployment in progress than its limit allows. When the limit is full the
    collision strategy decides: ENQUEUE reschedules the run ("AwaitingConcurrencySlot") to be
    offered again shortly, CANCEL_NEW cancels it. A limit of 0 never lets a run start.
    """

    FROM_STATES = ANY_STATE - IN_PROGRESS
    TO_STATES = frozenset({StateType.PENDING})

    def before_transition(self, ctx):
        self.lease_id = None
        found = deployment_limit(ctx)
        if found is None:
            return
        deployment, name = found
        if deployment.concurrency_limit == 0:
            ctx.abort("The deployment concurrency limit is 0.")
            return
        try:
            self.lease_id = take_slot(ctx, name)
        except concurrency.SlotsLocked:
            refuse_for_full_limit(ctx, deployment)
            return
        if self.lease_id:
            ctx.proposed_details["deployment_concurrency_lease_id"] = str(self.lease_id)

    def cleanup(self, ctx):
        # Another rule turned the transition into something else: the slot is not needed.
        if self.lease_id:
            concurrency.release_lease(lease_id=self.lease_id)


class ReleaseFlowConcurrencySlots(Rule):
    """Give the deployment slot back when a run leaves Pending / Running / Cancelling.

    Guards: a finished (or rescheduled, or crashed) run holding its slot until its lease expires,
    which would keep the next enqueued run waiting for minutes. A run sent back to AwaitingRetry
    keeps its slot for the retry. Part of the minimal policy, so a forced Cancelled releases too.
    """

    FROM_STATES = IN_PROGRESS
    TO_STATES = ANY_STATE - IN_PROGRESS

    def after_transition(self, ctx):
        self._release(ctx)

    def cleanup(self, ctx):
        # Rejected into another state: release unless the run is still (or again) in progress.
        if ctx.created and ctx.validated_state is not None and ctx.validated_state.type not in IN_PROGRESS:
            self._release(ctx)

    def _release(self, ctx):
        validated = ctx.validated_state
        if validated is not None and validated.name == "AwaitingRetry":
            return
        lease_id = ctx.initial_details.get("deployment_concurrency_lease_id")
        if lease_id:
            concurrency.release_lease(lease_id=lease_id)
