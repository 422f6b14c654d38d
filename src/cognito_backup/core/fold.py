"""Fold journal records over a snapshot's state. PURE: no I/O, no clock.

Every record is an observation of current state ("at observed_at, user U looked like this / did not
exist / was in exactly these groups"), so applying observations in journal order (observed_at, event_id,
seq) leaves, for every key, the latest observation. Duplicated, late or reordered events only add
observations; whatever order they were captured in, folding in observed order gives the same result.

Rules worth knowing:
- user_delete known only by sub removes the user holding that sub (a recreated user with the same
  username has a new sub and survives a late delete of the old one);
- user_upsert whose sub differs from the stored user of that name is a new user: its memberships go;
- group_upsert whose creation date differs from the stored group's is a recreated group: same;
- user_groups replaces the user's memberships with the observed set;
- group_delete removes the group's memberships (as Cognito does);
- memberships whose user or group is not (yet) in the state are kept aside and appear when both do.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from cognito_backup.core.spill import SortedTable, UserTable, sort_key
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User


def _after(rec: Mapping[str, Any]) -> Mapping[str, Any]:
    """The record's observed image; a record without one is malformed (the journal refuses to write
    such records, so this is damage or a bug, never data to skip silently)."""
    after = rec.get("after")
    if not isinstance(after, Mapping):
        raise ValueError(f"journal record of type {rec.get('type')!r} has no 'after' image")
    return after


def _order(rec: Mapping[str, Any]) -> tuple[str, str, int]:
    return (str(rec["observed_at"]), str(rec.get("event_id") or ""), int(rec.get("seq") or 0))


def _stamp(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Folder:
    """Incremental fold: `apply()` records in journal order, `state()` at any point.

    Users and each user's groups are kept in tables that move to disk past a few thousand users
    (core/spill.py): a fold takes the same memory for any pool size (docs/design.md "Memory")."""

    def __init__(self, base: PoolState) -> None:
        self.config = PoolConfig.from_record(base.config.to_record())
        self.groups: dict[str, Group] = dict(base.groups)
        self.users: UserTable[User] = UserTable((u.username, u) for u in base.users.values())
        self.member_of: UserTable[frozenset[str]] = UserTable()
        for m in base.memberships:
            self.member_of.put(m.username, self.member_of.get(m.username, frozenset()) | {m.group})
        self._by_sub: UserTable[str] | None = None
        self.applied = 0
        self.position: tuple[str, str, int] | None = None

    # ---- sub index, built only when a record names a user by sub alone ---------------------------
    def _sub_index(self) -> UserTable[str]:
        if self._by_sub is None:
            self._by_sub = UserTable((u.sub, u.username) for u in self.users.values() if u.sub)
        return self._by_sub

    def _put_user(self, user: User) -> None:
        old = self.users.get(user.username)
        if old is not None and old.sub and user.sub and old.sub != user.sub:
            self.member_of.delete(user.username)  # deleted and recreated: a new user has no groups
            if self._by_sub is not None:
                self._by_sub.delete(old.sub)
        self.users.put(user.username, user)
        if self._by_sub is not None and user.sub:
            self._by_sub.put(user.sub, user.username)

    def _drop_user(self, username: str) -> None:
        old = self.users.get(username)
        self.users.delete(username)
        self.member_of.delete(username)
        if old is not None and old.sub and self._by_sub is not None:
            self._by_sub.delete(old.sub)

    def _drop_group_everywhere(self, group: str) -> None:
        # Keys first (a page at a time), then rewrite: values are replaced in place, never in a scan.
        for username in self.member_of:
            groups = self.member_of.get(username)
            if groups is not None and group in groups:
                self.member_of.put(username, groups - {group})

    # ---- records --------------------------------------------------------------------------------
    def apply(self, rec: Mapping[str, Any]) -> None:
        kind = rec["type"]
        key = rec.get("key")
        if kind == "user_upsert":
            self._put_user(User.from_record(_after(rec)))
        elif kind == "user_delete":
            sub = rec.get("sub")
            if key:
                current = self.users.get(str(key))
                # A delete observed for an older incarnation (other sub) leaves the new user alone.
                if current is not None and not (sub and current.sub and current.sub != sub):
                    self._drop_user(str(key))
            elif sub:
                name = self._sub_index().get(str(sub))
                if name is not None:
                    self._drop_user(name)
        elif kind == "user_groups":
            after = _after(rec)
            current = self.users.get(str(key))
            sub = rec.get("sub")
            if current is not None and sub and current.sub and current.sub != sub:
                pass  # observed for an older incarnation of this username
            else:
                self.member_of.put(str(key), frozenset(str(g) for g in after.get("groups", [])))
        elif kind in ("membership_add", "membership_remove"):
            group_name, _, username = str(key).partition("\u0000")
            groups = self.member_of.get(username, frozenset())
            self.member_of.put(username, groups | {group_name} if kind == "membership_add" else groups - {group_name})
        elif kind == "group_upsert":
            new_group = Group.from_record(_after(rec))
            old_group = self.groups.get(new_group.name)
            recreated = old_group is not None and None not in (old_group.created, new_group.created)
            if recreated and old_group is not None and old_group.created != new_group.created:
                # Deleted and recreated between two observations (the delete may never be observed on
                # its own): Cognito dropped the old group's memberships with it.
                self._drop_group_everywhere(new_group.name)
            self.groups[new_group.name] = new_group
        elif kind == "group_delete":
            self.groups.pop(str(key), None)
            self._drop_group_everywhere(str(key))
        elif kind == "config_changed":
            self.config = PoolConfig.from_record(_after(rec))
        else:
            raise ValueError(f"unknown journal record type {kind!r}")
        self.applied += 1
        self.position = _order(rec)

    def state(self) -> PoolState:
        """A copy (the fold may go on): users and memberships stream into tables of their own."""
        memberships = (
            Membership(group=g, username=u)
            for u in self.member_of
            if u in self.users
            for g in sorted(self.member_of.get(u, frozenset()))
            if g in self.groups
        )
        return PoolState.build(
            PoolConfig.from_record(self.config.to_record()), self.groups.values(), self.users.values(), memberships
        )


def fold(base: PoolState, records: Iterable[Mapping[str, Any]], until: dt.datetime | None = None) -> PoolState:
    """The state after every record observed at or before `until` (all records when None).

    Records may come in any order and with exact duplicates; they are applied in journal order.

    THE ORACLE, for tests only: production folds the journal as the repository stores it, already in
    order (ops/state_at.fold_from: a Folder fed by Journal.iter_records), and never calls this. It sorts
    the records itself, so tests can check that a fold does not depend on the order records arrive in,
    against a second way of ordering them.
    """
    limit = _stamp(until) if until is not None else None
    # Sorted (and deduplicated) on disk past a few thousand records: the journal since the base snapshot
    # may be longer than the pool (flat memory).
    chosen: SortedTable[Mapping[str, Any]] = SortedTable()
    for rec in records:
        if limit is not None and str(rec["observed_at"]) > limit:
            continue
        chosen.put(sort_key(*_order(rec)), rec)
    folder = Folder(base)
    for rec in chosen:
        folder.apply(rec)
    return folder.state()
