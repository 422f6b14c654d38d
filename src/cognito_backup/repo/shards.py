"""Users sorted by username, in content-defined key-range shards (docs/format.md, "Sorted shards").

A backup lists users in no useful order (16 chains, pages as they come). Its snapshot stores them
sorted, cut into shards whose boundaries depend only on the keys: a shard ends after a key whose hash
has its low `bits` bits zero (at least MIN and at most MAX records a shard, both derived from `bits`).
An unchanged key range therefore gives the same records, hence byte-identical shard bytes, hence the
same content-addressed object: stored once, shared by every snapshot in which that range is unchanged.

The sort is external and bounded in memory: listed users go into a SortBuffer (a dict, then a private
sqlite table past a few thousand); each buffer of at most `max_records` is written out as a sorted RUN
(staged under runs/<snapshot-id>/, never in objects/: repo/layout.run_key); shards are cut from a merge
of the runs. The merge can stop after any shard and continue from its last key (`after`): a Lambda
step's checkpoint records the runs and that key, so sorting and sharding survive step boundaries.

The merge is bounded: each run open for reading costs its read buffers and zstd window (~0.6 MiB), and
a 40-million-user pool lists hundreds of runs. Past MERGE_FAN_IN runs, windows of consecutive runs are
first merged into one run each (next_merge decides which), until at most MERGE_FAN_IN remain. A merged
run is a list of SEGMENTS (objects of at most `max_records` records, in key order, each with its key
range), so a merge too can stop after any segment and continue from the last key of the last one: the
checkpoint records it (PendingMerge). Merging a window in place keeps the runs' order, and with it which
copy of a key read twice wins (the earliest run's): the snapshot is the one a single merge writes.
"""

from __future__ import annotations

import hashlib
import heapq
import math
import sqlite3
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any, TypeAlias

from cognito_backup.core.spill import MEMORY_ITEMS, dump, load, open_db, rows_by_key
from cognito_backup.repo.manifest import ObjectRef

# The field users are sorted by. Not the identity key (the email in email sign-in pools): the username
# is unique and immutable in a pool, so keys never tie and a user never moves between shards when an
# attribute changes; and it is known without the pool's configuration. docs/format.md says more.
SORT_FIELD = "username"
# Cut parameters: the average shard grows with the pool so that a snapshot has about TARGET_SHARDS
# shards (its manifest lists each), but never below 2**MIN_BITS records (sharing needs small shards:
# 1% of users changed at random leaves about 0.99**64 = 53% of 64-user shards unchanged).
TARGET_SHARDS = 2_048
MIN_BITS = 6
MAX_BITS = 16
# Sort runs are temporary (deleted when the snapshot commits): compress fast, with a small window so
# that a merge of many runs stays small in memory.
RUN_ZSTD_LEVEL = 1
MERGE_READ_BUFFER = 64 * 1024
# Runs read at once by a merge: about 40 MiB of buffers. Pools up to 6.4 million users (64 runs of
# 100,000) never need an intermediate merge; 40 million (400 runs) rewrite each user about once more.
MERGE_FAN_IN = 64

# A sorted run: its segments (objects under runs/<snapshot-id>/) in key order. A run staged from the
# sort buffer has one; a merged run as many as its records need.
Run: TypeAlias = list[ObjectRef]


@dataclass
class PendingMerge:
    """An intermediate merge under way: runs[start:end] become one run, of which `outputs` (segments,
    each with its key range) are stored; it continues after the last key of the last one."""

    start: int
    end: int
    outputs: Run = field(default_factory=list)

    @property
    def after(self) -> str | None:
        return self.outputs[-1].last if self.outputs else None

    def to_record(self) -> dict[str, Any]:
        return {"start": self.start, "end": self.end, "outputs": [o.to_record() for o in self.outputs]}

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> PendingMerge:
        return cls(int(rec["start"]), int(rec["end"]), [ObjectRef.from_record(o) for o in rec["outputs"]])


def run_records(run: Run) -> int:
    return sum(segment.records for segment in run)


def next_merge(sizes: Sequence[int], fan_in: int) -> tuple[int, int] | None:
    """The window [start, end) of runs (their record counts: `sizes`, in order) to merge into one next,
    or None when at most `fan_in` runs remain. The window is no wider than the fan-in and than what
    brings the count down to it, and is the one of fewest records (the least rewritten; the leftmost
    of equals): small runs are merged first, as in a Huffman tree, and a merged run is merged again
    only when it must."""
    if fan_in < 2:
        raise ValueError(f"a merge needs a fan-in of at least 2, not {fan_in}")
    if len(sizes) <= fan_in:
        return None
    width = min(fan_in, len(sizes) - fan_in + 1)
    best = min(range(len(sizes) - width + 1), key=lambda start: (sum(sizes[start : start + width]), start))
    return best, best + width


def cut_bits(records: int) -> int:
    """The number of hash bits a cut needs, for a snapshot of `records` users. A power of two of the pool
    size: it changes only when the pool crosses one, so consecutive snapshots cut alike."""
    if records <= TARGET_SHARDS << MIN_BITS:
        return MIN_BITS
    return min(MAX_BITS, int(math.log2(records / TARGET_SHARDS)))


def shard_limits(bits: int, max_records: int) -> tuple[int, int]:
    """(min, max) records of a shard cut with `bits`: a quarter and four times the average, at most
    `max_records` (the repository's bound on any object)."""
    return min(1 << max(bits - 2, 0), max_records), min(1 << (bits + 2), max_records)


def key_hash(key: str) -> int:
    return int.from_bytes(hashlib.sha256(key.encode("utf-8")).digest()[:8], "big")


def cuts_after(key: str, records_in_shard: int, bits: int, max_records: int) -> bool:
    """Whether the shard holding `records_in_shard` records, the last with `key`, ends here."""
    low, high = shard_limits(bits, max_records)
    if records_in_shard >= high:
        return True
    return records_in_shard >= low and key_hash(key) & ((1 << bits) - 1) == 0


def merge_sorted(sources: Iterable[Iterator[dict[str, Any]]], after: str | None) -> Iterator[dict[str, Any]]:
    """The records of sorted sources in key order, from the first key past `after`. A key found in two
    sources (a page read twice across a crash) comes out once."""
    previous = after
    for record in heapq.merge(*sources, key=lambda r: str(r[SORT_FIELD])):
        key = str(record[SORT_FIELD])
        if previous is not None and key <= previous:
            continue
        previous = key
        yield record


class SortBuffer:
    """Records by key (the last added wins), read back in key order. In memory up to MEMORY_ITEMS, then
    in a private sqlite table (core/spill.open_db) whose page cache bounds the memory."""

    def __init__(self, keep: int = MEMORY_ITEMS) -> None:
        self._mem: dict[str, Any] = {}
        self._db: sqlite3.Connection | None = None
        self._keep = keep
        self._n = 0  # distinct keys (a count(*) per add would make adding quadratic)

    def add(self, key: str, record: dict[str, Any]) -> None:
        if self._db is None:
            self._mem[key] = record
            if len(self._mem) > self._keep:
                self._db = open_db()
                self._db.execute("CREATE TABLE run(k TEXT PRIMARY KEY, blob BLOB) WITHOUT ROWID")
                self._db.executemany("INSERT INTO run VALUES (?, ?)", ((k, dump(v)) for k, v in self._mem.items()))
                self._n, self._mem = len(self._mem), {}
            return
        blob = dump(record)
        if self._db.execute("INSERT OR IGNORE INTO run VALUES (?, ?)", (key, blob)).rowcount:
            self._n += 1
        else:
            self._db.execute("UPDATE run SET blob = ? WHERE k = ?", (blob, key))

    def __len__(self) -> int:
        return len(self._mem) if self._db is None else self._n

    def sorted_records(self) -> Iterator[dict[str, Any]]:
        """In key order (sqlite's BINARY collation on UTF-8 is Python's str order), a page at a time."""
        if self._db is None:
            for key in sorted(self._mem):
                yield self._mem[key]
            return
        for _, blob in rows_by_key(self._db, "run", ("k",), ("blob",)):
            yield load(blob)

    def clear(self) -> None:
        if self._db is not None:
            self._db.close()
        self._db, self._mem, self._n = None, {}, 0
