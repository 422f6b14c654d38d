"""Warm standby: keep another pool equal to the source's journaled state through the restore engine.

Each round folds the newest snapshot of the source pool with the journal from its start, and hands the
result to `ops.restore.reconcile` with prune on (deletions and membership removals are replicated):
silent (no messages sent), idempotent (a repeated round plans nothing) and paced like any restore. The
position reached is kept in `replication/<standby-pool-id>.json` in the repository; a round that finds
no journal record after that position does nothing and costs one listing.

A replicated deletion is undone with a point-in-time restore into the standby (or the source):
`restore --at <time before the deletion>`.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.fold import Folder
from cognito_backup.errors import RepositoryNotFound
from cognito_backup.ops.restore import RestoreOptions, reconcile
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository, format_time, parse_time
from cognito_backup.store.base import ObjectNotFound

CURSOR_PREFIX = "replication/"


def cursor_key(standby_pool_id: str) -> str:
    return f"{CURSOR_PREFIX}{standby_pool_id}.json"


@dataclass
class Cursor:
    source_pool_id: str
    standby_pool_id: str
    base_snapshot: str | None = None
    position: tuple[str, str, int] | None = None
    applied_at: str | None = None

    def to_json(self) -> bytes:
        body = {
            "source_pool_id": self.source_pool_id,
            "standby_pool_id": self.standby_pool_id,
            "base_snapshot": self.base_snapshot,
            "position": list(self.position) if self.position else None,
            "applied_at": self.applied_at,
        }
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def load(cls, repo: Repository, standby: str, source: str) -> Cursor:
        try:
            body = json.loads(repo.store.get_bytes(cursor_key(standby)))
        except ObjectNotFound:
            return cls(source_pool_id=source, standby_pool_id=standby)
        pos = body.get("position")
        return cls(
            source_pool_id=str(body.get("source_pool_id") or source),
            standby_pool_id=standby,
            base_snapshot=body.get("base_snapshot"),
            position=(str(pos[0]), str(pos[1]), int(pos[2])) if pos else None,
            applied_at=body.get("applied_at"),
        )


@dataclass
class ReplicateRound:
    applied: bool
    records: int
    operations: int = 0
    failed: int = 0
    position: tuple[str, str, int] | None = None
    lag_seconds: float | None = None
    counts: dict[str, int] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "applied": self.applied,
            "records": self.records,
            "operations": self.operations,
            "failed": self.failed,
            "position": list(self.position) if self.position else None,
            "lag_seconds": self.lag_seconds,
            **self.counts,
        }


def replicate_once(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    source_pool_id: str,
    standby_pool_id: str,
    *,
    options: RestoreOptions | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    force: bool = False,
) -> ReplicateRound:
    now = clock or repo.clock
    snaps = [s for s in repo.list_snapshots() if s.user_pool_id == source_pool_id]
    if not snaps:
        raise RepositoryNotFound(
            f"No snapshot of {source_pool_id} in the repository",
            hint="Run `cognito-backup backup` once: replication starts from a snapshot.",
        )
    base = max(snaps, key=lambda s: (s.finished_at, s.id))
    cursor = Cursor.load(repo, standby_pool_id, source_pool_id)
    journal = Journal(repo.store)
    if not force and cursor.base_snapshot == base.id and cursor.position is not None:
        newer = next(
            iter(journal.iter_records(source_pool_id, since=parse_time(cursor.position[0]), after=cursor.position)),
            None,
        )
        if newer is None:
            return ReplicateRound(
                applied=False, records=0, position=cursor.position, lag_seconds=_lag(now(), cursor.position)
            )
    folder = Folder(repo.load_state(base))
    for rec in journal.iter_records(source_pool_id, since=parse_time(base.started_at)):
        folder.apply(rec)
    desired = folder.state()
    opts = options or RestoreOptions()
    opts = replace(opts, plan=replace(opts.plan, prune=True), read_back=False)
    summary = reconcile(client, pacer, standby_pool_id, desired, opts)
    failed = len(summary.failed_results)
    # With no journal record yet, the position is the base snapshot itself (nothing newer applied).
    position = folder.position or (base.started_at, "", -1)
    if failed == 0:
        # Only a clean round moves the cursor: a failed operation is retried by the next round.
        cursor.base_snapshot = base.id
        cursor.position = position
        cursor.applied_at = format_time(now())
        repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())
    return ReplicateRound(
        applied=True,
        records=folder.applied,
        operations=len(summary.plan.ops),
        failed=failed,
        position=position,
        lag_seconds=_lag(now(), position),
        counts=summary.counts(),
    )


def _lag(now: dt.datetime, position: tuple[str, str, int] | None) -> float | None:
    if position is None:
        return None
    return round(max(0.0, (now - parse_time(position[0])).total_seconds()), 3)


def replicate(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    source_pool_id: str,
    standby_pool_id: str,
    *,
    follow: bool = False,
    interval: float = 10.0,
    stop: threading.Event | None = None,
    options: RestoreOptions | None = None,
    on_round: Callable[[ReplicateRound], None] | None = None,
) -> ReplicateRound:
    """One round, or (follow) rounds every `interval` seconds until `stop` is set. Returns the last round."""
    stop = stop or threading.Event()
    last = replicate_once(repo, client, pacer, source_pool_id, standby_pool_id, options=options)
    if on_round:
        on_round(last)
    while follow and not stop.wait(interval):
        last = replicate_once(repo, client, pacer, source_pool_id, standby_pool_id, options=options)
        if on_round:
            on_round(last)
    return last
