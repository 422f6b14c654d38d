"""Prune and backup at the same time: the repository's locks (docs/format.md "Locks") make it impossible
for prune's sweep to delete an object that a running backup has decided to reuse.

Objects are content-addressed: a backup does not store an object whose key exists. Here the objects of
a forgotten snapshot (kept by an earlier prune because they were young) are exactly what the next
backup of the unchanged pool produces, so the backup reuses them while prune wants them gone."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.retention import Policy
from cognito_backup.ops.backup import BackupResult, run_backup
from cognito_backup.ops.prune import prune
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.layout import LOCKS_PREFIX, OBJECTS_PREFIX
from cognito_backup.repo.repository import Repository
from cognito_backup.store.base import ObjectInfo
from cognito_backup.store.memory import MemoryStore
from tests.helpers import add_user, make_pool

WAIT = 20.0


class PausingStore:
    """A MemoryStore that stops, once, at a chosen call until the test lets it go (honest storage
    otherwise: the pause only widens a window that exists in real runs)."""

    def __init__(self) -> None:
        self.inner = MemoryStore()
        self.pause_on: str | None = None  # "exists-hit" (backup decided to reuse) or "delete" (sweep)
        self.paused = threading.Event()
        self.resume = threading.Event()

    def _maybe_pause(self, what: str, key: str) -> None:
        if self.pause_on == what and key.startswith(OBJECTS_PREFIX):
            self.pause_on = None
            self.paused.set()
            assert self.resume.wait(WAIT)

    def describe(self) -> str:
        return "pausing-memory:"

    def put_bytes(self, key: str, data: bytes) -> None:
        self.inner.put_bytes(key, data)

    def put_file(self, key: str, path: Path) -> None:
        self.inner.put_file(key, path)

    def create_bytes(self, key: str, data: bytes) -> bool:
        return self.inner.create_bytes(key, data)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def open_read(self, key: str) -> BinaryIO:
        return self.inner.open_read(key)

    def exists(self, key: str) -> bool:
        found = self.inner.exists(key)
        if found:
            self._maybe_pause("exists-hit", key)
        return found

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self._maybe_pause("delete", key)
        self.inner.delete(key)


def forgotten_snapshot(cognito: Any) -> tuple[str, Repository, PausingStore]:
    """A pool, and a repository holding only the objects of a forgotten backup of it."""
    pool = make_pool(cognito)
    for i in range(3):
        add_user(cognito, pool, f"user-{i}", {"email": f"u{i}@example.com"})
    store = PausingStore()
    repo = Repository(store)
    first = backup(cognito, pool, repo).manifest
    repo.delete_snapshot(first)
    time.sleep(0.01)  # the objects are older than anything the next backup starts
    return pool, repo, store


def backup(cognito: Any, pool: str, repo: Repository) -> BackupResult:
    return run_backup(PoolReader(cognito, Pacer(sleep=lambda s: None), pool, chains=1), repo, "us-east-1")


def in_thread(fn: Any) -> tuple[threading.Thread, dict[str, Any]]:
    out: dict[str, Any] = {}

    def run() -> None:
        try:
            out["result"] = fn()
        except BaseException as exc:  # reported by the test
            out["error"] = exc

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread, out


def assert_intact(repo: Repository) -> None:
    report = check_repository(repo, read_data=True)
    assert report.ok, report.summary()["problems"]
    for snap in repo.list_snapshots():
        repo.load_state(snap)  # every object readable


def test_prune_started_while_a_backup_reuses_objects_does_not_sweep_them(cognito: Any) -> None:
    pool, repo, store = forgotten_snapshot(cognito)
    store.pause_on = "exists-hit"
    thread, out = in_thread(lambda: backup(cognito, pool, repo))
    assert store.paused.wait(WAIT), "the backup never reused an object"

    # The backup has decided to reuse an object and not yet written its manifest: prune now.
    result = prune(repo, Policy(keep_last=5), grace_seconds=0)
    store.resume.set()
    thread.join(WAIT)
    assert "error" not in out, out
    assert result.removed_objects == []
    assert result.summary()["sweep_skipped_for"]  # says why nothing was swept
    assert_intact(repo)
    assert list(store.inner.list(LOCKS_PREFIX)) == []

    # Once the backup is done, the next prune sweeps (nothing here: every object is referenced again).
    assert prune(repo, Policy(keep_last=5), grace_seconds=0).summary()["sweep_skipped_for"] == []
    assert_intact(repo)


def test_backup_started_during_a_sweep_waits_for_it_and_stores_what_was_swept(cognito: Any) -> None:
    pool, repo, store = forgotten_snapshot(cognito)
    waited = threading.Event()
    prune_done = threading.Event()

    def lock_sleep(seconds: float) -> None:
        waited.set()
        assert prune_done.wait(WAIT)

    repo.lock_sleep = lock_sleep
    store.pause_on = "delete"
    pruning, pruned = in_thread(lambda: prune(repo, Policy(keep_last=5), grace_seconds=0))
    assert store.paused.wait(WAIT), "prune never swept"

    # prune holds its lock and is deleting the forgotten objects: a backup starts now.
    backing, backed = in_thread(lambda: backup(cognito, pool, repo))
    deadline = time.monotonic() + WAIT
    while not waited.is_set() and backing.is_alive() and time.monotonic() < deadline:
        time.sleep(0.01)
    store.resume.set()
    pruning.join(WAIT)
    prune_done.set()
    backing.join(WAIT)
    assert "error" not in pruned and "error" not in backed, (pruned, backed)
    assert waited.is_set(), "the backup did not wait for the running prune"
    assert pruned["result"].removed_objects  # the sweep did delete the forgotten objects ...
    assert_intact(repo)  # ... and the backup stored them again
    assert list(store.inner.list(LOCKS_PREFIX)) == []


def test_prune_cli_says_the_sweep_waited_for_a_backup_and_exits_1(tmp_path: Path) -> None:
    import datetime as dt
    import json

    from click.testing import CliRunner

    from cognito_backup.cli.main import cli
    from cognito_backup.store.local import LocalStore

    repo = Repository(LocalStore(tmp_path))
    repo.init_if_needed()
    repo.write_lock("20261130T120000Z-0123abcd", dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC), "backup")
    result = CliRunner().invoke(cli, ["prune", "--repo", str(tmp_path), "--keep-last", "1", "--json"])
    assert result.exit_code == 1, result.output  # not the whole job: nothing was swept
    assert json.loads(result.output)["sweep_skipped_for"] == ["backup 20261130T120000Z-0123abcd"]
    human = CliRunner().invoke(cli, ["prune", "--repo", str(tmp_path), "--keep-last", "1"])
    assert human.exit_code == 1
    assert "20261130T120000Z-0123abcd" in human.output and "run prune again" in human.output
    repo.remove_lock("20261130T120000Z-0123abcd")
    assert CliRunner().invoke(cli, ["prune", "--repo", str(tmp_path), "--keep-last", "1"]).exit_code == 0
