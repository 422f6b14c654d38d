"""Merging journal segments: many small segments become few, atomically for readers.

While outputs and inputs both exist a reader sees every record once (twins are adjacent in the merge);
a reader that listed before the merge still finds its inputs (they are deleted a grace period later);
point-in-time states are unchanged; reading the journal afterwards lists and gets far fewer keys.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from typing import Any

from cognito_backup.model import Group, PoolConfig
from cognito_backup.ops.pitr import desired_state_at
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.journal import Journal, record_order
from cognito_backup.repo.journal_merge import merge_pool
from cognito_backup.repo.repository import Repository
from cognito_backup.store.base import ObjectInfo
from cognito_backup.store.memory import MemoryStore
from tests.helpers import journal_upsert

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 1, 0, 0, tzinfo=dt.UTC)


def t(s: float) -> dt.datetime:
    return T0 + dt.timedelta(seconds=s)


def upsert(s: float, name: str, tier: str) -> dict[str, Any]:
    return journal_upsert(POOL, t(s), name, tier, f"e{s}")


class CountingStore(MemoryStore):
    def __init__(self) -> None:
        super().__init__()
        self.calls = 0

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self.calls += 1
        yield from super().list(prefix)

    def get_bytes(self, key: str) -> bytes:
        self.calls += 1
        return super().get_bytes(key)


def tiers(state: Any) -> dict[str, str]:
    return {n: u.attributes["custom:tier"] for n, u in state.users.items()}


def test_merge_is_invisible_to_readers_and_makes_reading_cheaper() -> None:
    store = CountingStore()
    now = [t(0)]
    repo = Repository(store, clock=lambda: now[0])
    journal = Journal(store, clock=lambda: now[0])
    with repo.begin_snapshot(POOL, "us-east-1", started_at=t(0)) as w:
        w.add("config", PoolConfig(user_pool={"Id": POOL}).to_record())
        w.add("groups", Group("g").to_record())
        w.commit(finished_at=t(1))
    # 200 small segments over the day, some records written twice (a retried batch) in other segments.
    for n in range(200):
        recs = [upsert(n * 400 + 10, f"u{n % 7}", f"t{n}"), upsert(n * 400 + 20, f"v{n % 3}", f"w{n}")]
        if n % 10 == 9:
            recs.append(upsert((n - 5) * 400 + 10, f"u{(n - 5) % 7}", f"t{n - 5}"))
        journal.append(POOL, recs)
    now[0] = t(2 * 86400)
    journal.append(POOL, [upsert(2 * 86400 - 60, "late", "open")])  # not closed yet: not merged
    keys = [record_order(r) for r in journal.iter_records(POOL)]
    assert len(keys) == len(set(keys)) == 401
    times = [t(5), t(3000), t(40_000), t(79_999), t(2 * 86400)]
    states = [tiers(desired_state_at(repo, POOL, at)[0]) for at in times]
    before_listing = journal.list_segments(POOL)  # a reader that listed before the merge

    first = merge_pool(journal, POOL)
    assert (first.inputs_merged, first.outputs_written, first.inputs_removed) == (200, 1, 0)
    assert len(journal.list_segments(POOL)) == 202  # the inputs stay through the grace period
    assert [record_order(r) for r in journal.iter_records(POOL)] == keys  # each record once
    assert [record_order(r) for r in journal.iter_records(POOL, segments=before_listing)] == keys
    assert [tiers(desired_state_at(repo, POOL, at)[0]) for at in times] == states

    now[0] += dt.timedelta(minutes=30)
    assert merge_pool(journal, POOL).inputs_removed == 0  # still within the grace period
    now[0] += dt.timedelta(hours=1)
    store.calls = 0
    list(journal.iter_records(POOL, segments=journal.list_segments(POOL)))
    calls_before = store.calls  # the 202 segments' manifests and data
    second = merge_pool(journal, POOL)
    assert (second.inputs_merged, second.inputs_removed) == (0, 200)
    assert len(journal.list_segments(POOL)) == 2
    assert [record_order(r) for r in journal.iter_records(POOL)] == keys
    assert [tiers(desired_state_at(repo, POOL, at)[0]) for at in times] == states
    store.calls = 0
    list(journal.iter_records(POOL, segments=journal.list_segments(POOL)))
    assert store.calls <= 6 < calls_before
    assert check_repository(repo, read_data=True).ok
    assert len(list(store.list("journal/objects/"))) == 2  # the inputs' data is gone too
