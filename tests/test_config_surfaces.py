"""Every configuration surface Cognito reads back: captured, shown, and recreated by `restore --new-pool`.

moto has the pool, app client, domain and MFA calls; the newer calls (replicas, session configuration,
log delivery, terms, managed login branding, CIMD policies) run against tests/config_double.py, a DOUBLE
of their documented behaviour installed into moto (named so wherever it is used).
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
from click.testing import CliRunner
from moto.backends import get_backend

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.pool_creator import create_pool_from_config
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.sections import Verdict, classify
from cognito_backup.cli.main import cli
from cognito_backup.core.pool_translate import translate_pool_config
from cognito_backup.model import PoolConfig
from cognito_backup.ops.backup_meta import config_extra
from tests import config_double
from tests.helpers import FaultInjector, add_user, make_pool

REGION = "us-east-1"
SECRET = "KeptConfidentialSecret0123456789abcdef"
PNG = b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR\xff\xfe binary, not UTF-8"
ARN = "arn:aws:cognito-idp:{}:123456789012:userpool/us-east-1_x"
REPLICAS = [
    {"RegionName": "us-east-1", "Status": "ACTIVE", "Role": "PRIMARY", "UserPoolArn": ARN.format("us-east-1")},
    {"RegionName": "eu-west-1", "Status": "INACTIVE", "Role": "SECONDARY", "UserPoolArn": ARN.format("eu-west-1")},
]
LOGS = [
    {
        "LogLevel": "ERROR",
        "EventSource": "userNotification",
        "CloudWatchLogsConfiguration": {
            "LogGroupArn": "arn:aws:logs:us-east-1:123456789012:log-group:/aws/vendedlogs/c"
        },
    }
]


@pytest.fixture
def double() -> Iterator[None]:
    config_double.install()
    yield
    config_double.uninstall()


def _backend() -> Any:
    return get_backend("cognito-idp")["123456789012"][REGION]


def surfaces_pool(cognito: Any) -> tuple[str, dict[str, str]]:
    """A pool with every surface set; returns (pool id, client name -> id)."""
    pid = make_pool(cognito, "source", UserPoolTier="PLUS", IssuerConfiguration={"Type": "STANDARD"})
    cognito.set_user_pool_mfa_config(
        UserPoolId=pid,
        MfaConfiguration="OPTIONAL",
        SoftwareTokenMfaConfiguration={"Enabled": True},
        WebAuthnConfiguration={"RelyingPartyId": "login.example.com", "UserVerification": "required"},
    )
    web = cognito.create_user_pool_client(
        UserPoolId=pid, ClientName="web", ClientSecret=SECRET,
        RefreshTokenRotation={"Feature": "ENABLED", "RetryGracePeriodSeconds": 30},
        ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
    )["UserPoolClient"]["ClientId"]  # fmt: skip
    spa = cognito.create_user_pool_client(UserPoolId=pid, ClientName="spa")["UserPoolClient"]["ClientId"]
    cognito.set_user_pool_session_configuration(
        UserPoolId=pid, UserSessionTracking="ENABLED", TokenSession={"MaxPerUser": 7}
    )
    cognito.set_user_pool_client_session_configuration(
        UserPoolId=pid, ClientId=web, SSOSession={"MaxValidityMinutes": 480}
    )
    cognito.set_log_delivery_configuration(UserPoolId=pid, LogConfigurations=LOGS)
    cognito.create_terms(
        UserPoolId=pid, ClientId=web, TermsName="terms-of-use", TermsSource="LINK", Enforcement="NONE",
        Links={"cognito:default": "https://example.com/terms", "fr-FR": "https://example.com/fr/terms"},
    )  # fmt: skip
    cognito.create_managed_login_branding(
        UserPoolId=pid, ClientId=web, UseCognitoProvidedValues=False,
        Settings={"components": {"pageBackground": {"lightMode": {"color": "ffffffff"}}}},
        Assets=[{"Category": "PAGE_HEADER_LOGO", "ColorMode": "LIGHT", "Extension": "PNG", "Bytes": PNG}],
    )  # fmt: skip
    cognito.create_cimd_policy(
        UserPoolId=pid, ClientId=spa, PolicyName="partners", CacheDuration=86400,
        URLPatterns=["https://partners.example.com/*"],
    )  # fmt: skip
    cognito.create_user_pool_domain(UserPoolId=pid, Domain="source-login")
    cognito.set_ui_customization(UserPoolId=pid, CSS=".banner-customizable {background-color: #000}")
    cognito.set_ui_customization(UserPoolId=pid, ClientId=web, CSS=".logo-customizable {max-width: 60%}")
    cognito.set_risk_configuration(UserPoolId=pid, RiskExceptionConfiguration={"BlockedIPRangeList": ["192.0.2.0/24"]})
    cognito.set_risk_configuration(
        UserPoolId=pid, ClientId=spa,
        CompromisedCredentialsRiskConfiguration={"EventFilter": ["SIGN_IN"], "Actions": {"EventAction": "BLOCK"}},
    )  # fmt: skip
    config_double.seed_replicas(_backend(), pid, REPLICAS)
    return pid, {"web": web, "spa": spa}


def test_snapshot_records_feature_plan_replicas_key_and_issuer(cognito: Any, double: None) -> None:
    pid, _ = surfaces_pool(cognito)
    config = PoolReader(cognito, Pacer(), pid).read_config()
    assert config.replicas == REPLICAS
    assert config.user_pool["UserPoolTier"] == "PLUS"
    extra = config_extra(config)
    assert extra["feature_plan"] == "PLUS"
    assert extra["replicas"] == [
        {"region": "us-east-1", "role": "PRIMARY", "status": "ACTIVE"},
        {"region": "eu-west-1", "role": "SECONDARY", "status": "INACTIVE"},
    ]
    assert PoolConfig.from_record(json.loads(json.dumps(config.to_record()))) == config


def test_show_and_snapshots_display_plan_and_replicas_never_the_secret(
    cognito: Any, double: None, tmp_repo: str
) -> None:
    pid, _ = surfaces_pool(cognito)
    add_user(cognito, pid, "alice")
    runner = CliRunner()
    assert runner.invoke(cli, ["backup", "--user-pool-id", pid, "--repo", tmp_repo]).exit_code == 0
    rows = json.loads(runner.invoke(cli, ["snapshots", "--repo", tmp_repo, "--json"]).output)
    assert rows[0]["feature_plan"] == "PLUS"
    assert [r["region"] for r in rows[0]["replicas"]] == ["us-east-1", "eu-west-1"]
    table = runner.invoke(cli, ["snapshots", "--repo", tmp_repo])
    assert "PLUS" in table.output and "eu-west-1" in table.output
    shown = json.loads(runner.invoke(cli, ["show", "--repo", tmp_repo, "--json"]).output)
    assert shown["feature_plan"] == "PLUS"
    assert shown["issuer_configuration"] == {"Type": "STANDARD"}
    assert "key_configuration" in shown
    assert shown["replicas"][1] == {"region": "eu-west-1", "role": "SECONDARY", "status": "INACTIVE"}
    assert shown["configuration"]["terms"] == 1 and shown["configuration"]["managed_login_branding"] == 1
    human = runner.invoke(cli, ["show", "--repo", tmp_repo])
    assert "feature plan: PLUS" in human.output and "eu-west-1 (SECONDARY, INACTIVE)" in human.output
    for output in (human.output, json.dumps(shown), table.output):
        assert SECRET not in output


def _without(item: dict[str, Any], *keys: str) -> dict[str, Any]:
    drop = {"UserPoolId", "ClientId", "CreationDate", "LastModifiedDate", *keys}
    return {k: v for k, v in item.items() if k not in drop}


def test_every_surface_round_trips_into_a_new_pool(cognito: Any, double: None) -> None:
    pid, ids = surfaces_pool(cognito)
    old = PoolReader(cognito, Pacer(), pid).read_config()
    assert not old.incomplete, old.incomplete
    # The snapshot is JSON: what round-trips is what was written.
    old = PoolConfig.from_record(json.loads(json.dumps(old.to_record())))
    warnings: list[str] = []
    created = create_pool_from_config(
        cognito, Pacer(), old, "restored", arn_map={}, domain_prefix="restored-login", keep_sub_attribute=None,
        target_region=None, warn=warnings.append,
    )  # fmt: skip
    new = PoolReader(cognito, Pacer(), created.user_pool_id).read_config()
    mapped = created.client_id_map

    assert new.user_pool["UserPoolTier"] == "PLUS"
    assert new.user_pool["IssuerConfiguration"] == {"Type": "STANDARD"}
    assert new.mfa_config["WebAuthnConfiguration"] == old.mfa_config["WebAuthnConfiguration"]
    new_clients = {c["ClientName"]: c for c in new.clients}
    assert new_clients["web"]["ClientSecret"] == SECRET
    assert new_clients["web"]["RefreshTokenRotation"] == {"Feature": "ENABLED", "RetryGracePeriodSeconds": 30}
    assert (
        new.session_configuration
        == old.session_configuration
        == {
            "UserSessionTracking": "ENABLED",
            "TokenSession": {"MaxPerUser": 7},
        }
    )
    assert new.client_session_configuration == {
        mapped[ids["web"]]: {"MaxValidityMinutes": 480}
    } and old.client_session_configuration == {ids["web"]: {"MaxValidityMinutes": 480}}
    assert new.log_delivery == old.log_delivery == LOGS
    assert [_without(t, "TermsId") for t in new.terms] == [_without(t, "TermsId") for t in old.terms]
    assert new.terms[0]["ClientId"] == mapped[ids["web"]]
    assert set(new.managed_login_branding) == {mapped[ids["web"]]}
    new_style = new.managed_login_branding[mapped[ids["web"]]]
    old_style = old.managed_login_branding[ids["web"]]
    assert _without(new_style, "ManagedLoginBrandingId") == _without(old_style, "ManagedLoginBrandingId")
    assert base64.b64decode(new_style["Assets"][0]["Bytes"]) == PNG  # binary kept byte for byte
    assert [_without(p, "CIMDPolicyId") for p in new.cimd_policies] == [
        _without(p, "CIMDPolicyId") for p in old.cimd_policies
    ]
    assert new.cimd_policies[0]["ClientId"] == mapped[ids["spa"]]
    assert _without(new.ui_customization or {}) == _without(old.ui_customization or {})
    assert old.client_ui_customization[ids["web"]]["CSS"] == ".logo-customizable {max-width: 60%}"
    assert set(old.client_ui_customization) == {ids["web"]}  # spa answers the pool-wide one: not its own
    assert {k: _without(v) for k, v in new.client_ui_customization.items()} == {
        mapped[ids["web"]]: _without(old.client_ui_customization[ids["web"]])
    }
    assert _without(new.risk_configuration or {}) == _without(old.risk_configuration or {})
    assert old.risk_configuration and old.risk_configuration["RiskExceptionConfiguration"]
    assert {k: _without(v) for k, v in new.client_risk_configuration.items()} == {
        mapped[ids["spa"]]: _without(old.client_risk_configuration[ids["spa"]])
    }
    assert new.replicas == []  # a replica is made with CreateUserPoolReplica, not by a restore
    assert any("replica" in w for w in warnings)


def test_without_the_calls_each_new_surface_is_not_offered_and_the_snapshot_complete(cognito: Any) -> None:
    # No double: moto answers each newer call as a call it lacks.
    pid = make_pool(cognito, "plain")
    cognito.create_user_pool_client(UserPoolId=pid, ClientName="web")
    config = PoolReader(cognito, Pacer(), pid).read_config()
    assert not config.incomplete
    for op in (
        "ListUserPoolReplicas",
        "GetUserPoolSessionConfiguration",
        "GetUserPoolClientSessionConfiguration",
        "GetLogDeliveryConfiguration",
        "ListTerms",
        "DescribeManagedLoginBrandingByClient",
        "ListCIMDPolicies",
    ):
        assert op in config.unavailable, op
    assert config.replicas == [] and config.terms == [] and config.managed_login_branding == {}


def test_a_client_without_a_style_reads_as_none_not_as_a_missing_call(cognito: Any, double: None) -> None:
    pid = make_pool(cognito, "plain")
    cognito.create_user_pool_client(UserPoolId=pid, ClientName="web")
    config = PoolReader(cognito, Pacer(), pid).read_config()
    assert config.managed_login_branding == {}
    assert "DescribeManagedLoginBrandingByClient" not in config.unavailable


@pytest.mark.parametrize(
    ("operation", "code"),
    [
        ("ListUserPoolReplicas", "OperationNotEnabledException"),
        ("GetUserPoolSessionConfiguration", "OperationNotEnabledException"),
        ("ListTerms", "OperationNotEnabledException"),
        ("DescribeManagedLoginBrandingByClient", "OperationNotEnabledException"),
        ("GetUserPoolClientSessionConfiguration", "OperationNotEnabledException"),
    ],
)
def test_documented_not_offered_answers(operation: str, code: str) -> None:
    assert classify(operation, code, status=400, content_type="application/x-amz-json-1.1") is Verdict.NOT_OFFERED


def test_one_client_without_its_own_setting_does_not_stop_the_next_clients_read(cognito: Any, double: None) -> None:
    # Cognito may answer a client without its own risk configuration with ResourceNotFoundException
    # (injected at botocore's boundary for the first client): that client has none, the call is offered.
    pid, ids = surfaces_pool(cognito)
    first = cognito.list_user_pool_clients(UserPoolId=pid, MaxResults=60)["UserPoolClients"][0]["ClientId"]
    FaultInjector(
        cognito,
        code="ResourceNotFoundException",
        operations={"DescribeRiskConfiguration"},
        fail_on_call=1,
        repeat=100,
        predicate=lambda params: params.get("ClientId") == first,
    )
    config = PoolReader(cognito, Pacer(), pid).read_config()
    assert "DescribeRiskConfiguration" not in config.unavailable and not config.incomplete
    assert set(config.client_risk_configuration) == {ids["spa"]} - {first}


def test_log_delivery_and_risk_notifications_follow_the_arn_rules_across_regions() -> None:
    ses = "arn:aws:ses:us-east-1:123456789012:identity/example.com"
    config = PoolConfig(
        user_pool={"Id": "us-east-1_src", "Name": "src"},
        log_delivery=LOGS,
        risk_configuration={
            "ClientId": "ALL",
            "AccountTakeoverRiskConfiguration": {
                "NotifyConfiguration": {"From": "security@example.com", "SourceArn": ses},
                "Actions": {"HighAction": {"Notify": True, "EventAction": "BLOCK"}},
            },
        },
    )
    unmapped = translate_pool_config(config, "copy", target_region="eu-west-1")
    settings = dict(unmapped.pool_settings)
    assert "SetLogDeliveryConfiguration" not in settings  # its only destination is in another Region
    takeover = settings["SetRiskConfiguration"]["AccountTakeoverRiskConfiguration"]
    assert "NotifyConfiguration" not in takeover and takeover["Actions"]["HighAction"] == {
        "Notify": False,
        "EventAction": "BLOCK",
    }
    assert any("LogGroupArn" in w for w in unmapped.warnings) and any("SourceArn" in w for w in unmapped.warnings)

    log_group = LOGS[0]["CloudWatchLogsConfiguration"]["LogGroupArn"]
    mapped = translate_pool_config(
        config,
        "copy",
        target_region="eu-west-1",
        arn_map={log_group: log_group.replace("us-east-1", "eu-west-1"), ses: ses.replace("us-east-1", "eu-west-1")},
    )
    settings = dict(mapped.pool_settings)
    sent = settings["SetLogDeliveryConfiguration"]["LogConfigurations"][0]
    assert sent["CloudWatchLogsConfiguration"]["LogGroupArn"].startswith("arn:aws:logs:eu-west-1:")
    notify = settings["SetRiskConfiguration"]["AccountTakeoverRiskConfiguration"]["NotifyConfiguration"]
    assert notify["SourceArn"] == ses.replace("us-east-1", "eu-west-1")
