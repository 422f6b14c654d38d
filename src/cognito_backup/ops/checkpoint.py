"""The restore's resume state: what a re-run cannot learn from the target.

Most of a restore's progress needs no record: a re-run re-reads the target and plans only what is still
missing. What the target cannot tell afterwards is kept IN THE REPOSITORY, under
`restores/<target>@<source>/` (repo/layout.py, docs/format.md), so a re-run from another directory or
machine finds it:
- the users a run planned to create (one durable record before its first create call) and, as the calls
  answer, which creates created the user (with the sub and username Cognito answered: the sub map's rows,
  without reading the target back) and which found it already there (core/ownership.py decides from
  these whose password the restore may set);
- which users' passwords were set, and in which mode (never the password itself);
- for `--new-pool`: the restore id tagged on the pool it creates, and the pool's id once created.

The store only puts whole objects, so the state is a series of small immutable objects, one per flush
(every FLUSH_EVERY records or FLUSH_SECONDS, at once for the records a crash must not lose, and on the
way out); a re-run lists the folder and folds them in key order. Objects are gzip-compressed, and a
compaction stores per user facts in sorted columns (core/resume_format.py), so what a resume reads is
~20 bytes a user, not a record per user and event.

Temporary passwords (temporary-file mode) never go into the repository: they are kept in an owner-only
local journal in the report directory, next to the passwords CSV, until the run ends.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import secrets
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cognito_backup.core.ownership import ResumeFacts
from cognito_backup.core.resume_format import (
    CREATED,
    EXISTED,
    FORMAT,
    SUFFIX,
    Fact,
    decode,
    encode,
    facts_event,
    merge_facts,
    read_facts,
)
from cognito_backup.core.spill import SpillSet, UserTable
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.layout import restore_state_prefix
from cognito_backup.store.base import Store
from cognito_backup.store.local import make_private_dirs

LOCAL_PASSWORDS_FILE = "restore-passwords.jsonl"
FLUSH_EVERY = 1000
FLUSH_SECONDS = 5.0
# Users per "intent" record: each is stored as an object of its own, so no object (and no read of one)
# grows with the restore (flat memory; a 1M-user restore writes 100 of them).
INTENT_CHUNK = 10_000
COMPACT_OVER = 32  # objects of records (not a compaction's): a re-run that finds more folds them all
# Users per object a compaction writes (their facts: ~0.5 MB compressed, a few MB read at once).
FACTS_CHUNK = 20_000


@dataclass
class CheckpointState:
    # Per user, so in tables that move to disk (core/spill.py): a restore may create millions of users.
    intents: UserTable[str] = field(default_factory=UserTable)  # key -> ISO time before the planning read
    created: SpillSet[str] = field(default_factory=SpillSet)
    # key -> (new sub, username) of the users created, from AdminCreateUser's answer: the sub map's rows
    # for users created by earlier runs or steps, without reading the target back.
    subs: UserTable[tuple[str, str]] = field(default_factory=UserTable)
    existed: SpillSet[str] = field(default_factory=SpillSet)
    passwords_done: UserTable[str] = field(default_factory=UserTable)  # key -> password mode
    # The --password-mode of every run that planned creates: a run may die before any password record
    # is stored, and a re-run in another mode would give one restore's users passwords of two kinds.
    password_modes: set[str] = field(default_factory=set)
    # The last run ended with every operation done (`finished`); a later intent (a run that creates) unsets it.
    finished: bool = False
    # local: key -> (username, pw); a restore in temporary-file mode has one per user it created
    temporary_passwords: UserTable[tuple[str, str]] = field(default_factory=UserTable)
    restore_id: str | None = None  # tagged on the pool --new-pool creates
    pool_creating: str | None = None  # a --new-pool creation was started (name)
    pool_partial: str | None = None  # the pool exists, its configuration did not finish
    pool_id: str | None = None  # created and configured
    pool_tagged: bool = True  # False: created without the restore-id tag (its snapshot had 50 tags)
    client_id_map: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    def planned(self, key: str) -> bool:
        """Whether an earlier run planned to create (or created) this user."""
        return key in self.intents or key in self.created

    def facts(self) -> ResumeFacts:
        return ResumeFacts(
            intents=self.intents,
            created=self.created,
            existed=self.existed,
            passwords_done=self.passwords_done,
            local_temporary=self.temporary_passwords.keys(),
            modes=frozenset(self.password_modes),
            finished=self.finished,
        )


def secure_open(path: Path, flags: int) -> int:
    """Open (creating) a file readable and writable by its owner only."""
    make_private_dirs(path.parent)
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.chmod(path, 0o600)  # also when it already existed with wider permissions
    return fd


def write_private(path: Path, data: bytes | Iterable[bytes]) -> None:
    """Atomically replace `path` with `data` (or its pieces, written as they come), owner-only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = secure_open(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        for piece in [data] if isinstance(data, bytes) else data:
            view = memoryview(piece)
            while view:  # os.write may write less than asked
                view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


def _utc_now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class Checkpoint:
    """One run's view of a restore's resume state: `load()` folds what earlier runs stored, `record()`
    adds to it. Thread-safe (the scheduler's workers record)."""

    def __init__(
        self,
        store: Store,
        run_key: str,
        local_dir: Path | str | None = None,
        *,
        now: Callable[[], dt.datetime] = _utc_now,
        monotonic: Callable[[], float] = time.monotonic,
        flush_every: int = FLUSH_EVERY,
        flush_seconds: float = FLUSH_SECONDS,
        compact_over: int = COMPACT_OVER,
        password_mode: str | None = None,
    ) -> None:
        self.store = store
        self.password_mode = password_mode  # stored with the intent (None: a reader, or a replicate round)
        self.run_key = run_key
        self.prefix = restore_state_prefix(run_key)
        self.local_path = Path(local_dir) / LOCAL_PASSWORDS_FILE if local_dir is not None else None
        self.now = now
        self.monotonic = monotonic
        self.flush_every = flush_every
        self.flush_seconds = flush_seconds
        self.compact_over = compact_over
        # Object names sort by run generation, then sequence: folding in key order replays history. The
        # generation is one above the highest stored (set by load(), or at the first flush): clocks of the
        # machines a restore is resumed from need not agree, nor runs started within one second differ.
        self._run: str | None = None
        self._seq = 0
        self._pending: list[dict[str, Any]] = []
        self._last_flush = monotonic()
        self._lock = threading.Lock()
        self._fd: int | None = None
        self._loaded: list[str] = []  # the objects the last load() read
        self._records = 0  # of them, those not written by a compaction (what compact() would fold)

    def _next_run(self, keys: list[str]) -> str:
        """`<generation>-<start>-<random>`: the generation orders runs; start and random name them."""
        generations = [0]
        for key in keys:
            head = key[len(self.prefix) :].split("-", 1)[0]
            if head.isdigit():
                generations.append(int(head))
        return f"{max(generations) + 1:08d}-{self.now().strftime('%Y%m%dT%H%M%SZ')}-{secrets.token_hex(4)}"

    def _run_name(self) -> str:
        if self._run is None:  # recorded before any load(): look at what is stored now
            self._run = self._next_run([info.key for info in self.store.list(self.prefix)])
        return self._run

    def load(self) -> CheckpointState:
        """Everything earlier runs of this restore stored (repository) and kept (this machine)."""
        state = CheckpointState()
        self._loaded = []
        self._records = 0
        listed = sorted(self.store.list(self.prefix), key=lambda i: i.key)
        if self._run is None:
            self._run = self._next_run([info.key for info in listed])
        mine = f"{self.prefix}{self._run}-"  # this run's own objects: a compaction leaves them
        for info in listed:
            self._loaded.append(info.key)
            body = decode(self.store.get_bytes(info.key))
            if body is None or body.get("run") != self.run_key:
                self._records += 1  # not ours to judge (puts are atomic: no crash tears one); compacted away
                continue
            if not isinstance(body.get("format", 1), int) or body.get("format", 1) > FORMAT:
                raise RepositoryDamaged(
                    f"{info.key} uses resume state format {body.get('format')}; upgrade cognito-backup",
                    hint="Resume this restore with the cognito-backup version that stored it, or a newer one.",
                )
            if not body.get("compacted") and not info.key.startswith(mine):
                self._records += 1
            for event in body.get("events", []):
                if isinstance(event, dict):
                    _fold(state, event)
        if self.local_path is not None and self.local_path.exists():
            with self.local_path.open(encoding="utf-8") as lines:  # a line at a time: one per user
                for line in lines:
                    try:
                        entry = json.loads(line)
                    except ValueError:
                        continue  # a line torn by a crash mid-write: that user gets a new password
                    if isinstance(entry, dict) and entry.get("run") == self.run_key and entry.get("temporary"):
                        user = str(entry.get("user", ""))
                        login = (str(entry.get("username", user)), str(entry["temporary"]))
                        state.temporary_passwords.put(user, login)
        return state

    def compact(self, state: CheckpointState) -> None:
        """Fold the objects the last load() read into few (when they hold many runs' records): written
        first, then the old ones deleted, so a crash in between leaves both, which fold to the same state.
        A state already compacted (and little recorded since) is left as it is."""
        old = [key for key in self._loaded if not key.startswith(f"{self.prefix}{self._run_name()}-")]
        if self._records <= self.compact_over:
            return
        with self._lock:
            # Objects of bounded size (FACTS_CHUNK users), before what this run recorded so far. Each
            # folds over the old objects to the same state, so a crash part-way loses nothing.
            later, self._pending = self._pending, []
            for event in _compacted(state):
                if event["event"] == "facts" and self._pending:  # one chunk an object; the rest with the last
                    self._flush_locked(compacted=True)
                self._pending.append(event)
            self._pending.extend(later)  # this run's records so far: after the fold, in its last object
            self._flush_locked(compacted=True)
        for key in old:
            self.store.delete(key)
        self._loaded = []
        self._records = 0

    def record(self, event: str, *, durable: bool = False, **fields: Any) -> None:
        """Add a record; `durable` stores it (and all before it) before returning."""
        with self._lock:
            self._pending.append({"event": event, **fields})
            due = len(self._pending) >= self.flush_every or self.monotonic() - self._last_flush >= self.flush_seconds
            if durable or due:
                self._flush_locked()

    def record_created(self, key: str, sub: str, username: str) -> None:
        """A user this run created (or found and recognised as created by an earlier run), with the sub
        and username Cognito gave it: flushed with the other records (every FLUSH_EVERY or FLUSH_SECONDS),
        so a restore of any size writes them as it goes."""
        self.record("created", user=key, sub=sub, username=username)

    def intent_time(self) -> str:
        return self.now().isoformat()

    def record_intent(self, at: str, keys: Iterable[str]) -> int:
        """Store, before the first create call, the users this run will create (read as a stream), in
        records of INTENT_CHUNK users, each durable on its own. Returns how many."""
        chunk: list[str] = []
        count = 0
        if self.password_mode is not None:
            self.record("password_mode", mode=self.password_mode)  # made durable with the first intent
        for key in keys:
            chunk.append(key)
            count += 1
            if len(chunk) >= INTENT_CHUNK:
                self.record("intent", durable=True, at=at, users=chunk)
                chunk = []
        if chunk:
            self.record("intent", durable=True, at=at, users=chunk)
        return count

    def remember_temporary(self, key: str, username: str, password: str) -> None:
        """Keep a temporary password on this machine only (fsynced: the CSV is written at the end)."""
        if self.local_path is None:
            return
        line = json.dumps({"run": self.run_key, "user": key, "username": username, "temporary": password})
        with self._lock:
            if self._fd is None:
                self._fd = secure_open(self.local_path, os.O_WRONLY | os.O_APPEND)
            os.write(self._fd, (line + "\n").encode("utf-8"))
            os.fsync(self._fd)

    def flush(self) -> None:
        with self._lock:
            self._flush_locked()

    def _flush_locked(self, *, compacted: bool = False) -> None:
        self._last_flush = self.monotonic()
        if not self._pending:
            return
        self._seq += 1
        data = encode(self.run_key, self._pending, compacted=compacted)
        self.store.put_bytes(f"{self.prefix}{self._run_name()}-{self._seq:06d}{SUFFIX}", data)
        self._pending = []

    def clear(self) -> None:
        """Forget this resume state (its run finished whole: a standby round); what is pending too."""
        with self._lock:
            self._pending = []
        for info in list(self.store.list(self.prefix)):
            self.store.delete(info.key)
        self._loaded = []
        self._records = 0

    def close(self) -> None:
        """Store what is pending and release the local journal."""
        try:
            self.flush()
        finally:
            with self._lock:
                if self._fd is not None:
                    os.close(self._fd)
                    self._fd = None


def _compacted(state: CheckpointState) -> Iterator[dict[str, Any]]:
    """Records that fold back into `state` (repository part only: no temporary password), read as a
    stream: per user facts in `facts` records of FACTS_CHUNK users (in key order, merged from the
    tables' key order), then the run-wide records. A fact's intent time forgets nothing (format 1's
    `intended`): an "intent" record says the user was absent at that run's read, so it forgets what
    earlier runs knew of the user; folded after the objects a compaction replaces (it may stop part-way),
    that would forget the answers it copies."""
    facts = merge_facts(
        state.intents.items_by_key(),
        state.created.in_key_order(),
        state.existed.in_key_order(),
        state.subs.items_by_key(),
        state.passwords_done.items_by_key(),
    )
    while chunk := list(itertools.islice(facts, FACTS_CHUNK)):
        yield facts_event(chunk)
    yield from ({"event": "password_mode", "mode": mode} for mode in sorted(state.password_modes))
    if state.finished:
        yield {"event": "finished"}
    if state.pool_creating is not None:
        yield {"event": "pool_creating", "name": state.pool_creating, "restore_id": state.restore_id or ""}
    if state.pool_partial:
        yield {"event": "pool_partial", "pool_id": state.pool_partial}
    if state.pool_id:
        yield (
            {
                "event": "pool_created",
                "pool_id": state.pool_id,
                "tagged": state.pool_tagged,
                "client_id_map": state.client_id_map,
                "warnings": state.warnings,
            }
        )


def _fold_facts(state: CheckpointState, facts: list[Fact]) -> None:
    """The records the facts of distinct users stand for (intended, created with its answer or existed,
    password), a table at a time: each user's fact touches its own rows only, so the order is free."""
    created = [f.key for f in facts if f.outcome == CREATED]
    existed = [f.key for f in facts if f.outcome == EXISTED]
    state.intents.put_many((f.key, f.at) for f in facts if f.at is not None)
    state.created.add_many(created)
    state.existed.discard_many(created)
    state.subs.put_many((f.key, (f.sub, f.username or f.key)) for f in facts if f.outcome == CREATED and f.sub)
    state.existed.add_many(existed)
    state.created.discard_many(existed)
    state.subs.delete_many(existed)
    state.passwords_done.put_many((f.key, f.mode) for f in facts if f.mode is not None)
    state.password_modes.update(f.mode for f in facts if f.mode)


def _fold(state: CheckpointState, entry: dict[str, Any]) -> None:
    event = entry.get("event")
    user = str(entry.get("user", ""))
    if event == "facts":
        _fold_facts(state, list(read_facts(entry)))
    elif event == "intent":
        state.finished = False
        at = str(entry.get("at", ""))
        for key in map(str, entry.get("users", [])):
            # Absent at that run's read: whatever earlier runs knew of this user is history.
            state.intents.put(key, at)
            state.created.discard(key)
            state.existed.discard(key)
            state.passwords_done.delete(key)
            state.subs.delete(key)
    elif event == "intended":  # a compaction's copy of intent times: nothing else known is forgotten
        at = str(entry.get("at", ""))
        for key in map(str, entry.get("users", [])):
            state.intents.put(key, at)
    elif event == "created":
        state.created.add(user)
        state.existed.discard(user)
        if entry.get("sub"):
            state.subs.put(user, (str(entry["sub"]), str(entry.get("username") or user)))
    elif event == "existed":
        state.existed.add(user)
        state.created.discard(user)
        state.subs.delete(user)
    elif event == "password":
        state.passwords_done.put(user, str(entry.get("mode", "")))
        if entry.get("mode"):
            state.password_modes.add(str(entry["mode"]))
    elif event == "password_mode" and entry.get("mode"):
        state.password_modes.add(str(entry["mode"]))
    elif event == "finished":
        state.finished = True
    elif event == "pool_creating":
        state.pool_creating = str(entry.get("name", ""))
        state.restore_id = str(entry.get("restore_id", "")) or None
    elif event == "pool_partial":
        state.pool_partial = str(entry["pool_id"])
    elif event == "pool_created":
        state.pool_id = str(entry["pool_id"])
        state.pool_tagged = bool(entry.get("tagged", True))
        state.client_id_map = dict(entry.get("client_id_map", {}))
        state.warnings = list(entry.get("warnings", []))
