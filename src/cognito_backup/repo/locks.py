"""Repository locks: who may be about to reference stored objects, and whether prune may delete any.

Objects are content-addressed and a writer does not store an object whose key already exists
(repo/objects.py). So a backup can come to reference an object that is OLD, that no manifest refers to
yet, and that prune's sweep would otherwise delete. The protocol (docs/format.md, "Locks"):

- a SHARED lock is held by every writer that may reuse an object (backup, resumable backup, compact),
  from before its first object is stored until its manifest exists;
- the EXCLUSIVE lock is held by prune, from before it lists the snapshots until its sweep ends;
- acquiring = put one's own lock object under `locks/`, THEN list `locks/`. A shared locker that sees a
  live exclusive lock removes its own and waits; an exclusive locker that sees any other live lock
  removes its own and skips the sweep (prune never waits, so the two never wait on each other).

Why nothing is lost: puts and lists are strongly consistent (local files; S3 since December 2020). If
the sweep deletes object O at time d while a backup reuses O (its exists check at time r), then
either the backup's lock was put before prune listed the locks (prune saw it and did not sweep), or it
was put after, so the backup's own listing came after prune's lock was put: it saw that lock (and
waited until it was gone, i.e. after d, so its exists check found O missing and stored it again) or it
listed after the lock was released (after d: same). Locks are told apart from a crashed owner's by age:
the store's modification time of the lock object, renewed by rewriting it.
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cognito_backup.errors import RepositoryBusy
from cognito_backup.repo.layout import LOCKS_PREFIX, lock_key
from cognito_backup.store.base import ObjectNotFound, Store

SHARED = "shared"
EXCLUSIVE = "exclusive"
# A shared lock is never refreshed by a serverless backup between its steps: it stays live for as long
# as such a backup may still resume (the same age after which prune removes its checkpoint).
SHARED_STALE_SECONDS = 2 * 86400.0
# prune rewrites its lock at least this often while it sweeps ...
EXCLUSIVE_REFRESH_SECONDS = 60.0
# ... and a backup ignores a prune lock not rewritten for this long (its prune died). The margin over
# the refresh period absorbs a slow store call and clock skew between the host and the store.
EXCLUSIVE_STALE_SECONDS = 15 * 60.0
# How long a backup waits for a running prune before giving up (RepositoryBusy).
DEFAULT_WAIT_SECONDS = 30 * 60.0
_POLL_SECONDS = 5.0
# A backup that rewrote its lock this recently may still be running: a Lambda step lasts at most 15
# minutes and rewrites the lock when it starts; a CLI backup rewrites it with every checkpoint it saves.
RUNNING_SECONDS = 16 * 60.0


@dataclass(frozen=True)
class HeldLock:
    """A lock object as listed: its body and the store's time of its last write."""

    id: str
    mode: str
    purpose: str
    modified: float
    body: dict[str, Any]


def lock_body(lock_id: str, mode: str, purpose: str, started_at: str, now: float) -> dict[str, Any]:
    """Who holds the lock (for an operator deciding whether it is stale: never personal data)."""
    stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now))
    return {
        "id": lock_id,
        "mode": mode,
        "purpose": purpose,
        "started_at": started_at,
        "refreshed_at": stamp,
        "owner": {"host": socket.gethostname(), "pid": os.getpid()},
    }


def is_live(lock: HeldLock, now: float) -> bool:
    """Whether the lock's owner may still be running (pure)."""
    limit = EXCLUSIVE_STALE_SECONDS if lock.mode == EXCLUSIVE else SHARED_STALE_SECONDS
    return now - lock.modified < limit


def blockers(mode: str, own_id: str, locks: list[HeldLock], now: float) -> list[HeldLock]:
    """The live locks that keep `mode` from being held (pure): a shared lock is blocked by an exclusive
    one; the exclusive lock by any other."""
    return [
        lock
        for lock in locks
        if lock.id != own_id and is_live(lock, now) and (mode == EXCLUSIVE or lock.mode == EXCLUSIVE)
    ]


def may_be_running(lock: HeldLock, now: float, host: str, pid: int, alive: Callable[[int], bool]) -> bool:
    """Whether the backup holding `lock` may still be running (pure, but for `alive`): an owner on this
    host (`host`, this process `pid`) is running while its process is alive (this process is not: it
    asks); an owner elsewhere (a Lambda, another machine) while it rewrote the lock within
    RUNNING_SECONDS."""
    owner = lock.body.get("owner")
    if isinstance(owner, dict) and owner.get("host") == host and isinstance(owner.get("pid"), int):
        return owner["pid"] != pid and alive(owner["pid"])
    return now - lock.modified < RUNNING_SECONDS


def touch_shared(store: Store, lock_id: str, purpose: str, started_at: str, now: float) -> None:
    """Rewrite a shared lock this writer holds, so its age says it is still running (no wait: the lock
    is held already; acquire_shared took it)."""
    _put(store, lock_body(lock_id, SHARED, purpose, started_at, now))


def list_locks(store: Store) -> list[HeldLock]:
    found = []
    for info in store.list(LOCKS_PREFIX):
        try:
            body = json.loads(store.get_bytes(info.key))
        except (ObjectNotFound, ValueError):
            continue  # released meanwhile, or not ours to judge
        if not isinstance(body, dict):
            continue
        # Locks written before modes existed were all a backup's.
        found.append(
            HeldLock(
                id=str(body.get("id") or info.key[len(LOCKS_PREFIX) :].removesuffix(".json")),
                mode=EXCLUSIVE if body.get("mode") == EXCLUSIVE else SHARED,
                purpose=str(body.get("purpose") or "backup"),
                modified=info.modified,
                body=body,
            )
        )
    return found


def _put(store: Store, body: dict[str, Any]) -> None:
    store.put_bytes(lock_key(str(body["id"])), json.dumps(body, sort_keys=True).encode())


def acquire_shared(
    store: Store,
    lock_id: str,
    purpose: str,
    started_at: str,
    *,
    now: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    wait_seconds: float = DEFAULT_WAIT_SECONDS,
    fresh: bool = True,
) -> None:
    """Take a shared lock (`fresh`), or refresh one already held (a resumed backup step): returns once
    no live exclusive lock is listed AFTER ours was put. Waits for a running prune; RepositoryBusy after
    `wait_seconds`.

    A fresh lock is withdrawn while waiting (nothing is stored under it yet, and a process killed while
    waiting leaves no lock behind); a held one stays, since the objects its checkpoint refers to need it
    (a prune that is already sweeping ignores it, any later prune sees it)."""
    begin = now()
    while True:
        _put(store, lock_body(lock_id, SHARED, purpose, started_at, now()))
        blocking = blockers(SHARED, lock_id, list_locks(store), now())
        if not blocking:
            return
        if fresh:
            store.delete(lock_key(lock_id))
        if now() - begin >= wait_seconds:
            raise RepositoryBusy(
                f"{store.describe()} is being pruned ({', '.join(sorted(lock.id for lock in blocking))})",
                hint="Run again when prune has finished; a lock of a prune that died is ignored after "
                f"{EXCLUSIVE_STALE_SECONDS / 60:.0f} minutes.",
            )
        sleep(_POLL_SECONDS)


class ExclusiveLock:
    """prune's lock. `try_acquire` returns None when another live lock exists (nothing is then held)."""

    def __init__(self, store: Store, lock_id: str, purpose: str, now: Callable[[], float]) -> None:
        self.store = store
        self.id = lock_id
        self.purpose = purpose
        self.now = now
        self.started = now()
        self.refreshed = self.started
        self.blocked_by: list[HeldLock] = []

    @classmethod
    def try_acquire(
        cls, store: Store, purpose: str, now: Callable[[], float] = time.time
    ) -> tuple[ExclusiveLock | None, list[HeldLock]]:
        lock = cls(store, f"{purpose}-{secrets.token_hex(6)}", purpose, now)
        lock._write()
        blocking = blockers(EXCLUSIVE, lock.id, list_locks(store), now())
        if blocking:
            lock.release()
            return None, blocking
        return lock, []

    def _write(self) -> None:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.started))
        _put(self.store, lock_body(self.id, EXCLUSIVE, self.purpose, stamp, self.now()))
        self.refreshed = self.now()

    def keep(self) -> bool:
        """Call before each deletion: rewrites the lock when due. False when the lock may have been
        judged stale by others (this process stalled longer than the refresh margin): stop deleting."""
        elapsed = self.now() - self.refreshed
        if elapsed >= EXCLUSIVE_STALE_SECONDS - 2 * EXCLUSIVE_REFRESH_SECONDS:
            return False
        if elapsed >= EXCLUSIVE_REFRESH_SECONDS:
            self._write()
        return True

    def release(self) -> None:
        self.store.delete(lock_key(self.id))
