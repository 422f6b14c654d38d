"""Which read re-reads a user the capture was told about. PURE: the clock's reading comes in as `now`.

Cognito offers two ways to read one user, with different costs:

- ListUsers with a `sub`/`username` filter: does not count toward monthly active users (MAU), but shares
  the UserList quota (30/s per account) with every backup and every application in the account;
- AdminGetUser: counts the user as a monthly active user, from its own UserRead quota (120/s).

A user who made a change themselves this calendar month (a SELF_SERVICE_EVENTS hint) is already a
monthly active user, so AdminGetUser costs nothing more and leaves UserList to backups. Everyone else
keeps the non-billing read. All the hints of one user in one batch are served by one read.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass

from cognito_backup.core.events import ChangeHint
from cognito_backup.repo.repository import parse_time

IMAGE = "image"  # a trigger handed over the user's current attributes: no read
GET = "AdminGetUser"
LIST = "ListUsers"


@dataclass(frozen=True, slots=True)
class UserRead:
    how: str  # IMAGE | GET | LIST
    rep: ChangeHint  # the hint whose event the records name
    groups: bool  # a membership changed: AdminListGroupsForUser too
    username: str | None  # how to name the user to the read: username when an event showed it, else sub
    sub: str | None


def _key(hint: ChangeHint) -> tuple[str, str]:
    return (hint.changed_at or "", hint.event_id)


def _this_month(changed_at: str | None, now: dt.datetime) -> bool:
    """MAU are counted per calendar month (UTC): a change made last month does not cover a read now."""
    if not changed_at:
        return False
    when = parse_time(changed_at)
    now = now.astimezone(dt.UTC)
    return (when.year, when.month) == (now.year, now.month)


def plan_user_read(hints: Sequence[ChangeHint], now: dt.datetime) -> UserRead:
    """One user's hints of one batch (same pool, same sub or username) -> the one read that serves them."""
    if not hints:
        raise ValueError("no hints")
    groups = any(h.kind == "membership" for h in hints)
    username = next((h.username for h in hints if h.username), None)
    sub = next((h.sub for h in hints if h.sub), None)
    imaged = [h for h in hints if h.image is not None]
    if imaged and not groups:
        return UserRead(IMAGE, max(imaged, key=_key), False, username, sub)
    rep = max(hints, key=_key)
    # A deletion is confirmed with the read that bills nobody (the user is gone, or must not be billed
    # if an admin deleted and someone recreated the name).
    if not rep.deleting and any(h.self_made and _this_month(h.changed_at, now) for h in hints):
        return UserRead(GET, rep, groups, username, sub)
    return UserRead(LIST, rep, groups, username, sub)
