"""Collections that move to disk when they grow: what keeps restore, diff and the planner flat in memory.

A pool may hold 40 million users; a list of its users, of a plan's operations or of a restore's results
must not live in memory. Each collection here keeps its first MEMORY_ITEMS items in memory (small pools,
tests: no disk at all) and past that moves everything to a private sqlite database (the standard
library's; an empty file name makes sqlite create a temporary file it deletes when the connection closes).
sqlite's page cache is bounded (CACHE_KIB), so memory stays flat however many items there are.

Items are pickled: these files live only as long as the process and are never read by anything else.
"""

from __future__ import annotations

import contextlib
import pickle
import sqlite3
import threading
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence, ValuesView
from collections.abc import Set as AbstractSet
from typing import Any, Generic, TypeVar, overload

T = TypeVar("T")
V = TypeVar("V")

MEMORY_ITEMS = 5_000  # items kept in memory before a collection moves to disk
CACHE_KIB = 2_048  # sqlite page cache of a table looked up by key (sqlite's default)
# An append-only list is written and read in order: a small cache does (a plan has ~17 of them).
LIST_CACHE_KIB = 256
PAGE = 1_000  # rows read per query when iterating


def open_db(cache_kib: int = CACHE_KIB) -> sqlite3.Connection:
    """A private, temporary on-disk sqlite database: deleted when closed (or garbage-collected)."""
    db = sqlite3.connect("", check_same_thread=False)
    for pragma in (f"cache_size=-{cache_kib}", "journal_mode=OFF", "synchronous=OFF", "temp_store=FILE"):
        db.execute(f"PRAGMA {pragma}")
    return db


def rows_by_key(
    db: sqlite3.Connection,
    table: str,
    keys: Sequence[str],
    values: Sequence[str],
    lock: threading.Lock | None = None,
    after: tuple[Any, ...] | None = None,
) -> Iterator[tuple[Any, ...]]:
    """Every row of `table` (past the keys `after`, if given) as (*keys, *values), in the order of the
    (unique) `keys`, PAGE rows a query:
    each page starts past the last key of the one before (keyset paging: no OFFSET rescans, and writes
    between pages are no trouble). `lock`, if any, is held for each query, never across a yield: the
    reader may write to the table meanwhile. Two statements, not `? IS NULL OR k > ?`: sqlite uses the
    key's index only for the plain range."""
    order = ", ".join(keys)
    past = f"({order}) > ({', '.join('?' * len(keys))})" if len(keys) > 1 else f"{order} > ?"
    select = f"SELECT {', '.join([*keys, *values])} FROM {table}"
    first, following = f"{select} ORDER BY {order} LIMIT ?", f"{select} WHERE {past} ORDER BY {order} LIMIT ?"
    last: tuple[Any, ...] | None = after
    while True:
        with lock or contextlib.nullcontext():
            query, args = (first, ()) if last is None else (following, last)
            rows: list[tuple[Any, ...]] = db.execute(query, (*args, PAGE)).fetchall()
        if not rows:
            return
        yield from rows
        last = rows[-1][: len(keys)]


def dump(item: Any) -> bytes:
    return pickle.dumps(item, protocol=pickle.HIGHEST_PROTOCOL)


def load(blob: bytes) -> Any:
    return pickle.loads(blob)


class SpillList(Sequence[T]):
    """An append-only list (thread-safe appends) that moves to disk past `keep` items."""

    def __init__(self, items: Iterable[T] = (), *, keep: int | None = None) -> None:
        self._mem: list[T] = []
        self._db: sqlite3.Connection | None = None
        self._n = 0
        self._keep = MEMORY_ITEMS if keep is None else keep
        self._lock = threading.Lock()
        self.extend(items)

    def append(self, item: T) -> None:
        with self._lock:
            if self._db is None:
                self._mem.append(item)
                if len(self._mem) > self._keep:
                    self._spill()
            else:
                self._db.execute("INSERT INTO items(i, blob) VALUES (?, ?)", (self._n, dump(item)))
            self._n += 1

    def extend(self, items: Iterable[T]) -> None:
        for item in items:
            self.append(item)

    def _spill(self) -> None:
        db = open_db(LIST_CACHE_KIB)
        db.execute("CREATE TABLE items(i INTEGER PRIMARY KEY, blob BLOB)")
        db.executemany("INSERT INTO items(i, blob) VALUES (?, ?)", ((i, dump(x)) for i, x in enumerate(self._mem)))
        self._db, self._mem = db, []

    @property
    def on_disk(self) -> bool:
        return self._db is not None

    def __len__(self) -> int:
        return self._n

    @overload
    def __getitem__(self, index: int) -> T: ...

    @overload
    def __getitem__(self, index: slice) -> list[T]: ...

    def __getitem__(self, index: int | slice) -> T | list[T]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(self._n))]
        if index < 0:
            index += self._n
        if not 0 <= index < self._n:
            raise IndexError(index)
        with self._lock:
            if self._db is None:
                return self._mem[index]
            row = self._db.execute("SELECT blob FROM items WHERE i = ?", (index,)).fetchone()
        return load(row[0])  # type: ignore[no-any-return]

    def __iter__(self) -> Iterator[T]:
        i = 0
        while True:
            with self._lock:
                if self._db is None:
                    chunk = self._mem[i : i + PAGE]
                else:
                    rows = self._db.execute(
                        "SELECT blob FROM items WHERE i >= ? ORDER BY i LIMIT ?", (i, PAGE)
                    ).fetchall()
                    chunk = [load(r[0]) for r in rows]
            if not chunk:
                return
            yield from chunk
            i += len(chunk)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        return f"SpillList({self._n} items{', on disk' if self._db else ''})"


class _Values(ValuesView[V]):
    """values() read in one pass (Mapping's default looks every key up again)."""

    def __init__(self, mapping: Mapping[str, V], read: Callable[[], Iterator[V]]) -> None:
        super().__init__(mapping)
        self._read = read

    def __iter__(self) -> Iterator[V]:
        return self._read()


class MappedView(Mapping[str, V], Generic[T, V]):
    """Another mapping seen through a function applied to each value as it is read (nothing copied)."""

    def __init__(self, base: Mapping[str, T], change: Callable[[T], V]) -> None:
        self._base = base
        self._change = change

    def __getitem__(self, key: str) -> V:
        return self._change(self._base[key])

    def __contains__(self, key: object) -> bool:
        return key in self._base

    def __iter__(self) -> Iterator[str]:
        return iter(self._base)

    def __len__(self) -> int:
        return len(self._base)

    def values(self) -> ValuesView[V]:
        return _Values(self, lambda: (self._change(v) for v in self._base.values()))


# Like a dict: overwriting keeps the key's place (an upsert updates the row in place, its rowid kept).
_UPSERT = "INSERT INTO t(k, blob) VALUES (?, ?) ON CONFLICT(k) DO UPDATE SET blob = excluded.blob"


class UserTable(Mapping[str, V]):
    """A dict (insertion order, last write wins) that moves to disk past `keep` entries."""

    def __init__(self, items: Iterable[tuple[str, V]] = (), *, keep: int | None = None) -> None:
        self._mem: dict[str, V] = {}
        self._db: sqlite3.Connection | None = None
        self._keep = MEMORY_ITEMS if keep is None else keep
        self._lock = threading.Lock()
        for key, value in items:
            self.put(key, value)

    def put(self, key: str, value: V) -> None:
        with self._lock:
            if self._db is None:
                self._mem[key] = value
                if len(self._mem) > self._keep:
                    db = open_db()
                    db.execute("CREATE TABLE t(k TEXT UNIQUE, blob BLOB)")
                    db.executemany("INSERT INTO t(k, blob) VALUES (?, ?)", ((k, dump(v)) for k, v in self._mem.items()))
                    self._db, self._mem = db, {}
                return
            self._db.execute(_UPSERT, (key, dump(value)))

    def put_many(self, items: Iterable[tuple[str, V]]) -> None:
        """put() each item, in order; on disk in one statement (a resume state's chunk of 20,000 users)."""
        pending = iter(items)
        while self._db is None:
            item = next(pending, None)
            if item is None:
                return
            self.put(*item)
        with self._lock:
            self._db.executemany(_UPSERT, ((key, dump(value)) for key, value in pending))

    def delete(self, key: str) -> None:
        """Remove `key` if present."""
        self.delete_many((key,))

    def delete_many(self, keys: Iterable[str]) -> None:
        """Remove each key present."""
        with self._lock:
            if self._db is None:
                for key in keys:
                    self._mem.pop(key, None)
            else:
                self._db.executemany("DELETE FROM t WHERE k = ?", ((key,) for key in keys))

    def __getitem__(self, key: str) -> V:
        with self._lock:
            if self._db is None:
                return self._mem[key]
            row = self._db.execute("SELECT blob FROM t WHERE k = ?", (key,)).fetchone()
        if row is None:
            raise KeyError(key)
        return load(row[0])  # type: ignore[no-any-return]

    def __contains__(self, key: object) -> bool:
        with self._lock:
            if self._db is None:
                return key in self._mem
            return self._db.execute("SELECT 1 FROM t WHERE k = ?", (key,)).fetchone() is not None

    def __len__(self) -> int:
        with self._lock:
            if self._db is None:
                return len(self._mem)
            return int(self._db.execute("SELECT count(*) FROM t").fetchone()[0])

    def _rows(self, column: str) -> Iterator[Any]:
        with self._lock:  # never held across a yield: the reader may write to this table meanwhile
            db = self._db
            chunk: list[Any] = [] if db is not None else list(self._mem.keys() if column == "k" else self._mem.values())
        if db is None:
            yield from chunk
            return
        for _, value in rows_by_key(db, "t", ("rowid",), (column,), self._lock):  # insertion order
            yield value if column == "k" else load(value)

    def __iter__(self) -> Iterator[str]:
        return self._rows("k")

    def iter_values(self) -> Iterator[V]:
        return self._rows("blob")

    def items_by_key(self, after: str | None = None, last: str | None = None) -> Iterator[tuple[str, V]]:
        """(key, value) in key order (str order), a page at a time (on disk: the key's unique index, no
        sort in memory); only those of keys in (after, last] when given (a piece of a plan made in pieces)."""
        with self._lock:
            db = self._db
            chunk = (
                sorted((kv for kv in self._mem.items() if after is None or kv[0] > after), key=lambda kv: kv[0])
                if db is None
                else []
            )
        rows: Iterable[tuple[Any, ...]] = (
            chunk
            if db is None
            else rows_by_key(db, "t", ("k",), ("blob",), self._lock, after=None if after is None else (after,))
        )
        for key, value in rows:
            if last is not None and key > last:
                return
            yield key, (value if db is None else load(value))

    def values_by_key(self, after: str | None = None, last: str | None = None) -> Iterator[V]:
        """The values in key order, a page at a time; only those of keys in (after, last] when given."""
        return (value for _, value in self.items_by_key(after, last))

    def values(self) -> ValuesView[V]:
        return _Values(self, self.iter_values)

    def __repr__(self) -> str:
        return f"UserTable({len(self)} entries)"


class SpillSet(AbstractSet[T]):
    """A set of picklable, hashable items that moves to disk past `keep` items."""

    def __init__(self, items: Iterable[T] = (), *, keep: int | None = None) -> None:
        self._table: UserTable[T] = UserTable(keep=keep)
        for item in items:
            self.add(item)

    def add(self, item: T) -> None:
        self._table.put(_set_key(item), item)

    def add_many(self, items: Iterable[T]) -> None:
        self._table.put_many((_set_key(item), item) for item in items)

    def discard(self, item: T) -> None:
        self._table.delete(_set_key(item))

    def discard_many(self, items: Iterable[T]) -> None:
        self._table.delete_many(_set_key(item) for item in items)

    def __contains__(self, item: object) -> bool:
        return _set_key(item) in self._table

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[T]:
        return self._table.iter_values()

    def in_key_order(self) -> Iterator[T]:
        """The items in the order of their text keys: a set of `str` in str order (a page at a time)."""
        return self._table.values_by_key()

    @classmethod
    def _from_iterable(cls, it: Iterable[Any]) -> SpillSet[Any]:
        return cls(it)

    def __repr__(self) -> str:
        return f"SpillSet({len(self)} items)"


def _set_key(item: object) -> str:
    # A stable text key: repr of the frozen dataclasses these sets hold (Membership) is exact. A text is
    # its own key, so a set of texts reads back in str order (in_key_order); a set holds one type.
    return item if isinstance(item, str) else repr(item)


class KeyedSpill(Generic[T]):
    """Items filed under a text key, read back in key order (items of one key in the order added); moves
    to disk past `keep` items. What lets a plan stream memberships in user order while it lists them by
    group (core/plan.py OpList)."""

    def __init__(self, *, keep: int | None = None) -> None:
        self._mem: list[tuple[str, int, T]] = []
        self._db: sqlite3.Connection | None = None
        self._n = 0
        self._keep = MEMORY_ITEMS if keep is None else keep
        self._lock = threading.Lock()

    def add(self, key: str, item: T) -> None:
        with self._lock:
            if self._db is None:
                self._mem.append((key, self._n, item))
                if len(self._mem) > self._keep:
                    # Inserted by key, not appended: the lookup table's cache, not the list's.
                    db = open_db()
                    db.execute("CREATE TABLE items(k TEXT, i INTEGER, blob BLOB, PRIMARY KEY (k, i)) WITHOUT ROWID")
                    db.executemany("INSERT INTO items VALUES (?, ?, ?)", ((k, i, dump(x)) for k, i, x in self._mem))
                    self._db, self._mem = db, []
            else:
                self._db.execute("INSERT INTO items VALUES (?, ?, ?)", (key, self._n, dump(item)))
            self._n += 1

    def __len__(self) -> int:
        return self._n

    def in_key_order(self) -> Iterator[tuple[str, T]]:
        """(key, item) by key (str order, which is sqlite's BINARY order on UTF-8), then as added."""
        with self._lock:
            db = self._db
            chunk = sorted(self._mem, key=lambda entry: (entry[0], entry[1])) if db is None else []
        if db is None:
            for key, _, item in chunk:
                yield key, item
            return
        for key, _, blob in rows_by_key(db, "items", ("k", "i"), ("blob",), self._lock):
            yield key, load(blob)

    def __repr__(self) -> str:
        return f"KeyedSpill({self._n} items{', on disk' if self._db else ''})"


def sort_key(*parts: str | int) -> str:
    """One text key that sorts (as Python's `str`, and sqlite's BINARY collation on UTF-8) exactly as the
    tuple `parts` does: texts are escaped so that the separator sorts below any character they hold
    (\\x00 -> \\x01\\x01, \\x01 -> \\x01\\x02), whole numbers (>= 0) are zero-padded to one width."""
    out = []
    for part in parts:
        if isinstance(part, int):
            if part < 0:
                raise ValueError(f"sort_key: {part} is negative")
            out.append(f"{part:020d}")
        else:
            out.append(part.replace("\x01", "\x01\x02").replace("\x00", "\x01\x01"))
    return "\x00".join(out)


class SortedTable(Collection[V]):
    """Values under text keys, read back in key order; the last write of a key wins. An on-disk sort:
    what `sorted(dict.items())` did for the journal records a fold applies, a diff's differences, the sub
    map's rows, without holding them all (past `keep` entries they move to sqlite, read a page at a time)."""

    def __init__(self, items: Iterable[tuple[str, V]] = (), *, keep: int | None = None) -> None:
        self._table: UserTable[V] = UserTable(keep=keep)
        for key, value in items:
            self.put(key, value)

    def put(self, key: str, value: V) -> None:
        self._table.put(key, value)

    def __len__(self) -> int:
        return len(self._table)

    def __bool__(self) -> bool:
        return len(self) > 0

    def __contains__(self, value: object) -> bool:
        """A scan (values are not indexed): for tests and small tables."""
        return any(v == value for v in self)

    def __eq__(self, other: object) -> bool:
        """Equal to a sequence of the same values in key order (a list in a test)."""
        if isinstance(other, Sequence | SortedTable) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]

    def __iter__(self) -> Iterator[V]:
        """The values in key order."""
        return self._table.values_by_key()

    def __repr__(self) -> str:
        return f"SortedTable({len(self)} entries)"
