"""Configuration into an existing pool: desired PoolConfig + actual PoolConfig -> ConfigOps. Pure.

The same engine as users (core/plan.py Op, ops/scheduler.py, aws/writer.py): each ConfigOp is one write,
with the settings it changes (section, setting path, old -> new) for the plan, the report and `diff`.

Sections are a registry (SECTIONS): each planner compares one part of the snapshot's configuration with
the target's and returns its ops and notices, so a new configuration surface is one more entry.

Cognito's update calls (UpdateUserPool, UpdateUserPoolClient, UpdateResourceServer, ...) reset every
setting they are not given, so each request is built whole: the desired configuration translated by
core/pool_translate.py (the one snapshot -> request translation, which --new-pool uses too), conformed to
the update operation's input shape in botocore's service model. The same translation of the target's
own configuration gives what the request would be today: a setting changes exactly where the two differ.

What cannot change in place (username attributes, alias attributes, a client's secret, a provider's
type, another domain) is a Notice; a plan that would leave required MFA without a factor is refused.
Secrets (client secrets, providers' client_secret / private_key) are never shown, only that they differ.
"""

from __future__ import annotations

import copy
import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name

from cognito_backup.core.plan import Notice, Op
from cognito_backup.core.pool_translate import (
    DEFAULT_SESSION,
    ArnMapper,
    arn_region_account,
    branding_kwargs,
    input_members,
    logo_bytes,
    map_log_configuration,
    region_of_pool,
    translate_client,
    translate_domain,
    translate_identity_provider,
    translate_mfa_config,
    translate_resource_server,
    translate_risk_configuration,
    update_pool_request,
    without_pool,
)
from cognito_backup.errors import PlanRefused, UsageError
from cognito_backup.model import PoolConfig

SECRET_KEYS = frozenset({"ClientSecret", "client_secret", "private_key"})
BINARY_KEYS = frozenset({"ImageFile", "Bytes"})  # base64 in the record: shown as a digest
MAX_SHOWN = 80  # characters of a value in the plan; the report has the paths, never secrets
# UpdateUserPool settings that may hold an ARN the --map-arn translation can leave out: then the target's
# own value is kept (sending none would reset the setting).
ARN_SETTINGS = ("LambdaConfig", "EmailConfiguration", "SmsConfiguration")


@dataclass(frozen=True)
class Change:
    """One setting that differs. `old`/`new` are display strings (secrets already masked)."""

    section: str
    path: str
    old: str
    new: str

    def to_json(self) -> dict[str, str]:
        return {"section": self.section, "path": self.path, "old": self.old, "new": self.new}


@dataclass(frozen=True)
class ConfigOp(Op):
    """One configuration write. `request` excludes UserPoolId (the writer adds it)."""

    section: str = ""
    call: str = ""
    target: str = ""  # what it writes: "pool", a client's name, a provider's name, ...
    request: Mapping[str, Any] = field(default_factory=dict)
    changes: tuple[Change, ...] = ()
    old_client_id: str | None = None  # create_client: the snapshot's id, for the old -> new map
    # A setting of a client this plan creates: the writer sends the new client's id (created from the
    # snapshot's client `client_of`) as ClientId, known only once the create_client op has run.
    client_of: str | None = None

    @property
    def id(self) -> str:
        return f"config:{self.kind}:{self.target}"

    @property
    def operation(self) -> str:
        return self.call

    @property
    def entity(self) -> tuple[str, str]:
        return ("config", f"{self.section}/{self.target}")

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {"op": self.kind, "call": self.call, "section": self.section, "target": self.target}
        out["changes"] = [c.to_json() for c in self.changes]
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class ConfigOptions:
    sections: frozenset[str] = frozenset()
    arn_map: Mapping[str, str] = field(default_factory=dict)
    # UpdateUserPool settings the target keeps as they are (a standby's own triggers: LambdaConfig).
    keep: frozenset[str] = frozenset()
    # A snapshot setting that cannot be brought back in place refuses the plan (PlanRefused, nothing
    # written); a standby instead notes it and follows the rest.
    refuse_blocked: bool = True


@dataclass
class ConfigPlan:
    ops: list[ConfigOp] = field(default_factory=list)
    notices: list[Notice] = field(default_factory=list)  # cannot change in place / not done
    blocked: list[Notice] = field(default_factory=list)  # of the notices: snapshot settings left unrestored
    warnings: list[str] = field(default_factory=list)

    @property
    def changes(self) -> list[Change]:
        return [c for op in self.ops for c in op.changes]


@dataclass
class _Context:
    desired: PoolConfig
    actual: PoolConfig
    options: ConfigOptions
    mapper: ArnMapper  # desired -> target
    same: ArnMapper  # the target's own configuration: nothing to map
    plan: ConfigPlan
    ids: dict[str, list[str]] = field(default_factory=dict)  # section -> ids of its ops (ordering)

    def add(self, op: ConfigOp) -> None:
        self.plan.ops.append(op)
        self.ids.setdefault(op.section, []).append(op.id)

    def after(self, *sections: str) -> tuple[str, ...]:
        return tuple(i for s in sections for i in self.ids.get(s, []))

    def notice(self, section: str, name: str, reason: str, *, blocks: bool = True) -> None:
        """`blocks`: a snapshot setting this plan cannot bring back (False: something only in the pool,
        which --config leaves as it is)."""
        notice = Notice("config", f"{section} {name}", reason)
        self.plan.notices.append(notice)
        if blocks:
            self.plan.blocked.append(notice)


# ---- settings: flatten and compare -----------------------------------------------------------------------
def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}} -> {"a.b": 1}; lists are one value (their order is a setting too)."""
    if isinstance(value, Mapping) and value:
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}.{k}" if prefix else str(k)))
        return out
    return {prefix: value} if prefix else {}


def _shown(path: str, value: Any) -> str:
    if value is None:
        return "(none)"
    if path.rsplit(".", 1)[-1] in SECRET_KEYS:
        return "(secret)"
    if path.rsplit(".", 1)[-1] in BINARY_KEYS:
        return _digest(value)
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


def _digest(value: Any) -> str:
    """Image bytes (base64 in the record) for the plan: their size and a digest, never the bytes."""
    if not isinstance(value, str) or not value:
        return "(none)"
    size = len(value) * 3 // 4 - value[-2:].count("=")
    return f"({size} bytes, sha256 {hashlib.sha256(value.encode()).hexdigest()[:12]})"


def setting_changes(section: str, want: Mapping[str, Any], have: Mapping[str, Any], prefix: str = "") -> list[Change]:
    """Each setting path whose value differs between two requests of the same operation."""
    flat_want, flat_have = flatten(want), flatten(have)
    out = []
    for path in sorted(set(flat_want) | set(flat_have)):
        a, b = _norm(flat_have.get(path)), _norm(flat_want.get(path))
        if a != b:
            full = f"{prefix}.{path}" if prefix else path
            out.append(Change(section, full, _shown(path, a), _shown(path, b)))
    return out


def _norm(value: Any) -> Any:
    return None if value in (None, [], {}, "") else value


# ---- ops: one create, one update ------------------------------------------------------------------------
def _create(
    ctx: _Context,
    section: str,
    kind: str,
    call: str,
    target: str,
    request: Mapping[str, Any],
    *,
    after: tuple[str, ...] = (),
    client_of: str | None = None,
    old_client_id: str | None = None,
) -> None:
    ctx.add(
        ConfigOp(
            kind=f"create_{kind}",
            section=section,
            call=call,
            target=target,
            request=request,
            changes=(Change(section, target, "(missing)", "created"),),
            after=after,
            client_of=client_of,
            old_client_id=old_client_id,
        )
    )


def _update(
    ctx: _Context,
    section: str,
    kind: str,
    call: str,
    target: str,
    want: Mapping[str, Any],
    have: Mapping[str, Any],
    *,
    prefix: str = "",
    extra: Mapping[str, Any] | None = None,
    after: tuple[str, ...] = (),
    client_of: str | None = None,
) -> None:
    """One write of the whole request `want` (+ `extra`, the ids it addresses) when a setting of it differs
    from the target's own (`have`, the same translation of the target's configuration)."""
    changes = setting_changes(section, want, have, prefix)
    if changes:
        ctx.add(
            ConfigOp(
                kind=kind,
                section=section,
                call=call,
                target=target,
                request={**want, **(extra or {})},
                changes=tuple(changes),
                after=after,
                client_of=client_of,
            )
        )


# ---- sections ----------------------------------------------------------------------------------------
def _pool_request(ctx: _Context, config: PoolConfig, mapper: ArnMapper) -> dict[str, Any]:
    name = str(ctx.actual.user_pool.get("Name") or config.user_pool.get("Name") or "pool")
    request = update_pool_request(config, mapper, name)
    # Tags are not a setting this restores; sent as they are so that the call leaves them alone.
    request.pop("UserPoolTags", None)
    if ctx.actual.tags or ctx.actual.user_pool.get("UserPoolTags"):
        request["UserPoolTags"] = dict(ctx.actual.tags or ctx.actual.user_pool.get("UserPoolTags") or {})
    request.pop("MfaConfiguration", None)  # the mfa section's (SetUserPoolMfaConfig)
    return request


def _mfa_mode(config: PoolConfig) -> str:
    return str(config.mfa_config.get("MfaConfiguration") or config.user_pool.get("MfaConfiguration") or "OFF")


def plan_pool(ctx: _Context) -> None:
    """UpdateUserPool, with every field: the snapshot's settings, the target's name, tags and kept settings."""
    if not ctx.desired.user_pool or not ctx.actual.user_pool:
        return
    before = len(ctx.mapper.warnings)
    want = _pool_request(ctx, ctx.desired, ctx.mapper)
    have = _pool_request(ctx, ctx.actual, ctx.same)
    unmapped = ctx.mapper.warnings[before:]
    for key in ARN_SETTINGS:
        left_out = any(w.startswith(key) for w in unmapped)
        if left_out:
            ctx.mapper.warnings.append(f"{key}: the pool keeps its own setting (an ARN in it was not carried across)")
        if key in ctx.options.keep or left_out:
            if key in have:
                want[key] = copy.deepcopy(have[key])
            else:
                want.pop(key, None)
    mode = _mfa_mode(ctx.desired) if "mfa" in ctx.options.sections else _mfa_mode(ctx.actual)
    for fixed in ("UsernameAttributes", "AliasAttributes"):
        a, b = sorted(ctx.desired.user_pool.get(fixed) or []), sorted(ctx.actual.user_pool.get(fixed) or [])
        if a != b:
            ctx.notice("pool", fixed, f"snapshot {a}, pool {b}: fixed when a pool is created")
    # MfaConfiguration is sent (UpdateUserPool would reset it) but compared in the mfa section only.
    _update(
        ctx, "pool", "update_pool", "UpdateUserPool", "pool", want, have,
        extra={"MfaConfiguration": mode}, after=ctx.after("mfa"),
    )  # fmt: skip


def _mfa_request(config: PoolConfig, mapper: ArnMapper, email_from_ses: bool) -> dict[str, Any]:
    translated = translate_mfa_config(config, mapper, email_from_ses=email_from_ses)
    if translated is not None:
        return translated
    off: dict[str, Any] = {"MfaConfiguration": "OFF"}
    token = config.mfa_config.get("SoftwareTokenMfaConfiguration")
    if token:
        off["SoftwareTokenMfaConfiguration"] = dict(token)
    return off


def plan_mfa(ctx: _Context) -> None:
    """SetUserPoolMfaConfig (refused, exit 8, when required MFA would be left without a factor)."""
    ses = "SourceArn" in (ctx.actual.user_pool.get("EmailConfiguration") or {})
    want = _mfa_request(ctx.desired, ctx.mapper, ses)
    have = _mfa_request(ctx.actual, ctx.same, ses)
    _update(ctx, "mfa", "set_mfa_config", "SetUserPoolMfaConfig", "pool", want, have)


def plan_session(ctx: _Context) -> None:
    """SetUserPoolSessionConfiguration, whole (a pool never set answers Cognito's defaults)."""
    if ctx.desired.session_configuration is None:
        return
    call = "SetUserPoolSessionConfiguration"
    want = without_pool(call, ctx.desired.session_configuration)
    have = without_pool(call, ctx.actual.session_configuration or DEFAULT_SESSION)
    _update(ctx, "session", "set_session_configuration", call, "pool", want, have)


def _by_source(entries: Iterable[Mapping[str, Any]]) -> dict[str, Mapping[str, Any]]:
    return {str(e.get("EventSource")): e for e in entries}


def plan_log_delivery(ctx: _Context) -> None:
    """SetLogDeliveryConfiguration, which replaces the whole list. A destination in another Region or
    account without --map-arn cannot be used: the pool keeps its own for that event source (or none)."""
    have_by = _by_source(ctx.actual.log_delivery)
    want: list[Mapping[str, Any]] = []
    for entry in ctx.desired.log_delivery:
        mapped = map_log_configuration(entry, ctx.mapper)
        source = str(entry.get("EventSource"))
        if mapped is not None:
            want.append(mapped)
        elif source in have_by:
            ctx.mapper.warnings.append(f"log delivery {source}: the pool keeps its own destination")
            want.append(have_by[source])
    call = "SetLogDeliveryConfiguration"
    request = without_pool(call, {"LogConfigurations": want})
    changes = setting_changes("log-delivery", _by_source(want), have_by)
    if changes:
        ctx.add(
            ConfigOp(
                kind="set_log_delivery", section="log-delivery", call=call, target="pool", request=request,
                changes=tuple(changes),
            )
        )  # fmt: skip


def _plan_named(
    ctx: _Context,
    section: str,
    kind: str,
    key: str,
    translate: Callable[[Mapping[str, Any], ArnMapper], dict[str, Any] | None],
    desired: list[dict[str, Any]],
    actual: list[dict[str, Any]],
    refuse: Callable[[Mapping[str, Any], Mapping[str, Any]], str | None] = lambda want, have: None,
) -> None:
    """Items named by `key` (resource servers, identity providers): created when missing, updated whole
    when a setting differs, left as they are when only in the pool."""
    have = {str(i.get(key)): i for i in actual}
    create, update = f"Create{kind}", f"Update{kind}"
    snake = xform_name(kind)
    for item in desired:
        name = str(item.get(key))
        want = translate(item, ctx.mapper)
        current = have.get(name)
        if want is None:
            continue
        if current is None:
            _create(ctx, section, snake, create, name, want)
            continue
        reason = refuse(item, current)
        if reason:
            ctx.notice(section, name, reason)
            continue
        now = without_pool(update, translate(current, ctx.same) or {})
        _update(ctx, section, f"update_{snake}", update, name, without_pool(update, want), now, prefix=name)
    for name in sorted(set(have) - {str(i.get(key)) for i in desired}):
        ctx.notice(section, name, "only in the pool: left as it is", blocks=False)


def plan_resource_servers(ctx: _Context) -> None:
    _plan_named(
        ctx, "resource-servers", "ResourceServer", "Identifier", translate_resource_server,
        ctx.desired.resource_servers, ctx.actual.resource_servers,
    )  # fmt: skip


def _provider_type_changed(want: Mapping[str, Any], have: Mapping[str, Any]) -> str | None:
    if have.get("ProviderType") == want.get("ProviderType"):
        return None
    return (
        f"is {have.get('ProviderType')} in the pool, {want.get('ProviderType')} in the snapshot: "
        "a provider's type cannot change"
    )


def plan_identity_providers(ctx: _Context) -> None:
    _plan_named(
        ctx, "identity-providers", "IdentityProvider", "ProviderName", translate_identity_provider,
        ctx.desired.identity_providers, ctx.actual.identity_providers, _provider_type_changed,
    )  # fmt: skip


def match_clients(
    desired: Iterable[Mapping[str, Any]], actual: Iterable[Mapping[str, Any]]
) -> list[tuple[Mapping[str, Any], Mapping[str, Any] | None]]:
    """Each snapshot client with the target's: the same ClientId (same pool), else the one of the same
    name (another pool: ids change on create) when the name is unique there."""
    have = list(actual)
    by_id = {str(c.get("ClientId")): c for c in have}
    names: dict[str, list[Mapping[str, Any]]] = {}
    for c in have:
        names.setdefault(str(c.get("ClientName")), []).append(c)
    out: list[tuple[Mapping[str, Any], Mapping[str, Any] | None]] = []
    for c in desired:
        found = by_id.get(str(c.get("ClientId")))
        if found is None and len(names.get(str(c.get("ClientName")), [])) == 1:
            found = names[str(c.get("ClientName"))][0]
        out.append((c, found))
    return out


def plan_clients(ctx: _Context) -> None:
    idps = {"COGNITO"} | {str(i.get("ProviderName")) for i in ctx.actual.identity_providers}
    if "identity-providers" in ctx.options.sections:
        idps |= {str(i.get("ProviderName")) for i in ctx.desired.identity_providers}
    after = ctx.after("identity-providers", "resource-servers")
    matched = match_clients(ctx.desired.clients, ctx.actual.clients)
    for client, current in matched:
        name = str(client.get("ClientName"))
        want = translate_client(client, ctx.mapper, available_idps=idps)
        if current is None:
            _create(
                ctx, "clients", "client", "CreateUserPoolClient", name, want.kwargs,
                after=after, old_client_id=want.old_client_id,
            )  # fmt: skip
            continue
        update = without_pool("UpdateUserPoolClient", want.kwargs)
        now = without_pool("UpdateUserPoolClient", translate_client(current, ctx.same).kwargs)
        update["ClientId"] = now["ClientId"] = str(current.get("ClientId"))
        if bool(client.get("ClientSecret")) != bool(current.get("ClientSecret")) or (
            client.get("ClientSecret") and client.get("ClientSecret") != current.get("ClientSecret")
        ):
            ctx.notice(
                "clients",
                name,
                "its secret differs from the snapshot's: a secret cannot change in place "
                "(create a new client, or keep the target's)",
            )
        _update(ctx, "clients", "update_client", "UpdateUserPoolClient", name, update, now, prefix=name, after=after)
    kept = {str(c.get("ClientId")) for _, c in matched if c is not None}
    for c in ctx.actual.clients:
        if str(c.get("ClientId")) not in kept:
            ctx.notice("clients", str(c.get("ClientName")), "only in the pool: left as it is", blocks=False)


# ---- per app client -----------------------------------------------------------------------------------
@dataclass(frozen=True)
class _ClientTarget:
    """Where a snapshot client's own settings go: the target's client, or the one this plan creates
    (`created_by`: that op's id; the writer puts its new id into the request, ConfigOp.client_of)."""

    name: str
    client_id: str
    created_by: str | None = None

    @property
    def after(self) -> tuple[str, ...]:
        return (self.created_by,) if self.created_by else ()

    @property
    def client_of(self) -> str | None:
        return self.client_id if self.created_by else None


def _client_target(ctx: _Context, section: str, old_id: str, what: str) -> _ClientTarget | None:
    """The target of the snapshot client `old_id`'s setting `what`; None (a notice that blocks) when the
    pool has no such client and this plan does not create it."""
    client = next((c for c in ctx.desired.clients if str(c.get("ClientId")) == old_id), None)
    name = str((client or {}).get("ClientName") or old_id)
    if client is not None:
        (found,) = [have for want, have in match_clients([client], ctx.actual.clients)]
        if found is not None:
            return _ClientTarget(name, str(found.get("ClientId")))
        create = f"config:create_client:{name}"
        if create in ctx.after("clients"):
            return _ClientTarget(name, old_id, create)
    ctx.notice(section, f"{name} {what}", "the pool has no such app client: add clients to --config to create it")
    return None


def _own(settings: Mapping[str, Any], target: _ClientTarget) -> Any:
    """The target client's own value of a per-client setting (none for a client this plan creates)."""
    return None if target.created_by else settings.get(target.client_id)


def plan_client_session(ctx: _Context) -> None:
    """SetUserPoolClientSessionConfiguration for each snapshot client with one."""
    call = "SetUserPoolClientSessionConfiguration"
    for old_id, sso in sorted(ctx.desired.client_session_configuration.items()):
        target = _client_target(ctx, "client-session", old_id, "session configuration")
        if target is None:
            continue
        have = _own(ctx.actual.client_session_configuration, target) or {}
        _update(
            ctx, "client-session", "set_client_session", call, target.name, {"SSOSession": sso},
            {"SSOSession": have}, prefix=target.name, extra={"ClientId": target.client_id},
            after=target.after, client_of=target.client_of,
        )  # fmt: skip


@dataclass(frozen=True)
class _ClientItems:
    """A kind of item an app client has several of, by name (terms documents, CIMD policies)."""

    section: str
    kind: str  # the calls' noun: Create<kind>, Update<kind>
    name_key: str
    id_key: str
    fields: tuple[str, ...]  # what the create and update calls are given, all of them

    def plan(self, ctx: _Context, desired: list[dict[str, Any]], actual: list[dict[str, Any]]) -> None:
        """Each snapshot item of each client: created, or updated with every field when one differs."""
        create, update = f"Create{self.kind}", f"Update{self.kind}"
        snake = xform_name(self.kind)
        have = {(str(i.get("ClientId")), str(i.get(self.name_key))): i for i in actual}
        for item in desired:
            name = str(item.get(self.name_key))
            if not item.get("ClientId"):
                ctx.notice(self.section, name, f"the snapshot names no app client for it: {create} needs one")
                continue
            target = _client_target(ctx, self.section, str(item["ClientId"]), f"{self.section} {name}")
            if target is None:
                continue
            fields = {k: item.get(k) for k in self.fields}
            label = f"{target.name}/{name}"
            current = None if target.created_by else have.get((target.client_id, name))
            if current is None:
                request = without_pool(create, {**fields, "ClientId": target.client_id})
                after, client_of = target.after, target.client_of
                _create(ctx, self.section, snake, create, label, request, after=after, client_of=client_of)
                continue
            extra = {self.id_key: current.get(self.id_key)}
            if "ClientId" in input_members(update):
                extra["ClientId"] = target.client_id
            want = without_pool(update, fields)
            now = without_pool(update, {k: current.get(k) for k in self.fields})
            _update(ctx, self.section, f"update_{snake}", update, label, want, now, prefix=label, extra=extra)


TERMS = _ClientItems("terms", "Terms", "TermsName", "TermsId", ("TermsName", "TermsSource", "Enforcement", "Links"))
CIMD_POLICIES = _ClientItems(
    "cimd-policies", "CIMDPolicy", "PolicyName", "CIMDPolicyId", ("PolicyName", "CacheDuration", "URLPatterns")
)


def plan_terms(ctx: _Context) -> None:
    """Each snapshot client's terms documents by name: CreateTerms, or UpdateTerms with every field."""
    TERMS.plan(ctx, ctx.desired.terms, ctx.actual.terms)


def plan_cimd_policies(ctx: _Context) -> None:
    """Each snapshot client's CIMD policies by name: CreateCIMDPolicy, or UpdateCIMDPolicy, whole."""
    CIMD_POLICIES.plan(ctx, ctx.desired.cimd_policies, ctx.actual.cimd_policies)


def _style_view(style: Mapping[str, Any] | None) -> dict[str, Any]:
    """A managed login style as its settings, each asset by category and colour mode (bytes as a digest)."""
    if not style:
        return {}
    assets = {
        f"{a.get('Category')}/{a.get('ColorMode')}": {**a, "Bytes": _digest(a.get("Bytes"))}
        for a in style.get("Assets") or []
    }
    if style.get("UseCognitoProvidedValues"):
        return {"UseCognitoProvidedValues": True}
    return {"UseCognitoProvidedValues": False, "Settings": style.get("Settings"), "Assets": assets}


def plan_managed_login_branding(ctx: _Context) -> None:
    """CreateManagedLoginBranding, or UpdateManagedLoginBranding with the whole style (settings and every
    asset's bytes). An asset only in the pool stays: UpdateManagedLoginBranding keeps what it is not given."""
    for old_id, style in sorted(ctx.desired.managed_login_branding.items()):
        target = _client_target(ctx, "managed-login-branding", old_id, "managed login style")
        if target is None:
            continue
        current = _own(ctx.actual.managed_login_branding, target)
        request = branding_kwargs(style)
        if current is None:
            _create(
                ctx, "managed-login-branding", "managed_login_branding", "CreateManagedLoginBranding", target.name,
                {**request, "ClientId": target.client_id}, after=target.after, client_of=target.client_of,
            )  # fmt: skip
            continue
        changes = setting_changes("managed-login-branding", _style_view(style), _style_view(current), target.name)
        if changes:
            ctx.add(
                ConfigOp(
                    kind="update_managed_login_branding", section="managed-login-branding",
                    call="UpdateManagedLoginBranding", target=target.name,
                    request={**request, "ManagedLoginBrandingId": current.get("ManagedLoginBrandingId")},
                    changes=tuple(changes),
                )
            )  # fmt: skip


def plan_domain(ctx: _Context) -> None:
    want_domain = (ctx.desired.domain or {}).get("Domain")
    have_domain = (ctx.actual.domain or {}).get("Domain")
    if not want_domain:
        return
    if have_domain and have_domain != want_domain:
        ctx.notice(
            "domain",
            str(want_domain),
            f"the pool has domain {have_domain}: a pool has one domain (delete it first to take the snapshot's)",
        )
        return
    want = translate_domain(ctx.desired.domain, ctx.mapper)
    if want is None:
        return
    if not have_domain:
        _create(ctx, "domain", "domain", "CreateUserPoolDomain", str(want_domain), want)
        return
    update = without_pool("UpdateUserPoolDomain", want)
    now = without_pool("UpdateUserPoolDomain", translate_domain(ctx.actual.domain, ctx.same) or {})
    _update(ctx, "domain", "update_domain", "UpdateUserPoolDomain", str(want_domain), update, now)


def _ui_view(ui: Mapping[str, Any] | None) -> dict[str, Any]:
    return {"CSS": (ui or {}).get("CSS"), "ImageFile": (ui or {}).get("ImageFile")}


def _plan_ui(
    ctx: _Context, section: str, want: Mapping[str, Any] | None, have: Mapping[str, Any] | None, target: str,
    extra: Mapping[str, Any], client: _ClientTarget | None = None,
) -> None:  # fmt: skip
    """SetUICustomization with the CSS and the logo's bytes, both (the call sets what it is given)."""
    if not want or not (want.get("CSS") or want.get("ImageFile") or want.get("ImageUrl")):
        return
    if want.get("ImageUrl") and not want.get("ImageFile"):
        # A snapshot from before logos were fetched: the target's own logo stays (sending none removes it).
        ctx.mapper.warnings.append(f"{section} {target}: the snapshot has the logo's URL only; the pool keeps its own")
        want = {**want, "ImageFile": (have or {}).get("ImageFile")}
    changes = setting_changes(section, _ui_view(want), _ui_view(have), "" if client is None else target)
    if not changes:
        return
    if not ctx.actual.domain and not ctx.after("domain"):
        ctx.notice(section, target, "the pool has no domain: Cognito takes a hosted UI customization only with one")
        return
    request = without_pool("SetUICustomization", {"CSS": want.get("CSS"), "ImageFile": logo_bytes(want)})
    ctx.add(
        ConfigOp(
            kind="set_ui_customization" if client is None else "set_client_ui_customization",
            section=section, call="SetUICustomization", target=target,
            request={**request, **extra}, changes=tuple(changes),
            after=ctx.after("domain") + (client.after if client else ()),
            client_of=client.client_of if client else None,
        )
    )  # fmt: skip


def plan_ui_customization(ctx: _Context) -> None:
    _plan_ui(ctx, "ui-customization", ctx.desired.ui_customization, ctx.actual.ui_customization, "pool", {})


def plan_client_ui_customization(ctx: _Context) -> None:
    for old_id, ui in sorted(ctx.desired.client_ui_customization.items()):
        target = _client_target(ctx, "client-ui-customization", old_id, "hosted UI customization")
        if target is not None:
            have = _own(ctx.actual.client_ui_customization, target)
            extra = {"ClientId": target.client_id}
            _plan_ui(ctx, "client-ui-customization", ui, have, target.name, extra, target)


def plan_risk(ctx: _Context) -> None:
    if ctx.desired.risk_configuration is None:
        return
    want = translate_risk_configuration(ctx.desired.risk_configuration, ctx.mapper, "risk configuration") or {}
    have = translate_risk_configuration(ctx.actual.risk_configuration, ctx.same, "risk configuration") or {}
    _update(ctx, "risk", "set_risk_configuration", "SetRiskConfiguration", "pool", want, have)


def plan_client_risk(ctx: _Context) -> None:
    for old_id, risk in sorted(ctx.desired.client_risk_configuration.items()):
        target = _client_target(ctx, "client-risk", old_id, "risk configuration")
        if target is None:
            continue
        where = f"app client {target.name}: risk configuration"
        want = translate_risk_configuration(risk, ctx.mapper, where) or {}
        have = translate_risk_configuration(_own(ctx.actual.client_risk_configuration, target), ctx.same, where)
        _update(
            ctx, "client-risk", "set_client_risk", "SetRiskConfiguration", target.name, want, have or {},
            prefix=target.name, extra={"ClientId": target.client_id}, after=target.after, client_of=target.client_of,
        )  # fmt: skip


# In the order they run: MFA before the pool (UpdateUserPool takes MFA ON only once a factor is set), providers
# and resource servers before the clients that name them, each client before its own settings, the domain
# before the hosted UI's customization.
SECTIONS: dict[str, Callable[[_Context], None]] = {
    "mfa": plan_mfa,
    "pool": plan_pool,
    "session": plan_session,
    "log-delivery": plan_log_delivery,
    "resource-servers": plan_resource_servers,
    "identity-providers": plan_identity_providers,
    "clients": plan_clients,
    "client-session": plan_client_session,
    "terms": plan_terms,
    "managed-login-branding": plan_managed_login_branding,
    "cimd-policies": plan_cimd_policies,
    "domain": plan_domain,
    "ui-customization": plan_ui_customization,
    "client-ui-customization": plan_client_ui_customization,
    "risk": plan_risk,
    "client-risk": plan_client_risk,
}
# The reads (aws/reader.py) each section's state comes from: a section either side could not read is not
# compared (an unread list would look empty, and a restore would create what is there, or switch MFA off).
SECTION_READS: dict[str, tuple[str, ...]] = {
    "mfa": ("GetUserPoolMfaConfig",),
    "session": ("GetUserPoolSessionConfiguration",),
    "log-delivery": ("GetLogDeliveryConfiguration",),
    "resource-servers": ("ListResourceServers",),
    "identity-providers": ("ListIdentityProviders", "DescribeIdentityProvider"),
    "clients": ("ListUserPoolClients", "DescribeUserPoolClient"),
    "client-session": ("GetUserPoolClientSessionConfiguration",),
    "terms": ("ListTerms", "DescribeTerms"),
    "managed-login-branding": ("DescribeManagedLoginBrandingByClient",),
    "cimd-policies": ("ListCIMDPolicies", "DescribeCIMDPolicy"),
    "domain": ("DescribeUserPoolDomain",),
    "ui-customization": ("GetUICustomization",),
    "client-ui-customization": ("GetUICustomization",),
    "risk": ("DescribeRiskConfiguration",),
    "client-risk": ("DescribeRiskConfiguration",),
}


def _unread(ctx: _Context, section: str) -> bool:
    """Whether a read behind `section` failed (a notice that blocks) or is not offered (one that does not;
    none when neither side offers it: nothing differs)."""
    calls = SECTION_READS.get(section, ())
    if any(c in ctx.desired.unavailable and c in ctx.actual.unavailable for c in calls):
        return True
    for side, config in (("snapshot", ctx.desired), ("pool", ctx.actual)):
        for call in SECTION_READS.get(section, ()):
            if call in config.incomplete:
                ctx.notice(section, call, f"the {side} could not read it ({config.incomplete[call]}): not compared")
                return True
            if call in config.unavailable:
                ctx.notice(section, call, f"not offered in the {side} ({config.unavailable[call]})", blocks=False)
                return True
    return False


# What a standby follows: everything but its own domain and log delivery (its logs go to destinations of its
# own Region and account, never into the source's: two pools' events mixed in one log group would mislead
# whoever reads it), and its own triggers (ConfigOptions.keep).
STANDBY_SECTIONS = frozenset(SECTIONS) - {"domain", "log-delivery"}
STANDBY_KEEPS = frozenset({"LambdaConfig"})


def parse_sections(value: str) -> frozenset[str]:
    """`--config pool,clients` or `all` -> section names; an unknown name is a usage error (exit 2)."""
    names = [n.strip() for n in value.split(",") if n.strip()]
    if "all" in names:
        return frozenset(SECTIONS)
    unknown = [n for n in names if n not in SECTIONS]
    if unknown or not names:
        raise UsageError(
            f"--config {value!r}: unknown section {', '.join(unknown) or '(none given)'}",
            hint="Sections: all, " + ", ".join(SECTIONS) + " (comma-separated).",
        )
    return frozenset(names)


def plan_config(desired: PoolConfig, actual: PoolConfig, options: ConfigOptions) -> ConfigPlan:
    """The configuration writes that make the chosen sections of `actual` equal to `desired`. Raises
    PlanRefused (nothing written) when the target cannot take them."""
    region, account = arn_region_account(str(actual.user_pool.get("Arn") or ""))
    mapper = ArnMapper(options.arn_map, region or region_of_pool(actual), account or None)
    ctx = _Context(desired, actual, options, mapper, ArnMapper({}), ConfigPlan())
    for name, planner in SECTIONS.items():
        if name in options.sections and not _unread(ctx, name):
            planner(ctx)
    ctx.plan.warnings = list(mapper.warnings)
    if options.refuse_blocked and ctx.plan.blocked:
        raise PlanRefused(
            "The target cannot take these configuration settings of the snapshot in place: "
            + "; ".join(f"{n.name}: {n.reason}" for n in ctx.plan.blocked)
            + ". Nothing was written.",
            hint="Leave that section out of --config (the others restore), or restore into a new pool "
            "(--new-pool NAME), which is created with the snapshot's configuration.",
        )
    return ctx.plan


def config_changes(desired: PoolConfig, actual: PoolConfig) -> tuple[list[Change], list[Notice]]:
    """Every configuration setting that differs (for `diff`), and what cannot change in place."""
    found = plan_config(desired, actual, ConfigOptions(sections=frozenset(SECTIONS), refuse_blocked=False))
    return found.changes, found.notices
