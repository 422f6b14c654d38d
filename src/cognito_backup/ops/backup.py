"""Backup: stream a whole pool into a new snapshot. The manifest is written only after every object
is stored, so an error at any point (a late page, a killed process) leaves no snapshot behind."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import SnapshotIncomplete
from cognito_backup.model import PoolConfig, User
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository

MFA_BATCH = 256


@dataclass
class BackupOptions:
    with_mfa_preferences: bool = False
    max_records_per_object: int = 100_000


@dataclass
class BackupResult:
    manifest: Manifest
    seconds: float
    list_chains: int
    calls: dict[str, dict[str, float]] = field(default_factory=dict)

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
        }


def _with_mfa(reader: PoolReader, users: Iterable[User], workers: int) -> Iterator[User]:
    """AdminGetUser for each user, a bounded batch at a time (memory stays one batch)."""
    from dataclasses import replace

    def enrich(user: User) -> User:
        return replace(user, mfa=reader.mfa_preferences(user.username))

    batch: list[User] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cognito-mfa") as pool:
        for user in users:
            batch.append(user)
            if len(batch) >= MFA_BATCH:
                yield from pool.map(enrich, batch)
                batch = []
        if batch:
            yield from pool.map(enrich, batch)


def config_extra(config: PoolConfig) -> dict[str, Any]:
    """What a manifest's `extra` says about the pool configuration (shared with ops/backup_steps and
    ops/compact). `incomplete` is present only when some section could not be read."""
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


def run_backup(
    reader: PoolReader,
    repo: Repository,
    region: str | None,
    options: BackupOptions | None = None,
    stage: Callable[[str], None] = lambda name: None,
    clock: Callable[[], float] = time.monotonic,
    on_config: Callable[[PoolConfig], None] = lambda config: None,
) -> BackupResult:
    opts = options or BackupOptions()
    begin = clock()
    # Taken before the first read: a change made while the configuration is read is after started_at,
    # so point-in-time restores from this snapshot fold its journal record (as backup_steps does).
    started = repo.clock()
    stage("config")
    config = reader.read_config()  # before anything is written: a wrong pool id fails here, cleanly
    on_config(config)
    with repo.begin_snapshot(
        reader.pool_id,
        region,
        options=snapshot_options(opts),
        max_records_per_object=opts.max_records_per_object,
        started_at=started,
    ) as writer:
        writer.add("config", config.to_record())
        stage("groups")
        group_names: list[str] = []  # at most 10,000 per pool (Cognito quota)
        for group in reader.iter_groups():
            group_names.append(group.name)
            writer.add("groups", group.to_record())
        stage("users")
        users: Iterable[User] = reader.iter_users()
        if opts.with_mfa_preferences:
            users = _with_mfa(reader, users, workers=16)
        for user in users:
            writer.add("users", user.to_record())
        stage("memberships")
        for membership in reader.iter_memberships(group_names):
            writer.add("memberships", membership.to_record())
        stage("manifest")
        manifest = writer.commit(extra={**config_extra(config), "list_chains": reader.used_chains})
    return BackupResult(
        manifest=manifest,
        seconds=clock() - begin,
        list_chains=reader.used_chains,
        calls=reader.pacer.summary(),
    )
