"""Cognito Lambda trigger of pool B (User Migration): take a user over from pool A with their password.

`handle(event, client, settings)` does the work with an injected client of pool A; `handler(event, context)`
is the Lambda entry point (client built once per container, bounded timeouts, no retry). The decisions are
core/migrate_decide.py's; this module only carries out the reads they need:

    AdminGetUser(A, typed name)       who the user is in A (an alias is resolved by ListUsers if needed)
    AdminInitiateAuth(A, ADMIN_USER_PASSWORD_AUTH)   the password check (sign-in only)

Cognito gives the trigger 5 seconds in all. Each call gets at most CONNECT_TIMEOUT + READ_TIMEOUT and one
attempt; a call that would start past the budget is not made (the sign-in fails with "try again", the user
retries, nothing is created in B). Logs carry the username, the decision and timings, never the password
nor an attribute value.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from cognito_backup.core.migrate_decide import (
    AUTHENTICATION,
    OK,
    TRIGGER_POOL_VAR,
    AuthResult,
    Migrate,
    Refuse,
    SourceUser,
    decide,
    decide_lookup,
    decide_lookup_error,
)

log = logging.getLogger("cognito_backup.migrate_trigger")

CONNECT_TIMEOUT = 0.5
READ_TIMEOUT = 1.0
BUDGET_SECONDS = 4.5  # Cognito's limit is 5 s; keep room for Lambda's own overhead
CALL_SECONDS = CONNECT_TIMEOUT + READ_TIMEOUT

FROM_POOL_VAR = TRIGGER_POOL_VAR  # `migrate start` finds the deployed function by it
FROM_REGION_VAR = "COGNITO_BACKUP_MIGRATE_FROM_REGION"
CLIENT_ID_VAR = "COGNITO_BACKUP_MIGRATE_CLIENT_ID"
ROLE_VAR = "COGNITO_BACKUP_MIGRATE_ROLE_ARN"
# The name `migrate start` gives the admin-auth-only app client it creates on A.
CLIENT_NAME = "cognito-backup-migrate"


class MigrationRefused(Exception):
    """Raised to Cognito: the sign-in fails with this message and no user is created in B."""


@dataclass(frozen=True)
class Settings:
    from_pool_id: str
    client_id: str


def _log(event: str, **fields: Any) -> None:
    log.info(json.dumps({"event": event, **fields}, sort_keys=True, default=str))


def _code(exc: BaseException) -> str:
    response = getattr(exc, "response", None)
    if isinstance(response, dict):
        return str(response.get("Error", {}).get("Code", type(exc).__name__))
    return type(exc).__name__


def _alias_filter(name: str) -> str:
    # The alias a sign-in name can be: a phone number, an email, or a preferred_username.
    attribute = "phone_number" if name.startswith("+") else "email" if "@" in name else "preferred_username"
    escaped = name.replace("\\", "\\\\").replace('"', '\\"')
    return f'{attribute} = "{escaped}"'


def _alias_matches(user: dict[str, Any], name: str) -> bool:
    attrs = {a["Name"]: a.get("Value", "") for a in user.get("Attributes", [])}
    for attribute in ("email", "phone_number"):
        # Cognito signs a user in by email/phone alias only once it is verified.
        if attrs.get(attribute) == name and attrs.get(f"{attribute}_verified") == "true":
            return True
    return attrs.get("preferred_username") == name


def lookup(client: Any, pool_id: str, name: str, has_time: Callable[[], bool]) -> SourceUser | None:
    """The user A signs in as `name` (username, username attribute, or alias), or None."""
    try:
        got = client.admin_get_user(UserPoolId=pool_id, Username=name)
        return SourceUser(
            username=got["Username"],
            enabled=bool(got.get("Enabled", True)),
            status=str(got.get("UserStatus", "UNKNOWN")),
            attributes={a["Name"]: a.get("Value", "") for a in got.get("UserAttributes", [])},
        )
    except Exception as exc:
        if _code(exc) != "UserNotFoundException":
            raise
    if not has_time():
        raise TimeoutError("no time left for the alias lookup")
    # Some servers resolve aliases only in the sign-in calls: one filtered listing finds the alias holder.
    found = client.list_users(UserPoolId=pool_id, Filter=_alias_filter(name), Limit=2)
    matches = [u for u in found.get("Users", []) if _alias_matches(u, name)]
    if len(matches) != 1:
        return None
    item = matches[0]
    return SourceUser(
        username=item["Username"],
        enabled=bool(item.get("Enabled", True)),
        status=str(item.get("UserStatus", "UNKNOWN")),
        attributes={a["Name"]: a.get("Value", "") for a in item.get("Attributes", [])},
    )


def check_password(client: Any, settings: Settings, username: str, password: str) -> AuthResult:
    try:
        answer = client.admin_initiate_auth(
            UserPoolId=settings.from_pool_id,
            ClientId=settings.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except Exception as exc:
        code = _code(exc)
        if code == type(exc).__name__ and not hasattr(exc, "response"):
            raise  # not an AWS answer (timeout, connection): the caller decides
        return AuthResult("error", code)
    if answer.get("ChallengeName"):
        return AuthResult("challenge", str(answer["ChallengeName"]))
    return OK


def decide_event(
    event: dict[str, Any], client: Any, settings: Settings, remaining: Callable[[], float]
) -> Migrate | Refuse:
    source = str(event.get("triggerSource", ""))
    name = str(event.get("userName", ""))
    request = event.get("request") or {}

    def has_time() -> bool:
        return remaining() > CALL_SECONDS

    try:
        user = lookup(client, settings.from_pool_id, name, has_time)
    except TimeoutError:
        return Refuse("out_of_time", decide_lookup_error("Timeout").message)
    except Exception as exc:
        return decide_lookup_error(_code(exc))
    refused = decide_lookup(source, user)
    if refused is not None or user is None:
        return refused or Refuse("not_in_source", "")
    auth: AuthResult | None = None
    if source == AUTHENTICATION:
        if not has_time():
            return Refuse("out_of_time", decide_lookup_error("Timeout").message)
        try:
            auth = check_password(client, settings, user.username, str(request.get("password", "")))
        except Exception as exc:
            return decide_lookup_error(_code(exc))
    return decide(source, user, auth)


def handle(
    event: dict[str, Any],
    client: Any,
    settings: Settings,
    *,
    remaining: Callable[[], float] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> dict[str, Any]:
    """Fill `event["response"]` and return the event, or raise MigrationRefused (Cognito fails the
    sign-in). `remaining` gives the seconds left of Cognito's budget (default: BUDGET_SECONDS from now)."""
    started = clock()
    left = remaining or (lambda: BUDGET_SECONDS - (clock() - started))
    decision = decide_event(event, client, settings, left)
    fields = {
        "trigger": event.get("triggerSource"),
        "username": event.get("userName"),
        "from_user_pool_id": settings.from_pool_id,
        "ms": round((clock() - started) * 1000),
    }
    if isinstance(decision, Refuse):
        _log("migration_refused", reason=decision.reason, **fields)
        raise MigrationRefused(decision.message)
    _log("user_migrated", reason=decision.reason, attributes=len(decision.attributes), **fields)
    event["response"] = {**(event.get("response") or {}), **decision.response()}
    return event


# ---- the Lambda entry point ------------------------------------------------------------------------------

# The client of A, its settings, and when its credentials expire (None: the execution role's, valid for the
# container's life).
_cached: tuple[Any, Settings, dt.datetime | None] | None = None
# Assumed-role credentials are replaced this long before they expire (AssumeRole's default lifetime is an
# hour; a warm trigger container can live longer), so no sign-in meets an expired token.
REFRESH_BEFORE = dt.timedelta(minutes=5)


def still_valid(expires: dt.datetime | None, now: dt.datetime) -> bool:
    """Whether credentials expiring at `expires` (None: never, for this container) may still be used."""
    return expires is None or now < expires - REFRESH_BEFORE


def client_config() -> Any:
    """Bounded timeouts and one attempt: a retry would outlast Cognito's 5 seconds; the user retrying is
    the retry."""
    from botocore.config import Config

    return Config(
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        retries={"mode": "standard", "total_max_attempts": 1},
        user_agent_extra="cognito-backup-migrate",
    )


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def _client_and_settings(now: Callable[[], dt.datetime] = _utcnow) -> tuple[Any, Settings]:
    """Built once per container: the client of A (through the role in A's account when one is given: built
    again when its credentials are about to expire), and the admin-auth client's id (the environment's,
    else the one `migrate start` named CLIENT_NAME)."""
    global _cached
    if _cached is not None and still_valid(_cached[2], now()):
        return _cached[0], _cached[1]
    import boto3

    pool_id = os.environ[FROM_POOL_VAR]
    region = os.environ.get(FROM_REGION_VAR) or pool_id.split("_", 1)[0]
    config = client_config()
    session = boto3.Session()
    role = os.environ.get(ROLE_VAR)
    expires: dt.datetime | None = None
    if role:
        sts: Any = session.client("sts", config=config)
        creds = sts.assume_role(RoleArn=role, RoleSessionName="cognito-backup-migrate")["Credentials"]
        session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        expires = creds["Expiration"]
    client: Any = session.client("cognito-idp", region_name=region, config=config)
    known = _cached[1] if _cached is not None and _cached[1].from_pool_id == pool_id else None
    client_id = os.environ.get(CLIENT_ID_VAR) or (known.client_id if known else find_client_id(client, pool_id))
    _cached = (client, Settings(from_pool_id=pool_id, client_id=client_id), expires)
    return client, _cached[1]


def find_client_id(client: Any, pool_id: str) -> str:
    """The app client `migrate start` created on A (by its name)."""
    token: str | None = None
    while True:
        page = client.list_user_pool_clients(
            UserPoolId=pool_id, MaxResults=60, **({"NextToken": token} if token else {})
        )
        for item in page.get("UserPoolClients", []):
            if item.get("ClientName") == CLIENT_NAME:
                return str(item["ClientId"])
        token = page.get("NextToken")
        if not token:
            raise RuntimeError(f"pool {pool_id} has no app client named {CLIENT_NAME}: run `migrate start`")


def handler(event: Any, context: Any) -> Any:
    remaining_ms = getattr(context, "get_remaining_time_in_millis", None)
    started = time.monotonic()

    def remaining() -> float:
        if callable(remaining_ms):
            return float(remaining_ms()) / 1000 - 0.3
        return BUDGET_SECONDS - (time.monotonic() - started)

    try:
        client, settings = _client_and_settings()
    except Exception as exc:  # misconfigured: every sign-in of a not-yet-migrated user fails, loudly
        log.error("COGNITO-BACKUP MIGRATION TRIGGER NOT CONFIGURED: %s", type(exc).__name__)
        raise MigrationRefused("The sign-in service is unavailable; please try again later.") from None
    return handle(event, client, settings, remaining=remaining)
