"""A standby round's read of the whole standby, in bounded steps: a snapshot of the standby pool.

A round that compares every standby user (the first, after a group or configuration record or a late
segment, and at least hourly) must list the whole standby: ~9 minutes per million users at the default
UserList quota, more than what is left of a Lambda call once the round has folded and planned. So it
reads the standby through the backup engine (ops/backup_steps.py), whose progress lives in the
repository (a page token per listing chain, sorted shards, then the manifest): each call lists more,
no page twice, and a call killed mid-way re-reads only what it read since its last checkpoint. The
committed snapshot is then the round's view of the standby (`Repository.load_state` streams it into the
planner's spilled tables), and stays as a backup of the standby until the next comparison replaces it.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import RepositoryDamaged, RepositoryNotFound
from cognito_backup.ops.backup_steps import StepOptions, run_backup_step
from cognito_backup.repo.layout import snapshot_key
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository

# The round's own `out_of_time` decides when a step stops (it keeps the Lambda's margin for the
# pages in flight, the flush and the checkpoint): the engine's margin only has to be positive.
STEP_SAFETY_SECONDS = 1.0
# Chains as the backup Lambda lists a pool with (one per leading hex digit of `sub`).
LISTING_CHAINS = 16
# CPU seconds per standby user that loading both snapshots, folding the journal and planning take
# (bench/bench_standby_calls.py at 1M users: see docs/design.md "Standby rounds"), with room to spare.
PLAN_SECONDS_PER_USER = 0.0005
PLAN_SECONDS_MIN = 30.0


@dataclass
class ListingStep:
    """Where a step of the standby's listing left it: the committed snapshot, or the checkpoint to go on."""

    manifest: Manifest | None
    checkpoint_id: str | None
    users_so_far: int = 0
    # Committed by an earlier call: this call has all its time for the plan (never put off again).
    committed_before: bool = False


def plan_fits(users: int, seconds_left: float) -> bool:
    """Whether a call with `seconds_left` can still fold, plan and start applying for a standby of
    `users` users (otherwise the next call plans, from the committed listing). PURE."""
    return seconds_left >= PLAN_SECONDS_MIN + users * PLAN_SECONDS_PER_USER


def seconds_left_of(out_of_time: Callable[[], bool] | None) -> Callable[[], float]:
    """The engine's deadline from a round's yes/no clock: no time left once the round is out of time."""
    if out_of_time is None:
        return lambda: math.inf
    return lambda: 0.0 if out_of_time() else math.inf


def list_standby(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    standby_pool_id: str,
    source_pool_id: str,
    checkpoint_id: str | None,
    *,
    out_of_time: Callable[[], bool] | None,
) -> ListingStep:
    """One bounded step of the standby's snapshot: starts one (`checkpoint_id` None) or continues it.
    A checkpoint that is gone (pruned after two days, or removed by hand) starts a new listing."""
    reader = PoolReader(client, pacer, standby_pool_id, chains=LISTING_CHAINS)
    region = client.meta.region_name if hasattr(client, "meta") else None
    options = StepOptions(safety_seconds=STEP_SAFETY_SECONDS, standby_listing_of=source_pool_id)
    deadline = seconds_left_of(out_of_time)
    before = checkpoint_id is not None and repo.store.exists(snapshot_key(checkpoint_id))
    try:
        result = run_backup_step(reader, repo, region, checkpoint_id, deadline=deadline, options=options)
    except (RepositoryNotFound, RepositoryDamaged):
        if checkpoint_id is None:
            raise
        result = run_backup_step(reader, repo, region, None, deadline=deadline, options=options)
    return ListingStep(result.manifest, result.checkpoint_id, result.users_so_far, committed_before=before)
