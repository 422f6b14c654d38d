"""The storage protocol every backend implements (conformance-tested in tests/test_store.py)."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO, Protocol


class ObjectNotFound(KeyError):
    """The key does not exist in the store."""


@dataclass(frozen=True, slots=True)
class ObjectInfo:
    key: str
    size: int
    modified: float  # POSIX seconds


class Store(Protocol):
    """Flat key -> bytes storage. Keys use '/' separators. Writes are atomic: a key is either absent or
    holds the complete bytes that were written (temp file + rename locally; single PUT/multipart on S3)."""

    def describe(self) -> str:
        """Where the store lives, for messages ('/path' or 's3://bucket/prefix')."""
        ...

    def put_bytes(self, key: str, data: bytes) -> None: ...

    def put_file(self, key: str, path: Path) -> None:
        """Store the content of a local file (streamed, not read into memory)."""
        ...

    def create_bytes(self, key: str, data: bytes) -> bool:
        """Store `data` under `key` only if no object has that key: True when this call created it, False
        when one existed. Of concurrent creates of one key exactly one returns True (local: link(2) of a
        complete temp file; S3: PutObject with `If-None-Match: *`). What leases are built on."""
        ...

    def get_bytes(self, key: str) -> bytes: ...

    def open_read(self, key: str) -> BinaryIO:
        """A streaming reader; the caller closes it."""
        ...

    def exists(self, key: str) -> bool: ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]: ...

    def delete(self, key: str) -> None:
        """Delete a key; deleting an absent key is not an error."""
        ...
