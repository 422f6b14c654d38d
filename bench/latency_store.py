"""A repository store that answers after a fixed latency per request, for the capture benchmark only.

The capture's journal writes go to S3 in a deployment: each segment is two PUTs (the records, then the
segment that names them), the caught-up marker one PUT, and a check for pending rescans one LIST. On a
local disk each takes a millisecond, which hides where the capture waits on them. This wrapper sleeps
`latency` seconds on the calling thread before each request (as a round trip holds only its own thread),
then hands it to the wrapped store; a listing pays once, when it starts.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cognito_backup.store.base import ObjectInfo, Store


class LatencyStore:
    def __init__(self, inner: Store, latency: float) -> None:
        self.inner = inner
        self.latency = latency
        self.requests = 0

    def _wait(self) -> None:
        self.requests += 1
        time.sleep(self.latency)

    def describe(self) -> str:
        return self.inner.describe()

    def put_bytes(self, key: str, data: bytes) -> None:
        self._wait()
        self.inner.put_bytes(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self._wait()
        self.inner.put_file(key, path)

    def create_bytes(self, key: str, data: bytes) -> bool:
        self._wait()
        return self.inner.create_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        self._wait()
        return self.inner.get_bytes(key)

    def open_read(self, key: str) -> BinaryIO:
        self._wait()
        return self.inner.open_read(key)

    def exists(self, key: str) -> bool:
        self._wait()
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._wait()
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._wait()
        self.inner.delete(key)
