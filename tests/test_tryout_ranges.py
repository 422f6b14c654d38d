"""Counts outside what a command can do are usage errors (session 4 try-out). Before: `demo --users -5`
ran a demo of an empty pool (exit 0), `backup --list-chains 0` or `17` ran silently with another
number of chains than asked (one chain per leading hex digit of sub: 1 to 16), and `replicate --follow
--interval -1` ran rounds without a pause for ever."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli


@pytest.mark.parametrize(
    "args",
    [
        ["demo", "--users", "-5"],
        ["demo", "--users", "0"],
        ["backup", "--user-pool-id", "us-east-1_AbC", "--repo", "r", "--list-chains", "0"],
        ["backup", "--user-pool-id", "us-east-1_AbC", "--repo", "r", "--list-chains", "17"],
        # Before: rounds one after the other without a pause, for ever (a hot loop on the repository and AWS).
        ["replicate", "--repo", "r", "--to-user-pool-id", "us-east-1_AbC", "--follow", "--interval", "-1"],
        ["replicate", "--repo", "r", "--to-user-pool-id", "us-east-1_AbC", "--follow", "--interval", "0"],
        # A negative grace is no grace: objects a running backup is writing would be deleted.
        ["prune", "--repo", "r", "--keep-last", "1", "--grace", "-60"],
        ["capture", "--repo", "r", "--queue", "https://sqs.us-east-1.amazonaws.com/1/q", "--batch-size", "0"],
    ],
)
def test_out_of_range_counts_are_usage_errors(args: list[str]) -> None:
    result = CliRunner().invoke(cli, [*args, "--json"])
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and args[-2] in error["message"]
