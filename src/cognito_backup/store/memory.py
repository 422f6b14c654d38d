"""In-memory backend, for tests and for composing wrappers."""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from cognito_backup.store.base import ObjectInfo, ObjectNotFound


class MemoryStore:
    def __init__(self) -> None:
        self.objects: dict[str, tuple[bytes, float]] = {}
        self._lock = threading.Lock()

    def describe(self) -> str:
        return "memory:"

    def put_bytes(self, key: str, data: bytes) -> None:
        with self._lock:
            self.objects[key] = (bytes(data), time.time())

    def create_bytes(self, key: str, data: bytes) -> bool:
        with self._lock:
            if key in self.objects:
                return False
            self.objects[key] = (bytes(data), time.time())
            return True

    def put_file(self, key: str, path: Path) -> None:
        self.put_bytes(key, Path(path).read_bytes())

    def get_bytes(self, key: str) -> bytes:
        with self._lock:
            try:
                return self.objects[key][0]
            except KeyError as exc:
                raise ObjectNotFound(key) from exc

    def open_read(self, key: str) -> BinaryIO:
        return io.BytesIO(self.get_bytes(key))

    def exists(self, key: str) -> bool:
        with self._lock:
            return key in self.objects

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        with self._lock:
            items = sorted((k, v) for k, v in self.objects.items() if k.startswith(prefix))
        for key, (data, mtime) in items:
            yield ObjectInfo(key=key, size=len(data), modified=mtime)

    def delete(self, key: str) -> None:
        with self._lock:
            self.objects.pop(key, None)
