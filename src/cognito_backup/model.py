"""Pure data: what a snapshot holds, and its canonical JSON form.

No boto3, no I/O. Records are plain JSON-able dicts on disk; these classes give them names and types.
Dates are ISO-8601 strings in UTC so that a record's bytes do not depend on the reader's time zone.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Iterable, Mapping
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field
from typing import Any

# Attributes Cognito generates or owns: never written by a restore, never compared by diff.
READ_ONLY_ATTRIBUTES = frozenset({"sub", "identities", "cognito:mfa_enabled", "cognito:user_status"})
# Written by Cognito itself when a user changes an attribute (not settable by admin calls).
VOLATILE_USER_FIELDS = frozenset({"created", "modified"})

# Cognito's standard attributes (OIDC claims), declared by every pool: real DescribeUserPool lists them,
# moto omits them. `sub` and `identities` are Cognito's own and never declared. In the order Cognito
# lists them (GetCSVHeader's columns; the stand-ins answer in it too).
STANDARD_ATTRIBUTE_ORDER = (
    "name",
    "given_name",
    "family_name",
    "middle_name",
    "nickname",
    "preferred_username",
    "profile",
    "picture",
    "website",
    "email",
    "email_verified",
    "gender",
    "birthdate",
    "zoneinfo",
    "locale",
    "phone_number",
    "phone_number_verified",
    "address",
    "updated_at",
)
STANDARD_ATTRIBUTES = frozenset(STANDARD_ATTRIBUTE_ORDER)

STATUS_EXTERNAL = "EXTERNAL_PROVIDER"
STATUS_UNCONFIRMED = "UNCONFIRMED"
STATUS_CONFIRMED = "CONFIRMED"
STATUS_FORCE_CHANGE = "FORCE_CHANGE_PASSWORD"
STATUS_RESET_REQUIRED = "RESET_REQUIRED"


def iso(value: Any) -> str | None:
    """A botocore datetime (or anything already a string) as an ISO-8601 UTC string."""
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=dt.UTC)
        return str(value.astimezone(dt.UTC).isoformat()).replace("+00:00", "Z")
    return str(value)


def jsonable(value: Any) -> Any:
    """Deep copy of an API response with datetimes as ISO strings and bytes dropped to str."""
    if isinstance(value, Mapping):
        return {str(k): jsonable(v) for k, v in value.items() if k != "ResponseMetadata"}
    if isinstance(value, list | tuple):
        return [jsonable(v) for v in value]
    if isinstance(value, dt.datetime):
        return iso(value)
    if isinstance(value, bytes):
        return value.decode("utf-8", "replace")
    return value


def canonical_json(record: Any) -> str:
    """The one serialisation every object and hash uses: sorted keys, no spaces, UTF-8 kept."""
    return json.dumps(record, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class User:
    username: str
    attributes: Mapping[str, str]
    enabled: bool = True
    status: str = "CONFIRMED"
    created: str | None = None
    modified: str | None = None
    mfa_options: tuple[Mapping[str, str], ...] = ()
    # Only with --with-mfa-preferences (AdminGetUser): {"preferred": str|None, "enabled": [str, ...]}
    mfa: Mapping[str, Any] | None = None

    @property
    def sub(self) -> str | None:
        return self.attributes.get("sub")

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> User:
        """From a ListUsers / ListUsersInGroup / AdminGetUser item."""
        attrs = item.get("Attributes", item.get("UserAttributes", [])) or []
        return cls(
            username=item["Username"],
            attributes={a["Name"]: a.get("Value", "") for a in attrs},
            enabled=bool(item.get("Enabled", True)),
            status=str(item.get("UserStatus", "UNKNOWN")),
            created=iso(item.get("UserCreateDate")),
            modified=iso(item.get("UserLastModifiedDate")),
            mfa_options=tuple(dict(o) for o in item.get("MFAOptions", []) or []),
        )

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {
            "username": self.username,
            "attributes": dict(sorted(self.attributes.items())),
            "enabled": self.enabled,
            "status": self.status,
            "created": self.created,
            "modified": self.modified,
            "mfa_options": [dict(o) for o in self.mfa_options],
        }
        if self.mfa is not None:
            rec["mfa"] = dict(self.mfa)
        return rec

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> User:
        return cls(
            username=rec["username"],
            attributes=dict(rec.get("attributes", {})),
            enabled=bool(rec.get("enabled", True)),
            status=str(rec.get("status", "UNKNOWN")),
            created=rec.get("created"),
            modified=rec.get("modified"),
            mfa_options=tuple(rec.get("mfa_options", ()) or ()),
            mfa=rec.get("mfa"),
        )


@dataclass(frozen=True, slots=True)
class Group:
    name: str
    description: str | None = None
    precedence: int | None = None
    role_arn: str | None = None
    created: str | None = None
    modified: str | None = None

    @classmethod
    def from_api(cls, item: Mapping[str, Any]) -> Group:
        return cls(
            name=item["GroupName"],
            description=item.get("Description"),
            precedence=item.get("Precedence"),
            role_arn=item.get("RoleArn"),
            created=iso(item.get("CreationDate")),
            modified=iso(item.get("LastModifiedDate")),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "precedence": self.precedence,
            "role_arn": self.role_arn,
            "created": self.created,
            "modified": self.modified,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Group:
        return cls(
            name=rec["name"],
            description=rec.get("description"),
            precedence=rec.get("precedence"),
            role_arn=rec.get("role_arn"),
            created=rec.get("created"),
            modified=rec.get("modified"),
        )


@dataclass(frozen=True, slots=True, order=True)
class Membership:
    group: str
    username: str

    def to_record(self) -> dict[str, Any]:
        return {"group": self.group, "username": self.username}

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> Membership:
        return cls(group=rec["group"], username=rec["username"])


@dataclass(slots=True)
class PoolConfig:
    """Everything about a pool that is not users, groups or memberships.

    Each value is the API's own response body (made JSON-able), so that nothing the API returned is
    lost even when this version of the tool does not know how to restore it yet.
    `unavailable` maps a call name to why it gave nothing (not supported by the pool or the endpoint).
    `incomplete` maps a call name to why it could not be read (still failing after retries, denied by
    IAM): a snapshot with such a section is incomplete (docs/format.md).
    """

    user_pool: dict[str, Any] = field(default_factory=dict)  # DescribeUserPool -> UserPool
    mfa_config: dict[str, Any] = field(default_factory=dict)  # GetUserPoolMfaConfig
    tags: dict[str, str] = field(default_factory=dict)
    clients: list[dict[str, Any]] = field(default_factory=list)  # DescribeUserPoolClient each
    identity_providers: list[dict[str, Any]] = field(default_factory=list)
    resource_servers: list[dict[str, Any]] = field(default_factory=list)
    domain: dict[str, Any] | None = None  # DescribeUserPoolDomain -> DomainDescription
    ui_customization: dict[str, Any] | None = None
    risk_configuration: dict[str, Any] | None = None
    replicas: list[dict[str, Any]] = field(default_factory=list)  # ListUserPoolReplicas
    session_configuration: dict[str, Any] | None = None  # GetUserPoolSessionConfiguration, without UserPoolId
    # App client id -> SSOSession of GetUserPoolClientSessionConfiguration (clients with one only).
    client_session_configuration: dict[str, dict[str, Any]] = field(default_factory=dict)
    log_delivery: list[dict[str, Any]] = field(default_factory=list)  # GetLogDeliveryConfiguration's LogConfigurations
    terms: list[dict[str, Any]] = field(default_factory=list)  # DescribeTerms each
    # App client id -> DescribeManagedLoginBrandingByClient's style; each asset's Bytes base64 (JSON has no bytes).
    managed_login_branding: dict[str, dict[str, Any]] = field(default_factory=dict)
    cimd_policies: list[dict[str, Any]] = field(default_factory=list)  # DescribeCIMDPolicy each
    # App client id -> GetUICustomization / DescribeRiskConfiguration with ClientId, for the clients that
    # have their own (a client without answers the pool-wide one, ClientId "ALL": not recorded again).
    client_ui_customization: dict[str, dict[str, Any]] = field(default_factory=dict)
    client_risk_configuration: dict[str, dict[str, Any]] = field(default_factory=dict)
    unavailable: dict[str, str] = field(default_factory=dict)
    incomplete: dict[str, str] = field(default_factory=dict)

    @property
    def pool_id(self) -> str | None:
        value = self.user_pool.get("Id")
        return str(value) if value else None

    def custom_attributes(self) -> dict[str, dict[str, Any]]:
        """Declared custom attributes by full name ('custom:x') -> schema entry."""
        return {
            a["Name"]: a
            for a in self.user_pool.get("SchemaAttributes", [])
            if str(a.get("Name", "")).startswith("custom:")
        }

    def to_record(self) -> dict[str, Any]:
        return {
            "user_pool": self.user_pool,
            "mfa_config": self.mfa_config,
            "tags": self.tags,
            "clients": self.clients,
            "identity_providers": self.identity_providers,
            "resource_servers": self.resource_servers,
            "domain": self.domain,
            "ui_customization": self.ui_customization,
            "risk_configuration": self.risk_configuration,
            "replicas": self.replicas,
            "session_configuration": self.session_configuration,
            "client_session_configuration": self.client_session_configuration,
            "log_delivery": self.log_delivery,
            "terms": self.terms,
            "managed_login_branding": self.managed_login_branding,
            "cimd_policies": self.cimd_policies,
            "client_ui_customization": self.client_ui_customization,
            "client_risk_configuration": self.client_risk_configuration,
            "unavailable": self.unavailable,
            "incomplete": self.incomplete,
        }

    @classmethod
    def from_record(cls, rec: Mapping[str, Any]) -> PoolConfig:
        return cls(
            user_pool=dict(rec.get("user_pool", {})),
            mfa_config=dict(rec.get("mfa_config", {})),
            tags=dict(rec.get("tags", {})),
            clients=list(rec.get("clients", [])),
            identity_providers=list(rec.get("identity_providers", [])),
            resource_servers=list(rec.get("resource_servers", [])),
            domain=rec.get("domain"),
            ui_customization=rec.get("ui_customization"),
            risk_configuration=rec.get("risk_configuration"),
            # Snapshots older than these sections read as having none of them.
            replicas=list(rec.get("replicas") or []),
            session_configuration=rec.get("session_configuration"),
            client_session_configuration=dict(rec.get("client_session_configuration") or {}),
            log_delivery=list(rec.get("log_delivery") or []),
            terms=list(rec.get("terms") or []),
            managed_login_branding=dict(rec.get("managed_login_branding") or {}),
            cimd_policies=list(rec.get("cimd_policies") or []),
            client_ui_customization=dict(rec.get("client_ui_customization") or {}),
            client_risk_configuration=dict(rec.get("client_risk_configuration") or {}),
            unavailable=_unrecorded(rec),
            incomplete=dict(rec.get("incomplete", {})),
        )


def _unrecorded(rec: Mapping[str, Any]) -> dict[str, str]:
    """The record's `unavailable`, plus log delivery for a snapshot written before it was backed up: its
    call replaces the whole list, so "never recorded" must not read as "none" (a restore would remove it)."""
    out = dict(rec.get("unavailable", {}))
    if "log_delivery" not in rec:
        out.setdefault("GetLogDeliveryConfiguration", "not recorded (the snapshot predates log delivery backups)")
    return out


@dataclass(slots=True)
class PoolState:
    """A whole pool: the desired or actual state the restore planner compares.

    Users are keyed by username (the only identity that survives a restore; sub does not). Built with
    `build()`, users and memberships move to disk past a few thousand (core/spill.py): read them as a
    Mapping / Set, in a pass, and never copy them whole into a dict or set.
    """

    config: PoolConfig = field(default_factory=PoolConfig)
    groups: dict[str, Group] = field(default_factory=dict)
    users: Mapping[str, User] = field(default_factory=dict)
    memberships: AbstractSet[Membership] = field(default_factory=set)

    @classmethod
    def build(
        cls,
        config: PoolConfig,
        groups: Iterable[Group],
        users: Iterable[User],
        memberships: Iterable[Membership],
    ) -> PoolState:
        from cognito_backup.core.spill import SpillSet, UserTable  # model stays importable without core

        return cls(
            config=config,
            groups={g.name: g for g in groups},
            users=UserTable((u.username, u) for u in users),
            memberships=SpillSet(memberships),
        )
