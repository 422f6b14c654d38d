"""Rescans of "a user changed but the event names nobody" as resumable jobs. PURE: times come in.

An event that names neither a username nor a sub (a hosted-UI sign-up, a CloudTrail record redacted
whole) can only be captured by listing users and keeping those modified since the event. A listing of
a big pool is pool size / 60 ListUsers pages: far more than one Lambda call or one capture poll may
spend without starving backups of the UserList quota. So the listing is a job kept in the repository
(repo/rescan_jobs.py): each capture call lists at most a budget of pages, journals what they show,
saves the page token, and returns; the next poll or Lambda call continues (docs/capture.md).

Jobs overlap: a job that has listed every page covers any older job whose event it was created after
and whose `since` it reaches back to, so finishing one job also retires those (`superseded`). A new
job reaches back as far as every pending job of its kind (`plan_job`) so that it can.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from cognito_backup.core.events import UNKNOWN_SIGNUP_EVENTS, ChangeHint
from cognito_backup.repo.repository import format_time, parse_time

# A hosted-UI sign-up creates an UNCONFIRMED user: listing only those is enough (and cheap).
SIGNUP_FILTER = 'cognito:user_status = "UNCONFIRMED"'


@dataclass(frozen=True, slots=True)
class RescanJob:
    pool_id: str
    filter: str | None  # ListUsers Filter: None lists the whole pool
    since: str  # users modified at or after this (fixed-width UTC) are recorded
    event_at: str  # the earliest event the job stands for: the caught-up marker stays before it
    created_at: str  # when the job was stored (before any page was listed)
    event_id: str  # the event the records name
    event_name: str
    token: str | None = None  # next ListUsers PaginationToken; None: not started, or start over
    pages: int = 0  # pages listed so far
    first_page_at: str | None = None  # when the first page of the current pass was requested

    def to_record(self) -> dict[str, Any]:
        return {
            "pool_id": self.pool_id,
            "filter": self.filter,
            "since": self.since,
            "event_at": self.event_at,
            "created_at": self.created_at,
            "event_id": self.event_id,
            "event_name": self.event_name,
            "token": self.token,
            "pages": self.pages,
            "first_page_at": self.first_page_at,
        }

    @classmethod
    def from_record(cls, body: dict[str, Any]) -> RescanJob:
        token = body.get("token")
        first = body.get("first_page_at")
        filt = body.get("filter")
        return cls(
            pool_id=str(body["pool_id"]),
            filter=str(filt) if filt is not None else None,
            since=str(body["since"]),
            event_at=str(body["event_at"]),
            created_at=str(body["created_at"]),
            event_id=str(body["event_id"]),
            event_name=str(body["event_name"]),
            token=str(token) if token is not None else None,
            pages=int(body.get("pages") or 0),
            first_page_at=str(first) if first is not None else None,
        )

    def advanced(self, token: str | None, requested_at: dt.datetime) -> RescanJob:
        """The job after one more page (whose request was sent at `requested_at`)."""
        first = self.first_page_at if self.token is not None and self.first_page_at else format_time(requested_at)
        return replace(self, token=token, pages=self.pages + 1, first_page_at=first)

    def restarted(self) -> RescanJob:
        """Start the listing over (an expired page token)."""
        return replace(self, token=None, first_page_at=None)


def plan_job(
    pool_id: str, hints: Sequence[ChangeHint], now: dt.datetime, skew: dt.timedelta, pending: Iterable[RescanJob]
) -> RescanJob:
    """The job that captures `hints` (unknown_user hints of one pool in one batch)."""
    if not hints:
        raise ValueError("no hints")
    times = [parse_time(h.changed_at) for h in hints if h.changed_at]
    event_at = min(times, default=now)
    since = event_at - skew
    filt = SIGNUP_FILTER if all(h.event_name in UNKNOWN_SIGNUP_EVENTS for h in hints) else None
    # Reach back as far as the pending jobs this one can cover, so that finishing it retires them.
    for job in pending:
        if covers_filter(filt, job.filter) and parse_time(job.since) < since:
            since = parse_time(job.since)
    rep = max(hints, key=lambda h: (h.changed_at or "", h.event_id))
    return RescanJob(
        pool_id=pool_id,
        filter=filt,
        since=format_time(since),
        event_at=format_time(event_at),
        created_at=format_time(now),
        event_id=rep.event_id,
        event_name=rep.event_name,
    )


def covers_filter(wide: str | None, narrow: str | None) -> bool:
    """A listing with `wide` shows every user a listing with `narrow` shows."""
    return wide is None or wide == narrow


def superseded(done: RescanJob, pending: Iterable[tuple[str, RescanJob]]) -> list[str]:
    """Keys of pending jobs that `done` (which has just listed its last page) covered: created before
    its pass began (their changes happened before it listed anything), reaching back no further than
    it did, with a filter it covers."""
    if done.first_page_at is None:
        return []
    return [
        key
        for key, job in pending
        if job.created_at <= done.first_page_at and done.since <= job.since and covers_filter(done.filter, job.filter)
    ]


def modified_since(stamp: str | None, since: str) -> bool:
    """Whether a listed user (its UserLastModifiedDate, else creation date) is one the job records."""
    return stamp is None or parse_time(stamp) >= parse_time(since)


def marker_cap(until: dt.datetime, pending: Iterable[RescanJob]) -> dt.datetime:
    """How far the caught-up marker may claim while rescans are pending: never up to a pending job's
    event, whose change is not in the journal yet."""
    earliest = min((parse_time(job.event_at) for job in pending), default=None)
    if earliest is None or earliest > until:
        return until
    return earliest - dt.timedelta(microseconds=1)
