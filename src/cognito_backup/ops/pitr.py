"""Point-in-time state: a snapshot plus the journal from the snapshot's start, folded.

A snapshot taken while the pool changes is fuzzy: each user is as it was when its page was read. The
journal from the snapshot's *start* overrides every user that changed after that, so snapshot + journal
is exact at any time T the capture had caught up with (docs/capture.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cognito_backup.core.fold import fold
from cognito_backup.core.source import SourceChoice, choose_source
from cognito_backup.errors import RepositoryNotFound, UsageError
from cognito_backup.model import PoolState
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository, format_time, parse_time


def choose_base(repo: Repository, user_pool_id: str, at: dt.datetime) -> Manifest:
    """The snapshot to start from for time `at`.

    Preferred: the newest snapshot that FINISHED at or before `at` (it holds nothing later than `at`).
    Otherwise the newest that STARTED before `at`: its users read after `at` may show later changes
    (the result is then marked inexact by `desired_state_at`).
    """
    snaps = [s for s in repo.list_snapshots() if s.user_pool_id == user_pool_id]
    finished = [s for s in snaps if parse_time(s.finished_at) <= at]
    if finished:
        return max(finished, key=lambda s: (s.finished_at, s.id))
    started = [s for s in snaps if parse_time(s.started_at) <= at]
    if started:
        return max(started, key=lambda s: (s.started_at, s.id))
    raise RepositoryNotFound(
        f"No snapshot of {user_pool_id} started before {at:%Y-%m-%dT%H:%M:%SZ}",
        hint="`cognito-backup snapshots --repo ...` shows the time range each snapshot + journal can reach.",
    )


def desired_state_at(repo: Repository, user_pool_id: str, at: dt.datetime) -> tuple[PoolState, Manifest]:
    """The pool's state at `at`: the base snapshot's state with every journal record observed from
    the snapshot's start up to `at` folded over it. Returns (state, base manifest)."""
    base = choose_base(repo, user_pool_id, at)
    state = repo.load_state(base)
    records = Journal(repo.store).iter_records(user_pool_id, since=parse_time(base.started_at), until=at)
    return fold(state, records, until=at), base


@dataclass(frozen=True)
class Desired:
    """What a restore, diff or replicate works towards, and where it comes from."""

    state: PoolState
    label: str  # the snapshot id, or "<snapshot id>+journal@<time>"
    source_pool_id: str
    source_named: bool  # the source was named (--snapshot / --source-user-pool-id), not inferred


def select_snapshot(
    repo: Repository,
    snapshot: str | None = "latest",
    *,
    source_pool_id: str | None = None,
    target_pool_id: str | None = None,
    into_existing: bool = False,
) -> tuple[SourceChoice, Manifest]:
    """The source pool (the one rule of core/source.py) and its snapshot: the one `snapshot` names, or
    the pool's latest. `target_pool_id`: the pool compared or written; `into_existing`: it is written."""
    if snapshot not in (None, "", "latest"):
        manifest = repo.resolve(snapshot)
        pool = manifest.user_pool_id
        return choose_source({pool}, named_source=source_pool_id, snapshot_pool=pool), manifest
    snaps = repo.list_snapshots()
    choice = choose_source(
        {s.user_pool_id for s in snaps},
        named_source=source_pool_id,
        target=target_pool_id,
        into_existing=into_existing,
    )
    # list_snapshots is oldest first: the last of the pool's is its latest.
    return choice, [s for s in snaps if s.user_pool_id == choice.pool_id][-1]


def select_desired(
    repo: Repository,
    snapshot: str | None = "latest",
    at: dt.datetime | None = None,
    *,
    source_pool_id: str | None = None,
    target_pool_id: str | None = None,
    into_existing: bool = False,
) -> Desired:
    """The desired state of a restore or diff: a snapshot as it is, or (with `at`) the source pool's
    state at that time from the best snapshot plus the journal."""
    if at is not None and snapshot not in (None, "", "latest"):
        raise UsageError("Give either --snapshot or --at, not both: --at picks its snapshot itself")
    choice, manifest = select_snapshot(
        repo, snapshot, source_pool_id=source_pool_id, target_pool_id=target_pool_id, into_existing=into_existing
    )
    if at is None:
        return Desired(repo.load_state(manifest), manifest.id, choice.pool_id, choice.named)
    state, base = desired_state_at(repo, choice.pool_id, at)
    return Desired(state, f"{base.id}+journal@{format_time(at)}", choice.pool_id, choice.named)


@dataclass(frozen=True)
class Coverage:
    snapshot_id: str
    user_pool_id: str
    reach_from: str  # earliest time this snapshot (+ journal) restores exactly: its finish
    reach_to: str  # latest time: the last journal observation of the pool, or the finish if later


def coverage(repo: Repository, snapshots: list[Manifest] | None = None) -> list[tuple[str, str, str]]:
    """(snapshot_id, from, to) for every snapshot, oldest first: `restore --at T` with T in [from, to]
    uses that snapshot (or a newer one) plus the journal.

    `to` is the newest journal observation of the snapshot's pool. The journal cannot tell a quiet pool
    from a stopped capture: watch capture lag (`capture --json`, the Lambda's alarms) for that.
    """
    return [(c.snapshot_id, c.reach_from, c.reach_to) for c in coverage_details(repo, snapshots)]


def coverage_details(repo: Repository, snapshots: list[Manifest] | None = None) -> list[Coverage]:
    """`snapshots`: the manifests already read (saves reading every manifest again)."""
    journal = Journal(repo.store)
    last: dict[str, str | None] = {}
    out = []
    for snap in repo.list_snapshots() if snapshots is None else snapshots:
        if snap.user_pool_id not in last:
            last[snap.user_pool_id] = journal.last_observed(snap.user_pool_id)
        end = last[snap.user_pool_id]
        reach_to = max(end, snap.finished_at) if end else snap.finished_at
        out.append(Coverage(snap.id, snap.user_pool_id, snap.finished_at, reach_to))
    return out
