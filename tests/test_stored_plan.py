"""A deployed restore's stored plan (ops/stored_plan.py, core/plan_chunks.py): planned once, carried out
over bounded steps from its stored position.

- the position and chunk decisions (pure);
- steps after the first neither list the target nor plan again, and the last step's report equals a
  one-shot restore's;
- a step killed in the middle of a chunk: the next carries on with no password set twice.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.core.plan import Op, Plan
from cognito_backup.core.plan_chunks import (
    Position,
    advance,
    chunk_count,
    chunk_size,
    chunked,
    op_from_json,
    op_to_json,
    position_from_json,
    position_to_json,
    settled,
    to_run,
)
from cognito_backup.core.retention import Policy
from cognito_backup.errors import OutOfTime
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.prune import prune
from cognito_backup.ops.restore import RestoreOptions, RestoreSummary, reconcile
from cognito_backup.ops.stored_plan import StoredPlan, abandoned
from cognito_backup.repo.repository import Repository
from cognito_backup.store.base import ObjectInfo
from cognito_backup.store.local import LocalStore
from tests.helpers import FaultInjector, make_pool
from tests.restore_support import CallRecorder, quiet_pacer
from tests.test_restore_faults import assert_complete, source
from tests.test_restore_resume import DyingStore, Killed, kill_on

PLAN = "restores/deployed/exec-1/plan/"

# ---- pure: position and chunks ------------------------------------------------------------------------


def test_chunks_cover_the_run_order_in_order() -> None:
    ops = [Op("create_user", user=f"u{i}") for i in range(23)]
    chunks = list(chunked(ops, 10))
    assert [len(c) for c in chunks] == [10, 10, 3] and [op for c in chunks for op in c] == ops
    assert chunk_count(23, 10) == 3 and [chunk_size(i, 23, 10) for i in range(4)] == [10, 10, 3, 0]
    assert chunk_count(0, 10) == 0 and chunk_count(20, 10) == 2


def test_the_position_skips_only_whole_chunks_and_runs_what_is_unfinished() -> None:
    position = Position(chunks=3, started=2)
    position.finished[0] = {i: ("done", None, None) for i in range(10)}
    position.finished[1] = {0: ("done", None, None), 2: ("failed", "boom", None)}
    assert advance(position, ops=23, chunk=10) == [0]  # chunk 1 is not whole: done stops there
    assert position.done == 1
    assert to_run(position, 0, 10) == []
    assert to_run(position, 1, 10) == [1, *range(3, 10)]
    assert to_run(position, 2, 3) == [0, 1, 2]
    position.finished[1].update({i: ("done", None, None) for i in (1, *range(3, 10))})
    position.finished[2] = {i: ("done", None, None) for i in range(3)}
    assert advance(position, ops=23, chunk=10) == [1, 2] and position.complete


def test_the_position_is_stored_compactly_and_reads_back_the_same() -> None:
    position = Position(chunks=5, done=2, started=4, failed=["3:7"])
    position.finished[2] = {i: ("done", None, None) for i in range(9_000)}
    position.finished[2][4_000] = ("existed", None, "created by an earlier run")
    position.finished[3] = {7: ("failed", "UserNotFoundException", None), 8: ("blocked", "not attempted", None)}
    body = position_to_json(position)
    assert len(body["finished"]["2"]) == 3  # runs of one outcome, not one entry per operation
    assert position_from_json(body) == position
    with pytest.raises(ValueError):
        position_from_json({**body, "format": 99})


def test_only_creates_and_passwords_the_resume_state_records_are_settled() -> None:
    created, existed, done = {"a"}, {"b"}, {"a": "random-permanent"}

    def of(kind: str, user: str) -> str | None:
        return settled(Op(kind, user=user, username=user), created, existed, done)

    assert of("create_user", "a") == "done" and of("create_user", "b") == "existed"
    assert of("create_user", "c") is None
    assert of("set_password", "a") == "done" and of("set_password", "b") == "kept"
    assert of("set_password", "c") is None
    assert of("update_user_attributes", "a") is None and of("add_membership", "a") is None  # harmless again


def test_operations_are_stored_with_everything_their_call_needs() -> None:
    ops = [
        Op(
            "create_user",
            user="a@x.org",
            username="alice",
            attributes=(("email", "a@x.org"), ("custom:tier", "gold")),
            fallback=(("custom:tier", "gold"),),
            note="sub changes",
        ),
        Op("add_custom_attributes", schema=({"Name": "tier", "AttributeDataType": "String", "Mutable": True},)),
        Op("create_group", group="admins", group_fields={"Precedence": 1, "Description": "d"}),
        Op("add_membership", user="a@x.org", username="alice", group="admins", after=("create_user:a@x.org:",)),
        Op("update_user_attributes", user="b", username="b", attributes=(("name", "B"),), names=("name",)),
    ]
    assert [op_from_json(op_to_json(op)) for op in ops] == ops


# ---- steps over a stored plan (moto in-process) --------------------------------------------------------


def _steps(cognito: Any, store: Any, target: str, desired: Any, recorder: CallRecorder, *, budget: int) -> Any:
    """Run steps of `budget` operations each until the restore ends: (final summary, ListUsers calls per
    step, steps)."""
    listed: list[int] = []
    while True:
        assert len(listed) < 100, "no progress"
        started = [0]

        def out_of_time(started: list[int] = started) -> bool:
            started[0] += 1
            return started[0] > budget

        before = len(recorder.named("ListUsers"))
        checkpoint = Checkpoint(store, f"{target}@snap")
        options = RestoreOptions(out_of_time=out_of_time, carry=StoredPlan(store, PLAN, chunk=7))
        try:
            summary = reconcile(cognito, quiet_pacer(), target, desired, options, checkpoint=checkpoint)
        except OutOfTime:
            listed.append(len(recorder.named("ListUsers")) - before)
            checkpoint.close()
            continue
        checkpoint.close()
        listed.append(len(recorder.named("ListUsers")) - before)
        return summary, listed


def _comparable(summary: RestoreSummary) -> dict[str, Any]:
    body = summary.to_json()
    for key in ("user_pool_id", "seconds", "calls"):
        body.pop(key)
    # The operations per kind as the report gives them (a stored plan's end reads no operation again).
    body["plan"] = {**summary.plan.to_json(ops=False), "counts": summary.plan_counts()}
    return body


def test_later_steps_carry_the_stored_plan_without_listing_the_target_and_end_as_one_run(
    cognito: Any, tmp_path: Path
) -> None:
    _, desired = source(cognito, tmp_path, users=30)
    target, oneshot_target = make_pool(cognito, "B"), make_pool(cognito, "C")
    store = LocalStore(tmp_path / "repo")
    recorder = CallRecorder(cognito)

    final, listed = _steps(cognito, store, target, desired, recorder, budget=10)

    assert len(listed) >= 4, listed
    assert listed[0] > 0  # the first step read the target to plan
    assert listed[1:-1] == [0] * (len(listed) - 2), listed  # the steps between neither listed nor planned
    assert_complete(cognito, target, desired)
    passwords = [p["Username"] for p in recorder.named("AdminSetUserPassword")]
    assert sorted(passwords) == sorted(u.username for u in desired.users.values())  # each once
    oneshot = reconcile(
        cognito, quiet_pacer(), oneshot_target, desired, checkpoint=Checkpoint(store, f"{oneshot_target}@snap")
    )
    assert _comparable(final) == _comparable(oneshot)
    assert final.counts()["created"] > 30 and final.sub_map and len(list(final.sub_map)) == 30


class PasswordsSet:
    """The AdminSetUserPassword calls the service answered with success (a call the emulator failed set
    nothing: setting that password again is no duplicate), per username, seen at botocore's hooks."""

    def __init__(self, client: Any) -> None:
        self.users: list[str] = []
        client.meta.events.register("before-call.cognito-idp.AdminSetUserPassword", self._sent)
        client.meta.events.register("after-call.cognito-idp.AdminSetUserPassword", self._answered)

    def _sent(self, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["password_user"] = json.loads(params["body"])["Username"]

    def _answered(self, http_response: Any, context: dict[str, Any], **_: Any) -> None:
        if http_response.status_code == 200:
            self.users.append(context["password_user"])


def test_a_step_killed_in_the_middle_of_a_chunk_sets_no_password_twice(cognito: Any, tmp_path: Path) -> None:
    _, desired = source(cognito, tmp_path, users=12)
    target = make_pool(cognito, "B")
    inner = LocalStore(tmp_path / "repo")
    recorder = CallRecorder(cognito)
    passwords_set = PasswordsSet(cognito)
    dying = DyingStore(inner)
    # Killed just after the 5th password was set, before anything could record it.
    unhook = kill_on(cognito, dying, "AdminSetUserPassword", 5, after=True)
    checkpoint = Checkpoint(dying, f"{target}@snap")  # type: ignore[arg-type]
    options = RestoreOptions(carry=StoredPlan(dying, PLAN, chunk=7))  # type: ignore[arg-type]
    with pytest.raises(Killed):
        reconcile(cognito, quiet_pacer(), target, desired, options, checkpoint=checkpoint)
    unhook()
    position = StoredPlan(inner, PLAN).position()
    assert position.done < position.started  # killed in the middle of a chunk it started

    final, listed = _steps(cognito, inner, target, desired, recorder, budget=10_000)

    assert len(listed) == 1  # one step carries on from where the killed one was
    assert_complete(cognito, target, desired)
    passwords = passwords_set.users
    assert len(passwords) == len(set(passwords)) == len(desired.users), passwords
    assert final.failures() == []


# ---- an execution stopped from outside: prune removes its stored plan ----------------------------------


def test_stored_plans_untouched_for_two_days_are_abandoned() -> None:
    day = 86_400.0
    objects = [
        ObjectInfo("restores/deployed/old/plan/ops-000000.json.gz", 1, 0.0),
        ObjectInfo("restores/deployed/old/plan/position.json.gz", 1, 1.0),
        ObjectInfo("restores/deployed/old/progress.json", 1, 1.0),
        ObjectInfo("restores/deployed/busy/plan/ops-000000.json.gz", 1, 0.0),
        ObjectInfo("restores/deployed/busy/plan/position.json.gz", 1, 3 * day - 60),  # its step just stored it
    ]
    assert abandoned(objects, now=3 * day, stale_seconds=2 * day) == ["restores/deployed/old/plan/"]


def test_prune_deletes_an_abandoned_stored_plan_and_keeps_the_execution_record(tmp_path: Path) -> None:
    repo = Repository(LocalStore(tmp_path / "repo"))
    repo.init_if_needed()
    store = repo.store
    stored = StoredPlan(store, "restores/deployed/stopped/plan/", chunk=2)
    groups = Plan(ops=[Op("create_group", group=f"g{i}") for i in range(5)])
    stored.write(groups, run_key="t@s", resumed={}, password_policy={})
    store.put_bytes("restores/deployed/stopped/progress.json", b"{}")
    assert len(list(store.list(stored.prefix))) == 5  # 3 chunks, meta, position

    prune(repo, Policy(keep_last=1), now=lambda: time.time() + 3600)
    assert stored.exists()  # an execution may still be running
    prune(repo, Policy(keep_last=1), now=lambda: time.time() + 3 * 86_400)
    assert list(store.list(stored.prefix)) == [] and not stored.exists()
    assert store.exists("restores/deployed/stopped/progress.json")


def test_what_depends_on_an_operation_that_failed_in_an_earlier_step_is_blocked_as_in_one_run(
    cognito: Any, tmp_path: Path
) -> None:
    _, desired = source(cognito, tmp_path, users=8)
    target, oneshot_target = make_pool(cognito, "B"), make_pool(cognito, "C")
    store = LocalStore(tmp_path / "repo")
    # The service refuses one user's create, every time (in both pools).
    refused = FaultInjector(
        cognito,
        code="InvalidParameterException",
        operations={"AdminCreateUser"},
        predicate=lambda p: p.get("Username") == "user-00004",
        probability=1.0,
    )
    # Step 1 ends as soon as that create failed: its password and memberships are left to step 2 (one
    # operation admitted at a time, so none of them is waiting in step 1's scheduler).
    first = RestoreOptions(out_of_time=lambda: refused.injected > 0, window=1, carry=StoredPlan(store, PLAN, chunk=5))
    with pytest.raises(OutOfTime):
        reconcile(cognito, quiet_pacer(), target, desired, first, checkpoint=Checkpoint(store, f"{target}@snap"))
    assert StoredPlan(store, PLAN).position().failed  # recorded for the next step
    recorder = CallRecorder(cognito)

    final = reconcile(
        cognito,
        quiet_pacer(),
        target,
        desired,
        RestoreOptions(carry=StoredPlan(store, PLAN)),
        checkpoint=Checkpoint(store, f"{target}@snap"),
    )

    # Nothing is sent for that user again: neither its create (failed: recorded) nor what depends on it.
    sent = [p.get("Username") for name, p in recorder.calls if name.startswith("Admin")]
    assert sent and "user-00004" not in sent
    oneshot = reconcile(
        cognito, quiet_pacer(), oneshot_target, desired, checkpoint=Checkpoint(store, f"{oneshot_target}@snap")
    )
    failures = sorted((f["call"], f["status"], f.get("user", ""), f.get("group", "")) for f in final.failures())
    assert failures == sorted(
        (f["call"], f["status"], f.get("user", ""), f.get("group", "")) for f in oneshot.failures()
    )
    assert ("AdminSetUserPassword", "blocked", "user-00004", "") in failures
    assert final.detail() == oneshot.detail()


def test_a_step_with_nothing_left_to_carry_out_reads_back_whatever_its_time(cognito: Any, tmp_path: Path) -> None:
    """The read-back is left to the next step when time ran out with the last operation; that step, with no
    operation to start, reads back even with its time up (or the loop would never end)."""
    _, desired = source(cognito, tmp_path, users=5)
    target = make_pool(cognito, "B")
    store = LocalStore(tmp_path / "repo")
    planned = len(reconcile(cognito, quiet_pacer(), target, desired, RestoreOptions(dry_run=True)).plan.ops)
    asked = [0]

    def up_after_the_last_start() -> bool:
        asked[0] += 1  # asked before each operation but the first
        return asked[0] >= planned

    first = RestoreOptions(out_of_time=up_after_the_last_start, carry=StoredPlan(store, PLAN))
    with pytest.raises(OutOfTime):
        reconcile(cognito, quiet_pacer(), target, desired, first, checkpoint=Checkpoint(store, f"{target}@snap"))
    assert StoredPlan(store, PLAN).position().complete  # every operation done; only the read-back left

    last = RestoreOptions(out_of_time=lambda: True, carry=StoredPlan(store, PLAN))
    summary = reconcile(cognito, quiet_pacer(), target, desired, last, checkpoint=Checkpoint(store, f"{target}@snap"))

    assert summary.to_json()["operations"] == planned and len(summary.sub_map) == 5 and summary.failures() == []
    assert_complete(cognito, target, desired)
