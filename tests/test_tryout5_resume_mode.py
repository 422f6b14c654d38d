"""Resuming a killed restore with another --password-mode (session 5 try-out).

Before: the re-run went on in the new mode, so one restore's users came back with passwords of two kinds
(those the first run reached had a random password nobody knows, the rest a temporary one in the CSV, or
none at all), and nothing said so. Seen with `restore ... --only user:... ` killed -9 during its creates,
then the same command with `--password-mode temporary-file`. Now the re-run is refused (exit 2, nothing
written) while users that earlier run created still wait for their password; the same command with the
earlier mode finishes the job. moto in-process; the kill is a botocore event hook (tests/test_restore_resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.errors import UsageError
from cognito_backup.ops.restore import run_restore
from cognito_backup.repo.repository import Repository
from tests.helpers import make_pool
from tests.restore_support import CallRecorder, backup, quiet_pacer, read_state, rich_pool
from tests.test_restore_resume import DyingStore, Killed, kill_on, request

WRITES = ("AdminCreateUser", "AdminSetUserPassword", "AdminAddUserToGroup", "AdminUpdateUserAttributes")


def killed_restore(cognito: Any, tmp_path: Path, mode: str, at_password: int) -> tuple[Repository, str, str]:
    """A restore into an existing pool in `mode`, killed as its `at_password`-th password is about to be
    set. Returns (repository, source, target)."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    dying = DyingStore(repo.store)
    unhook = kill_on(cognito, dying, "AdminSetUserPassword", at_password)
    req = request(
        None, tmp_path / "reports", target_pool_id=target, source_pool_id=source, plan={"password_mode": mode}
    )
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), req)
    unhook()
    waiting = [u for u in read_state(cognito, target).users.values() if u.status == "FORCE_CHANGE_PASSWORD"]
    assert waiting, "the kill should leave users created without their password"
    return Repository(repo.store), source, target


@pytest.mark.parametrize(
    ("first", "second"),
    [
        ("random-permanent", "temporary-file"),
        ("random-permanent", "none"),
        ("temporary-file", "random-permanent"),
    ],
)
def test_resuming_in_another_password_mode_is_refused_and_writes_nothing(
    cognito: Any, tmp_path: Path, first: str, second: str
) -> None:
    repo, source, target = killed_restore(cognito, tmp_path, first, 2)
    before = read_state(cognito, target)
    recorder = CallRecorder(cognito)
    req = request(
        None, tmp_path / "reports", target_pool_id=target, source_pool_id=source, plan={"password_mode": second}
    )
    with pytest.raises(UsageError) as refused:
        run_restore(cognito, quiet_pacer(), repo, req)
    message = str(refused.value)
    assert f"--password-mode {first}" in message and f"--password-mode {second}" in message
    assert f"--password-mode {first}" in (refused.value.hint or "")
    assert not [c for c in WRITES if recorder.named(c)], "a refused re-run writes nothing"
    assert read_state(cognito, target).users.keys() == before.users.keys()
    # The same command as the first run finishes the job, every user in the first run's mode.
    req = request(
        None, tmp_path / "reports", target_pool_id=target, source_pool_id=source, plan={"password_mode": first}
    )
    outcome = run_restore(cognito, quiet_pacer(), repo, req)
    assert outcome.summary.failures() == []
    expected = "CONFIRMED" if first == "random-permanent" else "FORCE_CHANGE_PASSWORD"
    assert {u.status for u in read_state(cognito, target).users.values()} == {expected}


def test_an_earlier_run_in_mode_none_may_be_finished_in_another_mode(cognito: Any, tmp_path: Path) -> None:
    """`none` sets no password: finishing its users in another mode gives them all that mode (no mix)."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    dying = DyingStore(repo.store)
    unhook = kill_on(cognito, dying, "AdminCreateUser", 3)
    req = request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source, plan={"password_mode": "none"})
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), req)
    unhook()
    req = request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), req)
    assert outcome.summary.failures() == []
    assert {u.status for u in read_state(cognito, target).users.values()} == {"CONFIRMED"}


def test_a_finished_restore_does_not_bind_the_next_one_to_its_mode(cognito: Any, tmp_path: Path) -> None:
    """The state stays after a restore ends (docs/format.md): a later restore of the same snapshot into
    the same target, in another mode, is not a resume and is not refused."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    first = request(
        None, tmp_path / "r", target_pool_id=target, source_pool_id=source, plan={"only_users": frozenset({"alice"})}
    )
    assert run_restore(cognito, quiet_pacer(), repo, first).summary.failures() == []
    later = request(
        None,
        tmp_path / "r",
        target_pool_id=target,
        source_pool_id=source,
        plan={"password_mode": "temporary-file", "only_users": frozenset({"bob"})},
    )
    assert run_restore(cognito, quiet_pacer(), repo, later).summary.failures() == []
    statuses = {u.username: u.status for u in read_state(cognito, target).users.values()}
    assert statuses == {"alice": "CONFIRMED", "bob": "FORCE_CHANGE_PASSWORD"}


def test_the_cli_refusal_is_exit_2_with_its_json_on_stdout(cognito: Any, tmp_path: Path) -> None:
    _, source, target = killed_restore(cognito, tmp_path, "random-permanent", 2)
    result = CliRunner().invoke(
        cli,
        ["restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", target, "--source-user-pool-id", source]
        + ["--password-mode", "temporary-file", "--report-dir", str(tmp_path / "reports"), "--json"],
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and "--password-mode random-permanent" in error["hint"]
    assert "--password-mode random-permanent" in result.stderr
    # A dry run shows the same refusal: its plan would be a mixed one.
    dry = CliRunner().invoke(
        cli,
        ["restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", target, "--source-user-pool-id", source]
        + ["--password-mode", "temporary-file", "--dry-run"],
    )
    assert dry.exit_code == 2, dry.output
