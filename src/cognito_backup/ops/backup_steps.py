"""The backup engine: one snapshot taken in steps, each bounded by a deadline, continued from a checkpoint.

The deployed stack runs one step per Lambda invocation (serverless/backup.py); the CLI runs one step
without a time limit that saves its checkpoint as it goes, so an interrupted CLI backup continues with
`backup --resume` (ops/backup.py). One engine, hence one behaviour and one speed for both.

The state between steps lives IN THE REPOSITORY (`checkpoints/<snapshot-id>.json`), not in the caller's
payload (Step Functions passes at most 256 KB; a pool can have 10,000 groups). A checkpoint records the
objects already stored, and for every paginated read the token of its next page.

Why no user is lost or written twice: a page's records and its cursor's next token are recorded together
(under one lock); a checkpoint is written only after every open object is finished and stored (one
atomic put, under the same lock). A page is therefore either in a stored object the checkpoint refers
to, or re-read by the next step. A step that fails before the put leaves the previous checkpoint as it
was. The lock written by the first step stays until the manifest exists, so `prune` never sweeps objects
only a checkpoint refers to.

Reads, all at once (a backup's time is bounded by the UserList quota, so nothing else may wait for it
or hold it back): the configuration and ListGroups (other quotas) on threads of their own; 16 ListUsers
chains (one per leading hex digit of `sub`) and the groups' ListUsersInGroup chains share one work queue
(reader._fan_in), a group's membership chain going ahead of user chains not started yet, so every
thread is busy until the last page. Stages: listing -> shard (past MERGE_FAN_IN sorted runs, merged
a segment at a time until that many remain; then users sorted into content-defined shards, a shard at
a time: repo/shards.py) -> commit (manifest, then checkpoint deleted).
"""

from __future__ import annotations

import contextlib
import json
import re
import threading
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field, replace
from typing import Any

from cognito_backup.aws.reader import PoolReader, _fan_in
from cognito_backup.errors import CognitoBackupError, RepositoryDamaged, RepositoryNotFound, UsageError
from cognito_backup.model import Group, Membership, PoolConfig, User
from cognito_backup.ops.backup_meta import BackupOptions, config_extra, snapshot_options
from cognito_backup.repo.layout import CHECKPOINTS_PREFIX, checkpoint_key, snapshot_key
from cognito_backup.repo.manifest import Manifest, ObjectRef
from cognito_backup.repo.repository import Repository, SnapshotWriter, format_time, parse_time
from cognito_backup.repo.shards import MERGE_FAN_IN, PendingMerge, Run
from cognito_backup.store.base import ObjectNotFound

# Format 3 adds the sort (`runs`, `shard_after`): a version before it would continue such a checkpoint
# without the users in its runs, so it must refuse it (a newer format is refused, with "upgrade").
# Format 4 bounds the merge: a run is a list of segments, and `merging` is an intermediate merge under
# way (repo/shards.py). Format 3's runs (one object each) are read as runs of one segment.
CHECKPOINT_FORMAT = 4
# Format 1 (sequential stages) is still read: its stages map onto the one listing stage.
# listing -> shard (the listed users, staged in sorted runs, cut into sorted shards: repo/shards.py) -> commit.
STAGES = ("config", "listing", "shard", "commit")
_FORMAT_1_STAGES = ("groups", "users", "memberships")
# Snapshot ids come back from outside (the state machine's payload): only well-formed ids become keys.
_SNAPSHOT_ID = re.compile(r"^\d{8}T\d{6}Z-[0-9a-f]{8}$")
# AdminGetUser calls in flight for --with-mfa-preferences (UserRead: 120/s, paced).
MFA_WORKERS = 16


@dataclass
class StepOptions(BackupOptions):
    # No new page starts with less time left than this: the pages in flight, the flush of the open
    # objects and the checkpoint write must all fit in it.
    safety_seconds: float = 60.0
    user_workers: int = 16
    membership_workers: int = 8
    # Save the checkpoint this often while listing (the CLI's step has no deadline: a process killed
    # between saves continues from the last one). None: only at the end of the step.
    checkpoint_seconds: float | None = None
    # A first step that fails or is interrupted saves its checkpoint too (the CLI: `backup --resume`
    # continues it). The Lambda's does not: the state machine never learns that snapshot's id.
    keep_failed_first_step: bool = False
    # Sorted runs the shard stage reads at once (repo/shards.py); tests make it tiny.
    merge_fan_in: int = MERGE_FAN_IN


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
    list_chains: int = 0
    # Objects (and their bytes) the committed snapshot references that an earlier one had stored.
    reused_objects: int = 0
    reused_bytes: int = 0

    def summary(self) -> dict[str, Any]:
        return {
            "done": self.done,
            "snapshot": self.snapshot_id,
            "stage": self.stage,
            "steps": self.steps,
            "users": self.users_so_far,
            "incomplete": self.incomplete,
            "reused_objects": self.reused_objects,
            "reused_bytes": self.reused_bytes,
        }


@dataclass
class StepHooks:
    """Progress callbacks of a step (the CLI renders them; the Lambda logs its result instead)."""

    stage: Callable[[str], None] = lambda name: None
    on_config: Callable[[PoolConfig], None] = lambda config: None
    # A checkpoint was saved: the snapshot id a later step (or `backup --resume`) continues.
    on_checkpoint: Callable[[str], None] = lambda snapshot_id: None


@dataclass
class Cursor:
    """One paginated read: the token of its next page (None = first page, unless done)."""

    token: str | None = None
    done: bool = False


@dataclass
class UserChain(Cursor):
    filter: str | None = None
    # Usernames of the last page: guards the page seam across steps (at most one page per chain is kept).
    seam: list[str] = field(default_factory=list)


@dataclass
class BackupCheckpoint:
    snapshot_id: str
    user_pool_id: str
    region: str | None
    started_at: str
    options: dict[str, Any]
    stage: str = "listing"
    steps: int = 0
    objects: list[ObjectRef] = field(default_factory=list)
    extra: dict[str, Any] = field(default_factory=dict)
    config_done: bool = False  # the config object is stored and `extra` describes it
    users: int = 0
    groups: list[str] = field(default_factory=list)  # in ListGroups order: memberships index into it
    groups_token: str | None = None
    groups_done: bool = False
    chains: list[UserChain] = field(default_factory=list)
    # Memberships: every group at an index in `memberships_open` still has pages to read (index -> token
    # of its next page; None = from its first page); the others are read. `memberships_next` is kept
    # for format 1 (groups from it on were not started) and is len(groups) from format 2 on.
    memberships_next: int = 0
    memberships_open: dict[int, str | None] = field(default_factory=dict)
    # The sort of the users (SnapshotWriter): staged runs, the intermediate merge under way, and the last
    # key already in a stored shard.
    runs: list[Run] = field(default_factory=list)
    merging: PendingMerge | None = None
    shard_after: str | None = None
    reused_objects: int = 0
    reused_bytes: int = 0

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
            "config_done": self.config_done,
            "users": self.users,
            "groups": self.groups,
            "groups_token": self.groups_token,
            "groups_done": self.groups_done,
            "chains": [{"filter": c.filter, "token": c.token, "done": c.done, "seam": c.seam} for c in self.chains],
            "memberships_next": self.memberships_next,
            "memberships_open": {str(i): t for i, t in sorted(self.memberships_open.items())},
            "runs": [[segment.to_record() for segment in run] for run in self.runs],
            "merging": None if self.merging is None else self.merging.to_record(),
            "shard_after": self.shard_after,
            "reused": {"objects": self.reused_objects, "bytes": self.reused_bytes},
        }
        return (json.dumps(body, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> BackupCheckpoint:
        try:
            body = json.loads(data.decode("utf-8"))
            if int(body["format"]) > CHECKPOINT_FORMAT:
                raise RepositoryDamaged(f"{where} uses checkpoint format {body['format']}; upgrade cognito-backup")
            stage = str(body["stage"])
            if stage not in STAGES + _FORMAT_1_STAGES:
                raise ValueError(f"unknown stage {stage!r}")
            state = cls(
                snapshot_id=str(body["snapshot_id"]),
                user_pool_id=str(body["user_pool_id"]),
                region=body.get("region"),
                started_at=str(body["started_at"]),
                options=dict(body.get("options", {})),
                stage="listing" if stage in _FORMAT_1_STAGES else stage,
                steps=int(body["steps"]),
                objects=[ObjectRef.from_record(o) for o in body["objects"]],
                extra=dict(body.get("extra", {})),
                # Format 1 stored the configuration in its first step, always.
                config_done=bool(body.get("config_done", True)),
                users=int(body.get("users", 0)),
                groups=[str(g) for g in body.get("groups", [])],
                groups_token=body.get("groups_token"),
                groups_done=bool(body.get("groups_done", stage not in ("config", "groups"))),
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
                runs=[_run(r) for r in body.get("runs", [])],
                merging=None if body.get("merging") is None else PendingMerge.from_record(body["merging"]),
                shard_after=body.get("shard_after"),
                reused_objects=int(dict(body.get("reused") or {}).get("objects", 0)),
                reused_bytes=int(dict(body.get("reused") or {}).get("bytes", 0)),
            )
        except RepositoryDamaged:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RepositoryDamaged(f"{where} is not a valid backup checkpoint ({type(exc).__name__})") from None
        # Format 1: groups from memberships_next on were not started.
        for index in range(state.memberships_next, len(state.groups)):
            state.memberships_open.setdefault(index, None)
        state.memberships_next = len(state.groups)
        return state


def _run(record: Any) -> Run:
    """A run as a checkpoint saved it: its segments (format 4), or format 3's one object."""
    if isinstance(record, dict):
        return [ObjectRef.from_record(record)]
    return [ObjectRef.from_record(segment) for segment in record]


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


def interrupted_snapshots(repo: Repository, user_pool_id: str) -> list[str]:
    """Ids of the snapshots of this pool that have a checkpoint and no manifest yet, oldest first (ids
    begin with their start time). A deployed backup still running has one too."""
    found = []
    for info in repo.store.list(CHECKPOINTS_PREFIX):
        snapshot_id = info.key[len(CHECKPOINTS_PREFIX) :].removesuffix(".json")
        if not _SNAPSHOT_ID.match(snapshot_id) or repo.store.exists(snapshot_key(snapshot_id)):
            continue
        try:
            state = load_checkpoint(repo, snapshot_id)
        except (RepositoryNotFound, RepositoryDamaged):
            continue  # removed meanwhile (committed), or unreadable: not one to continue
        if state.user_pool_id == user_pool_id:
            found.append(snapshot_id)
    return sorted(found)


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
    hooks: StepHooks | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> StepResult:
    """Take one bounded step of a snapshot. `checkpoint_id` None starts a new snapshot; otherwise the
    step continues the snapshot of that checkpoint. `deadline()` returns the seconds left; `clock`
    times the periodic checkpoints."""
    opts = options or StepOptions()
    calls = hooks or StepHooks()
    budget = _Budget(deadline, opts.safety_seconds)
    with ThreadPoolExecutor(max_workers=2, thread_name_prefix="cognito-config") as side:
        if checkpoint_id is None:
            # Taken before the first read: a change made while the configuration is read is after
            # started_at, so point-in-time restores from this snapshot fold its journal record.
            started = repo.clock()
            budget.start()
            probed = side.submit(reader.user_list_filters)  # the prefix-filter probe, meanwhile
            pool = reader.describe_pool()  # before anything is written: a wrong pool id fails here, cleanly
            writer = repo.begin_snapshot(
                reader.pool_id,
                region,
                options=snapshot_options(opts),
                max_records_per_object=opts.max_records_per_object,
                started_at=started,
                merge_fan_in=opts.merge_fan_in,
            )
            state = BackupCheckpoint(
                snapshot_id=writer.id,
                user_pool_id=reader.pool_id,
                region=region,
                started_at=format_time(started),
                options=snapshot_options(opts),
            )
            config_read: Future[PoolConfig] | None = side.submit(reader.read_config, pool)
            try:
                state.chains = [UserChain(filter=f) for f in probed.result()]
            except BaseException:
                writer.close()
                raise
            saved = False
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
                merge_fan_in=opts.merge_fan_in,
            )
            for ref in state.objects:
                writer.add_object(ref)
            writer.resume_shards(state.runs, state.shard_after, state.merging)
            writer.reused_objects, writer.reused_bytes = state.reused_objects, state.reused_bytes
            config_read = None if state.config_done else side.submit(reader.read_config)
            saved = True
        if config_read is not None:
            config_read.add_done_callback(lambda done: None if done.exception() else calls.on_config(done.result()))
        state.steps += 1
        listing = _Listing(reader, writer, state, budget, opts, calls, clock, saved)
        try:
            calls.stage("users")
            if state.stage == "listing":
                listing.run(config_read)
            elif config_read is not None:
                listing.store_config(config_read.result())
            if state.stage == "shard":
                calls.stage("sorting")
                # A merged segment or a shard at a time while the step's time lasts; the checkpoint
                # records where to go on.
                if writer.write_shards(budget.start):
                    state.stage = "commit"
        except BaseException as exc:
            keep = listing.saved or opts.keep_failed_first_step
            # A read failed (throttled too long, pool gone, ...) or the CLI was interrupted. Every page
            # recorded so far is complete, so keep that progress where a later step will continue it.
            # A Lambda's first step keeps nothing: its retry starts a new snapshot anyway. Any other
            # error (a bug, a store that fails) keeps the previous checkpoint as it was.
            torn = listing.torn or writer.torn
            if keep and isinstance(exc, CognitoBackupError | KeyboardInterrupt) and not torn:
                with contextlib.suppress(Exception):  # if even this fails, the previous checkpoint stays
                    listing.save()
            if listing.saved:
                writer.suspend()
            else:
                writer.close()
            raise
    if state.stage == "commit":
        calls.stage("manifest")
        return _commit(repo, writer, state, checkpointed=listing.saved)
    try:
        listing.save()
    except BaseException:
        if not listing.saved:  # no checkpoint refers to this snapshot: its lock would only hold prune back
            with contextlib.suppress(Exception):
                repo.remove_lock(state.snapshot_id)
        raise
    finally:
        writer.suspend()
    return StepResult(
        done=False,
        checkpoint_id=state.snapshot_id,
        manifest=None,
        users_so_far=state.users,
        snapshot_id=state.snapshot_id,
        stage=state.stage,
        steps=state.steps,
        list_chains=len(state.chains),
    )


def _commit(repo: Repository, writer: SnapshotWriter, state: BackupCheckpoint, *, checkpointed: bool) -> StepResult:
    try:
        manifest = writer.commit(extra={**state.extra, "list_chains": len(state.chains), "steps": state.steps})
    except BaseException:
        if checkpointed:  # the checkpoint's objects need the lock until a later step commits
            writer.suspend()
        else:  # nothing refers to this snapshot: its lock would only hold prune back
            writer.close()
        raise
    repo.store.delete(checkpoint_key(state.snapshot_id))  # absent when the CLI saved none: a no-op
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
        list_chains=int(manifest.extra.get("list_chains", 0)),
        reused_objects=int(manifest.extra.get("reused_objects", 0)),
        reused_bytes=int(manifest.extra.get("reused_bytes", 0)),
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


# ---- the listing ---------------------------------------------------------------------------------
@dataclass(frozen=True)
class _Members:
    """A listing task: one group's ListUsersInGroup chain, from the page of `token`."""

    index: int
    group: str
    token: str | None


@dataclass(frozen=True)
class _Page:
    """One page read by a listing task, with the token of the chain's next page (None: its last)."""

    task: UserChain | _Members
    items: list[Any]
    token: str | None


class _Listing:
    """Users, groups and memberships read together (see the module docstring). Every record and cursor
    change happens under `lock`, and a checkpoint is saved under it too, so a saved checkpoint never
    holds half a page."""

    def __init__(
        self,
        reader: PoolReader,
        writer: SnapshotWriter,
        state: BackupCheckpoint,
        budget: _Budget,
        opts: StepOptions,
        hooks: StepHooks,
        clock: Callable[[], float],
        saved: bool,
    ) -> None:
        self.reader = reader
        self.writer = writer
        self.state = state
        self.budget = budget
        self.opts = opts
        self.hooks = hooks
        self.clock = clock
        self.saved = saved  # a checkpoint of this snapshot exists in the repository
        self.lock = threading.Lock()
        # Set while a page is being recorded: an interrupt (KeyboardInterrupt lands anywhere in the main
        # thread) that leaves half a page recorded must not be saved; the previous checkpoint stands.
        self.torn = False
        self.last_save = clock()
        self.memberships = 0
        self.mfa = bool(state.options.get("with_mfa_preferences"))

    def run(self, config_read: Future[PoolConfig] | None) -> None:
        state = self.state
        if not state.chains:  # a format-1 checkpoint saved before its users stage
            state.chains = [UserChain(filter=f) for f in self.reader.user_list_filters()]
        chains = [c for c in state.chains if not c.done]
        # Membership chains first: resumed ones are the oldest work; user chains not started wait.
        tasks: list[UserChain | _Members] = [
            _Members(i, state.groups[i], t) for i, t in sorted(state.memberships_open.items())
        ]
        tasks += chains
        workers = min(len(chains), self.opts.user_workers) + self.opts.membership_workers
        late = None if state.groups_done else self._list_groups
        self.reader.progress.users(state.users)
        with ThreadPoolExecutor(max_workers=MFA_WORKERS, thread_name_prefix="cognito-mfa") as mfa_pool:

            def produce(task: UserChain | _Members, out: Callable[[Any], None]) -> None:
                if isinstance(task, UserChain):
                    self._list_users(task, out, mfa_pool)
                else:
                    self._list_members(task, out)

            pages = _fan_in(tasks, produce, workers, lambda n: None, late=late, capacity=2 * workers)
            # closing: whatever ends this loop (an error, an interrupt) stops every listing thread before
            # the step saves its checkpoint, so no thread records a page meanwhile.
            with contextlib.closing(pages):
                self._consume(pages, config_read)
        if config_read is not None and not self.state.config_done:
            self.store_config(config_read.result())
        self.reader.progress.users(state.users)
        self.reader.progress.memberships(self.memberships)
        if state.groups_done and all(c.done for c in state.chains) and not state.memberships_open:
            state.stage = "shard"

    def _consume(self, pages: Iterable[_Page], config_read: Future[PoolConfig] | None) -> None:
        for page in pages:
            with self.lock:
                self.torn = True
                self._record(page)
                self.torn = False
            if config_read is not None and config_read.done():
                self.store_config(config_read.result())  # raises a configuration that failed
                config_read = None
            if self.opts.checkpoint_seconds is not None and self.clock() - self.last_save >= (
                self.opts.checkpoint_seconds
            ):
                self.save()

    def store_config(self, config: PoolConfig) -> None:
        with self.lock:
            self.torn = True
            self.writer.add("config", config.to_record())
            self.state.extra = config_extra(config)
            self.state.config_done = True
            self.torn = False

    def save(self) -> None:
        """Store every open object, then the checkpoint that refers to them (one atomic put). Before the
        configuration is stored the checkpoint says so, and the step that continues it reads it again."""
        with self.lock:
            self.state.objects = self.writer.flush()
            self.state.runs = [list(run) for run in self.writer.runs]
            merging = self.writer.merging
            self.state.merging = None if merging is None else replace(merging, outputs=list(merging.outputs))
            self.state.shard_after = self.writer.shard_after
            self.state.reused_objects = self.writer.reused_objects
            self.state.reused_bytes = self.writer.reused_bytes
            save_checkpoint(self.writer.repo, self.state)
            self.writer.drop_retired()  # runs merged into others: no checkpoint refers to them any more
            # The lock's age tells `backup --resume` elsewhere that this backup is still running.
            self.writer.repo.touch_lock(self.state.snapshot_id, self.writer.started, "backup")
            self.saved = True
            self.last_save = self.clock()
        self.hooks.on_checkpoint(self.state.snapshot_id)

    # -- producers (listing threads): they read; only _record changes the state ---------------------
    def _list_users(self, chain: UserChain, out: Callable[[Any], None], mfa_pool: ThreadPoolExecutor) -> None:
        token = chain.token
        while self.budget.start():
            users, token = self.reader.list_users_page(chain.filter, token)
            if self.mfa:  # AdminGetUser per user: MAU-billed, hence opt-in
                users = list(mfa_pool.map(lambda u: replace(u, mfa=self.reader.mfa_preferences(u.username)), users))
            out(_Page(chain, users, token))
            if token is None:
                return

    def _list_members(self, task: _Members, out: Callable[[Any], None]) -> None:
        token = task.token
        while self.budget.start():
            members, token = self.reader.list_group_members_page(task.group, token)
            out(_Page(task, members, token))
            if token is None:
                return

    def _list_groups(self, add: Callable[[Any], None]) -> None:
        """ListGroups (its own quota) on the feeder thread: each group is recorded, then its membership
        chain queued, as its page arrives."""
        token = self.state.groups_token
        while self.budget.start():
            groups, token = self.reader.list_groups_page(token)
            with self.lock:
                self.torn = True
                first = self._record_groups(groups, token)
                self.torn = False
            for offset, group in enumerate(groups):
                add(_Members(first + offset, group.name, None))
            if token is None:
                return

    # -- recording (under the lock) -----------------------------------------------------------------
    def _record_groups(self, groups: list[Group], token: str | None) -> int:
        state = self.state
        first = len(state.groups)
        for group in groups:
            self.writer.add("groups", group.to_record())
            state.memberships_open[len(state.groups)] = None
            state.groups.append(group.name)
        state.memberships_next = len(state.groups)
        state.groups_token = token
        state.groups_done = token is None
        return first

    def _record(self, page: _Page) -> None:
        state = self.state
        task = page.task
        if isinstance(task, UserChain):
            seam = set(task.seam)
            users: list[User] = page.items
            for user in users:
                if user.username not in seam:
                    self.writer.add("users", user.to_record())
                    state.users += 1
            task.seam = [u.username for u in users]
            task.token = page.token
            task.done = page.token is None
            if users:
                self.reader.progress.users(state.users)
            return
        for username in page.items:
            self.writer.add("memberships", Membership(group=task.group, username=username).to_record())
        self.memberships += len(page.items)
        if page.token is None:
            del state.memberships_open[task.index]
        else:
            state.memberships_open[task.index] = page.token
