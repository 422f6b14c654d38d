"""`migrate` end to end through the CLI: start, users sign in (the trigger invoked as Cognito would, through
tests/migrate_double.py, a DOUBLE of Cognito's side), sync, status, finish; and the refusals."""

from __future__ import annotations

import csv
import io
import json
import zipfile
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from cognito_backup.cli.main import cli
from cognito_backup.serverless.migrate_trigger import Settings, handle
from tests.helpers import add_user, make_pool
from tests.migrate_double import CognitoMigrationDouble

PASSWORD = "Xx1!" + "a" * 12  # tests/helpers.add_user's password
ARN = "arn:aws:lambda:us-east-1:123456789012:function:cognito-backup-migrate"


def run(*args: str) -> Result:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def run_json(*args: str, code: int = 0) -> Any:
    result = run(*args, "--json")
    assert result.exit_code == code, result.output
    return json.loads(result.stdout)


@pytest.fixture
def pool_a(cognito: Any) -> str:
    pool = make_pool(cognito, "A")
    for g in ("staff", "admins"):
        cognito.create_group(UserPoolId=pool, GroupName=g)
    for name in ("alice", "bob", "carol", "dave"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com", "email_verified": "true"}, confirmed=True)
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="alice", GroupName="staff")
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="carol", GroupName="admins")
    return pool


def _double(cognito: Any, state: dict[str, Any]) -> CognitoMigrationDouble:
    b_pool = state["to_user_pool_id"]
    app_client = cognito.create_user_pool_client(
        UserPoolId=b_pool, ClientName="app", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    settings = Settings(from_pool_id=state["from_user_pool_id"], client_id=state["client_id"])
    return CognitoMigrationDouble(cognito, b_pool, app_client, lambda e: handle(e, cognito, settings))


def test_start_sign_ins_sync_status_finish(cognito: Any, pool_a: str, tmp_repo: str, tmp_path: Path) -> None:
    planned = run_json("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--new-pool", "B",
                       "--trigger-arn", ARN, "--dry-run")  # fmt: skip
    assert planned["dry_run"] is True and planned["migration"] is None
    assert [p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]] == ["A"]

    started = run_json("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--new-pool", "B",
                       "--trigger-arn", ARN)  # fmt: skip
    state = started["migration"]
    b_pool = state["to_user_pool_id"]
    b = cognito.describe_user_pool(UserPoolId=b_pool)["UserPool"]
    assert b["LambdaConfig"]["UserMigration"] == ARN
    assert {g["GroupName"] for g in cognito.list_groups(UserPoolId=b_pool)["Groups"]} == {"staff", "admins"}
    assert cognito.list_users(UserPoolId=b_pool)["Users"] == []
    admin_client = cognito.describe_user_pool_client(UserPoolId=pool_a, ClientId=state["client_id"])["UserPoolClient"]
    assert admin_client["ExplicitAuthFlows"] == ["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    assert "ClientSecret" not in admin_client

    double = _double(cognito, state)
    for name in ("alice", "bob", "dave"):
        assert double.sign_in(name, PASSWORD)["AuthenticationResult"]["AccessToken"]
    # After their move: A's admin adds dave to a group and disables bob; sync carries both over.
    cognito.admin_add_user_to_group(UserPoolId=pool_a, Username="dave", GroupName="admins")
    cognito.admin_disable_user(UserPoolId=pool_a, Username="bob")
    synced = run_json("migrate", "sync", "--repo", tmp_repo, "--from-user-pool-id", pool_a)
    assert synced["failed"] == 0
    assert not cognito.admin_get_user(UserPoolId=b_pool, Username="bob")["Enabled"]
    groups_of = {
        name: {g["GroupName"] for g in cognito.admin_list_groups_for_user(UserPoolId=b_pool, Username=name)["Groups"]}
        for name in ("alice", "dave")
    }
    assert groups_of == {"alice": {"staff"}, "dave": {"admins"}}

    status = run_json("migrate", "status", "--repo", tmp_repo, "--from-user-pool-id", pool_a)
    assert (status["moved"], status["remaining"], status["users_in_source"]) == (3, 1, 4)
    assert sum(row["moved"] for row in status["per_day"]) == 3
    table = run("migrate", "status", "--repo", tmp_repo, "--from-user-pool-id", pool_a)
    assert table.exit_code == 0 and "remaining 1" in table.output

    report_dir = tmp_path / "reports"
    finished = run_json("migrate", "finish", "--repo", tmp_repo, "--from-user-pool-id", pool_a,
                        "--report-dir", str(report_dir))  # fmt: skip
    assert (finished["moved_with_password"], finished["restored"]) == (3, 1)
    b_users = {u["Username"]: u for u in cognito.list_users(UserPoolId=b_pool)["Users"]}
    assert set(b_users) == {"alice", "bob", "carol", "dave"}
    assert b_users["alice"]["UserStatus"] == "CONFIRMED"
    assert "admins" in {
        g["GroupName"] for g in cognito.admin_list_groups_for_user(UserPoolId=b_pool, Username="carol")["Groups"]
    }
    # The migrated users keep their own password.
    assert double.sign_in("alice", PASSWORD)["AuthenticationResult"]["AccessToken"]
    # Trigger and admin client are gone; every user is in the sub map.
    assert "UserMigration" not in (cognito.describe_user_pool(UserPoolId=b_pool)["UserPool"].get("LambdaConfig") or {})
    clients = cognito.list_user_pool_clients(UserPoolId=pool_a, MaxResults=60)["UserPoolClients"]
    assert state["client_id"] not in {c["ClientId"] for c in clients}
    with open(finished["sub_map"], newline="") as handle_:
        rows = list(csv.DictReader(handle_))
    assert {r["username"] for r in rows} == {"alice", "bob", "carol", "dave"}
    a_subs = {
        u["Username"]: next(a["Value"] for a in u["Attributes"] if a["Name"] == "sub")
        for u in cognito.list_users(UserPoolId=pool_a)["Users"]
    }
    assert {r["username"]: r["old_sub"] for r in rows} == a_subs


def test_same_pool_is_refused(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    result = run("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a,
                 "--to-user-pool-id", pool_a, "--trigger-arn", ARN)  # fmt: skip
    assert result.exit_code == 2
    assert "both the source and the target" in result.output


def test_target_missing_attributes_is_refused_and_nothing_written(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    b_pool = cognito.create_user_pool(PoolName="bare")["UserPool"]["Id"]
    result = run("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a,
                 "--to-user-pool-id", b_pool, "--trigger-arn", ARN)  # fmt: skip
    assert result.exit_code == 8
    assert "custom:tier" in result.output
    assert not (cognito.describe_user_pool(UserPoolId=b_pool)["UserPool"].get("LambdaConfig") or {})
    assert cognito.list_user_pool_clients(UserPoolId=pool_a, MaxResults=60)["UserPoolClients"] == []
    assert not Path(tmp_repo).exists() or not list(Path(tmp_repo).glob("migrations/*"))


def test_target_with_a_migration_trigger_already_is_refused(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    other = "arn:aws:lambda:us-east-1:123456789012:function:someone-elses"
    b_pool = make_pool(cognito, "B", LambdaConfig={"UserMigration": other})
    result = run("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a,
                 "--to-user-pool-id", b_pool, "--trigger-arn", ARN)  # fmt: skip
    assert result.exit_code == 8
    assert "already has a user-migration trigger" in result.output
    assert cognito.describe_user_pool(UserPoolId=b_pool)["UserPool"]["LambdaConfig"]["UserMigration"] == other


def test_existing_target_keeps_its_settings(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    post_auth = "arn:aws:lambda:us-east-1:123456789012:function:post-auth"
    policy = {"PasswordPolicy": {"MinimumLength": 12, "RequireSymbols": False, "TemporaryPasswordValidityDays": 3}}
    b_pool = make_pool(cognito, "B", LambdaConfig={"PostAuthentication": post_auth}, Policies=policy)
    run_json("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--to-user-pool-id", b_pool,
             "--trigger-arn", ARN)  # fmt: skip
    b = cognito.describe_user_pool(UserPoolId=b_pool)["UserPool"]
    assert b["LambdaConfig"] == {"PostAuthentication": post_auth, "UserMigration": ARN}
    assert b["Policies"]["PasswordPolicy"]["MinimumLength"] == 12


def test_source_deleted_mid_migration(cognito: Any, pool_a: str, tmp_repo: str, tmp_path: Path) -> None:
    started = run_json("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--new-pool", "B",
                       "--trigger-arn", ARN)  # fmt: skip
    state = started["migration"]
    _double(cognito, state).sign_in("alice", PASSWORD)
    cognito.delete_user_pool(UserPoolId=pool_a)
    result = run("migrate", "sync", "--repo", tmp_repo, "--from-user-pool-id", pool_a)
    assert result.exit_code == 4
    assert "no longer exists" in result.output and "migrate finish" in result.output
    # Nothing lost: finish restores everyone else from the last snapshot of A.
    finished = run_json("migrate", "finish", "--repo", tmp_repo, "--from-user-pool-id", pool_a,
                        "--report-dir", str(tmp_path / "r"))  # fmt: skip
    assert finished["source_gone"] is True
    b_users = {u["Username"] for u in cognito.list_users(UserPoolId=state["to_user_pool_id"])["Users"]}
    assert b_users == {"alice", "bob", "carol", "dave"}


def test_sync_without_a_migration_says_so(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    result = run("migrate", "sync", "--repo", tmp_repo, "--from-user-pool-id", pool_a)
    assert result.exit_code == 7
    assert "No migration from" in result.output


def _deploy_trigger(name: str, reads: str) -> str:
    """A function as deploy/template.yaml's MigrateTriggerFunction is deployed (its environment names A)."""
    role = boto3.client("iam").create_role(RoleName=f"role-{name}", AssumeRolePolicyDocument="{}")["Role"]["Arn"]
    code = io.BytesIO()
    with zipfile.ZipFile(code, "w") as archive:
        archive.writestr("placeholder.py", "")
    return str(
        boto3.client("lambda").create_function(
            FunctionName=name,
            Runtime="python3.12",
            Role=role,
            Handler="cognito_backup.serverless.migrate_trigger.handler",
            Code={"ZipFile": code.getvalue()},
            Environment={"Variables": {"COGNITO_BACKUP_MIGRATE_FROM_POOL_ID": reads}},
        )["FunctionArn"]
    )


def test_start_finds_the_deployed_trigger_without_trigger_arn(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    base = ("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--new-pool", "B")
    missing = run(*base, "--dry-run")
    assert missing.exit_code == 2 and "No deployed migration trigger reads" in missing.output
    _deploy_trigger("other-stack-MigrateTrigger", "us-east-1_Other")
    arn = _deploy_trigger("stack-MigrateTriggerFunction-X", pool_a)
    started = run_json(*base)
    assert started["migration"]["trigger_arn"] == arn
    b_pool = started["migration"]["to_user_pool_id"]
    assert cognito.describe_user_pool(UserPoolId=b_pool)["UserPool"]["LambdaConfig"]["UserMigration"] == arn


def test_start_again_resumes_into_the_same_pool_and_client(cognito: Any, pool_a: str, tmp_repo: str) -> None:
    args = ("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--new-pool", "B",
            "--trigger-arn", ARN)  # fmt: skip
    first = run_json(*args)["migration"]
    second = run_json(*args)["migration"]
    assert (second["to_user_pool_id"], second["client_id"]) == (first["to_user_pool_id"], first["client_id"])
    assert [p["Name"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]].count("B") == 1
    other = run("migrate", "start", "--repo", tmp_repo, "--from-user-pool-id", pool_a, "--new-pool", "C",
                "--trigger-arn", ARN)  # fmt: skip
    assert other.exit_code == 8 and "already under way" in other.output
