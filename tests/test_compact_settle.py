"""`compact` right after a backup: the pool's only snapshot started within the settle horizon (60 s: records
of the last minute may still be on their way from captures). Nothing to compact yet, and a scheduled
compaction after a backup must not page anyone: exit 0 with a note saying why and when to retry."""

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
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository
from cognito_backup.store.memory import MemoryStore
from tests.helpers import journal_upsert, make_pool
from tests.restore_support import backup

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def t(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def _repo(now: list[dt.datetime]) -> Repository:
    repo = Repository(MemoryStore(), clock=lambda: now[0])
    with repo.begin_snapshot(POOL, "us-east-1", started_at=t(0)) as w:
        w.add("config", PoolConfig(user_pool={"Id": POOL}).to_record())
        w.add("users", User(username="ann", attributes={"sub": "s", "custom:tier": "a0"}).to_record())
        w.commit(finished_at=t(10))
    Journal(repo.store).append(POOL, [journal_upsert(POOL, t(20), "ann", "a1", "e20")])
    return repo


def test_a_snapshot_within_the_settle_horizon_is_nothing_to_compact_yet() -> None:
    now = [t(30)]
    repo = _repo(now)
    result = compact(repo, POOL)
    assert result.manifest is None and result.records == 0
    summary = result.summary()
    assert summary["snapshot"] is None and summary["base_snapshot"] == result.base.id
    assert summary["retry_after"] == "2026-11-21T10:01:00.000000Z"  # the snapshot's start + the 60 s horizon
    assert "settle" in str(summary["note"]) and "2026-11-21T10:01:00.000000Z" in str(summary["note"])
    now[0] = t(61)  # the snapshot settled; the record at t=20 not yet: nothing written, no note
    settled = compact(repo, POOL)
    assert settled.manifest is None and settled.summary()["note"] is None
    now[0] = t(90)  # the record settled too: folded
    later = compact(repo, POOL)
    assert later.manifest is not None and later.records == 1 and later.summary()["note"] is None


def test_no_snapshot_at_all_is_still_not_found() -> None:
    repo = Repository(MemoryStore(), clock=lambda: t(30))
    with pytest.raises(RepositoryNotFound):
        compact(repo, POOL)


def test_compact_right_after_a_backup_exits_0_with_the_reason(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    args = ["compact", "--repo", str(tmp_path / "repo"), "--user-pool-id", pool]
    text = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert text.exit_code == 0, text.output
    assert "nothing to compact yet" in text.output and "settle" in text.output and "retry after" in text.output
    as_json = CliRunner().invoke(cli, [*args, "--json"], catch_exceptions=False)
    assert as_json.exit_code == 0, as_json.output
    body = json.loads(as_json.output)
    assert body["snapshot"] is None and body["retry_after"] and "settle" in body["note"]
