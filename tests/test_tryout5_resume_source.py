"""Re-running "the same command" after a newer backup (session 5 try-out).

Seen: `restore --repo R --user-pool-id P` (in place, the default `latest` snapshot) killed -9 during its
creates; the scheduled backup then took a snapshot of the damaged pool; the same command again restored
that newer snapshot: 0 operations, exit 0, while the users the first run had not created yet were still
missing and those it had created still had no password. docs/restore.md promises "run the same command
again" finishes the job. Now the re-run is refused (exit 2, nothing written) and names the snapshot the
stopped restore came from; naming a snapshot (`--snapshot ID`, or `latest` on purpose) is obeyed.
moto in-process; the kill is a botocore event hook (tests/test_restore_resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.errors import UsageError
from cognito_backup.ops.restore import run_restore
from cognito_backup.ops.restore_runs import resume_flag, snapshots_in_use
from cognito_backup.repo.repository import Repository
from tests.restore_support import CallRecorder, backup, quiet_pacer, read_state, rich_pool
from tests.test_restore_resume import DyingStore, Killed, kill_on, request

WRITES = ("AdminCreateUser", "AdminSetUserPassword", "AdminAddUserToGroup", "AdminUpdateUserAttributes")
DELETED = ("bob", "carol", "dave", "erin")


def stopped_in_place_restore(cognito: Any, tmp_path: Path) -> tuple[Repository, str, str]:
    """Pool A backed up, 4 users deleted, the in-place restore killed at its 2nd password, then a newer
    backup of the damaged pool. Returns (repository, pool, the first snapshot's id)."""
    pool = rich_pool(cognito, "A")
    repo = backup(cognito, pool, tmp_path / "repo")
    [first] = [m.id for m in repo.list_snapshots()]
    for name in DELETED:
        cognito.admin_delete_user(UserPoolId=pool, Username=name)
    dying = DyingStore(repo.store)
    unhook = kill_on(cognito, dying, "AdminSetUserPassword", 2)
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), request(None, tmp_path / "r", target_pool_id=pool))
    unhook()
    backup(cognito, pool, tmp_path / "repo")  # the scheduled backup, of the damaged pool
    return Repository(repo.store), pool, first


def test_the_same_command_after_a_newer_backup_is_refused_and_names_the_stopped_restore(
    cognito: Any, tmp_path: Path
) -> None:
    repo, pool, first = stopped_in_place_restore(cognito, tmp_path)
    before = read_state(cognito, pool)
    recorder = CallRecorder(cognito)
    with pytest.raises(UsageError) as refused:
        run_restore(cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=pool))
    assert first in str(refused.value) and f"--snapshot {first}" in (refused.value.hint or "")
    assert not [c for c in WRITES if recorder.named(c)]
    assert read_state(cognito, pool).users.keys() == before.users.keys()
    # The stopped restore's own snapshot finishes it: every deleted user back, each with a password.
    outcome = run_restore(
        cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=pool, snapshot=first)
    )
    assert outcome.summary.failures() == []
    after = {u.username: u.status for u in read_state(cognito, pool).users.values()}
    assert set(DELETED) <= set(after) and "FORCE_CHANGE_PASSWORD" not in after.values()
    # Finished: the implicit latest is no longer held back.
    again = run_restore(cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=pool))
    assert again.summary.failures() == []


def test_a_snapshot_named_on_purpose_is_obeyed(cognito: Any, tmp_path: Path) -> None:
    repo, pool, first = stopped_in_place_restore(cognito, tmp_path)
    outcome = run_restore(
        cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=pool, snapshot="latest")
    )
    assert outcome.summary.failures() == []
    # Obeyed, with a warning that names the stopped restore and how to finish it.
    [warning] = [w for w in outcome.summary.warnings if "stopped before it finished" in w]
    assert f"--snapshot {first}" in warning


def test_the_cli_says_so_with_exit_2_also_in_a_dry_run(cognito: Any, tmp_path: Path) -> None:
    _, pool, first = stopped_in_place_restore(cognito, tmp_path)
    args = ["restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", pool, "--report-dir", str(tmp_path / "r")]
    for extra in (["--json"], ["--dry-run", "--json"]):
        result = CliRunner().invoke(cli, args + extra)
        assert result.exit_code == 2, result.output
        error = json.loads(result.stdout)["error"]
        assert error["kind"] == "usage" and f"--snapshot {first}" in error["hint"]


@pytest.mark.parametrize(
    ("source", "flag"),
    [
        ("20261201T003824Z-2a025e13", "--snapshot 20261201T003824Z-2a025e13"),
        ("20261201T003824Z-2a025e13+journal@2026-12-01T00:40:00Z", "--at 2026-12-01T00:40:00Z"),
    ],
)
def test_the_hint_names_the_source_as_it_was_given(source: str, flag: str) -> None:
    assert resume_flag(source) == flag


def test_a_narrower_re_run_does_not_mark_the_wider_restore_finished(cognito: Any, tmp_path: Path) -> None:
    """A stopped whole-pool restore re-run with --only for one user finishes that user, not the restore:
    the newest snapshot is still held back, and prune still keeps the stopped restore's snapshot."""
    repo, pool, first = stopped_in_place_restore(cognito, tmp_path)
    narrow = request(
        None, tmp_path / "r", target_pool_id=pool, snapshot=first, plan={"only_users": frozenset({"erin"})}
    )
    assert run_restore(cognito, quiet_pacer(), repo, narrow).summary.failures() == []
    with pytest.raises(UsageError):
        run_restore(cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=pool))
    assert first in snapshots_in_use(repo.store)
