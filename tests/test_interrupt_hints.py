"""Ctrl-C / SIGTERM in the middle of a restore or a migration: 130 / 143, with the way to go on in the hint
(also in the --json error, where a script reads it), and the same command run again finishes the job.

The signal is injected below botocore (tests/http_faults.py) inside a write, as a real one lands."""

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


def stop_inside(operation: str, signal_error: type[KeyboardInterrupt], attempt: int = 5) -> HttpFaults:
    def plan(op: str, n: int) -> Fault | None:
        return Fault(0, exception=signal_error()) if op == operation and n == attempt else None

    return HttpFaults(plan)


def users(cognito: Any, pool: str) -> set[str]:
    pages = cognito.get_paginator("list_users").paginate(UserPoolId=pool)
    return {u["Username"] for page in pages for u in page["Users"]}


@pytest.mark.parametrize(("signal_error", "code"), [(KeyboardInterrupt, 130), (Terminated, 143)])
def test_an_interrupted_restore_says_to_run_it_again_and_that_finishes_it(
    cognito: Any, tmp_path: Path, signal_error: type[KeyboardInterrupt], code: int
) -> None:
    source = make_pool(cognito)
    fill_pool(cognito, source, n_users=30, n_groups=1)
    repo = str(tmp_path / "repo")
    assert CliRunner().invoke(cli, ["backup", "--user-pool-id", source, "--repo", repo]).exit_code == 0
    target = str(cognito.create_user_pool(PoolName="target")["UserPool"]["Id"])
    args = ["restore", "--repo", repo, "--user-pool-id", target, "--source-user-pool-id", source,
            "--password-mode", "none", "--report-dir", str(tmp_path / "reports"), "--json"]  # fmt: skip
    with every_new_client(stop_inside("AdminCreateUser", signal_error)):
        stopped = CliRunner().invoke(cli, args)
    assert stopped.exit_code == code, stopped.output
    error = json.loads(stopped.stdout)["error"]
    assert error["kind"] == "interrupted"
    assert error["hint"] is not None and "Run the same command again" in error["hint"]
    assert len(users(cognito, target)) < 30
    again = CliRunner().invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert users(cognito, target) == users(cognito, source)


def test_an_interrupted_migration_step_says_to_run_it_again(cognito: Any, tmp_path: Path) -> None:
    source = make_pool(cognito)
    fill_pool(cognito, source, n_users=3, n_groups=1)
    repo = str(tmp_path / "repo")
    args = ["migrate", "start", "--repo", repo, "--from-user-pool-id", source, "--new-pool", "v2",
            "--trigger-arn", "arn:aws:lambda:us-east-1:123456789012:function:migrate", "--json"]  # fmt: skip
    with every_new_client(stop_inside("ListUsers", KeyboardInterrupt, attempt=1)):
        stopped = CliRunner().invoke(cli, args)
    assert stopped.exit_code == 130, stopped.output
    error = json.loads(stopped.stdout)["error"]
    assert error["kind"] == "interrupted" and "Run the same command again" in error["hint"]
