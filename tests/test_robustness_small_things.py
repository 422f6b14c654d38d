"""Small things that matter (issue #9, point 7): validation that survives `python -O`, pacer statistics
that stay exact under threads, repository directories that survive a crash."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.store.local import LocalStore

SRC = Path(__file__).resolve().parent.parent / "src" / "cognito_backup"


def test_no_assert_statement_in_the_package() -> None:
    # `python -O` strips assert statements: a check written as one silently vanishes.
    found = [
        f"{path.relative_to(SRC)}:{node.lineno}"
        for path in sorted(SRC.rglob("*.py"))
        for node in ast.walk(ast.parse(path.read_text(), str(path)))
        if isinstance(node, ast.Assert)
    ]
    assert found == []


def test_a_foreign_config_is_refused_under_python_dash_o(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text('{"format": "something-else", "version": 1}')
    code = (
        "import sys\n"
        "from cognito_backup.errors import RepositoryNotFound\n"
        "from cognito_backup.repo.repository import Repository\n"
        "from cognito_backup.store.local import LocalStore\n"
        "try:\n"
        f"    Repository(LocalStore({str(tmp_path)!r})).read_config()\n"
        "except RepositoryNotFound:\n"  # another tool's config: not a repository (tests/test_tryout_repo_input.py)
        "    sys.exit(7)\n"
    )
    proc = subprocess.run([sys.executable, "-O", "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 7, proc.stderr


def test_pacer_statistics_are_exact_under_threads() -> None:
    pacer = Pacer({"UserRead": 1e12}, sleep=lambda s: None)
    per_thread = 3000
    old = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # switch threads as often as possible: a lost update shows
    try:
        threads = [
            threading.Thread(target=lambda: [pacer.call("AdminGetUser", lambda: None) for _ in range(per_thread)])
            for _ in range(8)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        sys.setswitchinterval(old)
    stats = pacer.summary()["UserRead"]
    assert stats["calls"] == stats["succeeded"] == 8 * per_thread


def test_directories_created_for_a_repository_are_fsynced_with_their_parent(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    synced: list[Path] = []
    real_fsync = os.fsync

    def recording_fsync(fd: int) -> None:
        synced.append(Path(os.readlink(f"/proc/self/fd/{fd}")))
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", recording_fsync)  # observes the OS call; the store runs unchanged
    LocalStore(tmp_path / "repo").put_bytes("objects/ab/cd", b"data")
    # Each new directory's entry lives in its parent: every parent of a created level is fsynced.
    for parent in (tmp_path, tmp_path / "repo", tmp_path / "repo" / "objects"):
        assert parent in synced, f"{parent} not fsynced"
    assert tmp_path / "repo" / "objects" / "ab" in synced  # the rename of the object itself
