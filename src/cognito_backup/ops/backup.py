"""Backup: stream a whole pool into a new snapshot. The manifest is written only after every object
is stored, so an error at any point (a late page, a killed process) leaves no snapshot behind."""

from __future__ import annotations

import time
from collections.abc import Callable, Generator, Iterable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import closing
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import SnapshotIncomplete
from cognito_backup.model import Group, Membership, PoolConfig, User
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


def _with_mfa(reader: PoolReader, items: Iterable[User | Membership], workers: int) -> Generator[User | Membership]:
    """AdminGetUser for each user, a bounded batch at a time (memory stays one batch); memberships pass
    through as they come."""
    from dataclasses import replace

    def enrich(user: User) -> User:
        return replace(user, mfa=reader.mfa_preferences(user.username))

    batch: list[User] = []
    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cognito-mfa") as pool:
        for item in items:
            if not isinstance(item, User):
                yield item
                continue
            batch.append(item)
            if len(batch) >= MFA_BATCH:
                yield from pool.map(enrich, batch)
                batch = []
        if batch:
            yield from pool.map(enrich, batch)


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
    """What a manifest's `extra` says about the pool configuration (shared with ops/backup_steps and
    ops/compact). `incomplete` is present only when some section could not be read."""
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
    stage("users")
    # The configuration and the groups are other quotas than UserList: read them while the users and
    # memberships are listed, so the listing (the bound on a backup's time) starts at once.
    groups: list[Group] = []  # at most 10,000 per pool (Cognito quota)

    def group_names() -> Iterator[str]:
        # Runs on the listing's feeder thread: each group's memberships are queued as its page arrives.
        for group in reader.iter_groups():
            groups.append(group)
            yield group.name

    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cognito-config") as side:
        described = side.submit(reader.describe_pool)
        probed = side.submit(reader.user_list_filters)  # the prefix-filter probe, meanwhile
        pool = described.result()  # before anything is written: a wrong pool id fails here, cleanly
        config_read = side.submit(reader.read_config, pool)
        config_read.add_done_callback(lambda done: None if done.exception() else on_config(done.result()))
        with repo.begin_snapshot(
            reader.pool_id,
            region,
            options=snapshot_options(opts),
            max_records_per_object=opts.max_records_per_object,
            started_at=started,
        ) as writer:
            items: Generator[User | Membership] = reader.iter_listing(group_names, probed.result())
            if opts.with_mfa_preferences:
                items = _with_mfa(reader, items, workers=16)
            with closing(items):  # a break below stops the listing's threads at once
                for item in items:
                    if isinstance(item, User):
                        writer.add("users", item.to_record())
                    else:
                        writer.add("memberships", item.to_record())
                    if config_read.done() and config_read.exception() is not None:
                        break  # a configuration that cannot be read fails the backup: stop listing now
            stage("config")
            config = config_read.result()
            writer.add("config", config.to_record())
            stage("groups")
            for group in groups:  # complete: the listing ends only after its feeder
                writer.add("groups", group.to_record())
            stage("manifest")
            manifest = writer.commit(extra={**config_extra(config), "list_chains": reader.used_chains})
    return BackupResult(
        manifest=manifest,
        seconds=clock() - begin,
        list_chains=reader.used_chains,
        calls=reader.pacer.summary(),
    )
