"""Ctrl-C / SIGTERM in the middle of a backup, seen by a script that reads `--json` (session 4 try-out).

The interrupt is injected below botocore (tests/http_faults.py), inside a ListUsers call, as a real one
lands; SIGTERM is the tool's own Terminated (a KeyboardInterrupt: the same clean-up path, exit 143)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.errors import Terminated
from tests.helpers import fill_pool, make_pool
from tests.http_faults import Fault, HttpFaults, every_new_client


@pytest.mark.parametrize(("signal_error", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_the_json_error_of_an_interrupted_backup_gives_the_resume_command(
    cognito: Any, tmp_path: Path, signal_error: type[KeyboardInterrupt], code: int
) -> None:
    """Before: the command that continues the backup went to stderr only; the JSON error's hint was null,
    so a scheduler reading stdout could not know to add --resume."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=200, n_groups=1)
    repo = str(tmp_path / "repo")

    def stop_on_third_page(operation: str, attempt: int) -> Fault | None:
        return Fault(0, exception=signal_error()) if operation == "ListUsers" and attempt == 3 else None

    with every_new_client(HttpFaults(stop_on_third_page)):
        result = CliRunner().invoke(
            cli,
            ["backup", "--user-pool-id", pool_id, "--repo", repo, "--list-chains", "1", "--json"],
        )
    assert result.exit_code == code, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "interrupted"
    assert f"cognito-backup backup --user-pool-id {pool_id} --repo {repo} --resume" in error["hint"]
