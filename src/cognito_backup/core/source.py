"""Which pool's snapshots a command works from: the one rule `restore`, `diff`, `show` and `replicate`
share (docs/restore.md, "Which snapshot").

A repository may hold snapshots of several pools (prod and staging, a pool and its standby). Taking the
newest snapshot of the whole repository would, with `restore --prune`, delete a pool's users and create
another pool's: so the source is named, or follows from the target, or is the only one there is.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from cognito_backup.errors import RepositoryNotFound, UsageError

NAMED = "named"  # --source-user-pool-id, or the pool of the snapshot --snapshot names
TARGETS_OWN = "target's own"  # the target was backed up in this repository
ONLY_POOL = "only pool"  # the repository holds one pool's snapshots


@dataclass(frozen=True)
class SourceChoice:
    pool_id: str
    why: str  # NAMED, TARGETS_OWN or ONLY_POOL

    @property
    def named(self) -> bool:
        return self.why == NAMED


def choose_source(
    pools: Collection[str],
    *,
    named_source: str | None = None,
    snapshot_pool: str | None = None,
    target: str | None = None,
    into_existing: bool = False,
    listed: Collection[str] = (),
) -> SourceChoice:
    """The source pool, in this order: what `--snapshot` (its pool: `snapshot_pool`) or
    `--source-user-pool-id` (`named_source`) names; else `target`'s own snapshots when it has some;
    else the repository's only pool; else a usage error listing the pools.

    `into_existing`: the target is an existing pool that will be written (restore). Writing another
    pool's snapshot into it must then be asked for by name: a source found only because it is the
    repository's only pool is refused.

    `listed`: pools the repository holds standby rounds' listings of (not backups, so not in `pools`): a
    refusal naming one of them says so rather than that the pool has no snapshot here.
    """
    if named_source and snapshot_pool and named_source != snapshot_pool:
        raise UsageError(
            f"--snapshot names a snapshot of {snapshot_pool}, --source-user-pool-id names {named_source}",
            hint="Give one of them, or make them agree.",
        )
    named = snapshot_pool or named_source
    if named:
        if named not in pools and not snapshot_pool:
            if named in listed:
                raise RepositoryNotFound(
                    no_backup(named, True),
                    hint=_pools_hint(pools) + "; a listing is used only when named: --snapshot ID (`snapshots`)",
                )
            raise RepositoryNotFound(
                f"The repository holds no snapshot of {named}",
                hint=_pools_hint(pools),
            )
        return SourceChoice(named, NAMED)
    if target and target in pools:
        return SourceChoice(target, TARGETS_OWN)
    if not pools:
        raise RepositoryNotFound("The repository holds no snapshot yet", hint="Run `cognito-backup backup` first.")
    if len(pools) == 1:
        only = next(iter(pools))
        if into_existing and target:
            raise UsageError(
                f"{no_backup(target, target in listed)}; the only pool backed up here is {only}",
                hint=f"To write {only}'s snapshot into {target}, say so: --source-user-pool-id {only}",
            )
        return SourceChoice(only, ONLY_POOL)
    whose = f"{no_backup(target, target in listed)}, and the" if target else "The"
    raise UsageError(
        f"{whose} repository holds several pools' snapshots: say which with --source-user-pool-id POOL",
        hint=_pools_hint(pools),
    )


def no_backup(pool: str, listed: bool) -> str:
    if listed:
        return f"{pool} has no backup in this repository, only a standby round's listing of it"
    return f"{pool} has no snapshot in this repository"


def _pools_hint(pools: Collection[str]) -> str:
    return "Pools backed up in this repository: " + (", ".join(sorted(pools)) or "none")
