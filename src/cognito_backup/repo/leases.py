"""Leases: never two writers of one target at a time (a restore into one pool, or into one new pool's
name; the take-over of one interrupted backup). docs/format.md, "Leases".

A lease is a series of generations, `leases/<name>/<generation>.json`, the newest of which says who
holds the target. Taking it = creating the next generation with the store's conditional create
(`Store.create_bytes`: S3 `If-None-Match: *`, local link(2)): of two runs that read the same newest
generation, exactly one creates the next, the other is refused (RepositoryBusy, exit 13) naming it. A
generation is never created twice, so a released or dead holder is taken over without a delete that
could remove a newer holder's object.

The newest generation is free when it was released, or its holder died: on this host, its process is
gone (in this very process: it was released or lost); elsewhere (a Lambda, another machine), it was not
rewritten for RUNNING_SECONDS, the span after which a backup lock's owner counts as stopped too. The
holder rewrites it every HEARTBEAT_SECONDS while it runs. A holder that finds a newer generation was
taken over (it stalled past that span): it stops renewing, and `lost` says so.

Re-entry: the holder named in the newest generation may take it again as is (a deployed restore's next
Lambda step, named by its execution, continues the lease its previous step kept).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import secrets
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from cognito_backup.errors import OutOfTime, RepositoryBusy
from cognito_backup.repo.layout import LEASES_PREFIX
from cognito_backup.repo.locks import RUNNING_SECONDS, SHARED, HeldLock, may_be_running
from cognito_backup.repo.objects import pid_alive
from cognito_backup.store.base import ObjectNotFound, Store

HEARTBEAT_SECONDS = 60.0
_GENERATION = re.compile(r"^(\d{8})\.json$")
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@=+-]+")
# Leases held by this process now (name, generation): a record naming this host and pid is alive
# while it is listed here (another thread, a library caller), dead once released or abandoned.
_HELD: set[tuple[str, int]] = set()
_HELD_LOCK = threading.Lock()


def lease_prefix(name: str) -> str:
    """`name` parts separated by '/' (e.g. "restore/eu-west-1_AbC"); unsafe characters become `_`."""
    return LEASES_PREFIX + "/".join(_UNSAFE.sub("_", part) for part in name.split("/")) + "/"


def lease_key(name: str, generation: int) -> str:
    return f"{lease_prefix(name)}{generation:08d}.json"


@dataclass(frozen=True)
class LeaseRecord:
    """One generation as listed: its body and the store's time of its last write."""

    name: str
    generation: int
    modified: float
    body: dict[str, Any]

    @property
    def holder(self) -> str:
        return str(self.body.get("holder") or "")


@dataclass(frozen=True)
class Decision:
    """What an acquirer does (pure `decide`): "take" generation `generation` (create it), "reenter" the
    newest (ours already), or "busy" (`current` holds it)."""

    action: str
    generation: int
    current: LeaseRecord | None = None


def holder_alive(record: LeaseRecord, now: float, host: str, pid: int, alive: Callable[[int], bool]) -> bool:
    """Whether the holder of `record` may still be running (pure, but for `alive` and this process's
    register of held leases)."""
    if record.body.get("released"):
        return False
    owner = record.body.get("owner")
    if isinstance(owner, dict) and owner.get("host") == host and owner.get("pid") == pid:
        # This very process (a thread, a library caller, a warm Lambda container's earlier step).
        with _HELD_LOCK:
            held = (record.name, record.generation) in _HELD
        return held and now - record.modified < RUNNING_SECONDS
    lock = HeldLock(record.holder, SHARED, str(record.body.get("purpose") or ""), record.modified, record.body)
    return may_be_running(lock, now, host, pid, alive)


def decide(
    records: list[LeaseRecord], holder: str, now: float, host: str, pid: int, alive: Callable[[int], bool]
) -> Decision:
    """Take the next generation, re-enter ours, or refuse (pure, but for `holder_alive`)."""
    if not records:
        return Decision("take", 1)
    newest = max(records, key=lambda r: r.generation)
    if newest.holder == holder and not newest.body.get("released"):
        return Decision("reenter", newest.generation, newest)
    if holder_alive(newest, now, host, pid, alive):
        return Decision("busy", newest.generation, newest)
    return Decision("take", newest.generation + 1, newest)


def list_generations(store: Store, name: str) -> list[LeaseRecord]:
    found = []
    prefix = lease_prefix(name)
    for info in store.list(prefix):
        match = _GENERATION.match(info.key[len(prefix) :])
        if not match:
            continue
        try:
            body = json.loads(store.get_bytes(info.key))
        except (ObjectNotFound, ValueError):
            continue  # removed meanwhile, or not a lease: not ours to judge
        if isinstance(body, dict):
            found.append(LeaseRecord(name, int(match.group(1)), info.modified, body))
    return found


def refuse_if_held(
    store: Store,
    name: str,
    *,
    what: str,
    took_over: str = "",
    now: Callable[[], float] = time.time,
    alive: Callable[[int], bool] = pid_alive,
) -> None:
    """RepositoryBusy when someone may hold `name` now; takes nothing. For a caller that hands the work
    to another process (`restore --deployed` starts an execution whose first step takes the lease): a
    refusal here costs nothing, a refusal there fails the execution and mails the stack's topic."""
    decision = decide(list_generations(store, name), "", now(), socket.gethostname(), os.getpid(), alive)
    if decision.action == "busy" and decision.current is not None:
        raise busy_error(what, decision.current, now(), took_over)


# How to follow the run that holds a lease, by its purpose (the holder's, not the refused run's).
_FOLLOW = {
    "restore": "its terminal shows its progress; its report names what it did",
    "standby round": "a round ends within minutes; the next one starts from its cursor",
    "backup --resume": "it writes the snapshot; `cognito-backup snapshots` lists it when done",
}


def _follow(record: LeaseRecord, fallback: str) -> str:
    if record.body.get("purpose") == "deployed restore":
        execution = record.holder.removeprefix("execution:")
        return f"`cognito-backup restore --deployed STACK --status {execution}` follows it"
    return _FOLLOW.get(str(record.body.get("purpose")), fallback)


def busy_error(what: str, record: LeaseRecord, now: float, took_over: str) -> RepositoryBusy:
    """The refusal, naming the other run: who, where, since when, how to follow it (`took_over` when its
    purpose says nothing) and how to take over if it died."""
    follow = _follow(record, took_over)
    owner = record.body.get("owner")
    if not isinstance(owner, dict):
        owner = {}
    host, pid = owner.get("host", "an unknown host"), owner.get("pid", "?")
    free_at = time.strftime("%H:%M:%S UTC", time.gmtime(record.modified + RUNNING_SECONDS))
    return RepositoryBusy(
        f"{what} is held by another run: {record.body.get('purpose', 'a run')} {record.holder} on {host} "
        f"(pid {pid}), started {record.body.get('started_at', '?')}, last heartbeat "
        f"{max(0.0, now - record.modified):.0f} s ago. Nothing was written.",
        hint=f"Let it finish{f' ({follow})' if follow else ''}. If it has died: on host {host}, run this "
        f"again once its process is gone; from elsewhere, run it again after {free_at} "
        f"({RUNNING_SECONDS / 60:.0f} minutes after its last heartbeat), when it is taken over where it stopped.",
    )


class Lease:
    """A lease this run holds. `acquire` takes it (or raises RepositoryBusy); `heartbeat()` renews it
    on a thread while a block runs; `release()` frees it."""

    def __init__(self, store: Store, name: str, generation: int, body: dict[str, Any], now: Callable[[], float]):
        self.store = store
        self.name = name
        self.generation = generation
        self.body = body
        self.now = now
        self.lost = False

    @classmethod
    def acquire(
        cls,
        store: Store,
        name: str,
        *,
        what: str,
        purpose: str,
        holder: str | None = None,
        took_over: str = "",
        now: Callable[[], float] = time.time,
        alive: Callable[[int], bool] = pid_alive,
    ) -> Lease:
        """Take the lease `name` for `holder` (a fresh id when None). `what` names the target in the
        refusal, `took_over` says how to follow the other run."""
        holder = holder or f"{purpose.replace(' ', '-')}-{secrets.token_hex(6)}"
        host, pid = socket.gethostname(), os.getpid()
        decision = decide(list_generations(store, name), holder, now(), host, pid, alive)
        if decision.action == "busy" and decision.current is not None:
            raise busy_error(what, decision.current, now(), took_over)
        started = (
            str(decision.current.body.get("started_at"))
            if decision.action == "reenter" and decision.current is not None
            else time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now()))
        )
        body = {
            "format": 1,
            "kind": "lease",
            "name": name,
            "holder": holder,
            "purpose": purpose,
            "started_at": started,
            "owner": {"host": host, "pid": pid},
        }
        lease = cls(store, name, decision.generation, body, now)
        if decision.action == "reenter":
            lease._write()
        elif not store.create_bytes(lease.key, lease._encoded()):
            # Another run created this generation since we listed: it won the race, whatever it does
            # next. Named from its own record (gone already only if it was released at once).
            winner = [r for r in list_generations(store, name) if r.generation >= decision.generation]
            raise busy_error(
                what,
                min(winner, key=lambda r: r.generation) if winner else LeaseRecord(name, 0, now(), {}),
                now(),
                took_over,
            )
        lease._hold()
        lease._forget_older()
        return lease

    @property
    def key(self) -> str:
        return lease_key(self.name, self.generation)

    def _encoded(self) -> bytes:
        stamp = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(self.now()))
        return json.dumps({**self.body, "refreshed_at": stamp}, sort_keys=True).encode()

    def _write(self) -> None:
        self.store.put_bytes(self.key, self._encoded())

    def _hold(self) -> None:
        with _HELD_LOCK:
            _HELD.add((self.name, self.generation))

    def _unhold(self) -> None:
        with _HELD_LOCK:
            _HELD.discard((self.name, self.generation))

    def _forget_older(self) -> None:
        """Older generations say nothing the newest does not (best effort: prune removes leftovers)."""
        for record in list_generations(self.store, self.name):
            if record.generation < self.generation:
                with contextlib.suppress(Exception):
                    self.store.delete(lease_key(self.name, record.generation))

    def refresh(self) -> bool:
        """Rewrite the lease so others see this run alive; False (and `lost`) once a newer generation
        exists: another run took the target over, this one must stop writing."""
        if self.lost:
            return False
        if any(r.generation > self.generation for r in list_generations(self.store, self.name)):
            self.lost = True
            self._unhold()
            return False
        self._write()
        return True

    @contextlib.contextmanager
    def heartbeat(self, interval: float = HEARTBEAT_SECONDS) -> Iterator[Lease]:
        """Renew the lease every `interval` seconds while the block runs (a failed renewal is tried
        again at the next beat: the lease lasts RUNNING_SECONDS, many beats)."""
        stop = threading.Event()

        def beat() -> None:
            while not stop.wait(interval):
                with contextlib.suppress(Exception):
                    if not self.refresh():
                        return

        thread = threading.Thread(target=beat, name=f"lease-{self.name}", daemon=True)
        thread.start()
        try:
            yield self
        finally:
            stop.set()
            thread.join()

    def keep(self) -> None:
        """Leave the lease held as it is, for the next step of the same holder to re-enter (no heartbeat
        meanwhile: it lasts RUNNING_SECONDS from the last one)."""

    def release(self) -> None:
        """Free the target: the generation stays, marked released (generations only ever grow)."""
        self._unhold()
        if self.lost:
            return
        self.body = {**self.body, "released": True}
        self._write()

    def release_quietly(self) -> None:
        """release, on a way out that carries an error of its own (the lease expires if this fails)."""
        with contextlib.suppress(Exception):
            self.release()


@contextlib.contextmanager
def holding(
    store: Store,
    name: str,
    *,
    what: str,
    purpose: str,
    took_over: str = "",
    holder: str | None = None,
    heartbeat: float = HEARTBEAT_SECONDS,
) -> Iterator[Lease]:
    """Hold the lease `name` while the block runs: one writer per target (a restore, a standby round).

    The block asks `lease.lost` beside its own clock before each operation (a run that stalled past the
    lease's life and was taken over starts no more). On its way out the lease is released, except when
    the block ran out of time (OutOfTime) for a `holder` that continues in its next step (a deployed
    restore's execution re-enters it); a block stopped because the lease was lost raises RepositoryBusy."""
    lease = Lease.acquire(store, name, what=what, purpose=purpose, holder=holder, took_over=took_over)
    keep = False
    try:
        with lease.heartbeat(heartbeat):
            yield lease
    except OutOfTime:
        if lease.lost:
            raise RepositoryBusy(
                f"{what} was taken over by another run while this one did not renew its lease; this run "
                "stopped starting operations (those running finished). Its progress is kept.",
                hint="Let the run that took over finish; it continues from the same progress.",
            ) from None
        keep = holder is not None
        raise
    finally:
        if keep:
            lease.keep()
        elif sys.exc_info()[0] is None:
            lease.release()
        else:
            lease.release_quietly()
