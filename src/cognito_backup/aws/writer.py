"""Execute planned operations against Cognito, one call each, through the Pacer.

Create-if-missing semantics make every operation safe to repeat, which is what makes a re-run after a
crash idempotent: a user that already exists is updated instead, a user or group already gone counts as
deleted, a membership already removed counts as removed.
"""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from cognito_backup.aws.errors import error_code, translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.config_plan import ConfigOp
from cognito_backup.core.plan import Op
from cognito_backup.model import User

DONE = "done"
EXISTED = "existed"  # create found it already there (and updated it)
ALREADY = "already"  # delete / remove found nothing to do

# Temporary passwords are read out over the phone and typed from a printout: no character that looks
# or sounds like another (0/O/o, 1/l/I/i). The symbols are among those Cognito accepts, have one
# obvious spoken name, and are never first, so no password starts a spreadsheet formula.
PASSWORD_LOWER = "abcdefghjkmnpqrstuvwxyz"
PASSWORD_UPPER = "ABCDEFGHJKLMNPQRSTUVWXYZ"
PASSWORD_DIGITS = "23456789"
PASSWORD_SYMBOLS = "!#$%*+=?@"
PASSWORD_LENGTH = 32


def random_password(policy: Mapping[str, Any] | None = None) -> str:
    """A fresh random password satisfying any Cognito password policy: every character class present
    (whatever the policy requires), at least its MinimumLength, and a letter or digit first."""
    minimum = int((policy or {}).get("MinimumLength", 8) or 8)
    length = max(PASSWORD_LENGTH, minimum)
    classes = [PASSWORD_LOWER, PASSWORD_UPPER, PASSWORD_DIGITS, PASSWORD_SYMBOLS]
    alphabet = "".join(classes)
    rest = [secrets.choice(c) for c in classes]
    rest += [secrets.choice(alphabet) for _ in range(length - 1 - len(rest))]
    secrets.SystemRandom().shuffle(rest)
    return secrets.choice(PASSWORD_LOWER + PASSWORD_UPPER + PASSWORD_DIGITS) + "".join(rest)


@dataclass(frozen=True)
class Created:
    """What a create_user operation did: DONE with the user AdminCreateUser answered (its new `sub`
    among its attributes), or EXISTED (the user was already there: no answer describes it)."""

    status: str
    user: User | None = None


def _attrs(pairs: tuple[tuple[str, str], ...]) -> list[dict[str, str]]:
    return [{"Name": n, "Value": v} for n, v in pairs]


class Writer:
    def __init__(self, client: Any, pacer: Pacer, user_pool_id: str) -> None:
        self.client = client
        self.pacer = pacer
        self.pool_id = user_pool_id
        # App clients this writer created: the snapshot's client id -> the new one (ids change on create).
        self.client_ids: dict[str, str] = {}

    def _call(self, operation: str, method: str, **kwargs: Any) -> dict[str, Any]:
        result: dict[str, Any] = self.pacer.call(
            operation, getattr(self.client, method), pool_id=self.pool_id, UserPoolId=self.pool_id, **kwargs
        )
        return result

    def apply(self, op: Op, password: str | None = None, permanent: bool = True) -> str:
        """Run one operation. Returns DONE, EXISTED or ALREADY; raises a CognitoBackupError (with
        `aws_code`) when Cognito refuses it."""
        try:
            return self._apply(op, password, permanent)
        except ClientError as exc:
            raise translate_client_error(exc, f"{op.operation} ({_what(op)}) on user pool {self.pool_id}") from exc

    def create_user(self, op: Op) -> Created:
        """Run one create_user operation, keeping what Cognito answered (`apply` keeps the status only)."""
        try:
            return self._create_user(op)
        except ClientError as exc:
            raise translate_client_error(exc, f"{op.operation} ({_what(op)}) on user pool {self.pool_id}") from exc

    def _apply(self, op: Op, password: str | None, permanent: bool) -> str:
        if isinstance(op, ConfigOp):
            return self._apply_config(op)
        kind = op.kind
        if kind == "add_custom_attributes":
            self._call("AddCustomAttributes", "add_custom_attributes", CustomAttributes=[dict(s) for s in op.schema])
        elif kind == "create_group":
            try:
                self._call("CreateGroup", "create_group", GroupName=op.group, **dict(op.group_fields or {}))
            except ClientError as exc:
                if error_code(exc) != "GroupExistsException":
                    raise
                self._call("UpdateGroup", "update_group", GroupName=op.group, **dict(op.group_fields or {}))
                return EXISTED
        elif kind == "update_group":
            self._call("UpdateGroup", "update_group", GroupName=op.group, **dict(op.group_fields or {}))
        elif kind == "delete_group":
            return self._absent_ok("DeleteGroup", "delete_group", ("ResourceNotFoundException",), GroupName=op.group)
        elif kind == "create_user":
            return self._create_user(op).status
        elif kind == "update_user_attributes":
            self._call(
                "AdminUpdateUserAttributes",
                "admin_update_user_attributes",
                Username=op.username,
                UserAttributes=_attrs(op.attributes),
            )
        elif kind == "delete_user_attributes":
            self._call(
                "AdminDeleteUserAttributes",
                "admin_delete_user_attributes",
                Username=op.username,
                UserAttributeNames=list(op.names),
            )
        elif kind == "set_password":
            if not password:
                raise ValueError("set_password needs a password")
            self._call(
                "AdminSetUserPassword",
                "admin_set_user_password",
                Username=op.username,
                Password=password,
                Permanent=permanent,
            )
        elif kind == "disable_user":
            self._call("AdminDisableUser", "admin_disable_user", Username=op.username)
        elif kind == "enable_user":
            self._call("AdminEnableUser", "admin_enable_user", Username=op.username)
        elif kind == "add_membership":
            self._call("AdminAddUserToGroup", "admin_add_user_to_group", Username=op.username, GroupName=op.group)
        elif kind == "remove_membership":
            return self._absent_ok(
                "AdminRemoveUserFromGroup",
                "admin_remove_user_from_group",
                ("UserNotFoundException", "ResourceNotFoundException"),
                Username=op.username,
                GroupName=op.group,
            )
        elif kind == "delete_user":
            return self._absent_ok(
                "AdminDeleteUser", "admin_delete_user", ("UserNotFoundException",), Username=op.username
            )
        else:
            raise ValueError(f"unknown operation kind {kind!r}")
        return DONE

    def _apply_config(self, op: ConfigOp) -> str:
        """One configuration write: the request is whole (core/config_plan.py), UserPoolId added here."""
        request = dict(op.request)
        if op.client_of is not None:
            # A setting of a client created earlier in this run (its create_client op is a dependency).
            new_id = self.client_ids.get(op.client_of)
            if new_id is None:
                raise ValueError(f"{op.id}: app client {op.client_of} was not created in this run")
            request["ClientId"] = new_id
        answer = self._call(op.call, xform_name(op.call), **request)
        if op.kind == "create_client" and op.old_client_id:
            new_id = str((answer.get("UserPoolClient") or {}).get("ClientId") or "")
            if new_id:
                self.client_ids[op.old_client_id] = new_id
        return DONE

    def _create_user(self, op: Op) -> Created:
        try:
            # SUPPRESS, always: a restore never emails or texts a user.
            answer = self._call(
                "AdminCreateUser",
                "admin_create_user",
                Username=op.username,
                UserAttributes=_attrs(op.attributes),
                MessageAction="SUPPRESS",
            )
        except ClientError as exc:
            if error_code(exc) != "UsernameExistsException":
                raise
            # Created by an earlier, interrupted run (or ListUsers had not shown it yet): bring the mutable
            # attributes to the desired values instead; immutable ones cannot be written any more.
            if op.fallback:
                self._call(
                    "AdminUpdateUserAttributes",
                    "admin_update_user_attributes",
                    Username=op.username,
                    UserAttributes=_attrs(op.fallback),
                )
            return Created(EXISTED)
        # The response's User is the created user (a UserType: username, attributes with the new sub).
        item = answer.get("User")
        return Created(DONE, User.from_api(item) if isinstance(item, dict) and item.get("Username") else None)

    def _absent_ok(self, operation: str, method: str, codes: tuple[str, ...], **kwargs: Any) -> str:
        try:
            self._call(operation, method, **kwargs)
        except ClientError as exc:
            if error_code(exc) not in codes:
                raise
            return ALREADY
        return DONE


def _what(op: Op) -> str:
    parts = []
    if op.user is not None:
        parts.append(f"user {op.user}")
    if op.group is not None:
        parts.append(f"group {op.group}")
    if isinstance(op, ConfigOp):
        parts.append(f"{op.section} {op.target}")
    return ", ".join(parts) or "pool"
