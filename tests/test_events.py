"""Every event fixture (real CloudTrail shapes, with their redactions) -> the right change hint."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.core.events import EventParseError, hints_from_event, hints_from_sqs_body

FIXTURES = Path(__file__).parent / "fixtures" / "events"
POOL = "us-east-1_EXAMPLE11"
SUB = "4b1e0b3a-7c2d-4f1e-9a57-3f0c2d1e8a90"
CLIENT = "5exampleclientid0abcdefghi"

# fixture -> (kind, pool, sub, username, group, deleting, client_id) of its single hint, or None (no change)
EXPECTED: dict[str, tuple[str, str | None, str | None, str | None, str | None, bool, str | None] | None] = {
    "AdminCreateUser": ("user", POOL, SUB, None, None, False, None),
    "AdminUpdateUserAttributes": ("user", POOL, SUB, None, None, False, None),
    "AdminDeleteUserAttributes": ("user", POOL, SUB, None, None, False, None),
    "AdminDeleteUser": ("user", POOL, SUB, None, None, True, None),
    "AdminDisableUser": ("user", POOL, SUB, None, None, False, None),
    "AdminEnableUser": ("user", POOL, SUB, None, None, False, None),
    "AdminConfirmSignUp": ("user", POOL, SUB, None, None, False, None),
    "AdminAddUserToGroup": ("membership", POOL, SUB, None, "admins", False, None),
    "AdminRemoveUserFromGroup": ("membership", POOL, SUB, None, "admins", False, None),
    "AdminSetUserPassword": ("user", POOL, SUB, None, None, False, None),
    "AdminResetUserPassword": ("user", POOL, SUB, None, None, False, None),
    "SignUp": ("user", None, SUB, None, None, False, CLIENT),
    "ConfirmSignUp": ("user", None, SUB, None, None, False, CLIENT),
    "UpdateUserAttributes": ("user", None, SUB, None, None, False, None),
    "VerifyUserAttribute": ("user", None, SUB, None, None, False, None),
    "DeleteUser": ("user", None, SUB, None, None, True, None),
    "CreateGroup": ("group", POOL, None, None, "admins", False, None),
    "UpdateGroup": ("group", POOL, None, None, "admins", False, None),
    "DeleteGroup": ("group", POOL, None, None, "admins", True, None),
    "UpdateUserPool": ("config", POOL, None, None, None, False, None),
    "AddCustomAttributes": ("config", POOL, None, None, None, False, None),
    "CreateUserPoolClient": ("config", POOL, None, None, None, False, None),
    "UpdateUserPoolClient": ("config", POOL, None, None, None, False, None),
    "DeleteUserPoolClient": ("config", POOL, None, None, None, False, None),
    "CreateIdentityProvider": ("config", POOL, None, None, None, False, None),
    "UpdateIdentityProvider": ("config", POOL, None, None, None, False, None),
    "DeleteIdentityProvider": ("config", POOL, None, None, None, False, None),
    "hosted_ui_Signup_POST": ("unknown_user", POOL, None, None, None, False, None),
    "hosted_ui_Confirm_POST": ("user", POOL, SUB, None, None, False, None),
    "hosted_ui_Login_GET": None,
    "AdminUpdateUserAttributes_fully_redacted": ("unknown_user", POOL, None, None, None, False, None),
    "AdminDeleteUser_failed": None,
    "InitiateAuth": None,
    "trigger_PostConfirmation_ConfirmSignUp": ("user", POOL, SUB, "jane.doe", None, False, None),
    "trigger_PostConfirmation_ConfirmForgotPassword": ("user", POOL, SUB, "jane.doe", None, False, None),
    "trigger_PreSignUp_SignUp": None,
}


def load(name: str) -> Any:
    return json.loads((FIXTURES / f"{name}.json").read_text())


def test_every_fixture_has_an_expectation() -> None:
    names = {p.stem for p in FIXTURES.glob("*.json")} - {"sqs_batch"}
    assert names == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_fixture_gives_the_right_hint(name: str) -> None:
    hints = hints_from_event(load(name), fallback_id="msg-1")
    expected = EXPECTED[name]
    if expected is None:
        assert hints == []
        return
    assert len(hints) == 1
    h = hints[0]
    assert (h.kind, h.pool_id, h.sub, h.username, h.group, h.deleting, h.client_id) == expected
    assert h.event_id  # de-duplication needs it
    if h.source == "cloudtrail":
        assert h.event_id == load(name)["detail"]["eventID"]
        assert h.changed_at == load(name)["detail"]["eventTime"]


def test_redacted_values_never_become_identifiers() -> None:
    for name in EXPECTED:
        for h in hints_from_event(load(name), fallback_id="m"):
            assert "HIDDEN" not in f"{h.sub}{h.username}{h.group}{h.pool_id}"


def test_trigger_image_keeps_attributes_and_status_but_not_cognito_fields() -> None:
    (h,) = hints_from_event(load("trigger_PostConfirmation_ConfirmSignUp"), fallback_id="req-1")
    assert h.image is not None
    assert h.image["status"] == "CONFIRMED"
    assert h.image["attributes"]["sub"] == SUB
    assert h.image["attributes"]["custom:tier"] == "gold"
    assert not any(k.startswith("cognito:") for k in h.image["attributes"])


def test_sqs_wrapped_batch_and_bare_cloudtrail_record() -> None:
    hints = hints_from_event(load("sqs_batch"))
    assert [(h.kind, h.event_name) for h in hints] == [("user", "AdminDisableUser"), ("group", "CreateGroup")]
    body = json.dumps(load("AdminDisableUser"))
    (h,) = hints_from_sqs_body(body, "m-1")
    assert h.sub == SUB
    (bare,) = hints_from_event(load("AdminDisableUser")["detail"])
    assert bare.event_id == h.event_id


def test_sns_wrapped_event() -> None:
    note = {"Type": "Notification", "MessageId": "sns-1", "Message": json.dumps(load("DeleteGroup"))}
    (h,) = hints_from_event(note)
    assert (h.kind, h.group, h.deleting) == ("group", "admins", True)


@pytest.mark.parametrize(
    "body",
    [
        "not json",
        "[1, 2]",
        json.dumps({"hello": "world"}),
        json.dumps({"triggerSource": "PostConfirmation_ConfirmSignUp"}),
    ],
)
def test_unparseable_messages_are_poison(body: str) -> None:
    with pytest.raises(EventParseError):
        hints_from_sqs_body(body, "m-1")


def test_other_event_sources_are_ignored_not_poison() -> None:
    event = load("AdminDisableUser")
    event["source"] = "aws.s3"
    assert hints_from_event(event) == []
