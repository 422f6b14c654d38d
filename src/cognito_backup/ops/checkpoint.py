"""The restore's local progress file: an append-only JSON-lines journal, fsynced line by line.

Most of a restore's progress needs no journal: a re-run re-reads the target and plans only what is
still missing. The journal keeps what the target cannot tell us afterwards:
- which users THIS restore created (so that a user created just before a crash still gets its password
  set on the re-run, while users that were already in the pool are never touched);
- which of those already got their password (and, in temporary-file mode, which temporary password);
- the id of a pool `--new-pool` created, so that a re-run restores into it instead of creating another.

Entries are keyed by a run key (target pool or new-pool name, plus snapshot id), so one file can serve
many restores. The file is owner-only (0600): in temporary-file mode it holds temporary passwords.
"""

from __future__ import annotations

import json
import os
import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cognito_backup.store.local import make_private_dirs

STATE_FILE = "restore-state.jsonl"


@dataclass
class CheckpointState:
    owned_users: set[str] = field(default_factory=set)
    passwords_done: set[str] = field(default_factory=set)
    temporary_passwords: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (username, password)
    pool_creating: str | None = None  # a --new-pool creation was started (name)
    pool_id: str | None = None
    client_id_map: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)


def secure_open(path: Path, flags: int) -> int:
    """Open (creating) a file readable and writable by its owner only."""
    make_private_dirs(path.parent)
    fd = os.open(path, flags | os.O_CREAT, 0o600)
    os.chmod(path, 0o600)  # also when it already existed with wider permissions
    return fd


def write_private(path: Path, data: bytes) -> None:
    """Atomically replace `path` with `data`, owner-only."""
    tmp = path.with_name(path.name + ".tmp")
    fd = secure_open(tmp, os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


class Checkpoint:
    def __init__(self, directory: Path | str, run_key: str) -> None:
        self.path = Path(directory) / STATE_FILE
        self.run_key = run_key
        self._lock = threading.Lock()
        self._fd: int | None = None

    def rekey(self, run_key: str) -> None:
        self.run_key = run_key

    def load(self, *keys: str) -> CheckpointState:
        """Everything recorded under this run key (and any extra keys, e.g. the new pool's id)."""
        wanted = {self.run_key, *keys}
        state = CheckpointState()
        if not self.path.exists():
            return state
        for line in self.path.read_text(encoding="utf-8").splitlines():
            try:
                entry = json.loads(line)
            except ValueError:
                continue  # a line torn by a crash mid-write: its operation is re-done (all are idempotent)
            if not isinstance(entry, dict) or entry.get("run") not in wanted:
                continue
            _fold(state, entry)
        return state

    def record(self, event: str, **fields: Any) -> None:
        line = json.dumps({"run": self.run_key, "event": event, **fields}, ensure_ascii=False) + "\n"
        with self._lock:
            if self._fd is None:
                self._fd = secure_open(self.path, os.O_WRONLY | os.O_APPEND)
            os.write(self._fd, line.encode("utf-8"))
            os.fsync(self._fd)

    def close(self) -> None:
        with self._lock:
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None


def _fold(state: CheckpointState, entry: dict[str, Any]) -> None:
    event = entry.get("event")
    user = str(entry.get("user", ""))
    if event == "create":
        state.owned_users.add(user)
    elif event == "password":
        state.passwords_done.add(user)
        if entry.get("temporary"):
            state.temporary_passwords[user] = (str(entry.get("username", user)), str(entry["temporary"]))
    elif event == "pool_creating":
        state.pool_creating = str(entry.get("name", ""))
    elif event == "pool_created":
        state.pool_id = str(entry["pool_id"])
        state.client_id_map = dict(entry.get("client_id_map", {}))
        state.warnings = list(entry.get("warnings", []))
