"""Compaction: a new full snapshot from the previous snapshot + the journal, without listing the pool.

The new snapshot is exact at its journal position P (the newest record it includes, at most
`settle` seconds before now so that segments still being written by concurrent captures are not
skipped). Its manifest's started_at and finished_at are both P, so point-in-time restores after P
start from it and fold only the records observed after P.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from cognito_backup.core.source import no_backup
from cognito_backup.core.spill import UserTable
from cognito_backup.errors import RepositoryNotFound
from cognito_backup.model import PoolState
from cognito_backup.ops.backup_meta import config_extra
from cognito_backup.ops.state_at import Folded, root_of, state_at
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository, format_time, parse_time

DEFAULT_SETTLE_SECONDS = 60.0


@dataclass
class CompactResult:
    manifest: Manifest | None  # None: no journal record since the base, nothing to compact
    base: Manifest
    records: int
    # Set when the pool's snapshots all started within the settle horizon: when one can be folded onto.
    retry_after: dt.datetime | None = None

    @property
    def note(self) -> str | None:
        if self.retry_after is None:
            return None
        settle = (self.retry_after - parse_time(self.base.started_at)).total_seconds()
        return (
            f"nothing to compact yet: snapshot {self.base.id} started at {self.base.started_at}, within the "
            f"settle horizon (the last {settle:.0f} s, whose journal records captures may still be writing); "
            f"retry after {format_time(self.retry_after)}"
        )

    def summary(self) -> dict[str, object]:
        m = self.manifest
        return {
            "user_pool_id": self.base.user_pool_id,
            "base_snapshot": self.base.id,
            "snapshot": m.id if m else None,
            "records": self.records,
            "journal_until": m.extra.get("journal_until") if m else None,
            "users": m.counts.get("users", 0) if m else self.base.counts.get("users", 0),
            "groups": m.counts.get("groups", 0) if m else self.base.counts.get("groups", 0),
            "memberships": m.counts.get("memberships", 0) if m else self.base.counts.get("memberships", 0),
            "retry_after": format_time(self.retry_after) if self.retry_after else None,
            "note": self.note,
        }


def compact(repo: Repository, user_pool_id: str, settle_seconds: float = DEFAULT_SETTLE_SECONDS) -> CompactResult:
    horizon = repo.clock() - dt.timedelta(seconds=settle_seconds)
    of_pool = [s for s in repo.list_snapshots() if s.user_pool_id == user_pool_id]
    # A standby round's listing of its standby is no base: the journal folded onto a pool is its own.
    snaps = [s for s in of_pool if s.standby_listing_of is None]
    if not snaps:
        raise RepositoryNotFound(
            f"{no_backup(user_pool_id, bool(of_pool))}: nothing to compact from",
            hint="compact folds a pool's journal onto its newest backup: back the pool up first (`backup`).",
        )
    waiting = unsettled(snaps, horizon, settle_seconds)
    if waiting is not None:
        # Right after the first backup (a scheduled compaction after it): not an error, nothing to do yet.
        return CompactResult(manifest=None, base=waiting[0], records=0, retry_after=waiting[1])
    # The one builder (ops/state_at.py): the same base restore --at and a standby round would choose.
    folded = state_at(repo, user_pool_id, horizon, snaps)
    position = folded.folder.position
    if position is None or position[0] <= folded.base.started_at:
        return CompactResult(manifest=None, base=folded.base, records=folded.folder.applied)
    return CompactResult(manifest=write_compacted(repo, folded), base=folded.base, records=folded.folder.applied)


def unsettled(
    snaps: list[Manifest], horizon: dt.datetime, settle_seconds: float
) -> tuple[Manifest, dt.datetime] | None:
    """When every snapshot started after `horizon` (none can be a base yet): the first that can, and when
    it can. None when one already can. PURE."""
    if any(parse_time(s.started_at) <= horizon for s in snaps):
        return None
    first = min(snaps, key=lambda s: (s.started_at, s.id))
    return first, parse_time(first.started_at) + dt.timedelta(seconds=settle_seconds)


def write_compacted(
    repo: Repository, folded: Folded, extra: dict[str, Any] | None = None, state: PoolState | None = None
) -> Manifest:
    """Store `folded` as a compacted state, exact at its journal position P (started and finished at P).
    `extra`: more manifest fields (a standby round names itself); `state`: `folded.state()` if the caller
    built it already. Users are written in username order from the table on disk (flat memory)."""
    base, folder = folded.base, folded.folder
    if folder.position is None:
        raise ValueError("nothing folded: a compacted state needs a journal position")
    position = parse_time(folder.position[0])
    state = state if state is not None else folded.state()
    with repo.begin_snapshot(
        base.user_pool_id,
        base.region,
        options=dict(base.options),
        started_at=position,
    ) as writer:
        writer.add("config", state.config.to_record())
        for group in sorted(state.groups.values(), key=lambda g: g.name):
            writer.add("groups", group.to_record())
        users = state.users
        for user in users.values_by_key() if isinstance(users, UserTable) else (users[k] for k in sorted(users)):
            writer.add("users", user.to_record())
        for membership in state.memberships:  # a set on disk: no order to keep, none sorted in memory
            writer.add("memberships", membership.to_record())
        return writer.commit(
            extra={
                "compacted": True,
                "compacted_from": base.id,
                "base_snapshot": base.id,
                # The listed snapshot the chain of compacted states descends from (ops/state_at.py root_of).
                "root_snapshot": root_of(base),
                "journal_from": base.started_at,
                "journal_until": format_time(position),
                "journal_position": list(folder.position),
                "journal_records": folder.applied,
                **config_extra(state.config),
                **(extra or {}),
            },
            finished_at=position,
        )
