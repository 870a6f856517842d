"""The `prefect.flow-run.<State name>` event published for every flow-run state written.

Runners and workers learn about cancellations (and flow processes about suspensions) only
from these events on /api/events/out, so they are part of the wire contract.
"""

from datetime import timedelta

from .datetimes import format_instant

# Messages can hold whole tracebacks or results; keep events small.
MESSAGE_LIMIT = 100_000
# `follows` orders events that arrive out of order; only worth linking when they are close.
FOLLOWS_WINDOW = timedelta(minutes=5)
MAX_RELATED = 100


def shorten(message: str | None, limit: int = MESSAGE_LIMIT) -> str:
    if not message:
        return ""
    if len(message) <= limit:
        return message
    half = limit // 2
    omitted = len(message) - 2 * half
    return f"{message[:half]}...{omitted} additional characters...{message[-half:]}"


def state_summary(state) -> dict | None:
    if state is None:
        return None
    summary = {"type": state.type}
    if state.name:
        summary["name"] = state.name
    if state.message:
        summary["message"] = shorten(state.message)
    if state.type == "PAUSED":
        summary["pause_reschedule"] = str(bool((state.state_details or {}).get("pause_reschedule"))).lower()
    return summary


def flow_run_related_resources(flow_run, flow, parent_task_run=None) -> list[dict]:
    related = []
    tags = set(flow_run.tags or [])
    if flow is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.flow.{flow.id}",
                "prefect.resource.role": "flow",
                "prefect.resource.name": flow.name,
            }
        )
        tags.update(flow.tags or [])
    # Deployments, work queues and pools get their own models later; until then only ids are known.
    if flow_run.deployment_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.deployment.{flow_run.deployment_id}",
                "prefect.resource.role": "deployment",
            }
        )
    if flow_run.work_queue_id:
        related.append(
            {
                "prefect.resource.id": f"prefect.work-queue.{flow_run.work_queue_id}",
                "prefect.resource.role": "work-queue",
            }
        )
        if flow_run.work_queue_name:
            related[-1]["prefect.resource.name"] = flow_run.work_queue_name
    work_pool_id = (flow_run.labels or {}).get("prefect.work-pool.id")
    if work_pool_id:
        related.append(
            {"prefect.resource.id": f"prefect.work-pool.{work_pool_id}", "prefect.resource.role": "work-pool"}
        )
        if (flow_run.labels or {}).get("prefect.work-pool.name"):
            related[-1]["prefect.resource.name"] = flow_run.labels["prefect.work-pool.name"]
    if parent_task_run is not None:
        related.append(
            {
                "prefect.resource.id": f"prefect.task-run.{parent_task_run.id}",
                "prefect.resource.role": "task-run",
                "prefect.resource.name": parent_task_run.name,
            }
        )
        tags.update(parent_task_run.tags or [])
    related.extend(_creator(flow_run.created_by))
    # Events carry at most MAX_RELATED resources; a run with very many tags loses the excess tags
    # rather than failing its state change.
    room = max(MAX_RELATED - len(related), 0)
    related.extend(
        {"prefect.resource.id": f"prefect.tag.{tag}", "prefect.resource.role": "tag"}
        for tag in sorted(map(str, tags))[:room]
    )
    return related


def _creator(created_by) -> list[dict]:
    if not isinstance(created_by, dict) or not created_by.get("id"):
        return []
    kind = {"DEPLOYMENT": "deployment", "AUTOMATION": "automation"}.get(created_by.get("type"))
    if kind is None:
        return []
    creator = {"prefect.resource.id": f"prefect.{kind}.{created_by['id']}", "prefect.resource.role": "creator"}
    if created_by.get("display_value"):
        creator["prefect.resource.name"] = created_by["display_value"]
    return [creator]


def flow_run_state_event(*, flow_run, flow, initial_state, validated_state, parent_task_run=None) -> dict:
    """The event as it goes on the wire. Its id is the new state's id, so a state change is
    published once however often the event is re-recorded."""
    occurred = validated_state.timestamp
    follows = None
    if initial_state is not None and abs(occurred - initial_state.timestamp) < FOLLOWS_WINDOW:
        follows = str(initial_state.id)
    return {
        "id": str(validated_state.id),
        "occurred": format_instant(occurred),
        "event": f"prefect.flow-run.{validated_state.name}",
        "resource": {
            "prefect.resource.id": f"prefect.flow-run.{flow_run.id}",
            "prefect.resource.name": flow_run.name,
            "prefect.run-count": str(flow_run.run_count),
            "prefect.state-message": shorten(validated_state.message),
            "prefect.state-name": validated_state.name or "",
            "prefect.state-timestamp": format_instant(validated_state.timestamp),
            "prefect.state-type": validated_state.type,
        },
        "related": flow_run_related_resources(flow_run, flow, parent_task_run),
        "payload": {
            "intended": {
                "from": initial_state.type if initial_state is not None else None,
                "to": validated_state.type,
            },
            "initial_state": state_summary(initial_state),
            "validated_state": state_summary(validated_state),
        },
        "follows": follows,
    }
