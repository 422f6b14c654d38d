"""`restore --at T` into the pool the repository backs up says when AWS's own recovery could do it."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from cognito_backup.core.recover_plan import native_alternative
from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store import open_store
from tests.helpers import add_user, make_pool

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def test_native_alternative_only_for_the_same_pool_inside_the_window() -> None:
    hours = NOW - dt.timedelta(hours=3)
    note = native_alternative(hours, NOW, "us-east-1_A", "us-east-1_A")
    assert note is not None and "Essentials or Plus" in note and "keep passwords" in note.replace("keep\n", "keep ")
    assert "recover --user-pool-id us-east-1_A" in note
    assert "Plus feature plan" in str(native_alternative(NOW - dt.timedelta(days=5), NOW, "us-east-1_A", "us-east-1_A"))
    assert native_alternative(hours, NOW, "us-east-1_A", "us-east-1_B") is None
    assert native_alternative(NOW - dt.timedelta(minutes=5), NOW, "us-east-1_A", "us-east-1_A") is None
    assert native_alternative(NOW - dt.timedelta(days=15), NOW, "us-east-1_A", "us-east-1_A") is None


def _backed_up_pool(cognito: Any, repo: str, moment: dt.datetime) -> str:
    pool = make_pool(cognito)
    add_user(cognito, pool, "ann", {"email": "ann@example.com"})
    store = open_store(repo, AwsContext(region="us-east-1"))
    run_backup(PoolReader(cognito, Pacer(), pool), Repository(store, clock=lambda: moment), "us-east-1")
    return pool


def test_restore_at_into_the_same_pool_names_aws_recovery(cognito: Any, tmp_path: Path) -> None:
    at = (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)
    repo = str(tmp_path / "repo")
    pool = _backed_up_pool(cognito, repo, at)
    cognito.admin_delete_user(UserPoolId=pool, Username="ann")
    stamp = at.strftime("%Y-%m-%dT%H:%M:%SZ")
    args = ["restore", "--repo", repo, "--at", stamp, "--user-pool-id", pool, "--dry-run"]
    human = CliRunner().invoke(cli, args)
    assert human.exit_code == 0, human.output
    assert "AWS's own point-in-time recovery" in human.stderr
    body = json.loads(CliRunner().invoke(cli, [*args, "--json"]).stdout)
    assert f"recover --user-pool-id {pool}" in body["native_recovery"]

    other = make_pool(cognito, "other")
    body = json.loads(
        CliRunner()
        .invoke(
            cli,
            ["restore", "--repo", repo, "--at", stamp, "--source-user-pool-id", pool, "--user-pool-id", other]
            + ["--dry-run", "--json"],
        )
        .stdout
    )
    assert body["native_recovery"] is None
