"""Choosing what a restore or diff works towards reads each snapshot manifest once: on S3 every
manifest read is a GET, and a repository keeps hundreds of snapshots."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from pathlib import Path
from typing import Any

from cognito_backup.ops.pitr import select_desired
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.restore_support import backup, rich_pool


class CountingStore(LocalStore):
    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self.reads: Counter[str] = Counter()

    def get_bytes(self, key: str) -> bytes:
        self.reads[key] += 1
        return super().get_bytes(key)


def test_each_manifest_is_read_once_for_a_snapshot_and_for_a_point_in_time(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    backup(cognito, source, tmp_path / "repo")
    backup(cognito, source, tmp_path / "repo")
    for at in (None, dt.datetime.now(dt.UTC)):
        store = CountingStore(tmp_path / "repo")
        select_desired(Repository(store), at=at, target_pool_id=source, allow_after_coverage=True)
        manifests = {k: n for k, n in store.reads.items() if k.startswith("snapshots/")}
        assert len(manifests) == 2 and set(manifests.values()) == {1}, manifests


def test_the_after_coverage_message_never_names_one_second_twice() -> None:
    from cognito_backup.ops.pitr import after_coverage_message

    same = after_coverage_message("2026-11-30T17:58:52.900000Z", "2026-11-30T17:58:52.459787Z", "us-east-1_A")
    assert "17:58:52.900000Z" in same and "17:58:52.459787Z" in same
    apart = after_coverage_message("2026-11-30T17:59:10.000000Z", "2026-11-30T17:58:52.459787Z", "us-east-1_A")
    assert "--at 2026-11-30T17:59:10Z" in apart and "until 2026-11-30T17:58:52Z" in apart
