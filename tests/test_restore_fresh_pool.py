"""A pool this run has just created is empty: the restore plans against it without listing it (its users,
groups and memberships), so the time before the first user is written is the pool's creation only. At
Cognito's quotas that listing was 16 throttled ListUsers chains plus the groups (bench_throttle: 4-7 s of
a restore's excess over its bound). A pool found again on a re-run is read as before."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from cognito_backup.core.plan import PlanOptions
from cognito_backup.ops.restore import RestoreOptions, RestoreRequest, run_restore
from tests.restore_support import CallRecorder, backup, content, quiet_pacer, read_state, rich_pool

LISTINGS = ("ListUsers", "ListGroups", "ListUsersInGroup")


def request(name: str, report_dir: Path) -> RestoreRequest:
    return RestoreRequest(new_pool_name=name, report_dir=report_dir, options=RestoreOptions(plan=PlanOptions()))


def test_a_pool_created_by_this_run_is_not_listed_before_the_writes(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito)
    repo = backup(cognito, source, tmp_path / "repo")
    recorder = CallRecorder(cognito)
    outcome = run_restore(cognito, quiet_pacer(), repo, request("copy", tmp_path / "reports"))
    assert outcome.summary.failures() == []
    names = [name for name, _ in recorder.calls]
    first_write = names.index("AdminCreateUser")
    assert not [n for n in names[:first_write] if n in LISTINGS], names[:first_write]
    assert content(read_state(cognito, outcome.summary.user_pool_id)) == content(read_state(cognito, source))


def test_a_re_run_into_the_pool_it_created_reads_it(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito)
    repo = backup(cognito, source, tmp_path / "repo")
    first = run_restore(cognito, quiet_pacer(), repo, request("copy", tmp_path / "r1"))
    recorder = CallRecorder(cognito)
    again = run_restore(cognito, quiet_pacer(), repo, request("copy", tmp_path / "r2"))
    assert again.summary.user_pool_id == first.summary.user_pool_id
    assert "ListUsers" in [name for name, _ in recorder.calls]
    assert again.summary.plan.empty  # it saw the users the first run made
