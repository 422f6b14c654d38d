"""`restore --at T` / `diff --at T` with T before the pool's first snapshot names the earliest time the
repository can restore (session 7 try-out).

Seen: `restore --repo R --at 2026-11-01T00:00:00Z --user-pool-id P --dry-run` said "No snapshot of P
started before 2026-11-01T00:00:00Z" with the hint "run `cognito-backup backup` once to start from a
snapshot", though P had snapshots: on the day of the incident, a new backup cannot reach back, and the
operator needs to know how far back the repository goes. Now the message names the earliest snapshot and
its start, and the hint says to pick a time at or after it. moto in-process through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import make_pool
from tests.restore_support import backup


def test_a_time_before_the_first_snapshot_names_the_earliest(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito, "source")
    repo = tmp_path / "repo"
    backup(cognito, pool, repo)
    backup(cognito, pool, repo)
    first = min(Repository(LocalStore(str(repo))).list_snapshots(), key=lambda s: s.started_at)
    for command in ("restore", "diff"):
        args = [command, "--repo", str(repo), "--at", "2020-01-01T00:00:00Z", "--user-pool-id", pool, "--json"]
        result = CliRunner().invoke(cli, [*args, *(["--dry-run"] if command == "restore" else [])])
        assert result.exit_code == 7, result.output
        error = json.loads(result.stdout)["error"]
        assert first.id in error["message"] and first.started_at[:19] in error["message"]
        assert "run `cognito-backup backup` once" not in error["hint"]
