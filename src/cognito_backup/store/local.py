"""Local directory backend: owner-only files, temp file -> fsync -> rename -> fsync of the directory."""

from __future__ import annotations

import contextlib
import errno
import os
import shutil
import tempfile
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import BinaryIO

from cognito_backup.errors import AccessDenied, CognitoBackupError, StoreUnavailable
from cognito_backup.store.base import ObjectInfo, ObjectNotFound

DIR_MODE = 0o700
FILE_MODE = 0o600


def make_private_dirs(path: Path) -> None:
    """mkdir -p where every level created is owner-only: mkdir(parents=True) would give the
    intermediate levels the umask's mode, and a repository or a report directory holds secrets."""
    missing = []
    probe = path
    while not probe.is_dir():
        missing.append(probe)
        probe = probe.parent
    for level in reversed(missing):
        level.mkdir(mode=DIR_MODE, exist_ok=True)
        os.chmod(level, DIR_MODE)  # mkdir's mode goes through the umask; this makes it exactly 0700
        # A new directory's entry lives in its parent: without this fsync a crash can lose the directory,
        # and with it objects whose own fsync already returned.
        _fsync_dir(level.parent)


def local_store_error(exc: OSError, what: str) -> CognitoBackupError:
    """What a failed disk operation means for the user (`what`: "Cannot write /path"). Pure."""
    reason = exc.strerror or str(exc)
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return StoreUnavailable(
            f"{what}: {reason}",
            hint="Free space on that filesystem (or raise the quota) and re-run: the partial file was removed "
            "and nothing already in the repository changed.",
        )
    if exc.errno in (errno.EACCES, errno.EPERM):
        return AccessDenied(f"{what}: {reason}", hint="The repository must be readable and writable by this user.")
    if exc.errno == errno.EROFS:
        return StoreUnavailable(f"{what}: {reason}", hint="The filesystem is mounted read-only.")
    return StoreUnavailable(f"{what}: {reason}")


def _fsync_dir(path: Path) -> None:
    """Make the directory's entries (a rename into it, a directory created in it) durable."""
    dir_fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)


class LocalStore:
    def __init__(self, root: Path | str) -> None:
        self.root = Path(root).expanduser().absolute()

    def describe(self) -> str:
        return str(self.root)

    def _path(self, key: str) -> Path:
        if key.startswith("/") or ".." in key.split("/"):
            raise ValueError(f"invalid key {key!r}")
        return self.root / key

    def _ensure_dir(self, path: Path) -> None:
        try:
            make_private_dirs(path)
        except OSError as exc:
            raise local_store_error(exc, f"Cannot create directory {path}") from exc

    def _atomic_write(self, key: str, writer: Callable[[BinaryIO], object], *, exclusive: bool = False) -> bool:
        """Write a complete temp file, then rename it over the key (or, `exclusive`, link it to the key,
        which fails when the key exists: False, nothing changed)."""
        target = self._path(key)
        self._ensure_dir(target.parent)
        # The temp file lives in the target's directory so the rename is atomic on one filesystem.
        try:
            fd, tmp_name = tempfile.mkstemp(prefix=".tmp-", dir=target.parent)
        except OSError as exc:
            raise local_store_error(exc, f"Cannot write in {target.parent}") from exc
        try:
            os.fchmod(fd, FILE_MODE)
            with os.fdopen(fd, "wb") as fh:
                writer(fh)
                fh.flush()
                os.fsync(fh.fileno())
            if exclusive:
                try:
                    os.link(tmp_name, target)
                except FileExistsError:
                    return False
                finally:
                    os.unlink(tmp_name)
            else:
                os.replace(tmp_name, target)
            _fsync_dir(target.parent)
            return True
        except OSError as exc:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise local_store_error(exc, f"Cannot write {target}") from exc
        except BaseException:
            with contextlib.suppress(OSError):
                os.unlink(tmp_name)
            raise

    def put_bytes(self, key: str, data: bytes) -> None:
        self._atomic_write(key, lambda fh: fh.write(data))

    def create_bytes(self, key: str, data: bytes) -> bool:
        return self._atomic_write(key, lambda fh: fh.write(data), exclusive=True)

    def put_file(self, key: str, path: Path) -> None:
        def copy(fh: BinaryIO) -> None:
            with open(path, "rb") as src:
                shutil.copyfileobj(src, fh, 1024 * 1024)

        self._atomic_write(key, copy)

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as fh:
            return fh.read()

    def open_read(self, key: str) -> BinaryIO:
        try:
            return open(self._path(key), "rb")
        except FileNotFoundError as exc:
            raise ObjectNotFound(key) from exc
        except OSError as exc:
            raise local_store_error(exc, f"Cannot read {self._path(key)}") from exc

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        base = self.root
        if not base.is_dir():
            return
        start = base / prefix.rsplit("/", 1)[0] if "/" in prefix else base
        if not start.is_dir():
            return
        found: list[ObjectInfo] = []

        def unreadable(exc: OSError) -> None:
            # os.walk skips a directory it cannot read unless told otherwise: a listing with holes
            # would let `check` and `prune` act on part of the repository.
            raise local_store_error(exc, f"Cannot list {exc.filename or start}") from exc

        for dirpath, _dirnames, filenames in os.walk(start, onerror=unreadable):
            for name in filenames:
                if name.startswith(".tmp-"):
                    continue  # an interrupted write: never visible as an object
                full = Path(dirpath) / name
                key = full.relative_to(base).as_posix()
                if not key.startswith(prefix):
                    continue
                try:
                    st = full.stat()
                except FileNotFoundError:
                    continue  # deleted while listing
                found.append(ObjectInfo(key=key, size=st.st_size, modified=st.st_mtime))
        # Lexicographic key order, as S3 lists (a repository holds objects, not users: this stays small).
        yield from sorted(found, key=lambda info: info.key)

    def delete(self, key: str) -> None:
        try:
            self._path(key).unlink()
        except FileNotFoundError:
            return
        except OSError as exc:
            raise local_store_error(exc, f"Cannot delete {self._path(key)}") from exc
