"""The command line as a user meets it: help everywhere, --json contracts, exit codes, no PII."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import click
import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import FaultInjector, add_user, fill_pool, make_pool


def all_commands() -> list[tuple[str, click.Command]]:
    return sorted(cli.commands.items())


def test_every_command_and_option_has_help() -> None:
    assert {"backup", "snapshots", "show", "check", "prune", "demo"} <= set(cli.commands)
    for name, command in all_commands():
        assert command.help and len(command.help) > 20, f"{name} lacks help"
        for param in command.params:
            if isinstance(param, click.Option) and param.name not in ("help",):
                assert param.help, f"{name} --{param.name} lacks help"
        result = CliRunner().invoke(cli, [name, "--help"])
        assert result.exit_code == 0


def test_backup_json_contract_and_show_snapshots(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=70, n_groups=2, big_group=61)
    runner = CliRunner()
    result = runner.invoke(cli, ["backup", "--user-pool-id", pool_id, "--repo", tmp_repo, "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    for key in ("snapshot", "user_pool_id", "users", "groups", "memberships", "seconds"):
        assert key in body
    assert (body["user_pool_id"], body["users"], body["groups"], body["memberships"]) == (pool_id, 70, 2, 61)
    snaps = json.loads(runner.invoke(cli, ["snapshots", "--repo", tmp_repo, "--json"]).output)
    assert [s["id"] for s in snaps] == [body["snapshot"]]
    shown = json.loads(runner.invoke(cli, ["show", "--repo", tmp_repo, "--json"]).output)
    assert shown["snapshot"] == body["snapshot"] and shown["disabled_users"] == 5
    assert "custom:tier" in shown["custom_attributes"]
    human = runner.invoke(cli, ["show", "--repo", tmp_repo, "--snapshot", body["snapshot"][:10]])
    assert human.exit_code == 0 and "70 users" in human.output


def test_backup_plain_progress_when_not_a_terminal(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=3, n_groups=1)
    result = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool_id, "--repo", tmp_repo])
    assert result.exit_code == 0
    assert "Backing up" in result.stderr and "users ..." in result.stderr
    assert "\x1b[" not in result.stderr  # no terminal escapes in logs
    assert "Snapshot" in result.stdout


def test_wrong_pool_id_exit_4(cognito: Any, tmp_repo: str) -> None:
    result = CliRunner().invoke(cli, ["backup", "--user-pool-id", "us-east-1_nope", "--repo", tmp_repo])
    assert result.exit_code == 4
    assert "does not exist" in result.output


def test_access_denied_exit_3_and_no_personal_data(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    add_user(cognito, pool_id, "secret-person", {"email": "secret@example.com"})
    result = _invoke_with_faults(["backup", "--user-pool-id", pool_id, "--repo", tmp_repo], "AccessDeniedException")
    assert result.exit_code == 3, result.output
    assert "access denied" in result.output.lower()
    assert "secret" not in result.output


def _invoke_with_faults(args: list[str], code: str) -> Any:
    """Run the CLI with every new cognito-idp client answering ListUsers with `code` (the fault is
    installed on botocore's client factory, since the CLI builds its own clients)."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *a: Any, **kw: Any) -> Any:
        client = original(self, service_name, *a, **kw)
        if service_name == "cognito-idp":
            FaultInjector(client, code=code, operations={"ListUsers"}, probability=1.0)
        return client

    mp = pytest.MonkeyPatch()
    mp.setattr(botocore.session.Session, "create_client", create_client)
    try:
        return CliRunner().invoke(cli, args)
    finally:
        mp.undo()


def test_failed_backup_leaves_no_snapshot_and_says_why(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=5, n_groups=1)
    result = _invoke_with_faults(["backup", "--user-pool-id", pool_id, "--repo", tmp_repo], "InternalErrorException")
    assert result.exit_code == 9
    assert "ListUsers" in result.output and "InternalErrorException" in result.output
    snaps = CliRunner().invoke(cli, ["snapshots", "--repo", tmp_repo, "--json"])
    assert json.loads(snaps.output) == []


def test_bad_rate_is_a_usage_error(tmp_repo: str) -> None:
    result = CliRunner().invoke(
        cli, ["backup", "--user-pool-id", "us-east-1_x", "--repo", tmp_repo, "--rate", "Bogus=3"]
    )
    assert result.exit_code == 2
    assert "Categories:" in result.output


def test_backup_against_moto_server_with_endpoint_url(server_url: str, tmp_path: Path) -> None:
    client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=server_url)
    pool_id = make_pool(client, email_username=True)
    add_user(client, pool_id, "a@example.com", {"email": "a@example.com"})
    repo = str(tmp_path / "r")
    result = CliRunner().invoke(
        cli,
        [
            "--endpoint-url",
            server_url,
            "--region",
            "us-east-1",
            "backup",
            "--user-pool-id",
            pool_id,
            "--repo",
            repo,
            "--json",
        ],
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["users"] == 1
    check = CliRunner().invoke(cli, ["check", "--repo", repo, "--read-data", "--json"])
    assert json.loads(check.output)["ok"] is True


NO_KEYS: dict[str, Any] = {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}


@pytest.mark.parametrize(
    ("env", "args", "code", "message"),
    [
        (
            {"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None},
            ["--region", "us-east-1"],
            3,
            "no AWS credentials",
        ),
        ({"AWS_REGION": None, "AWS_DEFAULT_REGION": None}, [], 2, "no AWS Region"),
        ({}, ["--region", "us-east-1", "--endpoint-url", "http://127.0.0.1:9"], 9, "cannot reach"),
        ({"AWS_ACCESS_KEY_ID": None, "AWS_SECRET_ACCESS_KEY": None}, ["--profile", "nope"], 3, "nope"),
    ],
)
def test_environment_problems_get_a_sentence_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, env: dict[str, Any], args: list[str], code: int, message: str
) -> None:
    monkeypatch.setenv("AWS_CONFIG_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", str(tmp_path / "none"))
    monkeypatch.setenv("AWS_EC2_METADATA_DISABLED", "true")
    for name, value in env.items():
        monkeypatch.delenv(name, raising=False) if value is None else monkeypatch.setenv(name, value)
    result = CliRunner().invoke(cli, [*args, "backup", "--user-pool-id", "us-east-1_x", "--repo", str(tmp_path / "r")])
    assert result.exit_code == code, result.output
    assert message in result.output
    assert "Traceback" not in result.output
    assert not (tmp_path / "r").exists()  # nothing written
