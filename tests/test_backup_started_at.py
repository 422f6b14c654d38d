"""A snapshot's started_at is taken before its first read of the pool, so a change made while the
backup reads the configuration is after started_at and point-in-time restore folds its journal record."""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.local import LocalStore
from tests.helpers import make_pool


class TickingClock:
    """Each reading is one second after the previous one: the order of readings shows in the times."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)

    def __call__(self) -> dt.datetime:
        self.now += dt.timedelta(seconds=1)
        return self.now


def test_cli_backup_takes_started_at_before_reading_the_configuration(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    clock = TickingClock()
    repo = Repository(LocalStore(tmp_path / "repo"), clock=clock)
    first_read: list[str] = []

    def before_first_read(**_: Any) -> None:
        if not first_read:
            first_read.append(format_time(clock()))

    cognito.meta.events.register("before-send.cognito-idp.DescribeUserPool", before_first_read)
    try:
        result = run_backup(PoolReader(cognito, Pacer(sleep=lambda s: None), pool), repo, "us-east-1")
    finally:
        cognito.meta.events.unregister("before-send.cognito-idp.DescribeUserPool", before_first_read)
    assert first_read, "the backup never read the pool configuration"
    assert result.manifest.started_at < first_read[0]
