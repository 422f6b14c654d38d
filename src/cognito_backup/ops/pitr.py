"""Point-in-time state: what `restore --at` and `diff --at` work towards, and how far it is known.

The state itself comes from ops/state_at.py (the one builder, shared with replicate and compact): a
base snapshot or compacted state plus the journal from its start, folded; exact at any time T the
capture had caught up with (docs/capture.md).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from cognito_backup.core.source import SourceChoice, choose_source
from cognito_backup.errors import PlanRefused, RepositoryDamaged, UsageError
from cognito_backup.model import PoolState
from cognito_backup.ops.state_at import state_at
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.manifest import Manifest, backed_up_pools
from cognito_backup.repo.repository import Repository, SnapshotScan, format_time, parse_time


def desired_state_at(
    repo: Repository, user_pool_id: str, at: dt.datetime, snapshots: list[Manifest] | None = None
) -> tuple[PoolState, Manifest]:
    """The pool's state at `at` (ops/state_at.py, the one builder): returns (state, base manifest).
    `snapshots`: the manifests already read."""
    folded = state_at(repo, user_pool_id, at, snapshots)
    return folded.state(), folded.base


# How far after `--at` the journal is searched for changes made before it but journaled after it.
BACKLOG_LOOKAHEAD = dt.timedelta(hours=1)


@dataclass(frozen=True)
class Desired:
    """What a restore, diff or replicate works towards, and where it comes from."""

    state: PoolState
    label: str  # the snapshot id, or "<snapshot id>+journal@<time>"
    source_pool_id: str
    source_named: bool  # the source was named (--snapshot / --source-user-pool-id), not inferred
    # With --at: up to which second the repository knows the pool's state exactly, and warnings about it.
    known_exactly_until: str | None = None
    warnings: tuple[str, ...] = ()


def refuse_only_damaged(repo: Repository, scan: SnapshotScan) -> None:
    """A repository whose only manifests are damaged is not empty: `latest` is unknown (resolve names the
    damaged manifest, exit 6) where the source rule would advise a first backup."""
    if not scan.manifests and scan.damaged:
        repo.resolve("latest", scan=scan)


def select_snapshot(
    repo: Repository,
    snapshot: str | None = "latest",
    *,
    source_pool_id: str | None = None,
    target_pool_id: str | None = None,
    into_existing: bool = False,
    scan: SnapshotScan | None = None,
) -> tuple[SourceChoice, Manifest]:
    """The source pool (the one rule of core/source.py) and its snapshot: the one `snapshot` names, or
    the pool's latest. `target_pool_id`: the pool compared or written; `into_existing`: it is written.
    `scan`: the manifests already read."""
    scan = scan or repo.scan_snapshots()
    if snapshot not in (None, "", "latest"):
        manifest = repo.resolve(snapshot, scan=scan)
        pool = manifest.user_pool_id
        return choose_source({pool}, named_source=source_pool_id, snapshot_pool=pool), manifest
    refuse_only_damaged(repo, scan)
    choice = choose_source(
        backed_up_pools(scan.manifests),
        named_source=source_pool_id,
        target=target_pool_id,
        into_existing=into_existing,
        listed={m.user_pool_id for m in scan.manifests if m.standby_listing_of},
    )
    # resolve, not the listing: it refuses `latest` while a damaged manifest may be the newest.
    return choice, repo.resolve("latest", user_pool_id=choice.pool_id, scan=scan)


def select_desired(
    repo: Repository,
    snapshot: str | None = None,
    at: dt.datetime | None = None,
    *,
    source_pool_id: str | None = None,
    target_pool_id: str | None = None,
    into_existing: bool = False,
    allow_after_coverage: bool = False,
    users: bool = True,
) -> Desired:
    """The desired state of a restore, diff or replicate: a snapshot as it is (None: the source's latest),
    or (with `at`) the source pool's state at that time from the best snapshot plus the journal.

    With `at`: a snapshot named too is a usage error (`at` picks its own); a time later than the
    repository knows exactly is refused (PlanRefused) unless `allow_after_coverage`.

    `users=False` (a snapshot as it is): its configuration only, none of its users, groups or
    memberships (a deployed restore's later steps carry out a stored plan that holds what they need)."""
    if at is not None and snapshot not in (None, ""):
        raise UsageError("Give either --snapshot or --at, not both: --at picks its snapshot itself")
    scan = repo.scan_snapshots()  # once: every manifest is one GET on S3
    choice, manifest = select_snapshot(
        repo,
        snapshot,
        source_pool_id=source_pool_id,
        target_pool_id=target_pool_id,
        into_existing=into_existing,
        scan=scan,
    )
    if at is None:
        state = repo.load_state(manifest) if users else PoolState(config=repo.load_config(manifest))
        return Desired(state, manifest.id, choice.pool_id, choice.named)
    pool = choice.pool_id
    known = known_exactly_until(repo, pool, scan.manifests)
    stamp = format_time(at)
    warnings = []
    if known is not None and stamp > known:
        message = after_coverage_message(stamp, known, pool)
        if not allow_after_coverage:
            raise PlanRefused(
                message + ". Nothing was written.",
                hint="Pick an earlier time, run capture (it records how far it has caught up), or pass "
                "--allow-after-coverage to accept the state as last known.",
            )
        warnings.append(message + " (--allow-after-coverage): later changes are missing")
    state, base = desired_state_at(repo, pool, at, scan.manifests)
    if parse_time(base.finished_at) > at:
        warnings.append(
            f"snapshot {base.id} was still being taken at {_second(stamp)} and no earlier one exists: users it "
            "read after that second may show later changes"
        )
    warnings += backlog_warnings(Journal(repo.store), pool, at)
    return Desired(state, f"{base.id}+journal@{stamp}", pool, choice.named, known, tuple(warnings))


def after_coverage_message(stamp: str, known: str, pool: str) -> str:
    """Seconds read best; within one second, the fractions tell the two times apart."""
    at, until = _second(stamp), _second(known)
    if at == until:
        at, until = f"{at} ({stamp})", f"{until} ({known})"
    return f"--at {at} is after what the repository knows about {pool}: its state is known exactly until {until}"


def _second(stamp: str) -> str:
    """'2026-11-21T10:15:30.123456Z' -> '2026-11-21T10:15:30Z' (messages speak in seconds)."""
    return stamp[:19] + "Z"


def known_exactly_until(repo: Repository, pool_id: str, snapshots: list[Manifest] | None = None) -> str | None:
    """Up to when the repository knows `pool_id`'s state exactly: the capture's caught-up marker (or,
    in a journal written before markers existed, its last observation), and never less than the finish
    of the pool's newest snapshot; without a journal, that finish. None: no snapshot of the pool."""
    listed = repo.list_snapshots() if snapshots is None else snapshots
    finished = [s.finished_at for s in listed if s.user_pool_id == pool_id]
    journal = Journal(repo.store)
    caught_up = journal.caught_up(pool_id) or journal.last_observed(pool_id)
    known = [t for t in (*finished, caught_up) if t]
    return max(known) if known else None


def backlog_warnings(journal: Journal, pool_id: str, at: dt.datetime) -> list[str]:
    """A warning when the capture was behind at `at`: changes made at or before it (changed_at) that
    were observed only after it, so the state at `at` lacks them."""
    stamp = format_time(at)
    try:
        late = [
            str(rec["observed_at"])
            for rec in journal.iter_records(pool_id, since=at, until=at + BACKLOG_LOOKAHEAD)
            if rec["observed_at"] > stamp and rec.get("changed_at") and parse_time(str(rec["changed_at"])) <= at
        ]
    except RepositoryDamaged as exc:
        # Only records observed after `at` are read here: none goes into the state at `at`. Damage there
        # must not block a restore to an intact earlier time (the fold itself still refuses damage it needs).
        return [
            f"whether the capture was behind at {_second(stamp)} could not be checked, the journal after it is "
            f"damaged: {exc.message} (`check --read-data` names every damaged part)"
        ]
    if not late:
        return []
    return [
        f"at {_second(stamp)} the capture was behind: {len(late)} changes made at or before that second were "
        f"journaled only later (the last at {_second(max(late))}), so the state at {_second(stamp)} lacks them"
    ]


@dataclass(frozen=True)
class Coverage:
    snapshot_id: str
    user_pool_id: str
    reach_from: str  # earliest time this snapshot (+ journal) restores exactly: its finish
    reach_to: str  # latest time: the last journal observation of the pool, or the finish if later


def coverage(repo: Repository, snapshots: list[Manifest] | None = None) -> list[tuple[str, str, str]]:
    """(snapshot_id, from, to) for every snapshot, oldest first: `restore --at T` with T in [from, to]
    uses that snapshot (or a newer one) plus the journal.

    `to` is how far capture has caught up with the snapshot's pool (its caught-up marker; in journals
    without one, the newest observation).
    """
    return [(c.snapshot_id, c.reach_from, c.reach_to) for c in coverage_details(repo, snapshots)]


def coverage_details(repo: Repository, snapshots: list[Manifest] | None = None) -> list[Coverage]:
    """`snapshots`: the manifests already read (saves reading every manifest again)."""
    journal = Journal(repo.store)
    last: dict[str, str | None] = {}
    out = []
    for snap in repo.list_snapshots() if snapshots is None else snapshots:
        if snap.user_pool_id not in last:
            # How far capture caught up (docs/capture.md); older journals: their last observation.
            pool = snap.user_pool_id
            last[pool] = journal.caught_up(pool) or journal.last_observed(pool)
        end = last[snap.user_pool_id]
        reach_to = max(end, snap.finished_at) if end else snap.finished_at
        out.append(Coverage(snap.id, snap.user_pool_id, snap.finished_at, reach_to))
    return out
