"""A restore step with a deadline (the deployed restore's bounded steps, serverless/restore.py): once out
of time the scheduler starts no new operation, the in-flight ones finish, the resume state is stored, and
the next step carries on from it; over several steps the target equals the snapshot, each password set
once."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cognito_backup.errors import Interrupted, OutOfTime
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.restore import RestoreOptions, reconcile
from cognito_backup.store.local import LocalStore
from tests.helpers import make_pool
from tests.restore_support import CallRecorder, quiet_pacer
from tests.test_restore_faults import assert_complete, source


def test_out_of_time_stops_scheduling_and_the_next_steps_finish_the_restore(cognito: Any, tmp_path: Path) -> None:
    _, desired = source(cognito, tmp_path, users=30)
    target = make_pool(cognito, "B")
    store = LocalStore(tmp_path / "repo")
    recorder = CallRecorder(cognito)
    steps = 0
    while True:
        steps += 1
        assert steps < 100, "no progress"
        started = [0]

        def out_of_time(started: list[int] = started) -> bool:
            # A step's budget: about 10 operations, then its time is up.
            started[0] += 1
            return started[0] > 10

        checkpoint = Checkpoint(store, f"{target}@snap")
        options = RestoreOptions(out_of_time=out_of_time)
        try:
            reconcile(cognito, quiet_pacer(), target, desired, options, checkpoint=checkpoint)
        except OutOfTime:
            checkpoint.close()
            continue
        checkpoint.close()
        break
    assert steps >= 4, steps
    assert_complete(cognito, target, desired)
    passwords = [p["Username"] for p in recorder.named("AdminSetUserPassword")]
    assert len(passwords) == len(desired.users)  # each once, over all the steps
    assert len(set(passwords)) == len(passwords)


def test_a_step_already_out_of_time_still_makes_progress(cognito: Any, tmp_path: Path) -> None:
    """Whatever the budget, a step runs at least one operation: a loop of steps always ends."""
    _, desired = source(cognito, tmp_path, users=5)
    target = make_pool(cognito, "B")
    with pytest.raises(OutOfTime) as caught:
        reconcile(cognito, quiet_pacer(), target, desired, RestoreOptions(out_of_time=lambda: True))
    assert isinstance(caught.value, Interrupted)
    assert (
        len(list(cognito.list_groups(UserPoolId=target)["Groups"]))
        + len(cognito.list_users(UserPoolId=target)["Users"])
        >= 1
    )


def test_a_step_out_of_time_after_its_last_operation_leaves_the_read_back_to_the_next(
    cognito: Any, tmp_path: Path
) -> None:
    """The sub map may need lookups or a read-back of the whole pool: a step whose time is up once it applied
    its last operations stops there; the next one, with nothing left to apply, makes the map whatever its time."""
    _, desired = source(cognito, tmp_path, users=5)
    target = make_pool(cognito, "B")
    store = LocalStore(tmp_path / "repo")
    planned = len(reconcile(cognito, quiet_pacer(), target, desired, RestoreOptions(dry_run=True)).plan.ops)
    asked = [0]

    def up_after_the_last_start() -> bool:
        # The scheduler asks before each operation but the first: time is up just after the last started.
        asked[0] += 1
        return asked[0] >= planned

    checkpoint = Checkpoint(store, f"{target}@snap")
    with pytest.raises(OutOfTime):
        reconcile(
            cognito,
            quiet_pacer(),
            target,
            desired,
            RestoreOptions(out_of_time=up_after_the_last_start),
            checkpoint=checkpoint,
        )
    checkpoint.close()
    assert asked[0] == planned  # every operation started; only the read-back was left
    checkpoint = Checkpoint(store, f"{target}@snap")
    summary = reconcile(
        cognito, quiet_pacer(), target, desired, RestoreOptions(out_of_time=lambda: True), checkpoint=checkpoint
    )
    checkpoint.close()
    assert summary.plan.ops == [] and len(summary.sub_map) == len(desired.users) == 5
    assert_complete(cognito, target, desired)
