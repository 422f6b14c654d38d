"""The planner's two sides on disk, keyed and ordered by identity key, and the joins it walks.

The desired and actual users (and memberships, in identity keys) are spilled into one private sqlite
database (core/spill.open_db), so that planning a pool of any size takes the same memory: each phase of
the planner is one ordered query (a merge-join sqlite runs with its bounded page cache), never a dict of
the pool. Groups (at most 10,000 per pool) stay in memory.

Order is sqlite's BINARY collation on UTF-8 text, which is Python's str order: the plan lists users in
the same order as a sorted() of their keys would.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass

from cognito_backup.core.spill import dump, load, open_db
from cognito_backup.model import Membership, User

BATCH = 1_000

_SCHEMA = (
    "CREATE TABLE want(k TEXT PRIMARY KEY, username TEXT, status TEXT, blob BLOB)",
    "CREATE TABLE want_names(username TEXT PRIMARY KEY, k TEXT) WITHOUT ROWID",
    "CREATE TABLE have(k TEXT PRIMARY KEY, username TEXT, blob BLOB)",
    "CREATE TABLE have_names(username TEXT PRIMARY KEY, k TEXT) WITHOUT ROWID",
    "CREATE TABLE want_m(grp TEXT, k TEXT, PRIMARY KEY (grp, k)) WITHOUT ROWID",
    "CREATE TABLE have_m(grp TEXT, k TEXT, PRIMARY KEY (grp, k)) WITHOUT ROWID",
    # What the user phase decided, for the membership phase: restorable, and the op that creates it.
    "CREATE TABLE fate(k TEXT PRIMARY KEY, restorable INTEGER, created TEXT) WITHOUT ROWID",
    "CREATE TABLE gone(k TEXT PRIMARY KEY) WITHOUT ROWID",  # users the plan deletes
)


@dataclass(frozen=True)
class MemberRow:
    group: str
    key: str
    username: str | None  # the desired user's username (None: no such user in the desired state)
    status: str | None  # the desired user's status
    target_username: str | None  # the target user's username (None: not in the target)
    restorable: bool
    created: str | None  # id of the op that creates the user
    present: bool  # the target already has this membership


@dataclass(frozen=True)
class ExtraRow:
    """A membership only the target has."""

    group: str
    key: str
    target_username: str | None


def _batched(rows: Iterable[tuple[object, ...]]) -> Iterator[list[tuple[object, ...]]]:
    batch: list[tuple[object, ...]] = []
    for row in rows:
        batch.append(row)
        if len(batch) >= BATCH:
            yield batch
            batch = []
    if batch:
        yield batch


class Sides:
    """Both sides of one plan. `key_of` gives a user's identity key (core/plan.identity_key)."""

    def __init__(self, key_of: Callable[[User], str]) -> None:
        self.db = open_db()
        for statement in _SCHEMA:
            self.db.execute(statement)
        self.key_of = key_of

    def close(self) -> None:
        self.db.close()

    # ---- loading ------------------------------------------------------------------------------------
    def load_desired(self, users: Iterable[User], memberships: Iterable[Membership]) -> None:
        for batch in _batched((self.key_of(u), u.username, u.status, dump(u)) for u in users):
            # Two users with one key (email sign-in): the later one wins, as a dict would.
            self.db.executemany("INSERT OR REPLACE INTO want VALUES (?, ?, ?, ?)", batch)
            self.db.executemany("INSERT OR REPLACE INTO want_names VALUES (?, ?)", [(r[1], r[0]) for r in batch])
        self._load_memberships("want_m", "want_names", memberships)

    def load_actual(self, users: Iterable[User], memberships: Iterable[Membership]) -> None:
        for batch in _batched((self.key_of(u), u.username, dump(u)) for u in users):
            self.db.executemany("INSERT OR REPLACE INTO have VALUES (?, ?, ?)", batch)
            self.db.executemany("INSERT OR REPLACE INTO have_names VALUES (?, ?)", [(r[1], r[0]) for r in batch])
        self._load_memberships("have_m", "have_names", memberships)

    def _load_memberships(self, table: str, names: str, memberships: Iterable[Membership]) -> None:
        for batch in _batched((m.group, m.username) for m in memberships):
            self.db.executemany(
                f"INSERT OR IGNORE INTO {table} VALUES (?, coalesce((SELECT k FROM {names} WHERE username = ?2), ?2))",
                batch,
            )

    # ---- the joins the planner walks ------------------------------------------------------------------
    def desired_users(self) -> Iterator[tuple[str, User]]:
        for key, blob in self.db.execute("SELECT k, blob FROM want ORDER BY k"):
            yield key, load(blob)

    def user_pairs(self) -> Iterator[tuple[str, User, User | None]]:
        """Each desired user with the target's user of the same key (or None), in key order."""
        rows = self.db.execute("SELECT w.k, w.blob, h.blob FROM want w LEFT JOIN have h ON h.k = w.k ORDER BY w.k")
        for key, want, have in rows:
            yield key, load(want), (load(have) if have is not None else None)

    def record_fate(self, key: str, restorable: bool, created: str | None = None) -> None:
        self.db.execute("INSERT OR REPLACE INTO fate VALUES (?, ?, ?)", (key, int(restorable), created))

    def memberships(self) -> Iterator[MemberRow]:
        rows = self.db.execute(
            "SELECT m.grp, m.k, w.username, w.status, h.username, coalesce(f.restorable, 0), f.created, "
            "EXISTS (SELECT 1 FROM have_m x WHERE x.grp = m.grp AND x.k = m.k) "
            "FROM want_m m LEFT JOIN want w ON w.k = m.k LEFT JOIN have h ON h.k = m.k "
            "LEFT JOIN fate f ON f.k = m.k ORDER BY m.grp, m.k"
        )
        for grp, key, username, status, target, restorable, created, present in rows:
            yield MemberRow(grp, key, username, status, target, bool(restorable), created, bool(present))

    def target_only_users(self) -> Iterator[tuple[str, str]]:
        """(key, username) of the target's users the desired state lacks, in key order."""
        yield from self.db.execute(
            "SELECT h.k, h.username FROM have h WHERE NOT EXISTS (SELECT 1 FROM want w WHERE w.k = h.k) ORDER BY h.k"
        )

    def record_gone(self, key: str) -> None:
        self.db.execute("INSERT OR IGNORE INTO gone VALUES (?)", (key,))

    def target_only_memberships(self) -> Iterator[ExtraRow]:
        """Memberships only the target has, but not of users the plan deletes, in (group, key) order."""
        rows = self.db.execute(
            "SELECT x.grp, x.k, h.username FROM have_m x LEFT JOIN have h ON h.k = x.k "
            "WHERE NOT EXISTS (SELECT 1 FROM want_m m WHERE m.grp = x.grp AND m.k = x.k) "
            "AND NOT EXISTS (SELECT 1 FROM gone g WHERE g.k = x.k) ORDER BY x.grp, x.k"
        )
        for grp, key, target in rows:
            yield ExtraRow(grp, key, target)
