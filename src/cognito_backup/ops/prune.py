"""Prune: forget snapshots a retention policy does not keep, then sweep objects no snapshot uses.

Sweeping is the only deletion in the repository. It runs under the repository's exclusive lock
(repo/locks.py, docs/format.md "Locks"), taken before the snapshots are listed: while any backup holds
its shared lock (it may have decided to reuse an OLD object that no manifest refers to yet) prune
forgets snapshots but sweeps nothing, and says so; a backup that starts during a sweep waits for it.
Objects younger than `grace_seconds` are kept too (a safety margin for stores written by older
versions, which took no lock).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.core.retention import (
    Decision,
    Policy,
    SnapshotTime,
    apply_policy,
    expired_segments,
    journal_horizon,
    keep_for_restores,
)
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.ops.restore_runs import snapshots_in_use
from cognito_backup.ops.stored_plan import StoredPlan, abandoned
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.journal_merge import merge_pool
from cognito_backup.repo.layout import (
    CHECKPOINTS_PREFIX,
    DEPLOYED_RESTORES_PREFIX,
    LEASES_PREFIX,
    LOCKS_PREFIX,
    OBJECTS_PREFIX,
    RUNS_PREFIX,
    lock_key,
    object_hash_from_key,
)
from cognito_backup.repo.locks import (
    EXCLUSIVE,
    SHARED_STALE_SECONDS,
    ExclusiveLock,
    HeldLock,
    blockers,
    list_locks,
)
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository, SnapshotScan, parse_time

DEFAULT_GRACE_SECONDS = 3600.0
STALE_LOCK_SECONDS = SHARED_STALE_SECONDS


@dataclass
class PruneResult:
    decision: Decision
    dry_run: bool
    removed_objects: list[str] = field(default_factory=list)
    removed_bytes: int = 0
    kept_young_objects: int = 0
    removed_stale: int = 0
    # Live locks that kept the sweep from running ("<purpose> <lock id>"); empty when it ran.
    sweep_skipped_for: list[str] = field(default_factory=list)
    # The sweep stopped early: this process stalled so long that its lock may have been judged stale.
    sweep_interrupted: bool = False
    # Journal retention: segments observed entirely before the pool's oldest kept snapshot started.
    journal_segments_removed: int = 0
    journal_bytes_removed: int = 0
    journal_kept_from: dict[str, str] = field(default_factory=dict)  # pool -> journal kept from this time
    journal_segments_merged: int = 0  # small segments rewritten into larger ones by this run
    journal_merged_inputs_removed: int = 0  # inputs of earlier merges, deleted after their grace period

    def summary(self) -> dict[str, Any]:
        return {
            "dry_run": self.dry_run,
            "keep": self.decision.keep,
            "remove": self.decision.remove,
            "reasons": self.decision.reasons,
            "removed_objects": len(self.removed_objects),
            "removed_bytes": self.removed_bytes,
            "kept_young_objects": self.kept_young_objects,
            "removed_stale_locks_and_checkpoints": self.removed_stale,
            "sweep_skipped_for": self.sweep_skipped_for,
            "sweep_interrupted": self.sweep_interrupted,
            "journal_segments_removed": self.journal_segments_removed,
            "journal_bytes_removed": self.journal_bytes_removed,
            "journal_kept_from": self.journal_kept_from,
            "journal_segments_merged": self.journal_segments_merged,
            "journal_merged_inputs_removed": self.journal_merged_inputs_removed,
        }


def prune(
    repo: Repository,
    policy: Policy,
    *,
    dry_run: bool = False,
    user_pool_id: str | None = None,
    grace_seconds: float = DEFAULT_GRACE_SECONDS,
    now: Callable[[], float] = time.time,
) -> PruneResult:
    lock: ExclusiveLock | None = None
    if dry_run:
        blocking = blockers(EXCLUSIVE, "", list_locks(repo.store), now())
    else:
        # Before listing snapshots: a backup that commits after this listing held its shared lock
        # when the lock was taken, and is seen below.
        lock, blocking = ExclusiveLock.try_acquire(repo.store, "prune", now=now)
    try:
        return _prune(repo, policy, dry_run, user_pool_id, grace_seconds, now, lock, blocking)
    finally:
        if lock is not None:
            lock.release()


def _prune(
    repo: Repository,
    policy: Policy,
    dry_run: bool,
    user_pool_id: str | None,
    grace_seconds: float,
    now: Callable[[], float],
    lock: ExclusiveLock | None,
    blocking: list[HeldLock],
) -> PruneResult:
    scan = repo.scan_snapshots()
    refuse_if_damaged(scan)
    snapshots = scan.manifests
    # Retention applies per source pool: one pool's backups never push out another's.
    pools = sorted({s.user_pool_id for s in snapshots if user_pool_id in (None, s.user_pool_id)})
    decision = Decision()
    for pool in pools:
        part = apply_policy(
            [SnapshotTime(s.id, parse_time(s.started_at), s.compacted) for s in snapshots if s.user_pool_id == pool],
            policy,
        )
        decision.keep += part.keep
        decision.remove += part.remove
        decision.reasons.update(part.reasons)
    # A snapshot an unfinished restore comes from stays until that restore has finished.
    decision = keep_for_restores(decision, snapshots_in_use(repo.store))
    result = PruneResult(decision=decision, dry_run=dry_run)
    remove = set(decision.remove)
    kept = [s for s in snapshots if s.id not in remove]
    referenced = {ref.sha256 for s in kept for ref in s.objects}
    current = now()
    cutoff = current - grace_seconds
    if not dry_run:
        for snap in snapshots:
            if snap.id in remove:
                repo.delete_snapshot(snap)
        result.removed_stale = _remove_stale_state(repo, current, own=lock_key(lock.id) if lock else None)
    _journal_retention(repo, pools, kept, dry_run, result)
    if blocking:
        result.sweep_skipped_for = sorted(f"{held.purpose} {held.id}" for held in blocking)
        return result
    for info in repo.store.list(OBJECTS_PREFIX):
        digest = object_hash_from_key(info.key)
        if digest is None or digest in referenced:
            continue
        if info.modified > cutoff:
            result.kept_young_objects += 1
            continue
        if lock is not None and not lock.keep():
            result.sweep_interrupted = True
            break
        result.removed_objects.append(digest)
        result.removed_bytes += info.size
        if not dry_run:
            repo.store.delete(info.key)
    return result


def _journal_retention(
    repo: Repository, pools: list[str], kept: list[Manifest], dry_run: bool, result: PruneResult
) -> None:
    """Remove the journal segments of `pools` that no kept snapshot needs (core/retention.py), then
    merge the small segments left (repo/journal_merge.py). Pools without a kept snapshot, and journals
    of pools with no snapshot at all, are left alone. A standby round's listing starts no fold of the
    journal (nothing restores or replicates from it unless named, and never --at), so it keeps none."""
    journal = Journal(repo.store, clock=repo.clock)
    for pool in pools:
        horizon = journal_horizon([s.started_at for s in kept if s.user_pool_id == pool and not s.standby_listing_of])
        if horizon is None:
            continue
        result.journal_kept_from[pool] = horizon
        for ref in expired_segments(journal.list_segments(pool), horizon):
            result.journal_segments_removed += 1
            if not dry_run:
                result.journal_bytes_removed += journal.remove_segment(ref)
        merged = merge_pool(journal, pool, dry_run=dry_run)
        result.journal_segments_merged += merged.inputs_merged
        result.journal_merged_inputs_removed += merged.inputs_removed


def refuse_if_damaged(scan: SnapshotScan) -> None:
    """A manifest that cannot be read may reference any object, and its snapshot may be one the policy
    keeps: pruning around it could delete the data of a snapshot that is only one repair away."""
    if scan.damaged:
        names = ", ".join(d.key for d in scan.damaged)
        raise RepositoryDamaged(
            f"prune stopped before deleting anything: {len(scan.damaged)} manifest(s) cannot be read ({names}); "
            "the objects they reference are unknown",
            hint="Run `cognito-backup check`; repair the manifest from a copy of the repository, or move it "
            "out of snapshots/ if that snapshot is lost for good, then prune again.",
        )


def _remove_stale_state(repo: Repository, now: float, own: str | None) -> int:
    """Locks, step checkpoints and sort runs of backups that died more than two days ago (a serverless backup
    that failed for good, a SIGKILLed process): they would otherwise hold back the sweep forever. And
    leases (repo/leases.py) untouched for two days: released, or their holder long dead; and deployed
    restores' stored plans untouched for two days (ops/stored_plan.py abandoned)."""
    removed = 0
    for prefix in (LOCKS_PREFIX, CHECKPOINTS_PREFIX, LEASES_PREFIX, RUNS_PREFIX):
        for info in repo.store.list(prefix):
            if now - info.modified > STALE_LOCK_SECONDS and info.key != own:
                repo.store.delete(info.key)
                removed += 1
    # A deployed restore's stored plan whose execution was stopped from outside (its last step deletes it
    # otherwise); the execution's progress record and report stay.
    for folder in abandoned(repo.store.list(DEPLOYED_RESTORES_PREFIX), now, STALE_LOCK_SECONDS):
        stored = StoredPlan(repo.store, folder)
        removed += sum(1 for _ in repo.store.list(folder))
        stored.delete()
    return removed
