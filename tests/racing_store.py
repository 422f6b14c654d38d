"""A test double of the repository's store for races between two writers of one target: passed
through, except that each lease create (repo/leases.py) waits until `parties` runs are about to create,
so all of them decided on the same lease state first (a real race, not a matter of timing)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from typing import Any

from cognito_backup.repo.layout import LEASES_PREFIX
from cognito_backup.store.base import ObjectInfo, Store


class RacingStore:
    def __init__(self, inner: Store, parties: int = 2, timeout: float = 120.0) -> None:
        self.inner = inner
        self.barrier = threading.Barrier(parties, timeout=timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def create_bytes(self, key: str, data: bytes) -> bool:
        if key.startswith(LEASES_PREFIX):
            self.barrier.wait()
        return self.inner.create_bytes(key, data)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def give_up(self) -> None:
        """A run failed before the race: the others must not wait for it."""
        self.barrier.abort()


def race(store: RacingStore, runs: list[Any]) -> tuple[list[Any], list[BaseException]]:
    """Run each of `runs` on its own thread: what they returned, and what they raised."""
    done: list[Any] = []
    failed: list[BaseException] = []

    def run(fn: Any) -> None:
        try:
            done.append(fn())
        except BaseException as exc:  # reported to the test
            failed.append(exc)
            store.give_up()

    threads = [threading.Thread(target=run, args=(fn,)) for fn in runs]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    return done, failed
