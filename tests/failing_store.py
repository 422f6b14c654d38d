"""A store wrapper that fails like a storage backend does, for the conformance and command tests.

`FailingStore(inner, fail_on={"put": 3})` makes the 3rd put (put_bytes or put_file) fail, and every
later one with `persistent=True`; families are put, get (get_bytes, open_read), list and delete.
`break_reads_after=N` makes every read stream raise after N bytes (a connection that drops mid-way).
The error raised is the one a real backend raises after its own translation (StoreUnavailable by
default), so the code above the store meets exactly what S3Store or LocalStore would give it.
"""

from __future__ import annotations

import io
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, BinaryIO, cast

from cognito_backup.errors import CognitoBackupError, StoreUnavailable
from cognito_backup.store.base import ObjectInfo, Store


def unavailable() -> CognitoBackupError:
    return StoreUnavailable("injected storage failure", hint="injected by test")


class _BreakingReader(io.RawIOBase):
    def __init__(self, inner: BinaryIO, after: int, error: Callable[[], Exception]) -> None:
        self._inner = inner
        self._left = after
        self._error = error

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if self._left <= 0:
            raise self._error()
        data = self._inner.read(min(len(buffer), self._left))
        if not data:
            return 0
        self._left -= len(data)
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._inner.close()
        super().close()


class FailingStore:
    def __init__(
        self,
        inner: Store,
        fail_on: dict[str, int] | None = None,
        *,
        persistent: bool = False,
        break_reads_after: int | None = None,
        error: Callable[[], Exception] = unavailable,
        keys: Callable[[str], bool] = lambda key: True,
    ) -> None:
        self.inner = inner
        self.fail_on = dict(fail_on or {})
        self.persistent = persistent
        self.break_reads_after = break_reads_after
        self.error = error
        self.keys = keys  # only calls on matching keys count and fail
        self.calls: Counter[str] = Counter()
        self.failed: Counter[str] = Counter()
        self._lock = threading.Lock()

    def _maybe_fail(self, family: str, key: str) -> None:
        if not self.keys(key):
            return
        with self._lock:
            self.calls[family] += 1
            nth = self.fail_on.get(family)
            hit = nth is not None and (self.calls[family] == nth or (self.persistent and self.calls[family] > nth))
            if hit:
                self.failed[family] += 1
        if hit:
            raise self.error()

    def describe(self) -> str:
        return self.inner.describe()

    def put_bytes(self, key: str, data: bytes) -> None:
        self._maybe_fail("put", key)
        self.inner.put_bytes(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self._maybe_fail("put", key)
        self.inner.put_file(key, path)

    def create_bytes(self, key: str, data: bytes) -> bool:
        self._maybe_fail("put", key)
        return self.inner.create_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as fh:
            return fh.read()

    def open_read(self, key: str) -> BinaryIO:
        self._maybe_fail("get", key)
        reader = self.inner.open_read(key)
        if self.break_reads_after is None or not self.keys(key):
            return reader
        return cast(BinaryIO, io.BufferedReader(_BreakingReader(reader, self.break_reads_after, self.error)))

    def exists(self, key: str) -> bool:
        self._maybe_fail("get", key)
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._maybe_fail("list", prefix)
        yield from self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._maybe_fail("delete", key)
        self.inner.delete(key)
