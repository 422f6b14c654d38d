"""Pure translation of a snapshot's pool configuration into create calls (cognito-facts.md section 8)."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.pool_translate import (
    ArnMapper,
    input_members,
    parse_arn_maps,
    translate_client,
    translate_domain,
    translate_identity_provider,
    translate_pool_config,
    translate_schema,
)
from cognito_backup.errors import PlanRefused, UsageError
from cognito_backup.model import PoolConfig

SRC = "us-east-1"
ACCT = "111122223333"
LAMBDA = f"arn:aws:lambda:{SRC}:{ACCT}:function:pre-signup"
KMS = f"arn:aws:kms:{SRC}:{ACCT}:key/1234abcd-12ab-34cd-56ef-1234567890ab"
SES = f"arn:aws:ses:{SRC}:{ACCT}:identity/example.com"
SNS_ROLE = f"arn:aws:iam::{ACCT}:role/cognito-sms"
EU_LAMBDA = LAMBDA.replace(SRC, "eu-west-1")
ROLE = f"arn:aws:iam::{ACCT}:role/a"
US_PREFIX, EU_PREFIX = "arn:aws:lambda:us-east-1:*", "arn:aws:lambda:eu-west-1:*"


def _pool(**extra: Any) -> dict[str, Any]:
    pool: dict[str, Any] = {
        "Id": f"{SRC}_AbCdEf123",
        "Name": "prod",
        "Arn": f"arn:aws:cognito-idp:{SRC}:{ACCT}:userpool/{SRC}_AbCdEf123",
        "Status": "Enabled",
        "CreationDate": "2026-01-01T00:00:00Z",
        "LastModifiedDate": "2026-01-02T00:00:00Z",
        "EstimatedNumberOfUsers": 42,
        "Domain": "prod-login",
        "SmsConfigurationFailure": "x",
        "EmailConfigurationFailure": "y",
        "SomeFieldFromTheFuture": {"x": 1},
        "Policies": {"PasswordPolicy": {"MinimumLength": 12, "TemporaryPasswordValidityDays": 3}},
        "AdminCreateUserConfig": {"AllowAdminCreateUserOnly": True, "UnusedAccountValidityDays": 3},
        "AliasAttributes": ["email"],
        "MfaConfiguration": "OFF",
        "SchemaAttributes": [
            {"Name": "sub", "AttributeDataType": "String", "Mutable": False, "Required": True},
            {"Name": "identities", "AttributeDataType": "String", "Mutable": True, "Required": False},
            {"Name": "email", "AttributeDataType": "String", "Mutable": True, "Required": True,
             "StringAttributeConstraints": {"MinLength": "0", "MaxLength": "2048"}},
            {"Name": "given_name", "AttributeDataType": "String", "Mutable": True, "Required": False},
            {"Name": "birthdate", "AttributeDataType": "String", "Mutable": False, "Required": False},
            {"Name": "custom:tier", "AttributeDataType": "String", "Mutable": True, "Required": False,
             "DeveloperOnlyAttribute": False, "StringAttributeConstraints": {"MaxLength": "64"}},
            {"Name": "custom:tenant", "AttributeDataType": "String", "Mutable": False, "Required": False,
             "StringAttributeConstraints": {}},
            {"Name": "dev:custom:internal", "AttributeDataType": "Number", "Mutable": True,
             "DeveloperOnlyAttribute": True},
        ],
    }  # fmt: skip
    pool.update(extra)
    return pool


def _config(**extra: Any) -> PoolConfig:
    return PoolConfig(user_pool=_pool(**extra))


def test_pool_fields_dropped_renamed_and_filtered_to_the_create_shape() -> None:
    plan = translate_pool_config(_config(), "restored")
    create = plan.create_pool
    assert create["PoolName"] == "restored"
    for gone in ("Id", "Name", "Arn", "Status", "CreationDate", "LastModifiedDate", "EstimatedNumberOfUsers",
                 "Domain", "SmsConfigurationFailure", "EmailConfigurationFailure", "SchemaAttributes",
                 "SomeFieldFromTheFuture"):  # fmt: skip
        assert gone not in create, gone
    assert set(create) <= input_members("CreateUserPool")
    assert create["AliasAttributes"] == ["email"]
    assert create["Policies"]["PasswordPolicy"]["MinimumLength"] == 12
    # Cognito refuses the deprecated field beside TemporaryPasswordValidityDays.
    assert "UnusedAccountValidityDays" not in create["AdminCreateUserConfig"]
    assert plan.warnings == []


def test_schema_keeps_custom_attributes_without_prefix_and_only_non_default_standard_ones() -> None:
    schema = {a["Name"]: a for a in translate_schema(_pool()["SchemaAttributes"])}
    assert set(schema) == {"email", "birthdate", "tier", "tenant", "internal"}
    assert schema["tier"] == {
        "Name": "tier",
        "AttributeDataType": "String",
        "Mutable": True,
        "StringAttributeConstraints": {"MaxLength": "64"},
    }
    assert schema["tenant"]["Mutable"] is False and "StringAttributeConstraints" not in schema["tenant"]
    assert schema["internal"]["DeveloperOnlyAttribute"] is True
    assert schema["email"] == {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True}
    assert schema["birthdate"]["Mutable"] is False


def test_keep_sub_attribute_is_an_immutable_string() -> None:
    plan = translate_pool_config(_config(), "restored", keep_sub_attribute="custom:old_sub")
    assert plan.keep_sub_attribute == "custom:old_sub"
    entry = next(a for a in plan.create_pool["Schema"] if a["Name"] == "old_sub")
    assert entry["AttributeDataType"] == "String" and entry["Mutable"] is False
    with pytest.raises(UsageError):
        translate_pool_config(_config(), "restored", keep_sub_attribute="custom:this-name-is-far-too-long")
    with pytest.raises(PlanRefused):
        translate_pool_config(_config(), "restored", keep_sub_attribute="custom:internal")  # a Number already


def test_mfa_on_is_created_off_then_switched_on() -> None:
    config = _config(MfaConfiguration="ON")
    config.mfa_config = {"MfaConfiguration": "ON", "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    plan = translate_pool_config(config, "restored")
    assert plan.create_pool["MfaConfiguration"] == "OFF"
    assert plan.mfa == {"MfaConfiguration": "ON", "SoftwareTokenMfaConfiguration": {"Enabled": True}}
    assert translate_pool_config(_config(), "restored").mfa is None


LAMBDA_CONFIG = {
    "PreSignUp": LAMBDA,
    "CustomSMSSender": {"LambdaVersion": "V1_0", "LambdaArn": LAMBDA},
    "KMSKeyID": KMS,
}


@pytest.mark.parametrize(
    ("target", "arn_map", "expect_pre_signup", "warned"),
    [
        (SRC, {}, LAMBDA, False),  # same Region: kept as is
        ("eu-west-1", {}, None, True),  # another Region, no mapping: left out, warned
        ("eu-west-1", {LAMBDA: LAMBDA.replace(SRC, "eu-west-1")}, LAMBDA.replace(SRC, "eu-west-1"), True),
        (
            "eu-west-1",
            {
                f"arn:aws:lambda:{SRC}:{ACCT}:*": f"arn:aws:lambda:eu-west-1:{ACCT}:*",
                f"arn:aws:kms:{SRC}:*": "arn:aws:kms:eu-west-1:*",
            },
            LAMBDA.replace(SRC, "eu-west-1"),
            False,
        ),
    ],
)
def test_lambda_arns_are_mapped_or_left_out_with_a_warning(
    target: str, arn_map: dict[str, str], expect_pre_signup: str | None, warned: bool
) -> None:
    plan = translate_pool_config(_config(LambdaConfig=dict(LAMBDA_CONFIG)), "r", arn_map=arn_map, target_region=target)
    lam = plan.create_pool.get("LambdaConfig", {})
    assert lam.get("PreSignUp") == expect_pre_signup
    assert bool(plan.warnings) == warned
    if expect_pre_signup is None:
        assert any(LAMBDA in w and "--map-arn" in w for w in plan.warnings)
    if "KMSKeyID" not in lam:
        assert "CustomSMSSender" not in lam, "a custom sender without its KMS key would be refused"
    else:
        assert lam["KMSKeyID"].split(":")[3] == target


def test_ses_and_sns_left_out_fall_back_safely() -> None:
    config = _config(
        EmailConfiguration={"EmailSendingAccount": "DEVELOPER", "SourceArn": SES, "From": "x@example.com",
                            "ReplyToEmailAddress": "help@example.com"},
        SmsConfiguration={"SnsCallerArn": SNS_ROLE, "ExternalId": "e", "SnsRegion": SRC},
        MfaConfiguration="OPTIONAL",
    )  # fmt: skip
    config.mfa_config = {
        "MfaConfiguration": "OPTIONAL",
        "SmsMfaConfiguration": {"SmsConfiguration": {"SnsCallerArn": SNS_ROLE, "ExternalId": "e"}},
    }
    plan = translate_pool_config(config, "r", target_region="eu-west-1", target_account="999988887777")
    assert plan.create_pool["EmailConfiguration"] == {
        "EmailSendingAccount": "COGNITO_DEFAULT",
        "ReplyToEmailAddress": "help@example.com",
    }
    assert "SmsConfiguration" not in plan.create_pool
    assert plan.mfa is None  # OPTIONAL with no factor left: OFF, warned
    assert any("OPTIONAL" in w for w in plan.warnings)
    # Required MFA is never silently dropped.
    config.mfa_config["MfaConfiguration"] = "ON"
    with pytest.raises(PlanRefused, match="MFA"):
        translate_pool_config(config, "r", target_region="eu-west-1", target_account="999988887777")
    # Mapped: kept, and the MFA factor stays.
    plan = translate_pool_config(
        config, "r", target_region="eu-west-1", target_account="999988887777",
        arn_map={SNS_ROLE: "arn:aws:iam::999988887777:role/sms",
                 SES: "arn:aws:ses:eu-west-1:999988887777:identity/example.com"},
    )  # fmt: skip
    assert plan.mfa is not None
    assert plan.mfa["SmsMfaConfiguration"]["SmsConfiguration"]["SnsCallerArn"] == "arn:aws:iam::999988887777:role/sms"
    assert plan.create_pool["EmailConfiguration"]["SourceArn"].startswith("arn:aws:ses:eu-west-1")


def test_client_secret_kept_and_read_only_fields_dropped() -> None:
    assert "ClientSecret" in input_members("CreateUserPoolClient")
    src = {
        "UserPoolId": "us-east-1_old",
        "ClientId": "oldclientid",
        "ClientName": "web",
        "ClientSecret": "s3cretS3cretS3cretS3cret0123",
        "CreationDate": "2026-01-01T00:00:00Z",
        "LastModifiedDate": "2026-01-01T00:00:00Z",
        "ClientType": "CONFIDENTIAL",
        "SupportedIdentityProviders": ["COGNITO", "corp", "gone"],
        "AllowedOAuthScopes": ["openid"],
        "AnalyticsConfiguration": {"ApplicationArn": f"arn:aws:mobiletargeting:{SRC}:{ACCT}:apps/abc",
                                   "RoleArn": f"arn:aws:iam::{ACCT}:role/pinpoint"},
    }  # fmt: skip
    mapper = ArnMapper({}, "eu-west-1")
    cp = translate_client(src, mapper, available_idps={"COGNITO", "corp"})
    assert cp.old_client_id == "oldclientid" and cp.secret_kept
    assert cp.kwargs["ClientSecret"] == src["ClientSecret"] and "GenerateSecret" not in cp.kwargs
    for gone in ("ClientId", "UserPoolId", "CreationDate", "LastModifiedDate", "ClientType", "AnalyticsConfiguration"):
        assert gone not in cp.kwargs, gone
    assert cp.kwargs["SupportedIdentityProviders"] == ["COGNITO", "corp"]
    assert len(mapper.warnings) == 2  # Pinpoint app left out; IdP 'gone' not offered


def test_identity_provider_read_only_details_dropped() -> None:
    mapper = ArnMapper({})
    saml = translate_identity_provider(
        {
            "UserPoolId": "p",
            "ProviderName": "corp",
            "ProviderType": "SAML",
            "ProviderDetails": {"MetadataURL": "https://idp/meta", "MetadataFile": "<xml/>",
                                "ActiveEncryptionCertificate": "cert", "SSORedirectBindingURI": "https://idp/sso",
                                "IDPSignout": "true"},
            "AttributeMapping": {"email": "mail"},
            "IdpIdentifiers": ["corp.example.com"],
            "CreationDate": "x",
        },
        mapper,
    )  # fmt: skip
    assert saml == {
        "ProviderName": "corp",
        "ProviderType": "SAML",
        "ProviderDetails": {"MetadataURL": "https://idp/meta", "IDPSignout": "true"},
        "AttributeMapping": {"email": "mail"},
        "IdpIdentifiers": ["corp.example.com"],
    }
    google = translate_identity_provider(
        {"ProviderName": "Google", "ProviderType": "Google",
         "ProviderDetails": {"client_id": "c", "client_secret": "s", "authorize_scopes": "email",
                             "attributes_url_add_attributes": "true", "token_url": "https://t"}},
        mapper,
    )  # fmt: skip
    assert google is not None and set(google["ProviderDetails"]) == {"client_id", "client_secret", "authorize_scopes"}
    apple = {
        "ProviderName": "SignInWithApple",
        "ProviderType": "SignInWithApple",
        "ProviderDetails": {"client_id": "c"},
    }
    assert translate_identity_provider(apple, mapper) is None
    assert any("private_key" in w for w in mapper.warnings)


def test_domains_prefix_override_and_custom_certificate() -> None:
    mapper = ArnMapper({}, "eu-west-1", "999988887777")
    assert translate_domain({"Domain": "prod-login", "Status": "ACTIVE"}, mapper) == {"Domain": "prod-login"}
    assert translate_domain({"Domain": "prod-login"}, mapper, domain_prefix="prod-dr") == {"Domain": "prod-dr"}
    with pytest.raises(UsageError):
        translate_domain({"Domain": "prod-login"}, mapper, domain_prefix="Bad_Prefix")
    cert = f"arn:aws:acm:us-east-1:{ACCT}:certificate/abc"
    custom = {"Domain": "auth.example.com", "CustomDomainConfig": {"CertificateArn": cert}}
    assert translate_domain(custom, mapper) is None  # another account, no mapping
    assert any(cert in w for w in mapper.warnings)
    same_account = ArnMapper({}, "eu-west-1", ACCT)
    made = translate_domain(custom, same_account)
    # The certificate of a custom domain is always in us-east-1, whatever the pool's Region.
    assert made == {"Domain": "auth.example.com", "CustomDomainConfig": {"CertificateArn": cert}}


def test_ui_logo_is_warned_not_fetched() -> None:
    config = _config()
    config.domain = {"Domain": "prod-login"}
    config.ui_customization = {"CSS": ".banner{color:red}", "ImageUrl": "https://cdn.example/logo.png"}
    plan = translate_pool_config(config, "r", domain_prefix="prod-dr")
    assert plan.ui_customization == {"CSS": ".banner{color:red}"}
    assert any("logo.png" in w for w in plan.warnings)


@pytest.mark.parametrize(
    ("specs", "expected"),
    [
        ([f"{LAMBDA}={EU_LAMBDA}"], {LAMBDA: EU_LAMBDA}),
        ([f"{ROLE}=b={ROLE}c"], {f"{ROLE}=b": f"{ROLE}c"}),
        ([f"{US_PREFIX}={EU_PREFIX}"], {US_PREFIX: EU_PREFIX}),
    ],
)  # fmt: skip
def test_parse_arn_maps(specs: list[str], expected: dict[str, str]) -> None:
    assert parse_arn_maps(specs) == expected


@pytest.mark.parametrize(
    "spec",
    [
        "nonsense",
        "arn:aws:lambda:us-east-1:1:function:f",
        "foo=arn:aws:iam::1:role/x",
        "arn:aws:lambda:*=arn:aws:lambda:eu-west-1:1:function:f",
    ],
)
def test_parse_arn_maps_rejects_bad_input(spec: str) -> None:
    with pytest.raises(UsageError):
        parse_arn_maps([spec])


def test_parse_arn_maps_rejects_conflicting_mappings() -> None:
    with pytest.raises(UsageError):
        parse_arn_maps([f"{LAMBDA}={LAMBDA}2", f"{LAMBDA}={LAMBDA}3"])
