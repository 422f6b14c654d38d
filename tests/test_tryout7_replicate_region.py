"""`replicate --to-user-pool-id` naming a standby of another Region than the command's (session 7 try-out).

Seen: `replicate --repo R --to-user-pool-id us-west-2_...` in a shell whose Region is us-east-1 (the
runbook's standby is in another Region) said only "the user pool does not exist in this account and
Region" with the general hint, where `backup`, `diff` and `restore` name the pool's Region and the
option that fixes it (tests/test_tryout5_region.py): replicate's option is named `standby`, which the
hint did not look at. moto in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import make_pool
from tests.restore_support import backup


def test_a_standby_of_another_region_gets_the_hint_that_names_it(cognito: Any, tmp_path: Path) -> None:
    source = make_pool(cognito, "source")
    repo = tmp_path / "repo"
    backup(cognito, source, repo)
    west = boto3.client("cognito-idp", region_name="us-west-2").create_user_pool(PoolName="standby")
    standby = west["UserPool"]["Id"]
    result = CliRunner().invoke(
        cli, ["--region", "us-east-1", "replicate", "--repo", str(repo), "--to-user-pool-id", standby, "--json"]
    )
    assert result.exit_code == 4, result.output
    hint = json.loads(result.stdout)["error"]["hint"]
    assert "us-west-2" in hint and "us-east-1" in hint and "--region us-west-2" in hint


def test_migrate_names_the_region_of_either_pool(cognito: Any, tmp_path: Path) -> None:
    west = boto3.client("cognito-idp", region_name="us-west-2").create_user_pool(PoolName="a")["UserPool"]["Id"]
    east = make_pool(cognito, "b")
    args = ["migrate", "start", "--repo", str(tmp_path / "repo"), "--trigger-arn",
            "arn:aws:lambda:us-east-1:123456789012:function:m", "--dry-run", "--json"]  # fmt: skip
    result = CliRunner().invoke(
        cli, ["--region", "us-east-1", *args, "--from-user-pool-id", west, "--to-user-pool-id", east]
    )
    assert result.exit_code == 4, result.output
    assert "--region us-west-2" in json.loads(result.stdout)["error"]["hint"]
    elsewhere = CliRunner().invoke(
        cli,
        ["--region", "us-west-2", *args, "--from-user-pool-id", west, "--to-user-pool-id", east]
        + ["--to-region", "eu-west-1"],
    )
    assert elsewhere.exit_code == 4, elsewhere.output
    hint = json.loads(elsewhere.stdout)["error"]["hint"]
    assert east in hint and "eu-west-1" in hint
