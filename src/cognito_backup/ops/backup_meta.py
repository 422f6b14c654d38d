"""What a snapshot's manifest says about how it was taken, shared by the backup engine
(ops/backup_steps.py), its drivers (ops/backup.py for the CLI, serverless/backup.py) and compact."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from cognito_backup.errors import SnapshotIncomplete
from cognito_backup.model import PoolConfig
from cognito_backup.repo.manifest import Manifest


@dataclass
class BackupOptions:
    with_mfa_preferences: bool = False
    max_records_per_object: int = 100_000


def config_extra(config: PoolConfig) -> dict[str, Any]:
    """What a manifest's `extra` says about the pool configuration. `incomplete` is present only when
    some section could not be read."""
    extra: dict[str, Any] = {
        "app_clients": len(config.clients),
        "identity_providers": len(config.identity_providers),
        "resource_servers": len(config.resource_servers),
        "unavailable": config.unavailable,
    }
    if config.incomplete:
        extra["incomplete"] = dict(config.incomplete)
    return extra


def incomplete_error(manifest: Manifest) -> SnapshotIncomplete | None:
    """The error a finished backup ends with when its snapshot is marked incomplete (exit 11)."""
    if not manifest.incomplete:
        return None
    sections = ", ".join(f"{name} ({why})" for name, why in sorted(manifest.incomplete.items()))
    return SnapshotIncomplete(
        f"Snapshot {manifest.id} was written but is incomplete: {sections}",
        hint="Those sections are missing from the snapshot. Fix the cause (IAM permissions, a Cognito "
        "outage) and take another backup; `show` lists what is missing.",
    )


def snapshot_options(opts: BackupOptions) -> dict[str, Any]:
    """The manifest's `options`: how the snapshot was taken."""
    return {"with_mfa_preferences": opts.with_mfa_preferences}
