"""One keyset-paging loop (core/spill.rows_by_key) serves every on-disk collection read in key order:
UserTable (insertion and key order), KeyedSpill, SortedTable and the backup's SortBuffer."""

from __future__ import annotations

import random

from cognito_backup.core.spill import PAGE, KeyedSpill, UserTable, open_db, rows_by_key
from cognito_backup.repo.shards import SortBuffer


def test_rows_by_key_pages_past_the_last_key_of_each_page() -> None:
    db = open_db()
    db.execute("CREATE TABLE t(k TEXT, i INTEGER, v TEXT, PRIMARY KEY (k, i)) WITHOUT ROWID")
    rows = [(f"k{n % 7}", n, f"v{n}") for n in range(3 * PAGE + 5)]
    random.Random(1).shuffle(rows)
    db.executemany("INSERT INTO t VALUES (?, ?, ?)", rows)
    assert list(rows_by_key(db, "t", ("k", "i"), ("v",))) == sorted(rows)
    assert [r[0] for r in rows_by_key(db, "t", ("i",), ())] == list(range(3 * PAGE + 5))


def test_a_table_written_while_it_is_read_in_key_order_yields_each_old_key_once() -> None:
    table: UserTable[int] = UserTable(((f"u{n:05d}", n) for n in range(2 * PAGE + 10)), keep=10)
    seen = []
    for value in table.values_by_key():
        seen.append(value)
        if value % 100 == 0:
            table.put(f"u{value:05d}", value)  # the reader may write to the table meanwhile
    assert seen == list(range(2 * PAGE + 10))
    assert list(table) == [f"u{n:05d}" for n in range(2 * PAGE + 10)]


def test_keyed_spill_and_sort_buffer_read_in_key_order_on_disk() -> None:
    spill: KeyedSpill[int] = KeyedSpill(keep=10)
    buffer = SortBuffer(keep=10)
    for n in range(2 * PAGE + 3):
        spill.add(f"g{n % 3}", n)
        key = f"u{(n * 7919) % (2 * PAGE + 3):05d}"
        buffer.add(key, {"username": key})
    assert [n for _, n in spill.in_key_order()] == sorted(range(2 * PAGE + 3), key=lambda n: (n % 3, n))
    keys = [r["username"] for r in buffer.sorted_records()]
    assert keys == sorted(keys) and len(set(keys)) == 2 * PAGE + 3
