"""Compacted states (ops/compact.py; a standby round writes them too) are not backups: `snapshots` and
`show` mark them, and `latest` (restore, diff, show, check) is the newest backup, never a compacted
state. One is still chosen by its id, and `--at` still starts from one (ops/state_at.py). Retention
counts backups only, so a compacted state never pushes out the backup `latest` needs."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.retention import Policy, SnapshotTime, apply_policy
from cognito_backup.errors import RepositoryNotFound
from cognito_backup.model import PoolConfig, User
from cognito_backup.ops.compact import compact
from cognito_backup.ops.pitr import desired_state_at, select_desired
from cognito_backup.ops.prune import prune
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.layout import snapshot_key
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import journal_upsert

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def t(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def backup(repo: Repository, start: float, tier: str) -> Manifest:
    with repo.begin_snapshot(POOL, "us-east-1", started_at=t(start)) as w:
        w.add("config", PoolConfig(user_pool={"Id": POOL}).to_record())
        w.add("users", User(username="ann", attributes={"sub": "sub-ann", "custom:tier": tier}).to_record())
        return w.commit(finished_at=t(start + 10))


Prepared = tuple[Path, Manifest, Manifest]


@pytest.fixture
def repo_with_compacted(tmp_path: Path) -> Prepared:
    """A backup at t=0..10, the journal to t=60, then a compacted state exact at t=60: newer than the backup."""
    root = tmp_path / "repo"
    repo = Repository(LocalStore(root))
    listed = backup(repo, 0, "a0")
    Journal(repo.store).append(POOL, [journal_upsert(POOL, t(60), "ann", "a1", "e1")])
    compacted = compact(repo, POOL).manifest
    assert compacted is not None and compacted.started_at > listed.started_at
    return root, listed, compacted


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_latest_is_the_newest_backup_not_a_compacted_state(
    repo_with_compacted: Prepared,
) -> None:
    root, listed, compacted = repo_with_compacted
    repo = Repository(LocalStore(root))
    assert repo.resolve("latest").id == listed.id
    assert repo.resolve("latest", POOL).id == listed.id
    assert repo.resolve(compacted.id).id == compacted.id  # by id: still possible
    assert select_desired(repo).label == listed.id  # what restore and diff work towards by default
    assert select_desired(repo, compacted.id).label == compacted.id
    # --at starts from the compacted state: it is exact at its journal position.
    assert desired_state_at(repo, POOL, t(100))[1].id == compacted.id

    shown = run("show", "--repo", str(root), "--json")
    assert shown.exit_code == 0, shown.output
    assert json.loads(shown.stdout)["snapshot"] == listed.id and json.loads(shown.stdout)["kind"] == "backup"
    by_id = run("show", "--repo", str(root), "--snapshot", compacted.id)
    assert by_id.exit_code == 0, by_id.output
    assert "compacted" in by_id.output and listed.id in by_id.output  # what it was compacted from


def test_snapshots_marks_compacted_states(repo_with_compacted: Prepared) -> None:
    root, listed, compacted = repo_with_compacted
    result = run("snapshots", "--repo", str(root), "--json")
    assert result.exit_code == 0, result.output
    kinds = {row["id"]: row["kind"] for row in json.loads(result.stdout)}
    assert kinds == {listed.id: "backup", compacted.id: "compacted"}
    text = run("snapshots", "--repo", str(root))
    assert text.exit_code == 0, text.output
    line = next(line for line in text.output.splitlines() if compacted.id in line)
    assert "compacted" in line
    assert "latest" in text.output  # the table says what `latest` picks


def test_latest_with_only_compacted_states_names_them(repo_with_compacted: Prepared) -> None:
    root, listed, compacted = repo_with_compacted
    (root / snapshot_key(listed.id)).unlink()  # the backup was pruned: only the compacted state is left
    repo = Repository(LocalStore(root))
    with pytest.raises(RepositoryNotFound, match=compacted.id):
        repo.resolve("latest", POOL)
    result = run("show", "--repo", str(root))
    assert result.exit_code == RepositoryNotFound.exit_code, result.output
    assert compacted.id in result.output and "--snapshot" in result.output


def at(day: int) -> dt.datetime:
    return dt.datetime(2026, 11, day, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("states", "policy", "kept"),
    [
        # A standby's compacted state, newer than every backup, does not push the last backup out.
        ([("b1", 1, False), ("b2", 2, False), ("c3", 3, True)], Policy(keep_last=1), {"b2", "c3"}),
        # A compacted state older than the oldest backup kept goes with the backups of its time.
        ([("b1", 1, False), ("c2", 2, True), ("b3", 3, False)], Policy(keep_last=1), {"b3"}),
        ([("b1", 1, False), ("c2", 2, True), ("b3", 3, False)], Policy(keep_last=2), {"b1", "c2", "b3"}),
        # Only compacted states left (the backups are gone): the rules count them.
        ([("c1", 1, True), ("c2", 2, True)], Policy(keep_last=1), {"c2"}),
        # No policy keeps everything.
        ([("b1", 1, False), ("c2", 2, True)], Policy(), {"b1", "c2"}),
    ],
)
def test_retention_counts_backups_only(states: list[tuple[str, int, bool]], policy: Policy, kept: set[str]) -> None:
    decision = apply_policy([SnapshotTime(i, at(day), compacted) for i, day, compacted in states], policy)
    assert set(decision.keep) == kept
    assert set(decision.remove) == {i for i, _, _ in states} - kept
    assert all(decision.reasons[i] for i in kept)


def test_prune_keeps_the_last_backup_beside_a_newer_compacted_state(repo_with_compacted: Prepared) -> None:
    root, listed, compacted = repo_with_compacted
    repo = Repository(LocalStore(root))
    result = prune(repo, Policy(keep_last=1), grace_seconds=0)
    assert set(result.decision.keep) == {listed.id, compacted.id} and not result.decision.remove
    assert repo.resolve("latest").id == listed.id
