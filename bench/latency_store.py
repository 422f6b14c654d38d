"""A repository store that answers after a fixed latency per request, for the capture benchmark only.

The capture's journal writes go to S3 in a deployment: each segment is two PUTs (the records, then the
segment that names them), the caught-up marker one PUT, and a check for pending rescans one LIST. On a
local disk each takes a millisecond, which hides where the capture waits on them. This wrapper sleeps
`latency` seconds on the calling thread before each request (as a round trip holds only its own thread),
then hands it to the wrapped store; a listing pays once, when it starts. Given a `trace` list, each
request appends (operation, monotonic start, monotonic end) to it: the deployed-capture benchmark's
per-invocation timeline.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO, TypeVar

from cognito_backup.store.base import ObjectInfo, Store

T = TypeVar("T")


class LatencyStore:
    def __init__(self, inner: Store, latency: float, trace: list[tuple[str, float, float]] | None = None) -> None:
        self.inner = inner
        self.latency = latency
        self.requests = 0
        self.trace = trace

    def _request(self, operation: str, call: Callable[[], T]) -> T:
        self.requests += 1
        began = time.monotonic()
        time.sleep(self.latency)
        try:
            return call()
        finally:
            if self.trace is not None:
                self.trace.append((operation, began, time.monotonic()))

    def describe(self) -> str:
        return self.inner.describe()

    def put_bytes(self, key: str, data: bytes) -> None:
        self._request("put_bytes", lambda: self.inner.put_bytes(key, data))

    def put_file(self, key: str, path: Path) -> None:
        self._request("put_file", lambda: self.inner.put_file(key, path))

    def create_bytes(self, key: str, data: bytes) -> bool:
        return self._request("create_bytes", lambda: self.inner.create_bytes(key, data))

    def get_bytes(self, key: str) -> bytes:
        return self._request("get_bytes", lambda: self.inner.get_bytes(key))

    def open_read(self, key: str) -> BinaryIO:
        return self._request("open_read", lambda: self.inner.open_read(key))

    def exists(self, key: str) -> bool:
        return self._request("exists", lambda: self.inner.exists(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self._request("list", lambda: self.inner.list(prefix))

    def delete(self, key: str) -> None:
        self._request("delete", lambda: self.inner.delete(key))
