"""Issue 8.1: restore, diff and show work from the right pool's snapshot when a repository holds
several pools' backups (moto in-process, through the CLI)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import add_user, make_pool
from tests.restore_support import backup, read_state, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def two_pools(cognito: Any, tmp_path: Path) -> tuple[str, str, str, dict[str, str]]:
    """Pool B backed up first, then pool A (so A's snapshot is the repository's newest)."""
    b = make_pool(cognito, "B")
    for name in ("bea", "ben"):
        add_user(cognito, b, name, {"email": f"{name}@example.com"})
    a = rich_pool(cognito, "A")
    repo = tmp_path / "repo"
    snaps = {b: backup(cognito, b, repo).list_snapshots()[-1].id}
    snaps[a] = next(s.id for s in backup(cognito, a, repo).list_snapshots() if s.user_pool_id == a)
    return str(repo), a, b, snaps


def test_restore_without_snapshot_uses_the_targets_own(cognito: Any, tmp_path: Path) -> None:
    repo, _, b, snaps = two_pools(cognito, tmp_path)
    result = run(
        "restore", "--repo", repo, "--user-pool-id", b, "--prune", "--yes", "--json",
        "--report-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert (body["snapshot"], body["source_user_pool_id"]) == (snaps[b], b)
    assert body["deleted"] == 0 and body["deleted_items"] == []
    assert set(read_state(cognito, b).users) == {"bea", "ben"}


def test_diff_and_restore_agree(cognito: Any, tmp_path: Path) -> None:
    repo, _, b, snaps = two_pools(cognito, tmp_path)
    diff = run("diff", "--repo", repo, "--user-pool-id", b, "--json")
    assert diff.exit_code == 0, diff.output
    assert json.loads(diff.output)["source_user_pool_id"] == b
    dry = run("restore", "--repo", repo, "--user-pool-id", b, "--dry-run", "--json", "--prune")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["snapshot"] == snaps[b]


def test_target_never_backed_up_with_two_pools_is_a_usage_error(cognito: Any, tmp_path: Path) -> None:
    repo, a, b, _ = two_pools(cognito, tmp_path)
    c = make_pool(cognito, "C")
    for args in (
        ("restore", "--repo", repo, "--user-pool-id", c, "--report-dir", str(tmp_path / "r")),
        ("restore", "--repo", repo, "--new-pool", "D", "--report-dir", str(tmp_path / "r")),
        ("diff", "--repo", repo, "--user-pool-id", c),
        ("show", "--repo", repo),
    ):
        result = run(*args)
        assert result.exit_code == 2, (args, result.output)
        assert a in result.output and b in result.output and "--source-user-pool-id" in result.output
    assert read_state(cognito, c).users == {}
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == 3
    assert not (tmp_path / "r").exists()


def test_another_pools_snapshot_into_an_existing_pool_only_when_named(cognito: Any, tmp_path: Path) -> None:
    a = rich_pool(cognito, "A")
    repo = str(tmp_path / "repo")
    snap = backup(cognito, a, repo).list_snapshots()[-1].id
    c = make_pool(cognito, "C")
    refused = run("restore", "--repo", repo, "--user-pool-id", c, "--report-dir", str(tmp_path / "r"))
    assert refused.exit_code == 2, refused.output
    assert f"--source-user-pool-id {a}" in refused.output
    assert read_state(cognito, c).users == {}

    dry = run("restore", "--repo", repo, "--user-pool-id", c, "--source-user-pool-id", a, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert f"from snapshot {snap} of {a}" in " ".join(dry.output.split())
    by_id = run("restore", "--repo", repo, "--user-pool-id", c, "--snapshot", snap[:12], "--dry-run", "--json")
    assert by_id.exit_code == 0, by_id.output
    assert json.loads(by_id.output)["source_user_pool_id"] == a
    done = run(
        "restore", "--repo", repo, "--user-pool-id", c, "--source-user-pool-id", a, "--json",
        "--report-dir", str(tmp_path / "r"),
    )  # fmt: skip
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["source_user_pool_id"] == a
    assert len(read_state(cognito, c).users) == 5
    # A new pool from the only pool's snapshot needs no naming; diff of a pool never backed up neither.
    assert run("diff", "--repo", repo, "--user-pool-id", c).exit_code == 0


def test_snapshot_and_source_that_disagree_are_refused(cognito: Any, tmp_path: Path) -> None:
    repo, a, b, snaps = two_pools(cognito, tmp_path)
    result = run(
        "restore",
        "--repo",
        repo,
        "--user-pool-id",
        b,
        "--snapshot",
        snaps[a],
        "--source-user-pool-id",
        b,
        "--report-dir",
        str(tmp_path / "r"),
    )
    assert result.exit_code == 2, result.output
    assert read_state(cognito, b).users.keys() == {"bea", "ben"}


def test_show_picks_the_named_pools_latest(cognito: Any, tmp_path: Path) -> None:
    repo, a, b, snaps = two_pools(cognito, tmp_path)
    for pool in (a, b):
        result = run("show", "--repo", repo, "--user-pool-id", pool, "--json")
        assert result.exit_code == 0, result.output
        assert json.loads(result.output)["snapshot"] == snaps[pool]
    assert run("show", "--repo", repo, "--user-pool-id", "us-east-1_nope").exit_code == 7
    assert json.loads(run("show", "--repo", repo, "--snapshot", snaps[b], "--json").output)["snapshot"] == snaps[b]
