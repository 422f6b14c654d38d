"""The scheduler reads a plan as a stream (flat memory): a bounded window, dependencies still respected."""

from __future__ import annotations

import threading
from collections.abc import Iterator

import pytest

from cognito_backup.core.plan import Op, PlanOptions, plan
from cognito_backup.errors import CognitoBackupError
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User
from cognito_backup.ops.scheduler import BLOCKED, FAILED, run_ops


def _user_ops(n: int) -> Iterator[Op]:
    for i in range(n):
        create = Op("create_user", user=f"u{i}", username=f"u{i}")
        yield create
        yield Op("set_password", user=f"u{i}", username=f"u{i}", after=(create.id,))


def test_at_most_a_window_of_operations_is_admitted_and_unfinished() -> None:
    lock = threading.Lock()
    read = [0]
    finished = [0]
    worst = [0]

    def stream() -> Iterator[Op]:
        for op in _user_ops(200):
            with lock:
                read[0] += 1
                worst[0] = max(worst[0], read[0] - finished[0])
            yield op

    def execute(op: Op) -> str:
        return "done"

    def on_result(_: object) -> None:
        finished[0] += 1  # called with the scheduler's lock held

    results = run_ops(stream(), execute, workers={}, on_result=on_result, window=7)
    assert len(results) == 400 and all(r.ok for r in results)
    assert worst[0] <= 8  # the window, plus the one op read and waiting for room


def test_dependents_of_a_failed_operation_are_blocked_never_run() -> None:
    ran: list[str] = []

    def execute(op: Op) -> str:
        if op.user == "u3" and op.kind == "create_user":
            raise CognitoBackupError("no")
        ran.append(op.id)
        return "done"

    results = run_ops(_user_ops(10), execute, workers={}, window=3)
    by_id = {r.op.id: r for r in results}
    assert by_id["create_user:u3:"].status == FAILED
    assert by_id["set_password:u3:"].status == BLOCKED
    assert "set_password:u3:" not in ran and len(ran) == 18


def test_a_restore_plan_streams_each_user_together_and_deps_first() -> None:
    desired = PoolState.build(
        PoolConfig(),
        [Group("g")],
        [User(f"u{i}", {}, enabled=i % 2 == 0) for i in range(5)],
        [Membership("g", f"u{i}") for i in range(5)],
    )
    the_plan = plan(desired, PoolState(), PlanOptions())
    order = list(the_plan.run_order())
    assert sorted(order, key=lambda o: o.id) == sorted(the_plan.ops, key=lambda o: o.id)
    seen: set[str] = set()
    for op in order:
        assert set(op.after) <= seen, f"{op.id} before what it depends on"
        seen.add(op.id)
    # A user's create, password and disable are adjacent: their quota categories run at once.
    kinds = [(op.kind, op.user) for op in order if op.user == "u1"]
    assert kinds[:3] == [("create_user", "u1"), ("set_password", "u1"), ("disable_user", "u1")]


@pytest.mark.parametrize("window", [1, 2, 1000])
def test_any_window_runs_everything(window: int) -> None:
    results = run_ops(_user_ops(20), lambda op: "done", workers={}, window=window)
    assert sorted(r.op.id for r in results) == sorted(op.id for op in _user_ops(20))


def test_time_up_while_an_operation_runs_ends_without_waiting_for_its_dependents() -> None:
    """A bounded step (the deployed restore): the time runs out while a create is still running; when it
    finishes, its password set (another quota category, whose workers never started) stays pending. It
    used to start that category's workers after their stop marks were sent, and the step then waited a
    minute per worker for them (the deployed permission test hung)."""
    import time

    from cognito_backup.errors import OutOfTime

    time_up = threading.Event()
    slow = Op("create_user", user="slow", username="slow")
    ops = [
        slow,
        Op("create_user", user="other", username="other"),
        Op("set_password", user="slow", username="slow", after=(slow.id,)),
    ]

    def execute(op: Op) -> str:
        if op is slow:
            time_up.set()  # the step's clock runs out while this create is in flight
            time.sleep(0.5)
        return "done"

    outcome: list[BaseException | None] = []

    def run() -> None:
        try:
            run_ops(ops, execute, workers={"UserCreation": 2}, out_of_time=time_up.is_set)
            outcome.append(None)
        except BaseException as exc:  # handed to the test thread
            outcome.append(exc)

    runner = threading.Thread(target=run, daemon=True)
    runner.start()
    runner.join(timeout=20)
    assert not runner.is_alive(), "run_ops kept waiting after its time was up"
    assert isinstance(outcome[0], OutOfTime)
