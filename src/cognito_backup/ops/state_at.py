"""The one builder of "the pool's state at time T": a base state plus the journal folded over it.

`restore --at` / `diff --at` (ops/pitr.py), a standby round (ops/replicate.py) and compaction
(ops/compact.py) all build their state here, so they choose the base the same way: the latest state
(a snapshot, or a compacted state that compaction or a standby round wrote) that finished at or before
T; the journal is kept from the oldest kept snapshot's start (core/retention.py), so it continues from
every base this can choose. A snapshot taken while the pool changed is fuzzy; the journal from its START
overrides every user that changed after that, so base + journal is exact at T (docs/capture.md).

`started_by` narrows the choice to bases that started at or before a time: a standby round may start
only from a state it has already applied (its cursor), and, when a segment turns up late, only from a
state older than that segment's first observation (docs/design.md "Standby rounds").
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from cognito_backup.core.fold import Folder
from cognito_backup.errors import RepositoryNotFound
from cognito_backup.model import PoolState
from cognito_backup.repo.journal import Journal, SegmentRef
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository, parse_time


def choose_base(
    snapshots: Iterable[Manifest], user_pool_id: str, at: dt.datetime | None = None, *, started_by: str | None = None
) -> Manifest:
    """The base for time `at` (None: now, every record journaled). PURE.

    Preferred: the newest state that FINISHED at or before `at` (it holds nothing later than `at`).
    Otherwise the newest that STARTED before `at`: its users read after `at` may show later changes
    (pitr marks the result inexact). `started_by`: only bases started at or before it."""
    snaps = [
        s for s in snapshots if s.user_pool_id == user_pool_id and (started_by is None or s.started_at <= started_by)
    ]
    finished = [s for s in snaps if at is None or parse_time(s.finished_at) <= at]
    if finished:
        return max(finished, key=lambda s: (s.finished_at, s.id))
    started = [s for s in snaps if at is None or parse_time(s.started_at) <= at]
    if started:
        return max(started, key=lambda s: (s.started_at, s.id))
    when = f" started before {at:%Y-%m-%dT%H:%M:%SZ}" if at is not None else ""
    if snaps:
        # Earlier than the repository reaches: a new backup cannot help, the operator needs the limit.
        earliest = min(snaps, key=lambda s: (s.started_at, s.id))
        raise RepositoryNotFound(
            f"No snapshot of {user_pool_id}{when}: the earliest is {earliest.id}, started "
            f"{earliest.started_at}; the repository restores no earlier time",
            hint="Pick a time at or after it; `cognito-backup snapshots --repo ...` shows the time range each "
            "snapshot + journal can reach.",
        )
    raise RepositoryNotFound(
        f"No snapshot of {user_pool_id}{when}",
        hint="`cognito-backup snapshots --repo ...` shows the time range each snapshot + journal can reach; "
        "run `cognito-backup backup` once to start from a snapshot.",
    )


def root_of(base: Manifest) -> str:
    """The snapshot a (chain of) compacted state(s) descends from: the one the pool was listed for.
    States of one root agree on everything the journal holds; a new root may not (it read the pool)."""
    extra: Mapping[str, Any] = base.extra
    if not extra.get("compacted"):
        return base.id
    return str(extra.get("root_snapshot") or extra.get("base_snapshot") or base.id)


# Called with each record before it is folded, and the fold as it stands (a standby round notes whom
# the record names, and the key the user had before it).
OnRecord = Callable[[dict[str, Any], Folder], None]


@dataclass
class Folded:
    folder: Folder
    base: Manifest

    def state(self) -> PoolState:
        return self.folder.state()


def fold_from(
    repo: Repository,
    base: Manifest,
    at: dt.datetime | None = None,
    *,
    segments: list[SegmentRef] | None = None,
    on_record: OnRecord | None = None,
) -> Folded:
    """`base`'s state with every record observed from its start up to `at` (None: all) folded over it.
    `segments`: read exactly these (a listing the caller keeps track of) instead of listing the range."""
    folder = Folder(repo.load_state(base))
    records = Journal(repo.store).iter_records(
        base.user_pool_id, since=parse_time(base.started_at), until=at, segments=segments
    )
    for rec in records:
        if on_record is not None:
            on_record(rec, folder)
        folder.apply(rec)
    return Folded(folder, base)


def state_at(
    repo: Repository, user_pool_id: str, at: dt.datetime | None, snapshots: list[Manifest] | None = None
) -> Folded:
    """The pool's state at `at` from the base `choose_base` picks. `snapshots`: the manifests already read."""
    listed = repo.list_snapshots() if snapshots is None else snapshots
    return fold_from(repo, choose_base(listed, user_pool_id, at), at)
