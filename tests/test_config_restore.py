"""Issue 11.4: configuration into an existing pool (`restore --config`), per-setting `diff`, and the standby
following journaled configuration changes. moto in-process through the CLI; calls are seen at botocore's
boundary (tests/op_recorder.py), never by patching the project's functions."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from cognito_backup.core.pool_translate import input_members
from cognito_backup.core.standby import STANDBY_TAG
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.factory import open_store
from tests.op_recorder import recording
from tests.restore_support import backup, read_state, rich_pool

READS = ("List", "Describe", "Get", "AdminGet", "AdminList")
POLICY = {
    "MinimumLength": 12,
    "RequireUppercase": True,
    "RequireLowercase": True,
    "RequireNumbers": True,
    "RequireSymbols": False,
    "TemporaryPasswordValidityDays": 3,
}


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def configured_pool(cognito: Any) -> tuple[str, str, str]:
    """A pool with MFA, a password policy, deletion protection and two app clients."""
    pool = rich_pool(cognito)
    cognito.update_user_pool(
        UserPoolId=pool,
        Policies={"PasswordPolicy": POLICY},
        DeletionProtection="ACTIVE",
        MfaConfiguration="OPTIONAL",
    )
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="OPTIONAL"
    )
    web = cognito.create_user_pool_client(
        UserPoolId=pool,
        ClientName="web",
        IdTokenValidity=60,
        CallbackURLs=["https://app.example.com/cb"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        AllowedOAuthFlowsUserPoolClient=True,
        SupportedIdentityProviders=["COGNITO"],
    )["UserPoolClient"]["ClientId"]
    batch = cognito.create_user_pool_client(UserPoolId=pool, ClientName="batch", RefreshTokenValidity=7)[
        "UserPoolClient"
    ]["ClientId"]
    return pool, web, batch


def break_config(cognito: Any, pool: str, web: str, batch: str) -> None:
    """What an operator's mistake does: MFA off, a weaker password policy, a callback changed, a client gone."""
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool, SoftwareTokenMfaConfiguration={"Enabled": False}, MfaConfiguration="OFF"
    )
    current = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
    cognito.update_user_pool(
        UserPoolId=pool,
        Policies={"PasswordPolicy": dict(POLICY, MinimumLength=6)},
        DeletionProtection=current["DeletionProtection"],
        MfaConfiguration="OFF",
    )
    cognito.update_user_pool_client(
        UserPoolId=pool,
        ClientId=web,
        ClientName="web",
        CallbackURLs=["https://evil.example.com/cb"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        AllowedOAuthFlowsUserPoolClient=True,
        SupportedIdentityProviders=["COGNITO"],
    )
    cognito.delete_user_pool_client(UserPoolId=pool, ClientId=batch)


def writes(rec: Any) -> list[Any]:
    return [c for c in rec.of("cognito-idp") if not c.operation.startswith(READS)]


def test_diff_reports_each_changed_setting(cognito: Any, tmp_path: Path) -> None:
    pool, web, batch = configured_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    assert run("diff", "--repo", repo, "--user-pool-id", pool).exit_code == 0
    break_config(cognito, pool, web, batch)
    result = run("diff", "--repo", repo, "--user-pool-id", pool, "--json")
    assert result.exit_code == 1, result.output
    body = json.loads(result.output)
    found = {(d.get("section"), d.get("path")) for d in body["differences"]}
    assert ("mfa", "MfaConfiguration") in found
    assert ("mfa", "SoftwareTokenMfaConfiguration.Enabled") in found
    assert ("pool", "Policies.PasswordPolicy.MinimumLength") in found
    assert ("clients", "web.CallbackURLs") in found
    assert ("clients", "batch") in found  # missing in the pool
    assert all({"kind", "name", "what"} <= set(d) for d in body["differences"])
    text = run("diff", "--repo", repo, "--user-pool-id", pool)
    assert "CallbackURLs" in text.output and "MinimumLength" in text.output


def test_restore_config_dry_run_writes_nothing_then_brings_exactly_those_back(cognito: Any, tmp_path: Path) -> None:
    pool, web, batch = configured_pool(cognito)
    repo, reports = str(tmp_path / "repo"), str(tmp_path / "reports")
    backup(cognito, pool, repo)
    break_config(cognito, pool, web, batch)
    cognito.update_user_pool_client(UserPoolId=pool, ClientId=web, ClientName="web", IdTokenValidity=5)
    cognito.update_user_pool_client(
        UserPoolId=pool,
        ClientId=web,
        ClientName="web",
        CallbackURLs=["https://evil.example.com/cb"],
        AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid"],
        AllowedOAuthFlowsUserPoolClient=True,
        SupportedIdentityProviders=["COGNITO"],
    )
    args = ("restore", "--repo", repo, "--user-pool-id", pool, "--report-dir", reports, "--config", "all")
    with recording() as rec:
        dry = run(*args, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert writes(rec) == []
    plan = json.loads(dry.output)["plan"]
    changes = {(c["section"], c["path"]) for op in plan["ops"] for c in op.get("changes", [])}
    assert ("pool", "Policies.PasswordPolicy.MinimumLength") in changes
    assert ("clients", "web.CallbackURLs") in changes
    assert ("mfa", "MfaConfiguration") in changes
    text = run(*args, "--dry-run")
    assert "MinimumLength: 6 -> 12" in " ".join(text.output.split())

    with recording() as rec:
        result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    calls = {c.operation for c in writes(rec)}
    assert calls == {"UpdateUserPool", "SetUserPoolMfaConfig", "UpdateUserPoolClient", "CreateUserPoolClient"}
    # UpdateUserPool resets whatever it is not given: every setting the pool has is sent.
    (update,) = [c.params for c in writes(rec) if c.operation == "UpdateUserPool"]
    described = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]
    # (The legacy message fields are the same settings as VerificationMessageTemplate, which is sent.)
    legacy = {"SmsVerificationMessage", "EmailVerificationMessage", "EmailVerificationSubject"}
    assert "VerificationMessageTemplate" in update
    for key in input_members("UpdateUserPool") & set(described) - {"UserPoolId"} - legacy:
        assert key in update, key
    assert update["DeletionProtection"] == "ACTIVE"
    (client_update,) = [c.params for c in writes(rec) if c.operation == "UpdateUserPoolClient"]
    assert client_update["IdTokenValidity"] == 60 and client_update["AllowedOAuthFlows"] == ["code"]

    after = read_state(cognito, pool).config
    assert after.user_pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    assert after.user_pool["DeletionProtection"] == "ACTIVE"
    assert after.mfa_config["MfaConfiguration"] == "OPTIONAL"
    clients = {c["ClientName"]: c for c in after.clients}
    assert clients["web"]["CallbackURLs"] == ["https://app.example.com/cb"]
    assert clients["batch"]["RefreshTokenValidity"] == 7
    assert body["client_id_map"] == {batch: clients["batch"]["ClientId"]}
    again = run("diff", "--repo", repo, "--user-pool-id", pool, "--json")
    assert again.exit_code == 0, again.output


def test_only_the_chosen_sections_change(cognito: Any, tmp_path: Path) -> None:
    pool, web, batch = configured_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    break_config(cognito, pool, web, batch)
    with recording() as rec:
        result = run(
            "restore",
            "--repo",
            repo,
            "--user-pool-id",
            pool,
            "--report-dir",
            str(tmp_path / "r"),
            "--config",
            "clients",
        )
    assert result.exit_code == 0, result.output
    assert {c.operation for c in writes(rec)} == {"UpdateUserPoolClient", "CreateUserPoolClient"}
    after = read_state(cognito, pool).config
    assert after.user_pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 6  # pool section not chosen


def test_unknown_section_is_a_usage_error_listing_the_valid_ones(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    result = run("restore", "--repo", repo, "--user-pool-id", pool, "--config", "pool,nonsense")
    assert result.exit_code == 2, result.output
    for name in ("nonsense", "pool", "mfa", "clients", "identity-providers", "resource-servers", "domain"):
        assert name in result.output


def test_standby_follows_a_journaled_configuration_change(cognito: Any, tmp_path: Path) -> None:
    source, web, _ = configured_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, source, repo)
    made = run("restore", "--repo", repo, "--new-pool", "standby", "--json", "--report-dir", str(tmp_path / "r"))
    assert made.exit_code == 0, made.output
    standby = json.loads(made.output)["user_pool_id"]
    first = run("replicate", "--repo", repo, "--user-pool-id", source, "--to-user-pool-id", standby, "--json")
    assert first.exit_code == 0, first.output
    # The standby's own trigger (a Lambda in its Region): a standby keeps it whatever the source has.
    own = "arn:aws:lambda:us-east-1:123456789012:function:standby-pre-signup"
    described = cognito.describe_user_pool(UserPoolId=standby)["UserPool"]
    cognito.update_user_pool(
        UserPoolId=standby,
        LambdaConfig={"PreSignUp": own},
        Policies=described["Policies"],
        DeletionProtection=described["DeletionProtection"],
        MfaConfiguration=described["MfaConfiguration"],
        # UpdateUserPool resets what it is not given (moto: the tags too): the standby keeps its standby tag,
        # without which no round may write into it (docs/capture.md, "Which pools replicate deletes from").
        UserPoolTags=described.get("UserPoolTags") or {},
    )

    # The source changes a client's callback URL and its password policy; capture journals the new config.
    cognito.update_user_pool_client(
        UserPoolId=source, ClientId=web, ClientName="web", CallbackURLs=["https://new.example.com/cb"]
    )
    current = cognito.describe_user_pool(UserPoolId=source)["UserPool"]
    cognito.update_user_pool(
        UserPoolId=source,
        Policies={"PasswordPolicy": dict(POLICY, MinimumLength=14)},
        DeletionProtection=current["DeletionProtection"],
        MfaConfiguration="OPTIONAL",
    )
    now = dt.datetime.now(dt.UTC)
    record = {
        "type": "config_changed",
        "pool": source,
        "key": None,
        "sub": None,
        "changed_at": format_time(now),
        "observed_at": format_time(now),
        "event_id": "evt-config-1",
        "event_name": "UpdateUserPoolClient",
        "source": "cloudtrail",
        "seq": 0,
        "after": read_state(cognito, source).config.to_record(),
    }
    Journal(Repository(open_store(repo, AwsContext())).store).append(source, [record])
    second = run("replicate", "--repo", repo, "--user-pool-id", source, "--to-user-pool-id", standby, "--json")
    assert second.exit_code == 0, second.output
    config = read_state(cognito, standby).config
    clients = {c["ClientName"]: c for c in config.clients}
    assert clients["web"]["CallbackURLs"] == ["https://new.example.com/cb"]
    assert config.user_pool["Policies"]["PasswordPolicy"]["MinimumLength"] == 14
    assert config.user_pool["LambdaConfig"]["PreSignUp"] == own
    assert config.tags.get(STANDBY_TAG) == source  # the round's own UpdateUserPool kept the standby's tag


def test_a_setting_that_cannot_change_in_place_refuses_with_exit_8(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    cognito.create_user_pool_domain(UserPoolId=pool, Domain="snapshot-domain")
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    cognito.delete_user_pool_domain(UserPoolId=pool, Domain="snapshot-domain")
    cognito.create_user_pool_domain(UserPoolId=pool, Domain="another-domain")
    with recording() as rec:
        result = run(
            "restore", "--repo", repo, "--user-pool-id", pool, "--config", "domain", "--report-dir", str(tmp_path / "r")
        )
    assert result.exit_code == 8, result.output
    text = " ".join(result.output.split())
    assert "another-domain" in text and "Nothing was written" in text
    assert writes(rec) == []
    found = json.loads(run("diff", "--repo", repo, "--user-pool-id", pool, "--json").output)["differences"]
    assert any(d.get("section") == "domain" and "another-domain" in d["what"] for d in found)


def test_missing_provider_and_resource_server_come_back(cognito: Any, tmp_path: Path) -> None:
    """Into another pool (moto has no UpdateResourceServer: the resource server is created, not updated)."""
    pool = rich_pool(cognito)
    scopes = [{"ScopeName": "read", "ScopeDescription": "read"}, {"ScopeName": "write", "ScopeDescription": "write"}]
    cognito.create_resource_server(UserPoolId=pool, Identifier="https://api.example.com", Name="api", Scopes=scopes)
    details = {
        "client_id": "abc",
        "client_secret": "s3cr3t-value",
        "attributes_request_method": "GET",
        "oidc_issuer": "https://idp.example.com",
        "authorize_scopes": "openid email",
    }
    cognito.create_identity_provider(
        UserPoolId=pool,
        ProviderName="Corp",
        ProviderType="OIDC",
        ProviderDetails=details,
        AttributeMapping={"email": "email"},
    )
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    target = rich_pool(cognito, "target")
    args = ("restore", "--repo", repo, "--source-user-pool-id", pool, "--user-pool-id", target)
    args += ("--report-dir", str(tmp_path / "r"), "--config", "identity-providers,resource-servers")
    dry = run(*args, "--dry-run")
    assert dry.exit_code == 0, dry.output
    assert "s3cr3t-value" not in dry.output
    assert "identity-providers Corp: (missing) -> created" in " ".join(dry.output.split())
    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    assert "s3cr3t-value" not in result.output
    after = read_state(cognito, target).config
    assert [i["ProviderName"] for i in after.identity_providers] == ["Corp"]
    assert after.identity_providers[0]["AttributeMapping"]["email"] == "email"
    (server,) = after.resource_servers
    assert sorted(s["ScopeName"] for s in server["Scopes"]) == ["read", "write"]
