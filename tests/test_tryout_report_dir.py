"""A --report-dir that cannot be written (session 4 try-out). Before: the restore created the pool and
every user, then failed writing the sub map with an internal error (exit 70, a traceback): the sub map
was never written and the pool was left half-explained. Now refused before anything is written.

moto in-process. The directory is one under a file (NotADirectoryError), which even root cannot create."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import fill_pool, make_pool


def test_an_unwritable_report_dir_is_refused_before_the_restore_writes(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=3, n_groups=1)
    repo = str(tmp_path / "repo")
    assert CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo]).exit_code == 0
    (tmp_path / "a-file").write_text("x")
    pools_before = len(cognito.list_user_pools(MaxResults=60)["UserPools"])

    result = CliRunner().invoke(
        cli,
        [
            "restore",
            "--repo",
            repo,
            "--new-pool",
            "again",
            "--report-dir",
            str(tmp_path / "a-file" / "reports"),
            "--json",
        ],
    )
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and "--report-dir" in error["message"]
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == pools_before  # no pool created


def test_a_dry_run_needs_no_report_dir(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    repo = str(tmp_path / "repo")
    assert CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo]).exit_code == 0
    (tmp_path / "a-file").write_text("x")
    result = CliRunner().invoke(
        cli,
        [
            "restore",
            "--repo",
            repo,
            "--user-pool-id",
            pool,
            "--dry-run",
            "--report-dir",
            str(tmp_path / "a-file" / "r"),
        ],
    )
    assert result.exit_code == 0, result.output
