"""A pool id of another Region than the command's (session 5 try-out).

Seen: after `restore --new-pool west1 --region us-west-2`, `diff --user-pool-id us-west-2_... ` in a
shell whose AWS_REGION is us-east-1 said "the user pool does not exist in this account and Region" with
the general hint, though the pool id itself says us-west-2. A pool id begins with its Region (the
service's REGION_ID): the hint now names both Regions and the option that fixes it. moto in-process."""

from __future__ import annotations

import json
from pathlib import Path

import boto3
import pytest
from click.testing import CliRunner

from cognito_backup.cli.common import region_hint
from cognito_backup.cli.main import cli


def test_a_pool_of_another_region_gets_a_hint_that_names_it(aws: None, tmp_path: Path) -> None:
    west = boto3.client("cognito-idp", region_name="us-west-2").create_user_pool(PoolName="west")["UserPool"]["Id"]
    result = CliRunner().invoke(
        cli, ["--region", "us-east-1", "backup", "--user-pool-id", west, "--repo", str(tmp_path / "r"), "--json"]
    )
    assert result.exit_code == 4, result.output
    hint = json.loads(result.stdout)["error"]["hint"]
    assert "us-west-2" in hint and "us-east-1" in hint and "--region us-west-2" in hint


def test_the_restore_target_region_option_counts(aws: None, tmp_path: Path) -> None:
    east = boto3.client("cognito-idp", region_name="us-east-1").create_user_pool(PoolName="east")["UserPool"]["Id"]
    repo = str(tmp_path / "r")
    assert CliRunner().invoke(cli, ["backup", "--user-pool-id", east, "--repo", repo]).exit_code == 0
    target = "eu-west-1_AbCdEf123"
    result = CliRunner().invoke(
        cli,
        ["restore", "--repo", repo, "--user-pool-id", target, "--source-user-pool-id", east]
        + ["--region", "us-west-2", "--dry-run", "--json"],
    )
    assert result.exit_code == 4, result.output
    assert "--region eu-west-1" in json.loads(result.stdout)["error"]["hint"]


@pytest.mark.parametrize(
    ("pool", "region", "expected"),
    [
        ("us-west-2_AbC", "us-east-1", True),
        ("us-east-1_AbC", "us-east-1", False),
        ("local_AbC", "us-east-1", False),  # an emulator's ids (cognito-local) name no Region
        ("us-west-2_AbC", None, True),
    ],
)
def test_region_hint(pool: str, region: str | None, expected: bool) -> None:
    assert (region_hint([pool], region) is not None) is expected
