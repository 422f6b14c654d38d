"""A new pool created from a snapshot's configuration, on moto."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.awsrequest import AWSResponse, HTTPHeaders

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.pool_creator import create_pool_from_config, created_pool_id
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import AwsError, PlanRefused
from cognito_backup.model import PoolConfig
from tests.helpers import make_pool

SECRET = "ConfidentialSecret0123456789abcdefXYZ"


def _source(cognito: Any) -> tuple[str, PoolConfig]:
    pid = make_pool(
        cognito,
        "source",
        Policies={"PasswordPolicy": {"MinimumLength": 14, "RequireSymbols": False, "TemporaryPasswordValidityDays": 2}},
        UserPoolTags={"team": "identity"},
    )
    cognito.set_user_pool_mfa_config(
        UserPoolId=pid, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="OPTIONAL"
    )
    cognito.create_resource_server(
        UserPoolId=pid, Identifier="https://api.example.com", Name="api",
        Scopes=[{"ScopeName": "read", "ScopeDescription": "Read"}, {"ScopeName": "write", "ScopeDescription": "Write"}],
    )  # fmt: skip
    cognito.create_identity_provider(
        UserPoolId=pid, ProviderName="corp", ProviderType="OIDC",
        ProviderDetails={"client_id": "corp-client", "client_secret": "corp-secret", "attributes_request_method": "GET",
                         "oidc_issuer": "https://login.corp.example", "authorize_scopes": "openid email"},
        AttributeMapping={"email": "email"}, IdpIdentifiers=["corp.example"],
    )  # fmt: skip
    cognito.create_user_pool_client(
        UserPoolId=pid, ClientName="confidential", ClientSecret=SECRET,
        SupportedIdentityProviders=["COGNITO", "corp"], AllowedOAuthFlows=["code"],
        AllowedOAuthScopes=["openid", "https://api.example.com/read"], AllowedOAuthFlowsUserPoolClient=True,
        CallbackURLs=["https://app.example.com/cb"], ExplicitAuthFlows=["ALLOW_REFRESH_TOKEN_AUTH"],
    )  # fmt: skip
    cognito.create_user_pool_client(
        UserPoolId=pid, ClientName="spa", ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
        RefreshTokenValidity=5,
    )  # fmt: skip
    cognito.create_user_pool_domain(UserPoolId=pid, Domain="source-login")
    config = PoolReader(cognito, Pacer(), pid).read_config()
    if config.domain is None:
        # moto gap: its DescribeUserPool omits Domain, so the reader cannot find the domain to describe.
        config.domain = dict(cognito.describe_user_pool_domain(Domain="source-login")["DomainDescription"])
    return pid, config


def _comparable_client(c: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in c.items() if k not in {"ClientId", "UserPoolId", "CreationDate", "LastModifiedDate"}}


def test_new_pool_carries_the_configuration_across(cognito: Any) -> None:
    old_pid, config = _source(cognito)
    warnings: list[str] = []
    created = create_pool_from_config(
        cognito, Pacer(), config, "restored", arn_map={}, domain_prefix="restored-login",
        keep_sub_attribute="custom:old_sub", target_region=None, warn=warnings.append,
    )  # fmt: skip
    new_pid = created.user_pool_id
    assert new_pid != old_pid and created.domain == "restored-login"
    assert created.keep_sub_attribute == "custom:old_sub"
    new = PoolReader(cognito, Pacer(), new_pid).read_config()

    assert new.user_pool["Name"] == "restored"
    old_custom, new_custom = config.custom_attributes(), new.custom_attributes()
    assert new_custom.pop("custom:old_sub")["Mutable"] is False
    assert new_custom == old_custom
    assert new.user_pool["Policies"] == config.user_pool["Policies"]
    assert new.user_pool.get("UserPoolTags") == {"team": "identity"}
    assert new.mfa_config == config.mfa_config  # OPTIONAL with TOTP: set after creation

    assert new.resource_servers == [dict(rs, UserPoolId=new_pid) for rs in config.resource_servers]
    old_idp = {k: v for k, v in config.identity_providers[0].items() if k not in {"CreationDate", "LastModifiedDate"}}
    new_idp = {k: v for k, v in new.identity_providers[0].items() if k not in {"CreationDate", "LastModifiedDate"}}
    assert new_idp == dict(old_idp, UserPoolId=new_pid)

    old_clients = {c["ClientId"]: c for c in config.clients}
    new_clients = {c["ClientId"]: c for c in new.clients}
    assert set(created.client_id_map) == set(old_clients)
    assert set(created.client_id_map.values()) == set(new_clients)
    for old_id, new_id in created.client_id_map.items():
        assert old_id != new_id
        assert _comparable_client(new_clients[new_id]) == _comparable_client(old_clients[old_id])
    confidential = next(c for c in new.clients if c["ClientName"] == "confidential")
    assert confidential["ClientSecret"] == SECRET
    assert created.secrets_kept == {confidential["ClientId"]: True}

    desc = cognito.describe_user_pool_domain(Domain="restored-login")["DomainDescription"]
    assert desc["UserPoolId"] == new_pid
    assert warnings == created.warnings


def test_domain_in_use_by_another_pool_is_refused_before_anything_is_created(cognito: Any) -> None:
    _, config = _source(cognito)
    before = len(cognito.list_user_pools(MaxResults=60)["UserPools"])
    with pytest.raises(PlanRefused, match="source-login") as info:
        create_pool_from_config(
            cognito, Pacer(), config, "copy", arn_map={}, domain_prefix=None, keep_sub_attribute=None,
            target_region=None, warn=lambda m: None,
        )  # fmt: skip
    assert "--domain-prefix" in str(info.value)
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == before


def _refuse(op: str, code: str, message: str) -> Any:
    def hook(model: Any, **_: Any) -> Any:
        if model.name != op:
            return None
        return AWSResponse("https://cognito-idp.invalid", 400, HTTPHeaders(), None), {
            "Error": {"Code": code, "Message": message},
            "ResponseMetadata": {},
        }

    return hook


def test_domain_taken_elsewhere_names_the_new_pool_and_suggests_a_prefix(cognito: Any) -> None:
    _, config = _source(cognito)
    # Another account holds the prefix: only CreateUserPoolDomain can tell, as real Cognito does.
    hook = _refuse(
        "CreateUserPoolDomain", "InvalidParameterException", "Domain already associated with another user pool."
    )
    cognito.meta.events.register("before-call.cognito-idp.CreateUserPoolDomain", hook)
    with pytest.raises(PlanRefused) as info:
        create_pool_from_config(
            cognito, Pacer(), config, "copy", arn_map={}, domain_prefix="free-prefix", keep_sub_attribute=None,
            target_region=None, warn=lambda m: None,
        )  # fmt: skip
    new_id = created_pool_id(info.value)
    assert new_id and new_id in str(info.value)
    assert "--domain-prefix" in str(info.value) and f"--user-pool-id {new_id}" in str(info.value)


def test_a_failure_after_creation_names_the_new_pool(cognito: Any) -> None:
    _, config = _source(cognito)
    hook = _refuse("CreateIdentityProvider", "InternalErrorException", "boom")
    cognito.meta.events.register("before-call.cognito-idp.CreateIdentityProvider", hook)
    with pytest.raises(AwsError) as info:
        create_pool_from_config(
            cognito, Pacer(), config, "copy", arn_map={}, domain_prefix="other-prefix", keep_sub_attribute=None,
            target_region=None, warn=lambda m: None,
        )  # fmt: skip
    new_id = created_pool_id(info.value)
    assert new_id is not None
    assert f"created user pool {new_id}" in str(info.value)
    assert cognito.describe_user_pool(UserPoolId=new_id)["UserPool"]["Name"] == "copy"


def test_cross_region_copy_leaves_out_unmapped_triggers_with_warnings(cognito: Any) -> None:
    lam = "arn:aws:lambda:us-east-1:123456789012:function:pre"
    pid = make_pool(cognito, "triggers", LambdaConfig={"PreSignUp": lam, "PostConfirmation": lam + "2"})
    config = PoolReader(cognito, Pacer(), pid).read_config()
    warnings: list[str] = []
    created = create_pool_from_config(
        cognito, Pacer(), config, "dr", arn_map={lam: lam.replace("us-east-1", "eu-west-1")}, domain_prefix=None,
        keep_sub_attribute=None, target_region="eu-west-1", warn=warnings.append,
    )  # fmt: skip
    new = cognito.describe_user_pool(UserPoolId=created.user_pool_id)["UserPool"]
    assert new.get("LambdaConfig") == {"PreSignUp": lam.replace("us-east-1", "eu-west-1")}
    assert len(warnings) == 1 and "LambdaConfig.PostConfirmation" in warnings[0]
