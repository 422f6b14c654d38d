"""The user-migration trigger against pool A in moto, with events shaped as Cognito's documentation shows,
and pool B through tests/migrate_double.py (a DOUBLE of "Cognito creates the user in B")."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from botocore.exceptions import ClientError

from cognito_backup.core.migrate_decide import (
    AUTHENTICATION,
    BAD_CREDENTIALS,
    FORGOT_PASSWORD,
    TRY_AGAIN,
    AuthResult,
    Migrate,
    Refuse,
    SourceUser,
    decide,
    decide_lookup,
    movable_attributes,
)
from cognito_backup.serverless import migrate_trigger
from cognito_backup.serverless.migrate_trigger import MigrationRefused, Settings, handle
from tests.helpers import add_user, make_pool
from tests.http_faults import HttpFaults, every_new_client, throttle
from tests.migrate_double import CognitoMigrationDouble

PASSWORD = "Xx1!" + "a" * 12  # tests/helpers.add_user's password


def _event(source: str, name: str, password: str | None = None) -> dict[str, Any]:
    # As the developer guide's example shows it.
    request: dict[str, Any] = {"validationData": {}, "clientMetadata": {}}
    if password is not None:
        request["password"] = password
    return {
        "version": "1",
        "triggerSource": source,
        "region": "us-east-1",
        "userPoolId": "us-east-1_BBBBBBBBB",
        "userName": name,
        "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "b-client"},
        "request": request,
        "response": {
            "userAttributes": None,
            "finalUserStatus": None,
            "messageAction": None,
            "desiredDeliveryMediums": None,
            "forceAliasCreation": None,
        },
    }


def _admin_client(cognito: Any, pool: str) -> str:
    return str(
        cognito.create_user_pool_client(
            UserPoolId=pool, ClientName="cognito-backup-migrate", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
        )["UserPoolClient"]["ClientId"]
    )


@pytest.fixture
def pool_a(cognito: Any) -> tuple[str, Settings]:
    pool = make_pool(cognito, "A", AliasAttributes=["email", "preferred_username"])
    add_user(
        cognito,
        pool,
        "alice",
        {"email": "alice@example.com", "email_verified": "true", "custom:tier": "gold", "preferred_username": "al"},
        confirmed=True,
    )
    return pool, Settings(from_pool_id=pool, client_id=_admin_client(cognito, pool))


def test_sign_in_with_the_right_password_answers_attributes_confirmed_and_suppress(
    cognito: Any, pool_a: tuple[str, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    _, settings = pool_a
    with caplog.at_level(logging.INFO, logger="cognito_backup.migrate_trigger"):
        out = handle(_event(AUTHENTICATION, "alice", PASSWORD), cognito, settings)
    response = out["response"]
    assert response["finalUserStatus"] == "CONFIRMED"
    assert response["messageAction"] == "SUPPRESS"
    assert response["forceAliasCreation"] is False
    attrs = response["userAttributes"]
    assert attrs["email"] == "alice@example.com" and attrs["custom:tier"] == "gold"
    assert "sub" not in attrs  # Cognito gives B's user a new sub
    # The log names the user and the decision, never the password nor an attribute value.
    logged = caplog.text
    assert "alice" in logged and "password_verified" in logged
    assert PASSWORD not in logged and "alice@example.com" not in logged and "gold" not in logged


@pytest.mark.parametrize("name", ["alice@example.com", "al"])
def test_sign_in_with_an_alias_finds_the_user(cognito: Any, pool_a: tuple[str, Settings], name: str) -> None:
    _, settings = pool_a
    out = handle(_event(AUTHENTICATION, name, PASSWORD), cognito, settings)
    assert out["response"]["userAttributes"]["email"] == "alice@example.com"


def test_wrong_password_refuses_with_the_same_sentence_as_an_unknown_user(
    cognito: Any, pool_a: tuple[str, Settings], caplog: pytest.LogCaptureFixture
) -> None:
    _, settings = pool_a
    with caplog.at_level(logging.INFO, logger="cognito_backup.migrate_trigger"):
        with pytest.raises(MigrationRefused) as wrong:
            handle(_event(AUTHENTICATION, "alice", "Wrong-pass1!"), cognito, settings)
        with pytest.raises(MigrationRefused) as unknown:
            handle(_event(AUTHENTICATION, "nobody", "Wrong-pass1!"), cognito, settings)
    assert str(wrong.value) == str(unknown.value) == BAD_CREDENTIALS
    assert "wrong_password" in caplog.text and "not_in_source" in caplog.text
    assert "Wrong-pass1!" not in caplog.text


def test_disabled_and_unconfirmed_users_of_a_are_not_moved(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    pool, settings = pool_a
    add_user(cognito, pool, "bob", {"email": "bob@example.com"}, confirmed=True, enabled=False)
    cognito.sign_up(ClientId=settings.client_id, Username="carol", Password=PASSWORD)
    for name in ("bob", "carol"):
        with pytest.raises(MigrationRefused, match="Incorrect username or password"):
            handle(_event(AUTHENTICATION, name, PASSWORD), cognito, settings)


def test_totp_user_moves_with_the_password_and_re_enrols(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    pool, settings = pool_a
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="OPTIONAL"
    )
    token = cognito.admin_initiate_auth(
        UserPoolId=pool,
        ClientId=settings.client_id,
        AuthFlow="ADMIN_USER_PASSWORD_AUTH",
        AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
    )["AuthenticationResult"]["AccessToken"]
    cognito.associate_software_token(AccessToken=token)
    cognito.verify_software_token(AccessToken=token, UserCode="123456")
    cognito.admin_set_user_mfa_preference(
        UserPoolId=pool, Username="alice", SoftwareTokenMfaSettings={"Enabled": True, "PreferredMfa": True}
    )
    # A asks for the TOTP code only after the password was verified: the user moves, and re-enrols in B.
    assert (
        cognito.admin_initiate_auth(
            UserPoolId=pool,
            ClientId=settings.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": "alice", "PASSWORD": PASSWORD},
        )["ChallengeName"]
        == "SOFTWARE_TOKEN_MFA"
    )
    out = handle(_event(AUTHENTICATION, "alice", PASSWORD), cognito, settings)
    assert out["response"]["finalUserStatus"] == "CONFIRMED"
    with pytest.raises(MigrationRefused):
        handle(_event(AUTHENTICATION, "alice", "Wrong-pass1!"), cognito, settings)


class StillContext:
    """An honest double of the Lambda context whose clock stands still: Cognito's 5 s less the runtime's
    share, whatever the machine's load. Without a context the handler counts wall time from its start,
    building its client included, and on a loaded machine (load 17) that alone could use the budget up
    and turn the sign-in into "try again" before the call under test was made. The budget has its own
    test (test_no_call_starts_past_the_budget)."""

    def get_remaining_time_in_millis(self) -> int:
        return 4_800


def test_a_throttling_fails_fast_with_try_again(
    cognito: Any, pool_a: tuple[str, Settings], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Through the Lambda entry point, with the client it builds; the fault is below botocore's retry layer,
    # so any retry would show as a second HTTP attempt.
    pool, _ = pool_a
    monkeypatch.setenv(migrate_trigger.FROM_POOL_VAR, pool)
    monkeypatch.setattr(migrate_trigger, "_cached", None)
    faults = HttpFaults(lambda op, n: throttle() if op == "AdminInitiateAuth" and n == 1 else None)
    with every_new_client(faults):
        with pytest.raises(MigrationRefused) as refused:
            migrate_trigger.handler(_event(AUTHENTICATION, "alice", PASSWORD), StillContext())
        assert str(refused.value) == TRY_AGAIN
        assert faults.attempts["AdminInitiateAuth"] == 1  # no retry beyond Cognito's budget
        # The same container, A answering again: the user moves.
        out = migrate_trigger.handler(_event(AUTHENTICATION, "alice", PASSWORD), StillContext())
    assert out["response"]["finalUserStatus"] == "CONFIRMED"
    assert faults.attempts["AdminInitiateAuth"] == 2


def test_no_call_starts_past_the_budget(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    _, settings = pool_a
    with pytest.raises(MigrationRefused, match="try again"):
        handle(_event(AUTHENTICATION, "alice", PASSWORD), cognito, settings, remaining=lambda: 0.5)


def test_forgot_password_answers_attributes_without_status(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    _, settings = pool_a
    out = handle(_event(FORGOT_PASSWORD, "alice"), cognito, settings)
    assert out["response"]["finalUserStatus"] is None  # Cognito sets RESET_REQUIRED and sends the code
    assert out["response"]["userAttributes"]["email_verified"] == "true"


def test_email_as_username_pool(cognito: Any) -> None:
    pool = make_pool(cognito, "A-email", email_username=True)
    add_user(cognito, pool, "dora@example.com", {"email": "dora@example.com", "email_verified": "true"}, confirmed=True)
    settings = Settings(from_pool_id=pool, client_id=_admin_client(cognito, pool))
    out = handle(_event(AUTHENTICATION, "dora@example.com", PASSWORD), cognito, settings)
    assert out["response"]["userAttributes"]["email"] == "dora@example.com"


# ---- through the double of Cognito's side ---------------------------------------------------------------


def _pool_b(cognito: Any, **extra: Any) -> tuple[str, str]:
    pool = make_pool(cognito, "B", **extra)
    client = cognito.create_user_pool_client(
        UserPoolId=pool, ClientName="app", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    return pool, str(client)


def test_double_moves_the_user_with_the_password(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    _, settings = pool_a
    b_pool, b_client = _pool_b(cognito)
    double = CognitoMigrationDouble(cognito, b_pool, b_client, lambda e: handle(e, cognito, settings))
    tokens = double.sign_in("alice", PASSWORD)
    assert tokens["AuthenticationResult"]["AccessToken"]
    got = cognito.admin_get_user(UserPoolId=b_pool, Username="alice")
    assert got["UserStatus"] == "CONFIRMED"
    # A second sign-in is B's own: the trigger is not invoked again.
    double.sign_in("alice", PASSWORD)
    assert len(double.invocations) == 1


def test_double_wrong_password_creates_nothing_in_b(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    _, settings = pool_a
    b_pool, b_client = _pool_b(cognito)
    double = CognitoMigrationDouble(cognito, b_pool, b_client, lambda e: handle(e, cognito, settings))
    with pytest.raises(ClientError) as err:
        double.sign_in("alice", "Wrong-pass1!")
    assert BAD_CREDENTIALS in str(err.value)
    assert cognito.list_users(UserPoolId=b_pool)["Users"] == []


def test_double_forgot_password_leaves_reset_required(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    _, settings = pool_a
    b_pool, b_client = _pool_b(cognito)
    double = CognitoMigrationDouble(cognito, b_pool, b_client, lambda e: handle(e, cognito, settings))
    double.forgot_password("alice")
    assert cognito.admin_get_user(UserPoolId=b_pool, Username="alice")["UserStatus"] == "RESET_REQUIRED"


def test_already_in_b_under_the_alias_is_never_taken_over(cognito: Any, pool_a: tuple[str, Settings]) -> None:
    # B holds another user with alice's email as alias: the answer never forces the alias over to her.
    _, settings = pool_a
    b_pool, b_client = _pool_b(cognito, AliasAttributes=["email"])
    add_user(cognito, b_pool, "alice-restored", {"email": "alice@example.com", "email_verified": "true"})
    double = CognitoMigrationDouble(cognito, b_pool, b_client, lambda e: handle(e, cognito, settings))
    with pytest.raises(ClientError) as err:
        double.sign_in("alice", PASSWORD)
    assert err.value.response["Error"]["Code"] == "AliasExistsException"


# ---- the decisions, as a table --------------------------------------------------------------------------

_USER = SourceUser("u", True, "CONFIRMED", {"sub": "s", "email": "e@x", "email_verified": "true"})


@pytest.mark.parametrize(
    ("user", "reason"),
    [
        (None, "not_in_source"),
        (SourceUser("u", False, "CONFIRMED", {}), "disabled_in_source"),
        (SourceUser("u", True, "UNCONFIRMED", {}), "unconfirmed_in_source"),
        (SourceUser("u", True, "RESET_REQUIRED", {}), "reset_required_in_source"),
        (SourceUser("u", True, "EXTERNAL_PROVIDER", {}), "federated_in_source"),
    ],
)
def test_lookup_refusals(user: SourceUser | None, reason: str) -> None:
    refused = decide_lookup(AUTHENTICATION, user)
    assert isinstance(refused, Refuse) and refused.reason == reason


@pytest.mark.parametrize(
    ("auth", "expected"),
    [
        (AuthResult("ok"), ("CONFIRMED", "password_verified")),
        (AuthResult("challenge", "SOFTWARE_TOKEN_MFA"), ("CONFIRMED", "totp_reenrol")),
        (AuthResult("challenge", "SMS_MFA"), ("CONFIRMED", "mfa_verified_password")),
        (AuthResult("challenge", "NEW_PASSWORD_REQUIRED"), ("RESET_REQUIRED", "temporary_password")),
        (AuthResult("error", "NotAuthorizedException"), "wrong_password"),
        (AuthResult("error", "TooManyRequestsException"), "source_throttled"),
        (AuthResult("error", "PasswordResetRequiredException"), "reset_required_in_source"),
        (AuthResult("error", "InternalErrorException"), "source_error:InternalErrorException"),
    ],
)
def test_auth_decisions(auth: AuthResult, expected: Any) -> None:
    decision = decide(AUTHENTICATION, _USER, auth)
    if isinstance(expected, tuple):
        assert isinstance(decision, Migrate)
        assert (decision.final_status, decision.reason) == expected
    else:
        assert isinstance(decision, Refuse) and decision.reason == expected


def test_forgot_password_needs_a_verified_contact() -> None:
    unverified = SourceUser("u", True, "CONFIRMED", {"email": "e@x", "email_verified": "false"})
    assert isinstance(decide(FORGOT_PASSWORD, unverified, None), Refuse)
    assert isinstance(decide(FORGOT_PASSWORD, _USER, None), Migrate)


def test_movable_attributes_drop_what_cognito_assigns() -> None:
    assert movable_attributes({"sub": "1", "identities": "[]", "cognito:x": "y", "email": "e"}) == {"email": "e"}
