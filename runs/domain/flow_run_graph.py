"""The graph of a flow run the UI draws: its task runs and subflow runs as nodes, with the edges their
inputs describe, its artifacts and its state history (`GET /flow_runs/{id}/graph-v2`), and the older
per-task dependency list (`/graph`)."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timezone

from runs.models import Artifact, ArtifactCollection, FlowRun, FlowRunState, StateType, TaskRun

from .errors import InvalidInput, NotFound
from .runs import estimated_run_time

MAX_GRAPH_NODES = 10_000
MAX_GRAPH_ARTIFACTS = 10_000
EARLIEST = datetime(1, 1, 1, tzinfo=timezone.utc)
ENCAPSULATING_INPUT = "__parents__"  # a task run called inside another task: drawn inside it, not after it


class GraphTooLarge(InvalidInput):
    """-> 400, as the reference answers a graph over its node limit."""


def referenced_ids(inputs) -> list[str]:
    """The run ids an input list names ({"input_type": "task_run", "id": ...}); other inputs are skipped."""
    if not isinstance(inputs, list):
        return []
    return [str(item["id"]) for item in inputs if isinstance(item, dict) and item.get("id")]


def graph_nodes(flow_run_id, since: datetime, max_nodes: int) -> list[dict]:
    task_runs = list(TaskRun.objects.filter(flow_run_id=flow_run_id))
    subflows = {
        run.parent_task_run_id: run
        for run in FlowRun.objects.filter(parent_task_run__in=[task.id for task in task_runs]).select_related("flow")
    }
    nodes: dict[str, dict] = {}
    node_of_task: dict[str, str] = {}
    for task in task_runs:
        subflow = subflows.get(task.id)
        if subflow is not None:
            start = subflow.start_time or subflow.expected_start_time
            node = {"kind": "flow-run", "id": subflow.id, "label": f"{subflow.flow.name} / {subflow.name}",
                    "state_type": subflow.state_type, "start_time": start, "end_time": subflow.end_time}
        else:
            start = task.start_time or task.expected_start_time
            end = task.end_time or (task.expected_start_time if task.state_type == StateType.COMPLETED else None)
            node = {"kind": "task-run", "id": task.id, "label": task.name, "state_type": task.state_type,
                    "start_time": start, "end_time": end}
        if start is None:
            continue  # not started nor expected: nothing to place on a timeline
        node.update(task=task, parents=[], children=[], encapsulating=[])
        nodes[str(node["id"])] = node
        node_of_task[str(task.id)] = str(node["id"])

    def by_start(ids):
        return sorted(ids, key=lambda node_id: nodes[node_id]["start_time"])

    for node_id, node in nodes.items():
        parents, encapsulating = set(), []
        for key, inputs in (node["task"].task_inputs or {}).items():
            for referenced in referenced_ids(inputs):
                if referenced not in nodes:
                    continue  # an input from outside this flow run, or a run not placed
                if key == ENCAPSULATING_INPUT:
                    encapsulating.append(referenced)
                else:
                    parents.add(referenced)
        node["parents"] = by_start(parents)
        node["encapsulating"] = by_start(dict.fromkeys(encapsulating))
        for parent in parents:
            nodes[parent]["children"].append(node_id)
    for node in nodes.values():
        node["children"] = by_start(set(node["children"]))

    placed = [node for node in nodes.values() if node["end_time"] is None or node["end_time"] >= since]
    placed.sort(key=lambda node: (node["start_time"], node["end_time"] is None, node["end_time"] or since))
    if len(placed) > max_nodes:
        raise GraphTooLarge(f"The graph of flow run {flow_run_id} has more than {max_nodes} nodes.")
    return placed


def graph_artifacts(flow_run_id, max_artifacts: int) -> dict:
    artifacts = list(
        Artifact.objects.filter(flow_run_id=flow_run_id).exclude(type="result").order_by("created", "id")[:max_artifacts]
    )
    keys = {artifact.key for artifact in artifacts if artifact.key}
    latest_ids = set(ArtifactCollection.objects.filter(key__in=keys).values_list("latest_id", flat=True))
    grouped = defaultdict(list)
    for artifact in artifacts:
        grouped[artifact.task_run_id].append({
            "id": artifact.id,
            "created": artifact.created,
            "key": artifact.key,
            "type": artifact.type,
            "is_latest": artifact.key is None or artifact.id in latest_ids,
            "data": artifact.data if artifact.type == "progress" else None,  # the graph draws progress bars only
        })
    return grouped


def read_flow_run_graph(*, flow_run_id, since: datetime | None = None, max_nodes: int = MAX_GRAPH_NODES,
                        max_artifacts: int = MAX_GRAPH_ARTIFACTS) -> dict:
    run = FlowRun.objects.filter(id=flow_run_id).values("start_time", "expected_start_time", "end_time").first()
    if run is None:
        raise NotFound(f"Flow run {flow_run_id} not found")
    if since is not None and since.tzinfo is None:
        since = since.replace(tzinfo=timezone.utc)  # a time without a zone is read as UTC
    nodes = graph_nodes(flow_run_id, since or EARLIEST, max_nodes)
    artifacts = graph_artifacts(flow_run_id, max_artifacts)
    edge = lambda ids: [{"id": node_id} for node_id in ids]  # noqa: E731
    return {
        "start_time": run["start_time"] or run["expected_start_time"],
        "end_time": run["end_time"],
        "root_node_ids": [node["id"] for node in nodes if not node["parents"]],
        "nodes": [
            [node["id"], {
                "kind": node["kind"], "id": node["id"], "label": node["label"], "state_type": node["state_type"],
                "start_time": node["start_time"], "end_time": node["end_time"],
                "parents": edge(node["parents"]), "children": edge(node["children"]),
                "encapsulating": edge(node["encapsulating"]),
                "artifacts": artifacts.get(node["task"].id, []),
            }]
            for node in nodes
        ],
        "artifacts": artifacts.get(None, []),
        "states": [
            {"id": state.id, "timestamp": state.timestamp, "type": state.type, "name": state.name}
            for state in FlowRunState.objects.filter(flow_run_id=flow_run_id).order_by("timestamp", "id")
        ],
    }


def read_task_run_dependencies(*, flow_run_id) -> list[dict]:
    """Each task run of the flow run with the runs its inputs came from (the v1 graph)."""
    if not FlowRun.objects.filter(id=flow_run_id).exists():
        raise NotFound(f"Flow run with id {flow_run_id} not found")
    result = []
    for task in TaskRun.objects.filter(flow_run_id=flow_run_id).select_related("state").order_by("-expected_start_time", "id"):
        upstream = {}
        for inputs in (task.task_inputs or {}).values():
            for item in inputs if isinstance(inputs, list) else []:
                if isinstance(item, dict):
                    upstream.setdefault(str(item), item)
        state = task.state
        result.append({
            "id": task.id,
            "name": task.name,
            "upstream_dependencies": list(upstream.values()),
            "state": None if state is None else {
                "id": state.id, "type": state.type, "name": state.name, "timestamp": state.timestamp,
                "message": state.message, "data": state.data, "state_details": state.state_details,
            },
            "expected_start_time": task.expected_start_time,
            "start_time": task.start_time,
            "end_time": task.end_time,
            "total_run_time": task.total_run_time,
            "estimated_run_time": estimated_run_time(task),
            "untrackable_result": bool(state and (state.state_details or {}).get("untrackable_result")),
        })
    return result
