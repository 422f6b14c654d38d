"""Resumable backup: one snapshot taken in bounded steps (one Lambda invocation each).

The state between steps lives IN THE REPOSITORY (`checkpoints/<snapshot-id>.json`), not in the caller's
payload (Step Functions passes at most 256 KB; a pool can have 10,000 groups). A checkpoint records the
stage, the objects already stored, and for every paginated read the token of its next page.

Why no user is lost or written twice: a page's records and its cursor's next token are recorded together
(under one lock); at the end of a step every open object is finished and stored, and only then is the
checkpoint overwritten (one atomic put). A page is therefore either in a stored object the checkpoint
refers to, or re-read by the next step. A step that fails before the put leaves the previous checkpoint
as it was. The lock written by the first step stays until the manifest exists, so `prune` never sweeps
objects only a checkpoint refers to.

Stages: config -> groups -> users (16 concurrent ListUsers chains, one per leading hex digit of `sub`)
-> memberships (ListUsersInGroup, several groups at a time) -> commit (manifest, then checkpoint deleted).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
from collections import deque
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import CognitoBackupError, RepositoryDamaged, RepositoryNotFound, UsageError
from cognito_backup.model import Membership
from cognito_backup.ops.backup import BackupOptions, config_extra, snapshot_options
from cognito_backup.repo.layout import checkpoint_key, snapshot_key
from cognito_backup.repo.manifest import Manifest, ObjectRef
from cognito_backup.repo.repository import Repository, SnapshotWriter, format_time, parse_time
from cognito_backup.store.base import ObjectNotFound

CHECKPOINT_FORMAT = 1
STAGES = ("config", "groups", "users", "memberships", "commit")
# Snapshot ids come back from outside (the state machine's payload): only well-formed ids become keys.
_SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")


@dataclass
class StepOptions(BackupOptions):
    # No new page starts with less time left than this: the pages in flight, the flush of the open
    # objects and the checkpoint write must all fit in it.
    safety_seconds: float = 60.0
    user_workers: int = 16
    membership_workers: int = 8


@dataclass
class StepResult:
    done: bool
    checkpoint_id: str | None  # the snapshot id while not done; None once the checkpoint is deleted
    manifest: Manifest | None
    users_so_far: int
    snapshot_id: str = ""
    stage: str = ""
    steps: int = 0
    # Sections the committed snapshot lacks, with the reason each (the manifest's incomplete marker).
    incomplete: dict[str, str] = field(default_factory=dict)

    def summary(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "snapshot": self.snapshot_id,
            "stage": self.stage,
            "steps": self.steps,
            "users": self.users_so_far,
            "incomplete": self.incomplete,
        }


@dataclass
class Cursor:
    """One paginated read: the token of its next page (None = first page, unless done)."""

    token: str | None = None
    done: bool = False


@dataclass
class UserChain(Cursor):
    filter: str | None = None
    # Usernames of the last page: guards the page seam across steps as PoolReader._user_chain does
    # within one run (at most one page per chain is kept).
    seam: list[str] = field(default_factory=list)


@dataclass
class BackupCheckpoint:
    snapshot_id: str
    user_pool_id: str
    region: str | None
    started_at: str
    options: dict[str, Any]
    stage: str = "config"
    steps: int = 0
    objects: list[ObjectRef] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    users: int = 0
    groups: list[str] = field(default_factory=list)  # in ListGroups order: memberships index into it
    groups_token: str | None = None
    chains: list[UserChain] = field(default_factory=list)
    # Memberships: groups below `memberships_next` are read, except those in `memberships_open`
    # (group index -> token of its next page; None = from its first page).
    memberships_next: int = 0
    memberships_open: dict[int, str | None] = field(default_factory=dict)

    def to_json(self) -> bytes:
        body = {
            "format": CHECKPOINT_FORMAT,
            "snapshot_id": self.snapshot_id,
            "user_pool_id": self.user_pool_id,
            "region": self.region,
            "started_at": self.started_at,
            "options": self.options,
            "stage": self.stage,
            "steps": self.steps,
            "objects": [o.to_record() for o in self.objects],
            "extra": self.extra,
            "users": self.users,
            "groups": self.groups,
            "groups_token": self.groups_token,
            "chains": [{"filter": c.filter, "token": c.token, "done": c.done, "seam": c.seam} for c in self.chains],
            "memberships_next": self.memberships_next,
            "memberships_open": {str(i): t for i, t in sorted(self.memberships_open.items())},
        }
        return (json.dumps(body, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> BackupCheckpoint:
        try:
            body = json.loads(data.decode("utf-8"))
            if int(body["format"]) > CHECKPOINT_FORMAT:
                raise RepositoryDamaged(f"{where} uses checkpoint format {body['format']}; upgrade cognito-backup")
            stage = str(body["stage"])
            if stage not in STAGES:
                raise ValueError(f"unknown stage {stage!r}")
            return cls(
                snapshot_id=str(body["snapshot_id"]),
                user_pool_id=str(body["user_pool_id"]),
                region=body.get("region"),
                started_at=str(body["started_at"]),
                options=dict(body.get("options", {})),
                stage=stage,
                steps=int(body["steps"]),
                objects=[ObjectRef.from_record(o) for o in body["objects"]],
                extra=dict(body.get("extra", {})),
                users=int(body.get("users", 0)),
                groups=[str(g) for g in body.get("groups", [])],
                groups_token=body.get("groups_token"),
                chains=[
                    UserChain(
                        filter=c.get("filter"),
                        token=c.get("token"),
                        done=bool(c.get("done")),
                        seam=[str(s) for s in c.get("seam", [])],
                    )
                    for c in body.get("chains", [])
                ],
                memberships_next=int(body.get("memberships_next", 0)),
                memberships_open={int(i): t for i, t in dict(body.get("memberships_open", {})).items()},
            )
        except RepositoryDamaged:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RepositoryDamaged(f"{where} is not a valid backup checkpoint ({type(exc).__name__})") from None


def load_checkpoint(repo: Repository, snapshot_id: str) -> BackupCheckpoint:
    key = checkpoint_key(_valid_id(snapshot_id))
    try:
        data = repo.store.get_bytes(key)
    except ObjectNotFound:
        raise RepositoryNotFound(
            f"No backup checkpoint {snapshot_id!r} in {repo.store.describe()}",
            hint="Start a new snapshot with an empty checkpoint.",
        ) from None
    return BackupCheckpoint.from_json(data, where=key)


def save_checkpoint(repo: Repository, state: BackupCheckpoint) -> None:
    repo.store.put_bytes(checkpoint_key(state.snapshot_id), state.to_json())


def _valid_id(snapshot_id: str) -> str:
    if not _SNAPSHOT_ID.match(snapshot_id):
        raise UsageError(f"{snapshot_id!r} is not a snapshot id")
    return snapshot_id


class _Budget:
    """Whether a new page may start. The first unit of work of a step always may, so every step makes
    progress even when called with almost no time left."""

    def __init__(self, seconds_left: Callable[[], float], margin: float) -> None:
        self._left = seconds_left
        self._margin = margin
        self._started = False
        self._lock = threading.Lock()
        self.exhausted = False

    def start(self) -> bool:
        with self._lock:
            if self.exhausted:
                return False
            if self._started and self._left() < self._margin:
                self.exhausted = True
                return False
            self._started = True
            return True


def run_backup_step(
    reader: PoolReader,
    repo: Repository,
    region: str | None,
    checkpoint_id: str | None,
    *,
    deadline: Callable[[], float],
    options: StepOptions | None = None,
) -> StepResult:
    """Take one bounded step of a snapshot. `checkpoint_id` None starts a new snapshot; otherwise the
    step continues the snapshot of that checkpoint. `deadline()` returns the seconds left."""
    opts = options or StepOptions()
    budget = _Budget(deadline, opts.safety_seconds)
    if checkpoint_id is None:
        started = repo.clock()
        budget.start()
        config = reader.read_config()  # before anything is written: a wrong pool id fails here, cleanly
        writer = repo.begin_snapshot(
            reader.pool_id,
            region,
            options=snapshot_options(opts),
            max_records_per_object=opts.max_records_per_object,
            started_at=started,
        )
        state = BackupCheckpoint(
            snapshot_id=writer.id,
            user_pool_id=reader.pool_id,
            region=region,
            started_at=format_time(started),
            options=snapshot_options(opts),
        )
        writer.add("config", config.to_record())
        state.extra = config_extra(config)
        state.stage = "groups"
        fresh = True
    else:
        done = _already_committed(repo, checkpoint_id)
        if done is not None:
            return done
        state = load_checkpoint(repo, checkpoint_id)
        if state.user_pool_id != reader.pool_id:
            raise UsageError(
                f"Checkpoint {checkpoint_id} belongs to user pool {state.user_pool_id}, not {reader.pool_id}"
            )
        writer = repo.begin_snapshot(
            state.user_pool_id,
            state.region,
            options=state.options,
            max_records_per_object=opts.max_records_per_object,
            started_at=parse_time(state.started_at),
            snapshot_id=state.snapshot_id,
        )
        for ref in state.objects:
            writer.add_object(ref)
        fresh = False
    state.steps += 1
    try:
        with_mfa = bool(state.options.get("with_mfa_preferences"))
        if state.stage == "groups":
            _read_groups(reader, writer, state, budget)
        if state.stage == "users":
            _read_users(reader, writer, state, budget, opts.user_workers, with_mfa)
        if state.stage == "memberships":
            _read_memberships(reader, writer, state, budget, opts.membership_workers)
    except CognitoBackupError:
        # A read failed (throttled too long, pool gone, ...). Every page recorded so far is complete, so
        # keep that progress: the retry continues from here instead of from the previous checkpoint.
        # A first step keeps nothing: its retry starts a new snapshot anyway.
        if fresh:
            writer.close()
        else:
            with contextlib.suppress(Exception):  # if even this fails, the previous checkpoint stays valid
                _save(repo, writer, state)
        raise
    except BaseException:
        if fresh:
            writer.close()
        else:
            writer.suspend()
        raise
    if state.stage == "commit":
        return _commit(repo, writer, state)
    try:
        _save(repo, writer, state)
    except BaseException:
        if fresh:  # no checkpoint refers to this snapshot: its lock would only hold prune back
            with contextlib.suppress(Exception):
                repo.remove_lock(state.snapshot_id)
        raise
    return StepResult(
        done=False,
        checkpoint_id=state.snapshot_id,
        manifest=None,
        users_so_far=state.users,
        snapshot_id=state.snapshot_id,
        stage=state.stage,
        steps=state.steps,
    )


def _save(repo: Repository, writer: SnapshotWriter, state: BackupCheckpoint) -> None:
    try:
        state.objects = writer.flush()
        save_checkpoint(repo, state)
    finally:
        writer.suspend()


def _commit(repo: Repository, writer: SnapshotWriter, state: BackupCheckpoint) -> StepResult:
    try:
        manifest = writer.commit(extra={**state.extra, "list_chains": len(state.chains), "steps": state.steps})
    except BaseException:
        writer.suspend()
        raise
    repo.store.delete(checkpoint_key(state.snapshot_id))
    writer.close()  # removes the lock: the manifest now protects the objects
    return _finished(manifest, state.steps)


def _finished(manifest: Manifest, steps: int) -> StepResult:
    return StepResult(
        done=True,
        checkpoint_id=None,
        manifest=manifest,
        users_so_far=manifest.counts.get("users", 0),
        snapshot_id=manifest.id,
        stage="commit",
        steps=steps,
        incomplete=manifest.incomplete,
    )


def _already_committed(repo: Repository, snapshot_id: str) -> StepResult | None:
    """A step whose reply was lost is re-run with the same checkpoint: if it had committed, say so again."""
    key = snapshot_key(_valid_id(snapshot_id))
    if not repo.store.exists(key):
        return None
    manifest = repo.load_manifest_key(key)
    repo.store.delete(checkpoint_key(snapshot_id))  # in case the commit stopped right after the manifest
    repo.remove_lock(snapshot_id)
    return _finished(manifest, int(manifest.extra.get("steps", 0)))


# ---- stages ------------------------------------------------------------------------------------------
def _read_groups(reader: PoolReader, writer: SnapshotWriter, state: BackupCheckpoint, budget: _Budget) -> None:
    while budget.start():
        groups, token = reader.list_groups_page(state.groups_token)
        for group in groups:
            writer.add("groups", group.to_record())
            state.groups.append(group.name)
        state.groups_token = token
        if token is None:
            state.stage = "users"
            return


def _read_users(
    reader: PoolReader,
    writer: SnapshotWriter,
    state: BackupCheckpoint,
    budget: _Budget,
    workers: int,
    with_mfa: bool,
) -> None:
    if not state.chains:
        state.chains = [UserChain(filter=f) for f in reader.user_list_filters()]
    lock = threading.Lock()
    stop = threading.Event()

    def run(chain: UserChain) -> None:
        while not chain.done and not stop.is_set() and budget.start():
            users, token = reader.list_users_page(chain.filter, chain.token)
            if with_mfa:  # AdminGetUser per user: MAU-billed, hence opt-in
                users = [replace(u, mfa=reader.mfa_preferences(u.username)) for u in users]
            seam = set(chain.seam)
            with lock:
                for user in users:
                    if user.username not in seam:
                        writer.add("users", user.to_record())
                        state.users += 1
                chain.seam = [u.username for u in users]
                chain.token = token
                chain.done = token is None

    _run_parallel([c for c in state.chains if not c.done], run, workers, stop)
    if all(c.done for c in state.chains):
        state.stage = "memberships"


def _read_memberships(
    reader: PoolReader, writer: SnapshotWriter, state: BackupCheckpoint, budget: _Budget, workers: int
) -> None:
    lock = threading.Lock()
    stop = threading.Event()
    resumed = deque(sorted(state.memberships_open.items()))

    def claim() -> tuple[int, str | None] | None:
        with lock:
            if resumed:
                return resumed.popleft()
            if state.memberships_next >= len(state.groups):
                return None
            index = state.memberships_next
            state.memberships_next += 1
            state.memberships_open[index] = None
            return index, None

    def run(_: int) -> None:
        while not stop.is_set() and budget.start():
            claimed = claim()
            if claimed is None:
                return
            index, token = claimed
            group = state.groups[index]
            while True:
                members, token = reader.list_group_members_page(group, token)
                with lock:
                    for username in members:
                        writer.add("memberships", Membership(group=group, username=username).to_record())
                    if token is None:
                        del state.memberships_open[index]
                    else:
                        state.memberships_open[index] = token
                if token is None or stop.is_set() or not budget.start():
                    break

    _run_parallel(list(range(max(1, workers))), run, workers, stop)
    if state.memberships_next >= len(state.groups) and not state.memberships_open:
        state.stage = "commit"


def _run_parallel(tasks: list[Any], fn: Callable[[Any], None], workers: int, stop: threading.Event) -> None:
    """Run `fn` on every task; the first error stops the others (after their current page) and is raised."""
    if not tasks:
        return
    error: BaseException | None = None
    with ThreadPoolExecutor(max_workers=max(1, min(workers, len(tasks))), thread_name_prefix="backup-step") as pool:
        futures = [pool.submit(fn, task) for task in tasks]
        for future in as_completed(futures):
            exc = future.exception()
            if exc is not None and error is None:
                error = exc
                stop.set()
    if error is not None:
        raise error
