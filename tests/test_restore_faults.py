"""Restore under faults injected at botocore's boundary: failures, crashes, throttling, refusals."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.diff import differences
from cognito_backup.core.plan import PlanOptions
from cognito_backup.errors import PlanRefused
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.restore import RestoreOptions, reconcile
from cognito_backup.store.local import LocalStore
from tests.helpers import FaultInjector, fill_pool, make_pool
from tests.restore_support import CallRecorder, backup, quiet_pacer, read_state

USER_WRITES = {"CreateGroup", "AdminCreateUser", "AdminSetUserPassword", "AdminDisableUser", "AdminAddUserToGroup"}


class Killed(BaseException):
    """Stands for the process dying mid-call (what kill -9 does to a run)."""


def source(cognito: Any, tmp_path: Path, users: int = 40) -> tuple[Any, Any]:
    pool = make_pool(cognito, "A")
    fill_pool(cognito, pool, users, n_groups=3, big_group=users // 2)
    for i in range(0, users, 3):
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=f"user-{i:05d}", GroupName="group-001")
    repo = backup(cognito, pool, tmp_path / "repo")
    return repo, repo.load_state(repo.resolve())


def assert_complete(cognito: Any, target: str, desired: Any) -> None:
    after = read_state(cognito, target)
    listed = [u["Username"] for page in _pages(cognito, target) for u in page]
    assert len(listed) == len(set(listed)) == len(desired.users)  # no duplicate, none missing
    assert differences(desired, after) == []
    assert {u.status for u in after.users.values()} == {"CONFIRMED"}  # every password set


def _pages(cognito: Any, pool: str) -> Any:
    token = None
    while True:
        resp = cognito.list_users(UserPoolId=pool, **({"PaginationToken": token} if token else {}))
        yield resp["Users"]
        token = resp.get("PaginationToken")
        if not token:
            return


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_a_failure_at_a_random_operation_then_a_rerun_completes_without_duplicates(
    cognito: Any, tmp_path: Path, seed: int
) -> None:
    _, desired = source(cognito, tmp_path)
    target = make_pool(cognito, "B")
    ckpt = Checkpoint(LocalStore(tmp_path / "state"), f"{target}@snap")
    total_writes = 3 + 40 * 2 + 3 + 20 + 14  # groups, users+passwords, disables, memberships
    fault = FaultInjector(
        cognito,
        code="InternalErrorException",
        status=500,
        operations=USER_WRITES,
        fail_on_call=random.Random(seed).randint(1, total_writes),
    )
    # One attempt per call: a 5xx the pacer would retry away must here stay a failure of that operation.
    first = reconcile(cognito, Pacer(sleep=lambda s: None, max_transient_attempts=1), target, desired, checkpoint=ckpt)
    assert fault.injected == 1
    assert len(first.failures()) >= 1  # named, never swallowed
    fault.remove()
    second = reconcile(cognito, quiet_pacer(), target, desired, checkpoint=ckpt)
    assert second.failures() == []
    assert_complete(cognito, target, desired)
    third = reconcile(cognito, quiet_pacer(), target, desired, checkpoint=ckpt)
    assert third.plan.empty


@pytest.mark.parametrize("operation", ["AdminCreateUser", "AdminSetUserPassword", "AdminAddUserToGroup"])
def test_a_crash_mid_restore_then_the_same_run_again_finishes_the_job(
    cognito: Any, tmp_path: Path, operation: str
) -> None:
    _, desired = source(cognito, tmp_path)
    target = make_pool(cognito, "B")

    def crash_on_tenth(model: Any, **_: Any) -> None:
        if model.name == operation:
            calls.append(model.name)
            if len(calls) == 10:
                raise Killed

    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-idp.*", crash_on_tenth)
    with pytest.raises(Killed):
        reconcile(cognito, quiet_pacer(), target, desired, checkpoint=Checkpoint(LocalStore(tmp_path / "state"), "run"))
    cognito.meta.events.unregister("before-call.cognito-idp.*", crash_on_tenth)
    # A new process: a new checkpoint object reading the same file.
    resumed = reconcile(
        cognito, quiet_pacer(), target, desired, checkpoint=Checkpoint(LocalStore(tmp_path / "state"), "run")
    )
    assert resumed.failures() == []
    assert_complete(cognito, target, desired)
    assert reconcile(
        cognito, quiet_pacer(), target, desired, checkpoint=Checkpoint(LocalStore(tmp_path / "state"), "run")
    ).plan.empty


def test_thirty_percent_throttling_still_completes(cognito: Any, tmp_path: Path) -> None:
    _, desired = source(cognito, tmp_path, users=30)
    target = make_pool(cognito, "B")
    fault = FaultInjector(cognito, probability=0.3, seed=11)
    pacer = quiet_pacer()
    summary = reconcile(cognito, pacer, target, desired)
    assert fault.injected > 20
    assert summary.failures() == []
    assert sum(int(c["throttled"]) for c in pacer.summary().values()) == fault.injected
    fault.remove()
    assert_complete(cognito, target, desired)


def test_a_target_lacking_attributes_it_may_not_get_stops_before_writing(cognito: Any, tmp_path: Path) -> None:
    _, desired = source(cognito, tmp_path, users=5)
    target = str(cognito.create_user_pool(PoolName="bare")["UserPool"]["Id"])
    recorder = CallRecorder(cognito)
    with pytest.raises(PlanRefused, match=r"lacks custom attributes custom:joined, custom:score") as err:
        reconcile(
            cognito, quiet_pacer(), target, desired, RestoreOptions(plan=PlanOptions(add_missing_attributes=False))
        )
    assert err.value.exit_code == 8
    assert recorder.writes() == []
    assert read_state(cognito, target).users == {}


def test_access_denied_stops_at_once_instead_of_failing_every_user(cognito: Any, tmp_path: Path) -> None:
    _, desired = source(cognito, tmp_path, users=30)
    target = make_pool(cognito, "B")
    fault = FaultInjector(cognito, code="AccessDeniedException", operations={"AdminCreateUser"}, probability=1.0)
    from cognito_backup.errors import AccessDenied

    with pytest.raises(AccessDenied):
        reconcile(cognito, quiet_pacer(), target, desired)
    assert fault.injected < 30
