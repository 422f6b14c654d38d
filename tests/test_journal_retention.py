"""Retention applies to the journal as to snapshots: prune removes the segments no kept snapshot needs.

A point-in-time restore starts from a snapshot and folds the records observed from its start; so records
observed before the oldest KEPT snapshot of a pool started serve no restore, no compaction and no
standby. Whole segments ending before that time are removed (manifest first, then their data); a
segment that straddles it is kept whole. Restores at any time still covered give the same state.
"""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Iterator
from typing import Any

from cognito_backup.core.retention import Policy
from cognito_backup.model import Group, PoolConfig, User
from cognito_backup.ops.pitr import desired_state_at
from cognito_backup.ops.prune import prune
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.base import ObjectInfo
from cognito_backup.store.memory import MemoryStore
from tests.helpers import journal_upsert

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 1, 10, 0, tzinfo=dt.UTC)
DAY = 86400.0


def t(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def upsert(s: float, name: str, tier: str) -> dict[str, Any]:
    return journal_upsert(POOL, t(s), name, tier, f"e{s}")


def snapshot(repo: Repository, start: float, users: dict[str, str]) -> str:
    with repo.begin_snapshot(POOL, "us-east-1", started_at=t(start)) as w:
        w.add("config", PoolConfig(user_pool={"Id": POOL}).to_record())
        w.add("groups", Group("g").to_record())
        for name, tier in users.items():
            w.add("users", User(username=name, attributes={"sub": f"sub-{name}", "custom:tier": tier}).to_record())
        return w.commit(finished_at=t(start + 5)).id


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.listed = 0

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for info in super().list(prefix):
            self.listed += 1
            yield info


def tiers(state: Any) -> dict[str, str]:
    return {n: u.attributes["custom:tier"] for n, u in state.users.items()}


def test_prune_removes_journal_older_than_the_oldest_kept_snapshot() -> None:
    store = CountingStore()
    clock = [t(30 * DAY)]
    repo = Repository(store, clock=lambda: clock[0])
    journal = Journal(store, clock=lambda: clock[0])
    snapshot(repo, 0, {"ann": "a0"})
    # A segment every two hours for twenty days (a busy capture writes many), ann's tier changing each time.
    for n in range(20 * 12):
        journal.append(POOL, [upsert(n * 7200 + 60, "ann", f"a{n}")])
    # A segment that straddles the kept snapshot's start: kept whole.
    journal.append(POOL, [upsert(10 * DAY - 30, "bob", "b0"), upsert(10 * DAY + 30, "bob", "b1")])
    kept = snapshot(repo, 10 * DAY, {"ann": "a119", "bob": "b0"})
    # Every time from the kept snapshot's end (from its start, the state is the fuzzy snapshot's, as for
    # any restore from it alone).
    covered = [t(10 * DAY + 5), t(10 * DAY + 31), t(12 * DAY), t(15 * DAY + 1800), t(19 * DAY + 23 * 3600 + 120)]
    before = [tiers(desired_state_at(repo, POOL, at)[0]) for at in covered]
    store.listed = 0
    list(journal.iter_records(POOL))
    listed_before = store.listed

    dry = prune(repo, Policy(keep_last=1), dry_run=True, now=lambda: time.time() + 7200)
    assert dry.journal_segments_removed == 120  # the first ten days, the straddling segment excepted
    assert len(journal.list_segments(POOL)) == 20 * 12 + 1  # a dry run removes nothing
    result = prune(repo, Policy(keep_last=1), now=lambda: time.time() + 7200)
    assert [m.id for m in repo.list_snapshots()] == [kept]
    assert result.journal_segments_removed == 120
    assert result.summary()["journal_kept_from"] == {POOL: format_time(t(10 * DAY))}
    refs = journal.list_segments(POOL)
    assert min(r.last_observed for r in refs) >= format_time(t(10 * DAY))
    inputs = [r for r in refs if journal.load_segment(r).writer.get("source") != "merge"]
    assert len(inputs) == 121  # the rest are this prune's merge outputs, next to their inputs for now
    # The same state at every time the kept snapshot + journal cover.
    assert [tiers(desired_state_at(repo, POOL, at)[0]) for at in covered] == before
    assert before[:2] == [{"ann": "a119", "bob": "b0"}, {"ann": "a119", "bob": "b1"}]
    # The next prune, past the merge's grace period, deletes the merged inputs: reading the whole
    # journal then lists a key per day kept, not per segment ever written.
    clock[0] += dt.timedelta(hours=2)
    assert prune(repo, Policy(keep_last=1), now=lambda: time.time() + 7200).journal_merged_inputs_removed == 121
    refs = journal.list_segments(POOL)
    assert len(refs) <= 11
    assert [tiers(desired_state_at(repo, POOL, at)[0]) for at in covered] == before
    store.listed = 0
    list(journal.iter_records(POOL))
    assert store.listed <= listed_before // 10
    # The removed segments' data went too, and nothing left points at missing data.
    assert check_repository(repo, read_data=True).ok
    data = [i for i in store.list("journal/objects/")]
    assert len(data) == len(refs)


def test_pools_without_a_kept_snapshot_keep_their_journal() -> None:
    store = MemoryStore()
    repo = Repository(store, clock=lambda: t(30 * DAY))
    journal = Journal(store, clock=lambda: t(30 * DAY))
    journal.append(POOL, [upsert(60, "ann", "a1")])
    journal.append("us-east-1_Other", [{**upsert(60, "cy", "c1"), "pool": "us-east-1_Other"}])
    snapshot(repo, 10 * DAY, {"ann": "a1"})
    result = prune(repo, Policy(keep_last=1), now=lambda: time.time() + 7200)
    assert result.journal_segments_removed == 1
    assert journal.list_segments(POOL) == []
    assert len(journal.list_segments("us-east-1_Other")) == 1


def test_prune_merges_the_small_segments_it_keeps() -> None:
    store = MemoryStore()
    clock = [t(10 * DAY)]
    repo = Repository(store, clock=lambda: clock[0])
    journal = Journal(store)
    snapshot(repo, 0, {"ann": "a0"})
    for n in range(30):
        journal.append(POOL, [upsert(2 * DAY + n * 60, "ann", f"a{n}")])
    later = time.time() + 7200
    assert prune(repo, Policy(keep_last=1), dry_run=True, now=lambda: later).journal_segments_merged == 30
    assert len(journal.list_segments(POOL)) == 30
    assert prune(repo, Policy(keep_last=1), now=lambda: later).summary()["journal_segments_merged"] == 30
    clock[0] += dt.timedelta(hours=2)
    assert prune(repo, Policy(keep_last=1), now=lambda: later).journal_merged_inputs_removed == 30
    assert len(journal.list_segments(POOL)) == 1
    assert tiers(desired_state_at(repo, POOL, t(3 * DAY))[0]) == {"ann": "a29"}
