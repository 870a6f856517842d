"""Ordered rule lists. Order matters: the first rule that rejects, delays or aborts a transition
stops the rules after it from seeing it.

Every written transition then gets the global bookkeeping (bookkeeping.py); a written flow-run
state also publishes its event (instrumentation.py) and, for a subflow, is mirrored onto the
parent task run. Those run for every policy, force included, so they are not listed here.
"""

from .rules.common import CopyScheduledTime, WaitForScheduledTime
from .rules.deployment_concurrency import (
    ReleaseFlowConcurrencySlots,
    SecureFlowConcurrencySlots,
    ValidateDeploymentConcurrencyAtRunning,
)
from .rules.flow_runs import (
    BypassCancellingFlowRunsWithNoInfra,
    EnforceCancellingToCancelledTransition,
    EnsureOnlyScheduledFlowsMarkedLate,
    HandleFlowTerminalStateTransitions,
    HandlePausingFlows,
    HandleResumingPausedFlows,
    PreserveDeploymentConcurrencyLeaseId,
    PreventDuplicateTransitions,
    PreventPendingTransitions,
    PreventResultDataLoss,
    RetryFailedFlows,
)
from .rules.task_runs import (
    HandleTaskTerminalStateTransitions,
    PreventRunningTasksFromStoppedFlows,
    RenameReruns,
    RetryFailedTasks,
    UpdateFlowRunTrackerOnTasks,
)

CORE_FLOW_POLICY = (
    PreserveDeploymentConcurrencyLeaseId,
    PreventDuplicateTransitions,
    HandleFlowTerminalStateTransitions,
    EnforceCancellingToCancelledTransition,
    BypassCancellingFlowRunsWithNoInfra,
    PreventPendingTransitions,
    ValidateDeploymentConcurrencyAtRunning,
    SecureFlowConcurrencySlots,
    # Still to come: dropping leases of clients too old to renew them (none this old are supported).
    EnsureOnlyScheduledFlowsMarkedLate,
    HandlePausingFlows,
    HandleResumingPausedFlows,
    CopyScheduledTime,
    WaitForScheduledTime,
    RetryFailedFlows,
    ReleaseFlowConcurrencySlots,
)

# force=true: the caller (a worker cancelling, the UI) knows better than the policy, but a stored
# result is still never dropped and a run with no process is still cancelled directly.
MINIMAL_FLOW_POLICY = (
    PreventResultDataLoss,
    BypassCancellingFlowRunsWithNoInfra,
    ReleaseFlowConcurrencySlots,
)

CORE_TASK_POLICY = (
    # Server-side result caching (cache_key lookup on -> RUNNING) goes first when it arrives.
    HandleTaskTerminalStateTransitions,
    PreventRunningTasksFromStoppedFlows,
    # Tag concurrency slots (-> RUNNING) go here, after the checks that may refuse the run.
    CopyScheduledTime,
    WaitForScheduledTime,
    RetryFailedTasks,
    RenameReruns,
    UpdateFlowRunTrackerOnTasks,
    # Cache insertion (-> COMPLETED) and releasing tag concurrency slots go last.
)

# force=true on a task run: nothing but the bookkeeping (slot release joins when limits arrive).
MINIMAL_TASK_POLICY = ()
