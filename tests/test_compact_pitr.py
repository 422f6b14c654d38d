"""Point-in-time state, compaction and coverage over a repository (no AWS needed)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cognito_backup.errors import RepositoryNotFound
from cognito_backup.model import Group, PoolConfig, User
from cognito_backup.ops.compact import compact
from cognito_backup.ops.pitr import coverage, desired_state_at
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.memory import MemoryStore
from tests.helpers import journal_upsert

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def t(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def upsert(s: float, name: str, tier: str) -> dict[str, Any]:
    return journal_upsert(POOL, t(s), name, tier, f"e{s}")


@pytest.fixture
def repo() -> Repository:
    now = [t(1000)]
    r = Repository(MemoryStore(), clock=lambda: now[0])
    # A fuzzy snapshot taken from t=0 to t=10: "bob" was read at t=8 with tier "new".
    with r.begin_snapshot(POOL, "us-east-1", started_at=t(0)) as w:
        w.add("config", PoolConfig(user_pool={"Id": POOL}).to_record())
        w.add("groups", Group("g").to_record())
        w.add("users", User(username="ann", attributes={"sub": "sub-ann", "custom:tier": "a0"}).to_record())
        w.add("users", User(username="bob", attributes={"sub": "sub-bob", "custom:tier": "new"}).to_record())
        w.commit(finished_at=t(10))
    Journal(r.store).append(
        POOL, [upsert(5, "bob", "new"), upsert(20, "ann", "a1"), upsert(40, "ann", "a2"), upsert(60, "cy", "c1")]
    )
    return r


def tiers(state: Any) -> dict[str, str]:
    return {n: u.attributes["custom:tier"] for n, u in state.users.items()}


def test_state_at_any_time(repo: Repository) -> None:
    assert tiers(desired_state_at(repo, POOL, t(10))[0]) == {"ann": "a0", "bob": "new"}
    assert tiers(desired_state_at(repo, POOL, t(30))[0]) == {"ann": "a1", "bob": "new"}
    assert tiers(desired_state_at(repo, POOL, t(100))[0]) == {"ann": "a2", "bob": "new", "cy": "c1"}
    with pytest.raises(RepositoryNotFound):
        desired_state_at(repo, POOL, t(-5))


def test_compact_then_point_in_time_uses_the_compacted_snapshot(repo: Repository) -> None:
    result = compact(repo, POOL)
    m = result.manifest
    assert m is not None and m.extra["compacted"] and m.extra["compacted_from"] == result.base.id
    assert m.started_at == m.finished_at == format_time(t(60)) and m.counts["users"] == 3
    assert tiers(repo.load_state(m)) == {"ann": "a2", "bob": "new", "cy": "c1"}
    Journal(repo.store).append(POOL, [upsert(70, "cy", "c2")])
    state, base = desired_state_at(repo, POOL, t(80))
    assert base.id == m.id and tiers(state)["cy"] == "c2"
    # Earlier times still come from the original snapshot.
    assert desired_state_at(repo, POOL, t(30))[1].id == result.base.id
    assert compact(repo, POOL).manifest is not None  # the record at t=70 is new
    assert compact(repo, POOL).manifest is None  # nothing newer: nothing written


def test_coverage_reaches_the_last_journal_record(repo: Repository) -> None:
    ((_sid, start, end),) = coverage(repo)
    assert start == format_time(t(10)) and end == format_time(t(60))
