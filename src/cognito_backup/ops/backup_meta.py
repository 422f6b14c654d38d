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
    # Set by a standby round reading its standby (ops/standby_listing.py): the source pool it replicates.
    standby_listing_of: str | None = None


def replica_summary(config: PoolConfig) -> list[dict[str, Any]]:
    """The pool's replicas as `show` and `snapshots` name them: Region, role, status."""
    return [{"region": r.get("RegionName"), "role": r.get("Role"), "status": r.get("Status")} for r in config.replicas]


def configuration_counts(config: PoolConfig) -> dict[str, int]:
    """How many of each configuration surface beyond the pool itself a snapshot holds (for `show`)."""
    return {
        "app_clients": len(config.clients),
        "client_secrets": sum(1 for c in config.clients if c.get("ClientSecret")),
        "managed_login_branding": len(config.managed_login_branding),
        "client_session_configuration": len(config.client_session_configuration),
        "terms": len(config.terms),
        "cimd_policies": len(config.cimd_policies),
        "log_delivery": len(config.log_delivery),
        "session_configuration": int(config.session_configuration is not None),
        "ui_customization": int(bool(config.ui_customization)),
        "client_ui_customization": len(config.client_ui_customization),
        "risk_configuration": int(bool(config.risk_configuration)),
        "client_risk_configuration": len(config.client_risk_configuration),
    }


def config_extra(config: PoolConfig) -> dict[str, Any]:
    """What a manifest's `extra` says about the pool configuration. `incomplete` is present only when
    some section could not be read."""
    extra: dict[str, Any] = {
        "app_clients": len(config.clients),
        "identity_providers": len(config.identity_providers),
        "resource_servers": len(config.resource_servers),
        "unavailable": config.unavailable,
        # What `snapshots` shows without opening each snapshot's configuration.
        "feature_plan": config.user_pool.get("UserPoolTier"),
        "replicas": replica_summary(config),
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
    body: dict[str, Any] = {"with_mfa_preferences": opts.with_mfa_preferences}
    if opts.standby_listing_of:
        body["standby_listing_of"] = opts.standby_listing_of  # Manifest.standby_listing_of
    return body
