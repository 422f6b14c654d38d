"""Parse Cognito change events into change hints. PURE: no I/O, no clock.

A hint says only "this user / group / pool configuration changed at about this time"; the capture
re-reads the current state (ops/capture.py). Sources understood:

- CloudTrail records for `cognito-idp.amazonaws.com`, as EventBridge delivers them
  (`source: aws.cognito-idp`, `detail-type: AWS API Call via CloudTrail`, the record in `detail`),
  wrapped in an SQS message body, in an SNS notification, or bare (a trail file's record);
- the hosted UI's own CloudTrail events (`Signup_POST`, `Confirm_POST`, ...);
- Cognito Lambda trigger events (`triggerSource`), e.g. `PostConfirmation_ConfirmSignUp`.

CloudTrail hides private fields as `HIDDEN_DUE_TO_SECURITY_REASONS`, often the username itself. The user
is then identified by its `sub`, which Cognito puts in `additionalEventData.sub` (API calls),
`additionalEventData.requestParameters.sub` (hosted UI confirmation) or `responseElements.userSub`
(SignUp). A user event that carries neither a readable username nor a sub becomes an `unknown_user` hint
(see docs/capture.md for how the capture resolves it and what it costs).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

HIDDEN = "HIDDEN_DUE_TO_SECURITY_REASONS"
COGNITO_SOURCE = "aws.cognito-idp"
# API calls; the hosted UI's events (eventType AwsServiceEvent) come as "AWS Service Event via CloudTrail".
CLOUDTRAIL_DETAIL_TYPES = frozenset({"AWS API Call via CloudTrail", "AWS Service Event via CloudTrail"})
EVENT_SOURCE = "cognito-idp.amazonaws.com"

# Calls a user makes on their own account (public or access-token APIs, the hosted UI's confirmation
# page). Each is a sign-up, confirmation, password change or attribute update: it already makes the user a
# monthly active user this month, so re-reading them with AdminGetUser (which counts toward MAU, UserRead
# quota 120/s) adds no cost, while admin-made changes keep the non-billing ListUsers read (UserList, 30/s,
# shared with every backup). Trigger images are not listed: Post Confirmation also fires for the admin's
# AdminConfirmSignUp, and an image needs no read anyway.
SELF_SERVICE_EVENTS = frozenset(
    {
        "SignUp",
        "ConfirmSignUp",
        "ConfirmForgotPassword",
        "UpdateUserAttributes",
        "DeleteUserAttributes",
        "VerifyUserAttribute",
        "Confirm_POST",
        "DeleteUser",
    }
)
USER_DELETE_EVENTS = frozenset({"AdminDeleteUser", "DeleteUser"})
# Calls after which a user must be re-read (attributes, status, enabled flag may have changed): the
# administrator's, and the user's own (SELF_SERVICE_EVENTS, above) but for deleting themselves.
USER_EVENTS = frozenset(
    {
        "AdminCreateUser",
        "AdminUpdateUserAttributes",
        "AdminDeleteUserAttributes",
        "AdminDisableUser",
        "AdminEnableUser",
        "AdminConfirmSignUp",
        "AdminSetUserPassword",
        "AdminResetUserPassword",
        "AdminLinkProviderForUser",
        "AdminDisableProviderForUser",
    }
) | (SELF_SERVICE_EVENTS - USER_DELETE_EVENTS)
MEMBERSHIP_EVENTS = frozenset({"AdminAddUserToGroup", "AdminRemoveUserFromGroup"})
GROUP_EVENTS = frozenset({"CreateGroup", "UpdateGroup"})
GROUP_DELETE_EVENTS = frozenset({"DeleteGroup"})
CONFIG_EVENTS = frozenset(
    {
        "UpdateUserPool",
        "AddCustomAttributes",
        "SetUserPoolMfaConfig",
        "CreateUserPoolClient",
        "UpdateUserPoolClient",
        "DeleteUserPoolClient",
        "CreateIdentityProvider",
        "UpdateIdentityProvider",
        "DeleteIdentityProvider",
        "CreateResourceServer",
        "UpdateResourceServer",
        "DeleteResourceServer",
        "CreateUserPoolDomain",
        "UpdateUserPoolDomain",
        "DeleteUserPoolDomain",
        "SetUICustomization",
        "SetRiskConfiguration",
        "TagResource",
        "UntagResource",
        # the newer surfaces (issue #11), which the standby follows too
        "SetUserPoolSessionConfiguration",
        "SetUserPoolClientSessionConfiguration",
        "SetLogDeliveryConfiguration",
        "CreateTerms",
        "UpdateTerms",
        "DeleteTerms",
        "CreateManagedLoginBranding",
        "UpdateManagedLoginBranding",
        "DeleteManagedLoginBranding",
        "CreateCIMDPolicy",
        "UpdateCIMDPolicy",
        "DeleteCIMDPolicy",
    }
)
# The hosted UI's sign-up form: CloudTrail logs nothing that identifies the new (unconfirmed) user.
UNKNOWN_SIGNUP_EVENTS = frozenset({"Signup_POST"})

# Trigger sources after which the user exists and `request.userAttributes` is its current image.
TRIGGER_USER_IMAGE = ("PostConfirmation_",)


class EventParseError(ValueError):
    """The message is not an event this tool understands (a poison message: left for the DLQ)."""


@dataclass(frozen=True, slots=True)
class ChangeHint:
    """What changed, as far as the event tells. The capture re-reads the rest.

    kind: "user" (re-read one user), "membership" (re-read the user and its groups), "group",
    "config", "unknown_user" (a user changed but the event names neither username nor sub).
    """

    kind: str
    pool_id: str | None
    event_id: str
    event_name: str
    changed_at: str | None
    source: str
    sub: str | None = None
    username: str | None = None
    group: str | None = None
    deleting: bool = False
    # The app client of user-side calls (SignUp, ConfirmSignUp...) that name no pool: tells which pool.
    client_id: str | None = None
    # Trigger events carry the user's current attributes: {"username", "attributes", "status"}.
    image: Mapping[str, Any] | None = None
    # The user made this change themselves (SELF_SERVICE_EVENTS): see plan_user_read.
    self_made: bool = False

    @property
    def target(self) -> tuple[str | None, str, str]:
        """What a re-read reads: hints with the same target in one batch need one re-read."""
        if self.kind in ("user", "membership"):
            who = f"sub:{self.sub}" if self.sub else f"username:{self.username}"
            return (self.pool_id, self.kind, who)
        if self.kind == "group":
            return (self.pool_id, "group", str(self.group))
        return (self.pool_id, self.kind, "")


def _clean(value: Any) -> str | None:
    """A usable identifier, or None when absent or redacted."""
    if isinstance(value, list):
        value = value[0] if len(value) == 1 else None
    if not isinstance(value, str) or not value or value == HIDDEN:
        return None
    return value


def _pool_from_arns(detail: Mapping[str, Any]) -> str | None:
    for res in detail.get("resources") or []:
        arn = str(res.get("ARN") or res.get("arn") or "") if isinstance(res, Mapping) else ""
        if ":userpool/" in arn:
            return arn.rsplit("/", 1)[-1]
    return None


def _sub_of(rp: Mapping[str, Any], resp: Mapping[str, Any], add: Mapping[str, Any]) -> str | None:
    add_rp = add.get("requestParameters")
    user = resp.get("user")
    candidates: list[Any] = [
        add.get("sub"),
        add_rp.get("sub") if isinstance(add_rp, Mapping) else None,
        resp.get("userSub"),
        rp.get("sub"),
    ]
    if isinstance(user, Mapping):
        for attr in user.get("attributes") or []:
            if isinstance(attr, Mapping) and attr.get("name") == "sub":
                candidates.append(attr.get("value"))
    for candidate in candidates:
        sub = _clean(candidate)
        if sub:
            return sub
    return None


def _username_of(rp: Mapping[str, Any], resp: Mapping[str, Any], add: Mapping[str, Any]) -> str | None:
    add_rp = add.get("requestParameters")
    user = resp.get("user")
    for candidate in (
        rp.get("username"),
        user.get("username") if isinstance(user, Mapping) else None,
        add_rp.get("username") if isinstance(add_rp, Mapping) else None,
    ):
        name = _clean(candidate)
        if name:
            return name
    return None


def hint_from_cloudtrail(detail: Mapping[str, Any], fallback_id: str | None = None) -> ChangeHint | None:
    """A CloudTrail record (EventBridge `detail`) -> hint, or None when it changes nothing we keep."""
    if detail.get("eventSource") != EVENT_SOURCE:
        return None
    name = detail.get("eventName")
    if not isinstance(name, str):
        raise EventParseError("CloudTrail record without an eventName")
    if detail.get("errorCode"):
        return None  # a failed call changed nothing
    rp = detail.get("requestParameters") or {}
    resp = detail.get("responseElements") or {}
    add = detail.get("additionalEventData") or {}
    if not all(isinstance(x, Mapping) for x in (rp, resp, add)):
        raise EventParseError(f"{name}: unexpected CloudTrail record shape")
    pool = _clean(rp.get("userPoolId")) or _clean(add.get("userPoolId")) or _pool_from_arns(detail)
    event_id = str(detail.get("eventID") or fallback_id or "")
    if not event_id:
        raise EventParseError(f"{name}: no event id")
    common: dict[str, Any] = {
        "pool_id": pool,
        "event_id": event_id,
        "event_name": name,
        "changed_at": detail.get("eventTime"),
        "source": "cloudtrail",
        "client_id": None if pool else _clean(rp.get("clientId")) or _clean(add.get("clientId")),
    }
    if name in USER_EVENTS or name in USER_DELETE_EVENTS or name in MEMBERSHIP_EVENTS:
        sub, username = _sub_of(rp, resp, add), _username_of(rp, resp, add)
        group = _clean(rp.get("groupName")) if name in MEMBERSHIP_EVENTS else None
        if not sub and not username:
            return ChangeHint(kind="unknown_user", deleting=name in USER_DELETE_EVENTS, **common)
        kind = "membership" if name in MEMBERSHIP_EVENTS else "user"
        return ChangeHint(
            kind=kind,
            sub=sub,
            username=username,
            group=group,
            deleting=name in USER_DELETE_EVENTS,
            self_made=name in SELF_SERVICE_EVENTS,
            **common,
        )
    if name in UNKNOWN_SIGNUP_EVENTS:
        return ChangeHint(kind="unknown_user", **common)
    if name in GROUP_EVENTS or name in GROUP_DELETE_EVENTS:
        group = _clean(rp.get("groupName"))
        if group is None:
            raise EventParseError(f"{name}: no group name")
        return ChangeHint(kind="group", group=group, deleting=name in GROUP_DELETE_EVENTS, **common)
    if name in CONFIG_EVENTS:
        return ChangeHint(kind="config", **common)
    return None  # sign-ins, token requests, reads: nothing to keep


def hint_from_trigger(event: Mapping[str, Any], event_id: str, changed_at: str | None = None) -> ChangeHint | None:
    """A Cognito Lambda trigger event -> hint carrying the user's image, or None.

    Only triggers that fire after the user exists with its final attributes carry an image
    (Post Confirmation). Pre Sign-up fires before the user exists: the SignUp / AdminCreateUser
    CloudTrail event and Post Confirmation cover it.
    """
    source = event.get("triggerSource")
    pool = _clean(event.get("userPoolId"))
    username = _clean(event.get("userName"))
    if not isinstance(source, str) or not pool or not username:
        raise EventParseError("not a Cognito trigger event")
    if not source.startswith(TRIGGER_USER_IMAGE):
        return None
    request = event.get("request") or {}
    attrs = request.get("userAttributes") if isinstance(request, Mapping) else None
    if not isinstance(attrs, Mapping):
        raise EventParseError(f"{source}: no request.userAttributes")
    status = str(attrs.get("cognito:user_status") or "CONFIRMED")
    # cognito:* entries (user status, alias flags) are not attributes ListUsers returns.
    kept = {str(k): str(v) for k, v in attrs.items() if not str(k).startswith("cognito:")}
    return ChangeHint(
        kind="user",
        pool_id=pool,
        event_id=event_id,
        event_name=source,
        changed_at=changed_at,
        source="trigger",
        sub=_clean(kept.get("sub")),
        username=username,
        image={"username": username, "attributes": kept, "status": status},
    )


def hints_from_event(event: Any, fallback_id: str | None = None) -> list[ChangeHint]:
    """Any supported envelope -> hints ([] for events that change nothing). Raises EventParseError."""
    if not isinstance(event, Mapping):
        raise EventParseError("event is not a JSON object")
    if "triggerSource" in event:
        hint = hint_from_trigger(event, fallback_id or "")
        return [hint] if hint else []
    if isinstance(event.get("Records"), list):  # an SQS batch or a CloudTrail log file
        out: list[ChangeHint] = []
        for rec in event["Records"]:
            if isinstance(rec, Mapping) and "body" in rec:
                out.extend(hints_from_sqs_body(str(rec["body"]), str(rec.get("messageId") or "")))
            else:
                out.extend(hints_from_event(rec, fallback_id))
        return out
    if event.get("Type") == "Notification" and isinstance(event.get("Message"), str):  # SNS
        return hints_from_sqs_body(event["Message"], str(event.get("MessageId") or fallback_id or ""))
    if "detail" in event and "detail-type" in event:  # EventBridge
        if event.get("source") != COGNITO_SOURCE or event.get("detail-type") not in CLOUDTRAIL_DETAIL_TYPES:
            return []
        detail = event["detail"]
        if not isinstance(detail, Mapping):
            raise EventParseError("EventBridge event without a detail object")
        hint = hint_from_cloudtrail(detail, str(event.get("id") or fallback_id or ""))
        return [hint] if hint else []
    if "eventSource" in event and "eventName" in event:  # a bare CloudTrail record
        hint = hint_from_cloudtrail(event, fallback_id)
        return [hint] if hint else []
    raise EventParseError("not a CloudTrail, EventBridge, SQS, SNS or Cognito trigger event")


def hints_from_sqs_body(body: str, message_id: str | None = None) -> list[ChangeHint]:
    try:
        event = json.loads(body)
    except (TypeError, ValueError):
        raise EventParseError("message body is not JSON") from None
    return hints_from_event(event, message_id)
