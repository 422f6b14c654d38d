"""Other restores into the same pool, from the resume state the repository keeps (restores/).

A restore into an existing pool that names no source takes the newest snapshot. After a stopped restore
and a newer backup (a schedule keeps taking them, of the damaged pool), "run the same command again"
would then restore that newer snapshot, find little to do and exit 0, leaving the stopped restore's
users missing or without a password. So such a run is refused while another source's restore into that
pool is unfinished; naming a snapshot (or a time) is obeyed."""

from __future__ import annotations

from collections.abc import Iterator

from cognito_backup.core.ownership import unfinished_users
from cognito_backup.core.resume_format import decode
from cognito_backup.errors import UsageError
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState
from cognito_backup.repo.layout import RESTORES_PREFIX, restore_state_prefix
from cognito_backup.store.base import Store

DEPLOYED_FOLDER = f"{RESTORES_PREFIX}deployed/"  # no run key is `deployed` (docs/format.md)


def restore_states(store: Store, prefix: str = RESTORES_PREFIX) -> Iterator[tuple[str, CheckpointState]]:
    """(run key `<target>@<source>`, what its state records) of each restore whose folder starts with
    `prefix`; standby rounds' states (`@replicate:`) and deployed runs' progress are not restores' states."""
    folders: dict[str, list[str]] = {}
    for info in store.list(prefix):
        slash = info.key.find("/", len(RESTORES_PREFIX))
        if slash > 0:
            folders.setdefault(info.key[: slash + 1], []).append(info.key)
    for folder in sorted(folders):
        if folder == DEPLOYED_FOLDER:
            continue  # deployed runs' progress and reports: their state is in its own folder
        run = _run_key(store, sorted(folders[folder]))
        if run is None or "@" not in run or "@replicate:" in run:
            continue
        yield run, Checkpoint(store, run).load()


def _run_key(store: Store, keys: list[str]) -> str | None:
    """The exact run key a folder's objects carry (the first readable one: the state is folded the same
    way, skipping what cannot be read)."""
    for key in keys:
        run = (decode(store.get_bytes(key)) or {}).get("run")
        if isinstance(run, str):
            return run
    return None


def unfinished(state: CheckpointState) -> int:
    """Users a restore's records leave unfinished (core/ownership.py), or 1 for a --new-pool restore that
    made (or began) its pool and stopped before planning any user: only its own source finishes it."""
    count = unfinished_users(state.facts())
    if count or state.finished or len(state.intents):
        return count
    return int(bool(state.pool_creating or state.pool_partial or state.pool_id))


def unfinished_elsewhere(store: Store, target_pool_id: str, run_key: str) -> list[tuple[str, int]]:
    """(source label, users not finished) of each restore into `target_pool_id` from another source."""
    found: list[tuple[str, int]] = []
    for run, state in restore_states(store, restore_state_prefix(f"{target_pool_id}@")[:-1]):
        if run == run_key or not run.startswith(f"{target_pool_id}@"):
            continue
        count = unfinished(state)
        if count:
            found.append((run.split("@", 1)[1], count))
    return found


def snapshots_in_use(store: Store) -> dict[str, list[str]]:
    """Snapshot id -> the targets of the unfinished restores that come from it (a point-in-time restore
    from its base snapshot): what prune must keep."""
    in_use: dict[str, list[str]] = {}
    for run, state in restore_states(store):
        if unfinished(state):
            target, source = run.split("@", 1)
            in_use.setdefault(source.partition("+journal@")[0], []).append(target.replace("new:", "new pool ", 1))
    return in_use


def unfinished_elsewhere_warnings(
    store: Store, target_pool_id: str, run_key: str, label: str, *, implicit: bool
) -> list[str]:
    """While another source's restore into the target is unfinished: refuse a restore of the implicit
    `latest` snapshot (UsageError), or return a warning for one that named its source (it is obeyed)."""
    stopped = unfinished_elsewhere(store, target_pool_id, run_key)
    if not stopped:
        return []
    source, count = stopped[-1]
    others = "".join(f", {s} ({n} users)" for s, n in stopped[:-1])
    what = (
        f"A restore into {target_pool_id} from {source} stopped before it finished ({count} users it planned "
        f"to create are not recorded as done{'; also from ' + others[2:] if others else ''})"
    )
    if implicit:
        raise UsageError(
            f"{what}; this run would restore {label}, the newest snapshot, instead and leave them so. Nothing "
            "was written.",
            hint=f"Finish that restore: the same command with {resume_flag(source)}. To restore the newest "
            f"snapshot all the same, name it: --snapshot {label}.",
        )
    return [
        f"{what[0].lower()}{what[1:]}: this run restores {label} and leaves them so; finish it with "
        f"{resume_flag(source)}"
    ]


def resume_flag(source: str) -> str:
    """The option that names a restore's source again: its snapshot id, or the --at time of its label
    (`<snapshot id>+journal@<time>`, ops/pitr.py)."""
    _, journal, at = source.partition("+journal@")
    return f"--at {at}" if journal else f"--snapshot {source}"
