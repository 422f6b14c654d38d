"""Compacted states (ops/compact.py; a standby round writes them too) are not backups: `snapshots` and
`show` mark them, and `latest` (restore, diff, show, check) is the newest backup, never a compacted
state. One is still chosen by its id, and `--at` still starts from one (ops/state_at.py)."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.errors import RepositoryNotFound
from cognito_backup.model import PoolConfig, User
from cognito_backup.ops.compact import compact
from cognito_backup.ops.pitr import desired_state_at, select_desired
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


@pytest.fixture
def repo_with_compacted(tmp_path: Path) -> tuple[Path, Manifest, Manifest]:
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
    repo_with_compacted: tuple[Path, Manifest, Manifest],
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


def test_snapshots_marks_compacted_states(repo_with_compacted: tuple[Path, Manifest, Manifest]) -> None:
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


def test_latest_with_only_compacted_states_names_them(repo_with_compacted: tuple[Path, Manifest, Manifest]) -> None:
    root, listed, compacted = repo_with_compacted
    (root / snapshot_key(listed.id)).unlink()  # the backup was pruned: only the compacted state is left
    repo = Repository(LocalStore(root))
    with pytest.raises(RepositoryNotFound, match=compacted.id):
        repo.resolve("latest", POOL)
    result = run("show", "--repo", str(root))
    assert result.exit_code == RepositoryNotFound.exit_code, result.output
    assert compacted.id in result.output and "--snapshot" in result.output
