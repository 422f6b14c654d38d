"""Open, read and write a repository. Writes go objects first, manifest last (restic's order), so a
crash at any point leaves either a complete snapshot or none, never one pointing at missing data."""

from __future__ import annotations

import datetime as dt
import functools
import json
import secrets
import time
from collections.abc import Callable, Generator, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cognito_backup import __version__
from cognito_backup.errors import RepositoryDamaged, RepositoryNotFound, UsageError
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User
from cognito_backup.repo.layout import (
    CONFIG_KEY,
    FORMAT_NAME,
    FORMAT_VERSION,
    JOURNAL_PREFIX,
    RUNS_PREFIX,
    SNAPSHOTS_PREFIX,
    lock_key,
    run_key,
    snapshot_key,
)
from cognito_backup.repo.locks import DEFAULT_WAIT_SECONDS, acquire_shared, touch_shared
from cognito_backup.repo.manifest import Manifest, ObjectRef
from cognito_backup.repo.objects import ObjectWriter, iter_object, sweep_stale_staging
from cognito_backup.repo.shards import (
    MERGE_FAN_IN,
    MERGE_READ_BUFFER,
    RUN_ZSTD_LEVEL,
    SORT_FIELD,
    PendingMerge,
    Run,
    SortBuffer,
    cut_bits,
    cuts_after,
    merge_sorted,
    next_merge,
    run_records,
)
from cognito_backup.store.base import ObjectNotFound, Store

# Objects of one kind are split so that no single object grows without bound (restores and checks
# stream them; S3 uploads stay reasonable).
DEFAULT_MAX_RECORDS_PER_OBJECT = 100_000


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def format_time(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_time(value: str) -> dt.datetime:
    text = value.strip()
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.astimezone(dt.UTC)


def new_snapshot_id(started: dt.datetime) -> str:
    return f"{started.astimezone(dt.UTC):%Y%m%dT%H%M%SZ}-{secrets.token_hex(4)}"


class Repository:
    def __init__(
        self,
        store: Store,
        clock: Callable[[], dt.datetime] = utcnow,
        *,
        lock_now: Callable[[], float] = time.time,
        lock_sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.store = store
        self.clock = clock
        # Lock ages compare with the store's modification times: wall-clock seconds, not `clock`
        # (which tests and compaction may set to another time).
        self.lock_now = lock_now
        self.lock_sleep = lock_sleep
        self.lock_wait_seconds = DEFAULT_WAIT_SECONDS

    # ---- repository config -------------------------------------------------------------------
    def location_is_new(self) -> bool:
        """True when the location is empty (a repository would be created there), False when it holds
        a repository. Anything else is refused before anything is written: a mistyped --repo must not
        turn someone's home directory or another tool's bucket prefix into a repository."""
        if self.store.exists(CONFIG_KEY):
            try:
                self.read_config()
            except RepositoryNotFound as exc:  # another tool's config.json: refused as any other content
                raise UsageError(
                    f"{self.store.describe()} is not empty and is not a cognito-backup repository ({exc.message})",
                    hint="Give --repo a new or empty directory (or S3 prefix) to create a repository, or the "
                    "location of an existing one.",
                ) from None
            return False
        # The serverless capture and trigger functions journal changes from the moment they are deployed,
        # possibly before the first backup: a location holding only a journal is this tool's own.
        foreign = (info for info in self.store.list("") if not info.key.startswith(JOURNAL_PREFIX))
        if next(foreign, None) is not None:
            raise UsageError(
                f"{self.store.describe()} is not empty and is not a cognito-backup repository (no {CONFIG_KEY})",
                hint="Give --repo a new or empty directory (or S3 prefix) to create a repository, or the "
                "location of an existing one.",
            )
        return True

    def init_if_needed(self) -> bool:
        """Open the repository, creating it on an empty location. Returns True when it was created."""
        if not self.location_is_new():
            return False
        body = {"format": FORMAT_NAME, "version": FORMAT_VERSION, "created_at": format_time(self.clock())}
        self.store.put_bytes(CONFIG_KEY, (json.dumps(body, indent=2) + "\n").encode())
        return True

    def read_config(self) -> dict[str, Any]:
        try:
            data = self.store.get_bytes(CONFIG_KEY)
        except ObjectNotFound:
            raise RepositoryNotFound(
                f"No cognito-backup repository at {self.store.describe()}",
                hint="Check --repo; a repository is created by the first `cognito-backup backup`.",
            ) from None
        damaged = RepositoryDamaged(
            f"{self.store.describe()}/{CONFIG_KEY} is not a repository config",
            hint="If this is a repository, restore its config.json from a copy (or from another repository: "
            "it holds only the format and version); `cognito-backup check` then checks the rest.",
        )
        try:
            body = json.loads(data)
        except ValueError:
            raise damaged from None
        if isinstance(body, dict) and body.get("format") != FORMAT_NAME:
            # A whole JSON object that is not this tool's (a project's own config.json): not a repository,
            # rather than a damaged one (this tool's own, damaged, is cut short: not JSON).
            raise RepositoryNotFound(
                f"No cognito-backup repository at {self.store.describe()}: its {CONFIG_KEY} is another tool's",
                hint="Check --repo; a repository is created by the first `cognito-backup backup` in a new or "
                "empty directory (or S3 prefix).",
            )
        try:
            if not isinstance(body, dict):
                raise ValueError("not a cognito-backup repository config")
            version = int(body["version"])
        except (ValueError, KeyError, TypeError):
            raise damaged from None
        if version > FORMAT_VERSION:
            raise RepositoryDamaged(
                f"Repository format {version} is newer than this tool's ({FORMAT_VERSION})",
                hint="Upgrade cognito-backup.",
            )
        return dict(body)

    # ---- snapshots ---------------------------------------------------------------------------
    def scan_snapshots(self) -> SnapshotScan:
        """Every readable snapshot (oldest first) and every manifest that cannot be read. One damaged
        manifest must not hide the others: listing, restoring and checking go on around it."""
        self.read_config()
        scan = SnapshotScan()
        for info in self.store.list(SNAPSHOTS_PREFIX):
            if not info.key.endswith(".json"):
                continue
            try:
                scan.manifests.append(self.load_manifest_key(info.key))
            except RepositoryDamaged as exc:
                scan.damaged.append(DamagedManifest(info.key, exc.message))
        scan.manifests.sort(key=lambda m: (m.started_at, m.id))
        return scan

    def list_snapshots(self) -> list[Manifest]:
        """Every readable snapshot, oldest first. Damaged manifests are left out: callers that must
        not act without them (prune, check, `latest`) use scan_snapshots()."""
        return self.scan_snapshots().manifests

    def load_manifest_key(self, key: str) -> Manifest:
        try:
            data = self.store.get_bytes(key)
        except ObjectNotFound:
            raise RepositoryNotFound(f"Snapshot manifest {key} disappeared while reading") from None
        return Manifest.from_json(data, where=key)

    def resolve(
        self, snapshot: str | None = "latest", user_pool_id: str | None = None, *, scan: SnapshotScan | None = None
    ) -> Manifest:
        """`latest` (optionally of one pool), a full id, or a unique id prefix. `scan`: the manifests
        already read (every manifest is one GET on S3).

        `latest` is the newest BACKUP: a compacted state (ops/compact.py, written by `compact` and by
        standby rounds) is newer than the backup it was folded from, but it never listed the pool, and a
        standby writes one every few rounds; what "restore the latest" means to a user is the last backup.
        A compacted state is chosen by its id (and `--at` starts from one: ops/state_at.py)."""
        scan = scan or self.scan_snapshots()
        snaps = scan.manifests
        if user_pool_id and (snapshot in (None, "latest")):
            snaps = [s for s in snaps if s.user_pool_id == user_pool_id] or snaps
        if snapshot in (None, "", "latest"):
            compacted = [s for s in snaps if s.compacted]
            snaps = [s for s in snaps if not s.compacted]
            # A damaged manifest's pool and time are unknown, but its id starts with its start time:
            # if it may be newer than the newest readable one, `latest` is not known.
            newest = snaps[-1].id if snaps else ""
            newer = [d for d in scan.damaged if d.snapshot_id > newest]
            if newer:
                raise RepositoryDamaged(
                    f"The latest snapshot cannot be determined: manifest {newer[-1].key} is damaged "
                    f"({newer[-1].message})",
                    hint="Name a readable snapshot with --snapshot (`cognito-backup snapshots` lists them); "
                    "`cognito-backup check` reports the damage.",
                )
            if not snaps and compacted:
                of = f" of {user_pool_id}" if user_pool_id else ""
                raise RepositoryNotFound(
                    f"No backup{of} in {self.store.describe()} for `latest`: only compacted states (snapshot + "
                    f"journal, never a listing of the pool), the newest {compacted[-1].id}",
                    hint=f"Choose one by id (--snapshot {compacted[-1].id}), or take a backup first.",
                )
        if not snaps and not scan.damaged:
            raise RepositoryNotFound(f"The repository at {self.store.describe()} holds no snapshot yet")
        if snapshot is None or snapshot in ("", "latest"):
            return snaps[-1]
        ids = [s.id for s in snaps] + [d.snapshot_id for d in scan.damaged]
        matches = [i for i in ids if i == snapshot] or [i for i in ids if i.startswith(snapshot)]
        if not matches:
            raise RepositoryNotFound(
                f"No snapshot {snapshot!r} in {self.store.describe()}",
                hint="`cognito-backup snapshots --repo ...` lists them.",
            )
        if len(matches) > 1:
            raise UsageError(f"Snapshot prefix {snapshot!r} is ambiguous: {', '.join(matches)}")
        for damaged in scan.damaged:
            if damaged.snapshot_id == matches[0]:
                raise RepositoryDamaged(
                    f"Snapshot {damaged.snapshot_id} cannot be read: {damaged.message}",
                    hint="Restore another snapshot; `cognito-backup check` reports the damage.",
                )
        return next(s for s in snaps if s.id == matches[0])

    def delete_snapshot(self, manifest: Manifest) -> None:
        self.store.delete(snapshot_key(manifest.id))

    # ---- reading a snapshot --------------------------------------------------------------------
    def iter_records(self, manifest: Manifest, kind: str) -> Iterator[dict[str, Any]]:
        for ref in manifest.objects_of(kind):
            yield from iter_object(self.store, ref, where=f" of snapshot {manifest.id}")

    def load_config(self, manifest: Manifest) -> PoolConfig:
        records = list(self.iter_records(manifest, "config"))
        if len(records) != 1:
            raise RepositoryDamaged(f"Snapshot {manifest.id} holds {len(records)} config records, expected 1")
        return PoolConfig.from_record(records[0])

    def iter_users(self, manifest: Manifest) -> Iterator[User]:
        for rec in self.iter_records(manifest, "users"):
            yield User.from_record(rec)

    def iter_groups(self, manifest: Manifest) -> Iterator[Group]:
        for rec in self.iter_records(manifest, "groups"):
            yield Group.from_record(rec)

    def iter_memberships(self, manifest: Manifest) -> Iterator[Membership]:
        for rec in self.iter_records(manifest, "memberships"):
            yield Membership.from_record(rec)

    def load_state(self, manifest: Manifest) -> PoolState:
        """The whole snapshot, every object verified before anything is returned. Users and memberships
        are streamed into the state, which spills them to disk past a few thousand (flat memory)."""
        return PoolState.build(
            self.load_config(manifest),
            self.iter_groups(manifest),
            self.iter_users(manifest),
            self.iter_memberships(manifest),
        )

    # ---- writing a snapshot ---------------------------------------------------------------------
    def begin_snapshot(
        self,
        user_pool_id: str,
        region: str | None,
        options: dict[str, Any] | None = None,
        max_records_per_object: int = DEFAULT_MAX_RECORDS_PER_OBJECT,
        started_at: dt.datetime | None = None,
        snapshot_id: str | None = None,
        merge_fan_in: int = MERGE_FAN_IN,
    ) -> SnapshotWriter:
        self.init_if_needed()
        sweep_stale_staging()
        started = started_at or self.clock()
        return SnapshotWriter(
            self,
            snapshot_id or new_snapshot_id(started),
            user_pool_id,
            region,
            started,
            options or {},
            max_records_per_object,
            resuming=snapshot_id is not None,
            merge_fan_in=merge_fan_in,
        )

    # ---- locks (repo/locks.py: a writer that may reuse objects holds a shared lock, prune's sweep
    # the exclusive one) --------------------------------------------------------------------------
    def write_lock(self, lock_id: str, started: dt.datetime, purpose: str, *, fresh: bool = True) -> None:
        """Take (`fresh`) or refresh a shared lock; waits while a prune sweeps (RepositoryBusy if too long)."""
        acquire_shared(
            self.store,
            lock_id,
            purpose,
            format_time(started),
            now=self.lock_now,
            sleep=self.lock_sleep,
            wait_seconds=self.lock_wait_seconds,
            fresh=fresh,
        )

    def touch_lock(self, lock_id: str, started: dt.datetime, purpose: str) -> None:
        """Rewrite a shared lock held already (repo/locks.py `touch_shared`)."""
        touch_shared(self.store, lock_id, purpose, format_time(started), self.lock_now())

    def remove_lock(self, lock_id: str) -> None:
        self.store.delete(lock_key(lock_id))


@dataclass(frozen=True)
class DamagedManifest:
    key: str
    message: str

    @property
    def snapshot_id(self) -> str:
        """The id the manifest's key names (its content cannot be trusted)."""
        return self.key.rsplit("/", 1)[-1].removesuffix(".json")


@dataclass
class SnapshotScan:
    manifests: list[Manifest] = field(default_factory=list)
    damaged: list[DamagedManifest] = field(default_factory=list)


class SnapshotWriter:
    """Collects the objects of one snapshot; `commit()` writes the manifest, which makes it exist.

    Use as a context manager: leaving the block with an exception (or without commit) writes no
    manifest, so the partial snapshot never exists (its orphan objects are swept by `prune`).

    Users are not written in the order they are added: they are sorted by username into content-defined
    shards (repo/shards.py). `flush()` stages the users added since as a sorted run; `write_shards()`
    merges runs until at most `merge_fan_in` remain, then cuts shards from them, and may stop after any
    merged segment or shard (`runs`, `merging` and `shard_after` then say where to continue); `commit()`
    finishes the shards, writes the manifest, then deletes the runs.
    """

    def __init__(
        self,
        repo: Repository,
        snapshot_id: str,
        user_pool_id: str,
        region: str | None,
        started: dt.datetime,
        options: dict[str, Any],
        max_records_per_object: int,
        resuming: bool = False,
        merge_fan_in: int = MERGE_FAN_IN,
    ) -> None:
        self.repo = repo
        self.id = snapshot_id
        self.user_pool_id = user_pool_id
        self.region = region
        self.started = started
        self.options = options
        self.max_records = max_records_per_object
        self.objects: list[ObjectRef] = []
        self.counts: dict[str, int] = {}
        self._open: dict[str, ObjectWriter] = {}
        self.committed: Manifest | None = None
        # The sort of the users: the buffer of users added since the last run, the staged runs, and the
        # last key of the last shard written (None: no shard yet).
        self._buffer = SortBuffer()
        self.runs: list[Run] = []
        self.merge_fan_in = merge_fan_in
        self.merging: PendingMerge | None = None
        # Runs merged into others: deleted once a checkpoint no longer refers to them (drop_retired).
        self._retired: list[ObjectRef] = []
        self.shard_after: str | None = None
        self.shards_done = False
        self.torn = False
        # Objects this snapshot references that were stored already (by an earlier snapshot): what
        # sharing saved. A resumed writer starts from its checkpoint's figures.
        self.reused_objects = 0
        self.reused_bytes = 0
        # A resumed step refreshes the lock its first step took (and never withdraws it).
        repo.write_lock(self.id, started, "backup", fresh=not resuming)

    def __enter__(self) -> SnapshotWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def add(self, kind: str, record: dict[str, Any]) -> None:
        if kind == "users":
            self._buffer.add(str(record[SORT_FIELD]), record)
            if len(self._buffer) >= self.max_records:
                self._stage_run()
            return
        writer = self._open.get(kind)
        if writer is None:
            writer = self._open[kind] = ObjectWriter(self.repo.store, kind)
        writer.add(record)
        self.counts[kind] = self.counts.get(kind, 0) + 1
        if writer.records >= self.max_records:
            self._finished(writer.finish())
            del self._open[kind]

    def _finished(self, ref: ObjectRef, reused: bool = False) -> None:
        self.objects.append(ref)
        if reused:
            self.reused_objects += 1
            self.reused_bytes += ref.size

    def _finished_writer(self, writer: ObjectWriter, first: str | None = None, last: str | None = None) -> None:
        ref = writer.finish(first, last)
        self._finished(ref, writer.reused)

    def add_object(self, ref: ObjectRef) -> None:
        """Reference an object already stored (written by an earlier step of a resumable backup)."""
        self.objects.append(ref)
        self.counts[ref.kind] = self.counts.get(ref.kind, 0) + ref.records

    def resume_shards(self, runs: list[Run], shard_after: str | None, merging: PendingMerge | None = None) -> None:
        """Continue the sort an earlier step saved: its staged runs, the merge under way, the last key sharded."""
        self.runs = [list(run) for run in runs]
        self.merging = merging
        self.shard_after = shard_after

    def _stage_run(self) -> None:
        """Write the buffered users, sorted, as one run under runs/<snapshot-id>/ (never under objects/)."""
        if not len(self._buffer):
            return
        writer = self._run_writer()
        first = last = ""
        try:
            for record in self._buffer.sorted_records():
                last = str(record[SORT_FIELD])
                first = first or last
                writer.add(record)
        except BaseException:
            writer.discard()
            raise
        self.runs.append([writer.finish(first, last)])
        self._buffer.clear()

    def _run_writer(self) -> ObjectWriter:
        return ObjectWriter(self.repo.store, "users", key_of=lambda sha: run_key(self.id, sha), level=RUN_ZSTD_LEVEL)

    def _run_reader(self, run: Run, after: str | None) -> Generator[dict[str, Any]]:
        """A run's records, a segment open at a time, skipping the segments wholly at or before `after`."""
        for segment in run:
            if after is not None and segment.last is not None and segment.last <= after:
                continue
            yield from iter_object(
                self.repo.store,
                segment,
                " (a sort run)",
                key=run_key(self.id, segment.sha256),
                buffer=MERGE_READ_BUFFER,
            )

    def _merge_runs(self, more: Callable[[], bool]) -> bool:
        """Merge runs, a window at a time (repo/shards.next_merge), until at most `merge_fan_in` remain;
        asks `more()` before each segment. False when it stopped early (`merging` says where)."""
        if self.merging is None and len(self.runs) + bool(len(self._buffer)) > self.merge_fan_in:
            self._stage_run()  # the buffer would be one more source
        while True:
            if self.merging is None:
                window = next_merge([run_records(run) for run in self.runs], self.merge_fan_in)
                if window is None:
                    return True
                self.merging = PendingMerge(*window)
            merging = self.merging
            sources = [self._run_reader(run, merging.after) for run in self.runs[merging.start : merging.end]]
            try:
                done = _write_pieces(
                    merge_sorted(sources, merging.after),
                    more,
                    self._run_writer,
                    lambda key, records: records >= self.max_records,
                    functools.partial(_finish_segment, merging.outputs),
                )
            finally:
                for source in sources:
                    source.close()
            if not done:
                return False
            # The merged run takes its window's place: the runs keep their order.
            self.torn = True
            self._retired += [segment for run in self.runs[merging.start : merging.end] for segment in run]
            self.runs[merging.start : merging.end] = [merging.outputs]
            self.merging = None
            self.torn = False

    def drop_retired(self) -> None:
        """Delete the runs merged into others, once the checkpoint saved no longer refers to them (a
        merged segment may hold the same bytes as one of its inputs, hence the same key: kept)."""
        live = {segment.sha256 for run in self.runs for segment in run}
        live |= {segment.sha256 for segment in self.merging.outputs} if self.merging else set()
        for segment in self._retired:
            if segment.sha256 not in live:
                self.repo.store.delete(run_key(self.id, segment.sha256))
        self._retired = []

    def flush(self) -> list[ObjectRef]:
        """Finish every open object and stage the users added since as a sorted run; returns all object
        refs so far (a checkpoint keeps them, and `runs`)."""
        for kind in sorted(self._open):
            self._finished_writer(self._open[kind])
        self._open.clear()
        self._stage_run()
        return list(self.objects)

    def write_shards(self, more: Callable[[], bool] = lambda: True) -> bool:
        """Cut the sorted users into shards, asking `more()` before each shard; True once every user is
        in a shard. Stopping early stages what is buffered, so `runs` and `shard_after` are all a later
        step needs. The cut parameters depend on the number of users, so all are added before."""
        if self.shards_done:
            return True
        # A checkpoint an older version saved once it had started cutting shards from all its runs at once
        # goes on as it began: merging now would change the cut parameters (a merge drops keys read twice).
        if self.shard_after is None and not self._merge_runs(more):
            return False
        total = sum(run_records(run) for run in self.runs) + len(self._buffer)
        sources = [self._run_reader(run, self.shard_after) for run in self.runs]
        records = merge_sorted([*sources, self._buffer.sorted_records()], self.shard_after)
        bits = cut_bits(total)
        try:
            done = _write_pieces(
                records,
                more,
                lambda: ObjectWriter(self.repo.store, "users"),
                lambda key, records: cuts_after(key, records, bits, self.max_records),
                self._finish_shard,
            )
        finally:
            for source in sources:
                source.close()
        if not done:
            self._stage_run()
            return False
        self.shards_done = True
        self._buffer.clear()
        return True

    def _finish_shard(self, writer: ObjectWriter, first: str, last: str) -> None:
        # A shard among `objects` with `shard_after` not past it yet would be written twice by the step
        # that continues: an interrupt landing in between leaves `torn` set, and no checkpoint is saved.
        self.torn = True
        self._finished_writer(writer, first, last)
        self.counts["users"] = self.counts.get("users", 0) + writer.records
        self.shard_after = last
        self.torn = False

    def commit(self, extra: dict[str, Any] | None = None, finished_at: dt.datetime | None = None) -> Manifest:
        self.write_shards()
        self.flush()
        for kind in ("config", "groups", "users", "memberships"):
            self.counts.setdefault(kind, 0)
        users = [o for o in self.objects if o.kind == "users"]
        # Sorted when every users object is a shard (a checkpoint saved by an older version may hold
        # users objects in listing order: that snapshot stays in listing order, which any reader reads).
        sorted_by = {"users": SORT_FIELD} if all(o.ranged for o in users) else {}
        manifest = Manifest(
            id=self.id,
            user_pool_id=self.user_pool_id,
            region=self.region,
            started_at=format_time(self.started),
            finished_at=format_time(finished_at or self.repo.clock()),
            tool_version=__version__,
            objects=sorted(self.objects, key=lambda o: (o.kind, o.first or "", o.sha256)),
            counts=dict(sorted(self.counts.items())),
            options=self.options,
            extra={**(extra or {}), "reused_objects": self.reused_objects, "reused_bytes": self.reused_bytes},
            sorted_by=sorted_by,
        )
        self.repo.store.put_bytes(snapshot_key(self.id), manifest.to_json())
        self.committed = manifest
        self._delete_runs()
        return manifest

    def _delete_runs(self) -> None:
        """Staged runs belong to this snapshot alone: once its manifest exists (or it is given up with no
        checkpoint referring to them) nothing needs them. prune removes any a crash leaves (two days).
        All under the snapshot's prefix go: merged ones, and segments of a step that died, too."""
        for info in list(self.repo.store.list(f"{RUNS_PREFIX}{self.id}/")):
            self.repo.store.delete(info.key)
        self.runs, self.merging, self._retired = [], None, []

    def suspend(self) -> None:
        """End this writer WITHOUT removing the lock: a resumable backup continues in a later step, and
        the lock keeps prune from sweeping the objects its checkpoint already refers to. Open (unflushed)
        objects are discarded."""
        for writer in self._open.values():
            writer.discard()
        self._open.clear()
        self._buffer.clear()

    def close(self) -> None:
        """End this writer and give its lock up: after commit, or when no checkpoint refers to it."""
        for writer in self._open.values():
            writer.discard()
        self._open.clear()
        self._buffer.clear()
        self._delete_runs()
        self.repo.remove_lock(self.id)


def _finish_segment(outputs: Run, writer: ObjectWriter, first: str, last: str) -> None:
    outputs.append(writer.finish(first, last))


def _write_pieces(
    records: Iterable[dict[str, Any]],
    more: Callable[[], bool],
    new_writer: Callable[[], ObjectWriter],
    cuts: Callable[[str, int], bool],
    finish: Callable[[ObjectWriter, str, str], None],
) -> bool:
    """Write sorted `records` into consecutive objects (shards, or a merged run's segments): a new one
    from `new_writer()` once `more()` allows it, finished by `finish(writer, first key, last key)` when
    `cuts(key, records in it)` says so, and after the last record. False when `more()` refused: every
    object finished so far is stored, and the next starts after the last key of the last one."""
    writer: ObjectWriter | None = None
    first = last = ""
    try:
        for record in records:
            key = str(record[SORT_FIELD])
            if writer is None:
                if not more():
                    return False
                writer, first = new_writer(), key
            writer.add(record)
            last = key
            if cuts(key, writer.records):
                finish(writer, first, last)
                writer = None
        if writer is not None:
            finish(writer, first, last)
            writer = None
    finally:
        if writer is not None:
            writer.discard()
    return True
