"""Real flows, run by the real prefect client in its own process, read back through the API.

Each class runs its flow once (class-scoped fixture) and checks one aspect per method. Task runs
reach the server as websocket events after the flow process may have exited, so reads of task runs
and logs poll until the expected records appear.
"""

import uuid

import pytest

from .harness import run_flow_script, wait_until

pytestmark = pytest.mark.e2e

TASK_RUN_PAGE = 200  # the server's maximum page size


def unique(prefix: str) -> str:
    return f"e2e-{prefix}-{uuid.uuid4().hex[:8]}"


@pytest.fixture(scope="class")
def run_once(e2e_server, tmp_path_factory):
    """Run a flow script once for a whole test class; fail with its output if it crashes."""

    def run(source: str, timeout: float = 180.0) -> dict:
        outcome = run_flow_script(
            e2e_server.api_url, source, workdir=tmp_path_factory.mktemp("flow"), timeout=timeout
        )
        if outcome.returncode != 0 or outcome.result is None:
            pytest.fail(f"The flow script did not finish cleanly: {outcome.describe()}")
        return outcome.result

    return run


@pytest.fixture(scope="class")
def client(e2e_server):
    with e2e_server.client() as client:
        yield client


# --- reading back through the API ------------------------------------------------------------


def ok(response, status: int = 200):
    assert response.status_code == status, f"{response.request.method} {response.request.url}: {response.status_code} {response.text}"
    return response.json()


def read_flow_run(client, flow_run_id):
    return ok(client.get(f"/flow_runs/{flow_run_id}"))


def read_task_run(client, task_run_id):
    return ok(client.get(f"/task_runs/{task_run_id}"))


def read_task_runs(client, flow_run_id) -> list[dict]:
    found, offset = [], 0
    while True:
        page = ok(client.post("/task_runs/filter", json={
            "task_runs": {"flow_run_id": {"any_": [flow_run_id]}},
            "sort": "EXPECTED_START_TIME_ASC", "limit": TASK_RUN_PAGE, "offset": offset,
        }))
        found += page
        if len(page) < TASK_RUN_PAGE:
            return found
        offset += TASK_RUN_PAGE


def wait_for_task_runs(client, flow_run_id, count: int, state_type: str = "COMPLETED", timeout: float = 60.0):
    """The flow run's task runs once exactly `count` of them exist, all in `state_type`."""

    def settled():
        runs = read_task_runs(client, flow_run_id)
        done = [run for run in runs if run["state_type"] == state_type]
        return runs if len(runs) == count and len(done) == count else None

    return wait_until(settled, timeout=timeout, message=f"{count} {state_type} task runs of {flow_run_id}")


def read_logs(client, flow_run_id) -> list[dict]:
    return ok(client.post("/logs/filter", json={
        "logs": {"flow_run_id": {"any_": [flow_run_id]}}, "sort": "TIMESTAMP_ASC", "limit": 200, "offset": 0,
    }))


def wait_for_logs(client, flow_run_id, *fragments: str, timeout: float = 30.0) -> list[dict]:
    def all_present():
        logs = read_logs(client, flow_run_id)
        messages = "\n".join(log["message"] for log in logs)
        return logs if all(fragment in messages for fragment in fragments) else None

    return wait_until(all_present, timeout=timeout, message=f"logs containing {fragments}")


def read_flow_runs_of_flow(client, flow_name) -> list[dict]:
    return ok(client.post("/flow_runs/filter", json={"flows": {"name": {"any_": [flow_name]}}, "limit": 50}))


# --- scenarios -----------------------------------------------------------------------------


class TestHelloWorldFlowWithLogs:
    FLOW = unique("hello")

    @pytest.fixture(scope="class")
    @classmethod
    def outcome(cls, run_once):
        return run_once(f"""
            from prefect import flow, task, get_run_logger

            @task
            def greet(name):
                get_run_logger().info("Hello, %s!", name)
                return f"Hello, {{name}}!"

            @flow(name={cls.FLOW!r})
            def hello(name="world"):
                logger = get_run_logger()
                logger.info("Starting the hello flow")
                greeting = greet(name)
                logger.warning("Finished with %s", greeting)
                return greeting

            state = hello(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, result=state.result())
        """)

    def test_the_flow_returns_its_greeting(self, outcome):
        assert outcome["result"] == "Hello, world!"

    def test_the_flow_run_is_completed_after_one_run(self, client, outcome):
        run = read_flow_run(client, outcome["flow_run_id"])
        assert run["state_type"] == "COMPLETED"
        assert run["state"]["name"] == "Completed"
        assert run["run_count"] == 1
        assert run["start_time"] and run["end_time"]

    def test_the_flow_run_belongs_to_the_named_flow(self, client, outcome):
        run = read_flow_run(client, outcome["flow_run_id"])
        assert ok(client.get(f"/flows/{run['flow_id']}"))["name"] == self.FLOW

    def test_the_task_run_is_recorded_as_completed(self, client, outcome):
        [task_run] = wait_for_task_runs(client, outcome["flow_run_id"], 1)
        assert task_run["task_key"].startswith("greet") or task_run["name"].startswith("greet")
        assert task_run["run_count"] == 1

    def test_flow_and_task_logs_are_stored_with_their_runs(self, client, outcome):
        [task_run] = wait_for_task_runs(client, outcome["flow_run_id"], 1)
        logs = wait_for_logs(client, outcome["flow_run_id"], "Starting the hello flow", "Hello, world!",
                             "Finished with Hello, world!")
        by_message = {log["message"]: log for log in logs}
        assert by_message["Starting the hello flow"]["level"] == 20
        assert by_message["Starting the hello flow"]["task_run_id"] is None
        assert by_message["Hello, world!"]["task_run_id"] == task_run["id"]
        assert by_message["Finished with Hello, world!"]["level"] == 30


class TestFlowMapping200Tasks:
    FLOW = unique("map")

    @pytest.fixture(scope="class")
    @classmethod
    def outcome(cls, run_once):
        return run_once(f"""
            from prefect import flow, task

            @task
            def square(x):
                return x * x

            @flow(name={cls.FLOW!r})
            def squares():
                return sum(square.map(range(200)).result())

            state = squares(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, result=state.result())
        """, timeout=300)

    def test_the_flow_adds_up_all_200_results(self, outcome):
        assert outcome["result"] == sum(x * x for x in range(200))

    def test_the_flow_run_is_completed(self, client, outcome):
        assert read_flow_run(client, outcome["flow_run_id"])["state_type"] == "COMPLETED"

    def test_all_200_task_runs_are_recorded_as_completed(self, client, outcome):
        runs = wait_for_task_runs(client, outcome["flow_run_id"], 200, timeout=90)
        assert len({run["id"] for run in runs}) == 200
        assert len({run["dynamic_key"] for run in runs}) == 200
        assert all(run["flow_run_id"] == outcome["flow_run_id"] for run in runs)

    def test_the_task_run_count_endpoint_agrees(self, client, outcome):
        wait_for_task_runs(client, outcome["flow_run_id"], 200, timeout=90)
        count = ok(client.post("/task_runs/count", json={
            "task_runs": {"flow_run_id": {"any_": [outcome["flow_run_id"]]}},
        }))
        assert count == 200


class TestTaskThatFailsTwiceThenSucceeds:
    FLOW = unique("task-retries")

    @pytest.fixture(scope="class")
    @classmethod
    def outcome(cls, run_once):
        return run_once(f"""
            from prefect import flow, task

            attempts = 0

            @task(retries=2, retry_delay_seconds=0)
            def flaky():
                global attempts
                attempts += 1
                if attempts < 3:
                    raise ValueError(f"attempt {{attempts}} failed")
                return attempts

            @flow(name={cls.FLOW!r})
            def retrying():
                return flaky()

            state = retrying(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, result=state.result())
        """)

    def test_the_task_succeeds_on_its_third_attempt(self, outcome):
        assert outcome["result"] == 3

    def test_the_flow_run_is_completed(self, client, outcome):
        assert read_flow_run(client, outcome["flow_run_id"])["state_type"] == "COMPLETED"

    def test_the_task_run_is_completed_with_a_run_count_of_three(self, client, outcome):
        def completed_third_run():
            runs = read_task_runs(client, outcome["flow_run_id"])
            return runs if len(runs) == 1 and runs[0]["state_type"] == "COMPLETED" and runs[0]["run_count"] == 3 else None

        [task_run] = wait_until(completed_third_run, timeout=60, message="the retried task run")
        assert task_run["empirical_policy"]["retries"] == 2

    def test_the_task_run_state_history_shows_both_retries(self, client, outcome):
        [task_run] = wait_for_task_runs(client, outcome["flow_run_id"], 1)

        def full_history():
            states = ok(client.get("/task_run_states/", params={"task_run_id": task_run["id"]}))
            names = [state["name"] for state in sorted(states, key=lambda s: s["timestamp"])]
            return names if names.count("Retrying") == 2 and names[-1] == "Completed" else None

        names = wait_until(full_history, timeout=30, message="the task run's state history")
        assert names[0] == "Pending"
        assert names.count("Running") == 1  # the two reruns are the "Retrying" states


class TestNestedSubflows:
    PARENT, CHILD, GRANDCHILD = unique("parent"), unique("child"), unique("grandchild")

    @pytest.fixture(scope="class")
    @classmethod
    def outcome(cls, run_once):
        return run_once(f"""
            from prefect import flow

            @flow(name={cls.GRANDCHILD!r})
            def grandchild():
                return "leaf"

            @flow(name={cls.CHILD!r})
            def child():
                return "child of " + grandchild()

            @flow(name={cls.PARENT!r})
            def parent():
                return "parent of " + child()

            state = parent(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, result=state.result())
        """)

    def single_run_of(self, client, flow_name):
        runs = read_flow_runs_of_flow(client, flow_name)
        assert len(runs) == 1, runs
        return runs[0]

    def test_the_results_pass_up_the_chain(self, outcome):
        assert outcome["result"] == "parent of child of leaf"

    def test_every_level_completes(self, client, outcome):
        for name in (self.PARENT, self.CHILD, self.GRANDCHILD):
            assert self.single_run_of(client, name)["state_type"] == "COMPLETED", name

    def test_the_parent_is_a_top_level_run(self, client, outcome):
        parent = read_flow_run(client, outcome["flow_run_id"])
        assert parent["parent_task_run_id"] is None

    def test_the_child_hangs_off_a_task_run_of_the_parent(self, client, outcome):
        child = self.single_run_of(client, self.CHILD)
        placeholder = read_task_run(client, child["parent_task_run_id"])
        assert placeholder["flow_run_id"] == outcome["flow_run_id"]

    def test_the_grandchild_hangs_off_a_task_run_of_the_child(self, client, outcome):
        child = self.single_run_of(client, self.CHILD)
        grandchild = self.single_run_of(client, self.GRANDCHILD)
        placeholder = read_task_run(client, grandchild["parent_task_run_id"])
        assert placeholder["flow_run_id"] == child["id"]

    def test_the_placeholder_task_runs_mirror_their_subflows_completion(self, client, outcome):
        for name in (self.CHILD, self.GRANDCHILD):
            subflow = self.single_run_of(client, name)
            wait_until(
                lambda: read_task_run(client, subflow["parent_task_run_id"])["state_type"] == "COMPLETED",
                timeout=30, message=f"the placeholder task run of {name} to complete",
            )


class TestFlowThatRaises:
    FLOW = unique("raises")

    @pytest.fixture(scope="class")
    @classmethod
    def outcome(cls, run_once):
        return run_once(f"""
            from prefect import flow

            @flow(name={cls.FLOW!r})
            def explode():
                raise RuntimeError("the reactor is on fire")

            state = explode(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, type=state.type.value, message=state.message)
        """)

    def test_the_client_sees_a_failed_state(self, outcome):
        assert outcome["type"] == "FAILED"

    def test_the_flow_run_is_failed_with_the_exception_message(self, client, outcome):
        run = read_flow_run(client, outcome["flow_run_id"])
        assert run["state_type"] == "FAILED"
        assert run["state"]["name"] == "Failed"
        assert "RuntimeError: the reactor is on fire" in run["state"]["message"]
        assert run["end_time"] is not None

    def test_the_error_is_logged_with_its_traceback(self, client, outcome):
        logs = wait_for_logs(client, outcome["flow_run_id"], "the reactor is on fire")
        assert any(log["level"] >= 40 and "the reactor is on fire" in log["message"] for log in logs)


class TestFlowRetries:
    FLOW = unique("flow-retries")

    @pytest.fixture(scope="class")
    @classmethod
    def outcome(cls, run_once):
        return run_once(f"""
            from prefect import flow

            attempts = 0

            @flow(name={cls.FLOW!r}, retries=2, retry_delay_seconds=0)
            def wobbly():
                global attempts
                attempts += 1
                if attempts == 1:
                    raise RuntimeError("the first attempt fails")
                return attempts

            state = wobbly(return_state=True)
            report(flow_run_id=state.state_details.flow_run_id, result=state.result())
        """)

    def test_the_flow_succeeds_on_its_second_attempt(self, outcome):
        assert outcome["result"] == 2

    def test_the_flow_run_is_completed_with_a_run_count_of_two(self, client, outcome):
        run = read_flow_run(client, outcome["flow_run_id"])
        assert run["state_type"] == "COMPLETED"
        assert run["run_count"] == 2

    def test_the_state_history_shows_the_retry(self, client, outcome):
        states = ok(client.get("/flow_run_states/", params={"flow_run_id": outcome["flow_run_id"]}))
        names = [state["name"] for state in sorted(states, key=lambda s: s["timestamp"])]
        assert "AwaitingRetry" in names
        assert names.count("Running") == 2
        assert names[-1] == "Completed"
