"""Reading the journal streams each segment: memory holds one record per open segment, not every record
of the segments that overlap in time (a `restore --at` over a busy day's journal, #10.1).

Before: iter_records pushed every record of each segment it opened onto its merge heap, so one segment of
20,000 records (capture writes a batch spanning up to MAX_SEGMENT_SPAN as one segment; merged segments
hold up to 20,000) sat in memory whole: bench_memory's 1M-user `restore --at` peaked at 129.9 MiB against
73.1 MiB at 100k (1.78x; its journal is 1% of the users)."""

from __future__ import annotations

import datetime as dt
import gc
import tracemalloc
from pathlib import Path

import pytest

from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.journal import Journal, journal_check
from cognito_backup.store.local import LocalStore
from tests.helpers import journal_upsert

POOL = "eu-west-1_Pool1"
START = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)


def _records(n: int, offset: int = 0) -> list[dict[str, object]]:
    return [
        journal_upsert(POOL, START + dt.timedelta(milliseconds=i), f"user-{i:06d}", "x" * 400, f"e{i}")
        for i in range(offset, offset + n)
    ]


def test_reading_a_big_segment_holds_a_bounded_number_of_records(tmp_path: Path) -> None:
    journal = Journal(LocalStore(tmp_path))
    journal.append(POOL, _records(20_000))
    assert len(journal.list_segments(POOL)) == 1  # one segment: 20 s of records
    gc.collect()
    tracemalloc.start()
    try:
        count = 0
        last = ""
        for rec in journal.iter_records(POOL):
            count += 1
            assert str(rec["observed_at"]) >= last
            last = str(rec["observed_at"])
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # Whole, the segment's records are ~40 MB of Python objects; streamed, a few thousand at most.
    assert peak < 12 * 2**20, f"reading the journal peaked at {peak / 2**20:.1f} MiB"


def test_overlapping_segments_still_come_out_in_order_and_twins_once(tmp_path: Path) -> None:
    journal = Journal(LocalStore(tmp_path))
    evens = [r for i, r in enumerate(_records(300)) if i % 2 == 0]
    odds = [r for i, r in enumerate(_records(300)) if i % 2 == 1]
    journal.append(POOL, evens)
    journal.append(POOL, odds)
    journal.append(POOL, evens[:50])  # a retried batch: the same observations again
    keys = [r["key"] for r in journal.iter_records(POOL)]
    assert keys == [f"user-{i:06d}" for i in range(300)]


def test_a_segment_out_of_order_is_damage_not_a_wrong_fold(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    journal = Journal(store)
    records = _records(10)
    records[3], records[7] = records[7], records[3]
    # No version of the tool writes this (append sorts); a damaged or foreign segment might.
    journal._write_segment(POOL, records, {})
    with pytest.raises(RepositoryDamaged, match="out of order"):
        list(journal.iter_records(POOL))
    problems = journal_check(store, read_data=True)  # `check --read-data` says so too (exit 6)
    assert any("out of order" in problem for problem in problems), problems
