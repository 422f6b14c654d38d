"""`migrate start --to-user-pool-id B` where B already holds some of A's users (session 7 try-out: the
wrong pool, or a merge whose usernames collide).

Seen (docs/migrate.md, ops/migrate.py): who "moved" is every user of A that B holds by identity
(username, or the username attribute), and the first `migrate sync` (and `sync --all`, and `finish`)
gives each of them A's groups and A's enabled state. So a B that already held an `alice` of its own (a
different person) saw her put into A's `admins` group and disabled as A's alice was, by a sync run
minutes after a `start` that exited 0. Now `start` refuses such a B before writing anything (exit 8,
naming the users), dry run included; a B holding only other users (a merge without collisions) is fine.
moto in-process through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import add_user, make_pool

ARN = "arn:aws:lambda:us-east-1:123456789012:function:migrate"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def pools(cognito: Any) -> tuple[str, str]:
    a = make_pool(cognito, "A")
    cognito.create_group(UserPoolId=a, GroupName="admins")
    for name in ("alice", "bob"):
        add_user(cognito, a, name, {"email": f"{name}@example.com"}, confirmed=True)
    cognito.admin_add_user_to_group(UserPoolId=a, Username="alice", GroupName="admins")
    cognito.admin_disable_user(UserPoolId=a, Username="bob")
    return a, make_pool(cognito, "B")


def start(repo: Path, a: str, b: str, *extra: str) -> Any:
    return run("migrate", "start", "--repo", str(repo), "--from-user-pool-id", a, "--to-user-pool-id", b,
               "--trigger-arn", ARN, "--json", *extra)  # fmt: skip


def test_a_target_holding_users_of_the_source_is_refused_before_anything_is_written(
    cognito: Any, tmp_path: Path
) -> None:
    a, b = pools(cognito)
    add_user(cognito, b, "alice", {"email": "someone-else@example.com"}, confirmed=True)
    add_user(cognito, b, "bob", {"email": "another@example.com"}, confirmed=True)
    add_user(cognito, b, "zed", {"email": "zed@example.com"}, confirmed=True)
    for extra in (("--dry-run",), ()):
        result = start(tmp_path / "repo", a, b, *extra)
        assert result.exit_code == 8, result.output
        message = json.loads(result.stdout)["error"]["message"]
        assert "2 users" in message and "alice, bob" in message and "zed" not in message
        assert "error:" in result.stderr
    assert (cognito.describe_user_pool(UserPoolId=b)["UserPool"].get("LambdaConfig") or {}) == {}
    clients = cognito.list_user_pool_clients(UserPoolId=a, MaxResults=60)["UserPoolClients"]
    assert clients == []
    assert not (tmp_path / "repo" / "migrations").exists()


def test_a_target_holding_only_other_users_is_a_merge(cognito: Any, tmp_path: Path) -> None:
    a, b = pools(cognito)
    add_user(cognito, b, "zed", {"email": "zed@example.com"}, confirmed=True)
    result = start(tmp_path / "repo", a, b)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["migration"]["to_user_pool_id"] == b
