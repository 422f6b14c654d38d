"""repo/locks.py: shared and exclusive repository locks, and how a dead owner's lock stops counting."""

from __future__ import annotations

import time

import pytest

from cognito_backup.errors import RepositoryBusy
from cognito_backup.repo.layout import lock_key
from cognito_backup.repo.locks import (
    EXCLUSIVE_REFRESH_SECONDS,
    EXCLUSIVE_STALE_SECONDS,
    SHARED_STALE_SECONDS,
    ExclusiveLock,
    acquire_shared,
    list_locks,
)
from cognito_backup.store.memory import MemoryStore


def age(store: MemoryStore, lock_id: str, seconds: float) -> None:
    """Make the lock object look last written `seconds` ago (the store's own stamp)."""
    key = lock_key(lock_id)
    data, _ = store.objects[key]
    store.objects[key] = (data, time.time() - seconds)


def test_a_live_prune_lock_makes_a_backup_wait_then_give_up() -> None:
    store = MemoryStore()
    prune, blocking = ExclusiveLock.try_acquire(store, "prune")
    assert prune is not None and blocking == []
    slept: list[float] = []
    clock = [time.time()]

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        clock[0] += seconds

    with pytest.raises(RepositoryBusy) as err:
        acquire_shared(
            store, "snap-1", "backup", "2026-11-30T12:00:00Z", now=lambda: clock[0], sleep=sleep, wait_seconds=12
        )
    assert err.value.exit_code == 13 and prune.id in err.value.message
    assert slept and [lock.id for lock in list_locks(store)] == [prune.id]  # its own lock is not left


def test_a_dead_prunes_lock_stops_counting_after_the_stale_timeout() -> None:
    store = MemoryStore()
    prune, _ = ExclusiveLock.try_acquire(store, "prune")
    assert prune is not None
    age(store, prune.id, EXCLUSIVE_STALE_SECONDS + 1)
    acquire_shared(store, "snap-1", "backup", "2026-11-30T12:00:00Z", sleep=lambda s: pytest.fail("waited"))
    body = next(lock.body for lock in list_locks(store) if lock.id == "snap-1")
    assert body["mode"] == "shared" and body["owner"]["pid"] and body["refreshed_at"]


def test_prune_takes_no_lock_while_a_backup_holds_one_until_that_one_is_stale() -> None:
    store = MemoryStore()
    acquire_shared(store, "snap-1", "backup", "2026-11-30T12:00:00Z")
    lock, blocking = ExclusiveLock.try_acquire(store, "prune")
    assert lock is None and [b.id for b in blocking] == ["snap-1"]
    assert [held.id for held in list_locks(store)] == ["snap-1"]  # prune removed its own attempt
    age(store, "snap-1", SHARED_STALE_SECONDS + 1)
    lock, blocking = ExclusiveLock.try_acquire(store, "prune")
    assert lock is not None and blocking == []


def test_prune_refreshes_its_lock_and_stops_when_it_stalled_too_long() -> None:
    store = MemoryStore()
    clock = [1000.0]
    lock, _ = ExclusiveLock.try_acquire(store, "prune", now=lambda: clock[0])
    assert lock is not None
    clock[0] += EXCLUSIVE_REFRESH_SECONDS + 1
    assert lock.keep() and lock.refreshed == clock[0]
    clock[0] += EXCLUSIVE_STALE_SECONDS  # a stall: others may have judged the lock stale meanwhile
    assert lock.keep() is False


def test_a_resumed_step_waiting_for_a_prune_keeps_the_lock_its_checkpoint_needs() -> None:
    store = MemoryStore()
    acquire_shared(store, "snap-1", "backup", "2026-11-30T12:00:00Z")  # the first step
    prune, _ = ExclusiveLock.try_acquire(store, "prune")
    assert prune is None
    # A prune that is already sweeping (it listed the locks before the first step's lock existed).
    store.put_bytes(lock_key("prune-abc"), b'{"id": "prune-abc", "mode": "exclusive", "purpose": "prune"}')
    clock = [time.time()]

    def sleep(seconds: float) -> None:
        assert "snap-1" in {lock.id for lock in list_locks(store)}  # never withdrawn while waiting
        clock[0] += seconds

    with pytest.raises(RepositoryBusy):
        acquire_shared(
            store,
            "snap-1",
            "backup",
            "2026-11-30T12:00:00Z",
            now=lambda: clock[0],
            sleep=sleep,
            wait_seconds=6,
            fresh=False,
        )
    assert "snap-1" in {lock.id for lock in list_locks(store)}
