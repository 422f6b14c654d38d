"""Immutable objects: JSON Lines, zstd-compressed, named by the SHA-256 of their stored bytes.

Writing streams records through a compressor into a temp file (memory stays flat however many records
there are); the object is stored under its hash only when complete. Reading streams too, and verifies
the hash and record count at the end.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import os
import tempfile
from collections.abc import Callable, Generator
from pathlib import Path
from typing import IO, Any, cast

import zstandard

from cognito_backup.errors import RepositoryDamaged
from cognito_backup.model import canonical_json
from cognito_backup.repo.layout import object_key
from cognito_backup.repo.manifest import ObjectRef
from cognito_backup.store.base import ObjectNotFound, Store

ZSTD_LEVEL = 6


class _HashingFile(io.RawIOBase):
    """Write-through file wrapper that hashes and counts what reaches the disk."""

    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def writable(self) -> bool:
        return True

    def write(self, b: Any) -> int:
        data = bytes(b)
        self.raw.write(data)
        self.sha.update(data)
        self.size += len(data)
        return len(data)


STAGING_PREFIX = "cognito-backup-staging-"


def sweep_stale_staging(tmp_dir: str | None = None) -> int:
    """Remove staging files left by processes that no longer run (a SIGKILL cannot clean up after
    itself). They hold personal data, owner-only, and must not pile up in the temp directory."""
    directory = tmp_dir or tempfile.gettempdir()
    removed = 0
    try:
        names = os.listdir(directory)
    except OSError:
        return 0
    for name in names:
        if not name.startswith(STAGING_PREFIX):
            continue
        pid_text = name[len(STAGING_PREFIX) :].split("-", 1)[0]
        if not pid_text.isdigit() or pid_alive(int(pid_text)):
            continue
        with contextlib.suppress(OSError):
            os.unlink(os.path.join(directory, name))
            removed += 1
    return removed


def pid_alive(pid: int) -> bool:
    """Whether a process of this host with that id exists (signal 0 only asks)."""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # someone else's process: not ours to judge
    return True


class ObjectWriter:
    """Write one object of `kind`. Use `add()` per record, then `finish()` -> ObjectRef.

    `key_of` names the stored object from its digest (objects/ by default; a backup's staged sort runs
    live elsewhere); `level` is the zstd level (snapshot objects: ZSTD_LEVEL); `shared`: see finish()."""

    def __init__(
        self,
        store: Store,
        kind: str,
        tmp_dir: str | None = None,
        *,
        key_of: Callable[[str], str] = object_key,
        level: int = ZSTD_LEVEL,
        shared: bool = True,
    ) -> None:
        self.store = store
        # Whether another writer may have stored the same bytes (a snapshot's shards): finish() looks
        # first. A journal segment's bytes are new (its own observation times): no look, one round trip less.
        self.shared = shared
        self.kind = kind
        self.key_of = key_of
        # finish() found the object stored already (another snapshot's, the same bytes): nothing was written.
        self.reused = False
        fd, self._tmp_path = tempfile.mkstemp(prefix=f"{STAGING_PREFIX}{os.getpid()}-", suffix=".zst", dir=tmp_dir)
        os.fchmod(fd, 0o600)
        self._raw = os.fdopen(fd, "wb")
        self._hashing = _HashingFile(self._raw)
        self._zw = zstandard.ZstdCompressor(level=level).stream_writer(cast(IO[bytes], self._hashing), closefd=False)
        self.records = 0
        self._closed = False

    def add(self, record: Any) -> None:
        self._zw.write(canonical_json(record).encode("utf-8") + b"\n")
        self.records += 1

    def finish(self, first: str | None = None, last: str | None = None) -> ObjectRef:
        """Store the object (unless stored already) and return its ref; `first`/`last`: a shard's key range."""
        self._zw.flush(zstandard.FLUSH_FRAME)
        self._zw.close()  # type: ignore[no-untyped-call]
        self._raw.close()
        self._closed = True
        try:
            digest = self._hashing.sha.hexdigest()
            ref = ObjectRef(
                kind=self.kind, sha256=digest, size=self._hashing.size, records=self.records, first=first, last=last
            )
            key = self.key_of(digest)
            # Same name means same bytes: an object another backup already stored is not written again.
            self.reused = self.shared and self.store.exists(key)
            if not self.reused:
                self.store.put_file(key, Path(self._tmp_path))
            return ref
        finally:
            self.discard()

    def discard(self) -> None:
        if not self._closed:
            self._zw.close()  # type: ignore[no-untyped-call]
            self._raw.close()
            self._closed = True
        with contextlib.suppress(FileNotFoundError):
            os.unlink(self._tmp_path)


class _VerifyingReader(io.RawIOBase):
    def __init__(self, raw: IO[bytes]) -> None:
        self.raw = raw
        self.sha = hashlib.sha256()
        self.size = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self.raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.sha.update(data)
        self.size += n
        return n


def iter_object(
    store: Store, ref: ObjectRef, where: str = "", *, key: str | None = None, buffer: int = 1024 * 1024
) -> Generator[dict[str, Any]]:
    """Yield the records of an object, then verify its size, hash and record count. `key`: where it is
    stored when not under objects/ (a staged sort run); `buffer`: read size (a merge opens many at once).

    A damaged object raises RepositoryDamaged naming the object (after yielding what decoded, so callers
    that must not act on partial data load fully before acting).
    """
    key = key or object_key(ref.sha256)
    label = f"object {ref.sha256[:12]} ({ref.kind}){where}"
    try:
        raw = store.open_read(key)
    except ObjectNotFound:
        raise RepositoryDamaged(f"{label} is missing from the repository") from None
    count = 0
    verifier = _VerifyingReader(raw)
    try:
        reader = zstandard.ZstdDecompressor().stream_reader(cast(IO[bytes], verifier), read_across_frames=True)
        text = io.TextIOWrapper(io.BufferedReader(reader, buffer), encoding="utf-8")
        try:
            for line in text:
                if not line.strip():
                    continue
                yield json.loads(line)
                count += 1
        except (zstandard.ZstdError, UnicodeDecodeError, json.JSONDecodeError, OSError) as exc:
            raise RepositoryDamaged(f"{label} cannot be decoded ({type(exc).__name__})") from None
        # Drain anything the decoder did not need so the hash covers every stored byte.
        while verifier.read(buffer):
            pass
    finally:
        raw.close()
    if verifier.size != ref.size:
        raise RepositoryDamaged(f"{label} is truncated or padded: {verifier.size} bytes, expected {ref.size}")
    if verifier.sha.hexdigest() != ref.sha256:
        raise RepositoryDamaged(f"{label} was altered: its SHA-256 does not match its name")
    if count != ref.records:
        raise RepositoryDamaged(f"{label} holds {count} records, the manifest says {ref.records}")
