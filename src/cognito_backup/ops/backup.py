"""Backup from the CLI: the backup engine (ops/backup_steps.py) in one step without a time limit.

The manifest is written only after every object is stored, so an error at any point (a late page, a
killed process) leaves no snapshot behind. Meanwhile the step saves its checkpoint every
`checkpoint_seconds` and when it fails or is interrupted, so `backup --resume` continues it instead of
listing the pool again.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.aws.reader import PoolReader
from cognito_backup.model import PoolConfig
from cognito_backup.ops.backup_meta import BackupOptions, config_extra, incomplete_error, snapshot_options
from cognito_backup.ops.backup_steps import StepHooks, StepOptions, run_backup_step
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository

__all__ = ["BackupOptions", "BackupResult", "config_extra", "incomplete_error", "run_backup", "snapshot_options"]

# How often a CLI backup saves its checkpoint: at most this much listing is repeated after a kill. Each
# save stores the open objects (a few MB of compressed records), so not much more often.
CHECKPOINT_SECONDS = 60.0


@dataclass
class BackupResult:
    manifest: Manifest
    seconds: float
    list_chains: int
    calls: dict[str, dict[str, float]] = field(default_factory=dict)
    resumed: str | None = None  # the snapshot id `--resume` continued

    def summary(self) -> dict[str, Any]:
        counts = self.manifest.counts
        return {
            "snapshot": self.manifest.id,
            "user_pool_id": self.manifest.user_pool_id,
            "region": self.manifest.region,
            "users": counts.get("users", 0),
            "groups": counts.get("groups", 0),
            "memberships": counts.get("memberships", 0),
            "app_clients": self.manifest.extra.get("app_clients", 0),
            "identity_providers": self.manifest.extra.get("identity_providers", 0),
            "resource_servers": self.manifest.extra.get("resource_servers", 0),
            "unavailable": self.manifest.extra.get("unavailable", {}),
            "incomplete": self.manifest.incomplete,
            "seconds": round(self.seconds, 3),
            "list_chains": self.list_chains,
            "started_at": self.manifest.started_at,
            "finished_at": self.manifest.finished_at,
            "calls": self.calls,
            "resumed": self.resumed is not None,
            # What sharing saved: objects (and bytes) this snapshot references that were stored already.
            "reused_objects": int(self.manifest.extra.get("reused_objects", 0)),
            "reused_bytes": int(self.manifest.extra.get("reused_bytes", 0)),
        }


def run_backup(
    reader: PoolReader,
    repo: Repository,
    region: str | None,
    options: BackupOptions | None = None,
    stage: Callable[[str], None] = lambda name: None,
    clock: Callable[[], float] = time.monotonic,
    on_config: Callable[[PoolConfig], None] = lambda config: None,
    *,
    resume: str | None = None,
    checkpoint_seconds: float = CHECKPOINT_SECONDS,
    on_checkpoint: Callable[[str], None] = lambda snapshot_id: None,
) -> BackupResult:
    """A whole snapshot. `resume` is the id of an interrupted snapshot to continue (its checkpoint's
    options apply); `on_checkpoint` hears the snapshot id each time a checkpoint is saved."""
    opts = options or BackupOptions()
    begin = clock()
    result = run_backup_step(
        reader,
        repo,
        region,
        resume,
        deadline=lambda: math.inf,
        options=StepOptions(
            with_mfa_preferences=opts.with_mfa_preferences,
            max_records_per_object=opts.max_records_per_object,
            user_workers=max(1, reader.chains),
            membership_workers=reader.workers,
            checkpoint_seconds=checkpoint_seconds,
            keep_failed_first_step=True,
        ),
        hooks=StepHooks(stage=stage, on_config=on_config, on_checkpoint=on_checkpoint),
        clock=clock,
    )
    if result.manifest is None:  # a step without a deadline ends only by committing or raising
        raise RuntimeError(f"backup step of {result.snapshot_id} ended without committing")
    return BackupResult(
        manifest=result.manifest,
        seconds=clock() - begin,
        list_chains=result.list_chains,
        calls=reader.pacer.summary(),
        resumed=resume,
    )
