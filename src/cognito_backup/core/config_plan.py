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
import json
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.core.plan import Notice, Op
from cognito_backup.core.pool_translate import (
    ArnMapper,
    arn_region_account,
    conform,
    region_of_pool,
    translate_client,
    translate_domain,
    translate_identity_provider,
    translate_mfa_config,
    translate_resource_server,
    translate_user_pool,
    without_pool,
)
from cognito_backup.errors import PlanRefused, UsageError
from cognito_backup.model import PoolConfig

SECRET_KEYS = frozenset({"ClientSecret", "client_secret", "private_key"})
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
    text = value if isinstance(value, str) else json.dumps(value, sort_keys=True)
    return text if len(text) <= MAX_SHOWN else text[: MAX_SHOWN - 3] + "..."


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


# ---- sections ----------------------------------------------------------------------------------------
def _pool_request(ctx: _Context, config: PoolConfig, mapper: ArnMapper) -> dict[str, Any]:
    name = str(ctx.actual.user_pool.get("Name") or config.user_pool.get("Name") or "pool")
    created, _ = translate_user_pool(config, name, mapper)
    request = conform("UpdateUserPool", created)
    request.pop("UserPoolId", None)
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
    changes = setting_changes("pool", want, have)
    if changes:
        want["MfaConfiguration"] = mode
        ctx.add(
            ConfigOp(
                kind="update_pool",
                section="pool",
                call="UpdateUserPool",
                target="pool",
                request=want,
                changes=tuple(changes),
                after=ctx.after("mfa"),
            )
        )


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
    changes = setting_changes("mfa", want, have)
    if changes:
        ctx.add(
            ConfigOp(
                kind="set_mfa_config",
                section="mfa",
                call="SetUserPoolMfaConfig",
                target="pool",
                request=want,
                changes=tuple(changes),
            )
        )


def plan_resource_servers(ctx: _Context) -> None:
    have = {str(r.get("Identifier")): r for r in ctx.actual.resource_servers}
    for rs in ctx.desired.resource_servers:
        ident = str(rs.get("Identifier"))
        want = translate_resource_server(rs, ctx.mapper)
        if want is None:
            continue
        current = have.get(ident)
        if current is None:
            ctx.add(
                ConfigOp(
                    kind="create_resource_server",
                    section="resource-servers",
                    call="CreateResourceServer",
                    target=ident,
                    request=want,
                    changes=(Change("resource-servers", ident, "(missing)", "created"),),
                )
            )
            continue
        now = translate_resource_server(current, ctx.same) or {}
        changes = setting_changes("resource-servers", want, now, ident)
        if changes:
            ctx.add(
                ConfigOp(
                    kind="update_resource_server",
                    section="resource-servers",
                    call="UpdateResourceServer",
                    target=ident,
                    request=without_pool("UpdateResourceServer", want),
                    changes=tuple(changes),
                )
            )
    for ident in sorted(set(have) - {str(r.get("Identifier")) for r in ctx.desired.resource_servers}):
        ctx.notice("resource-servers", ident, "only in the pool: left as it is", blocks=False)


def plan_identity_providers(ctx: _Context) -> None:
    have = {str(i.get("ProviderName")): i for i in ctx.actual.identity_providers}
    for idp in ctx.desired.identity_providers:
        name = str(idp.get("ProviderName"))
        want = translate_identity_provider(idp, ctx.mapper)
        if want is None:
            continue
        current = have.get(name)
        if current is None:
            ctx.add(
                ConfigOp(
                    kind="create_identity_provider",
                    section="identity-providers",
                    call="CreateIdentityProvider",
                    target=name,
                    request=want,
                    changes=(Change("identity-providers", name, "(missing)", "created"),),
                )
            )
            continue
        if current.get("ProviderType") != idp.get("ProviderType"):
            ctx.notice(
                "identity-providers",
                name,
                f"is {current.get('ProviderType')} in the pool, "
                f"{idp.get('ProviderType')} in the snapshot: a provider's type cannot change",
            )
            continue
        update = without_pool("UpdateIdentityProvider", want)
        now = without_pool("UpdateIdentityProvider", translate_identity_provider(current, ctx.same) or {})
        changes = setting_changes("identity-providers", update, now, name)
        if changes:
            ctx.add(
                ConfigOp(
                    kind="update_identity_provider",
                    section="identity-providers",
                    call="UpdateIdentityProvider",
                    target=name,
                    request=update,
                    changes=tuple(changes),
                )
            )
    for name in sorted(set(have) - {str(i.get("ProviderName")) for i in ctx.desired.identity_providers}):
        ctx.notice("identity-providers", name, "only in the pool: left as it is", blocks=False)


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
            ctx.add(
                ConfigOp(
                    kind="create_client",
                    section="clients",
                    call="CreateUserPoolClient",
                    target=name,
                    request=want.kwargs,
                    old_client_id=want.old_client_id,
                    after=after,
                    changes=(Change("clients", name, "(missing)", "created"),),
                )
            )
            continue
        update = without_pool("UpdateUserPoolClient", want.kwargs)
        now = without_pool("UpdateUserPoolClient", translate_client(current, ctx.same).kwargs)
        update["ClientId"] = now["ClientId"] = str(current.get("ClientId"))
        changes = setting_changes("clients", update, now, name)
        if bool(client.get("ClientSecret")) != bool(current.get("ClientSecret")) or (
            client.get("ClientSecret") and client.get("ClientSecret") != current.get("ClientSecret")
        ):
            ctx.notice(
                "clients",
                name,
                "its secret differs from the snapshot's: a secret cannot change in place "
                "(create a new client, or keep the target's)",
            )
        if changes:
            ctx.add(
                ConfigOp(
                    kind="update_client",
                    section="clients",
                    call="UpdateUserPoolClient",
                    target=name,
                    request=update,
                    changes=tuple(changes),
                    after=after,
                )
            )
    kept = {str(c.get("ClientId")) for _, c in matched if c is not None}
    for c in ctx.actual.clients:
        if str(c.get("ClientId")) not in kept:
            ctx.notice("clients", str(c.get("ClientName")), "only in the pool: left as it is", blocks=False)


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
        ctx.add(
            ConfigOp(
                kind="create_domain",
                section="domain",
                call="CreateUserPoolDomain",
                target=str(want_domain),
                request=want,
                changes=(Change("domain", str(want_domain), "(missing)", "created"),),
            )
        )
        return
    update = without_pool("UpdateUserPoolDomain", want)
    now = without_pool("UpdateUserPoolDomain", translate_domain(ctx.actual.domain, ctx.same) or {})
    changes = setting_changes("domain", update, now)
    if changes:
        ctx.add(
            ConfigOp(
                kind="update_domain",
                section="domain",
                call="UpdateUserPoolDomain",
                target=str(want_domain),
                request=update,
                changes=tuple(changes),
            )
        )


def plan_ui_customization(ctx: _Context) -> None:
    want = (ctx.desired.ui_customization or {}).get("CSS")
    have = (ctx.actual.ui_customization or {}).get("CSS")
    if not want or want == have:
        return
    if not ctx.actual.domain and not ctx.after("domain"):
        ctx.notice("ui-customization", "CSS", "the pool has no domain: Cognito takes hosted UI CSS only with one")
        return
    ctx.add(
        ConfigOp(
            kind="set_ui_customization",
            section="ui-customization",
            call="SetUICustomization",
            target="pool",
            request={"CSS": want},
            after=ctx.after("domain"),
            changes=(Change("ui-customization", "CSS", "(differs)" if have else "(none)", "(snapshot's)"),),
        )
    )


RISK_KEYS = (
    "CompromisedCredentialsRiskConfiguration",
    "AccountTakeoverRiskConfiguration",
    "RiskExceptionConfiguration",
)


def _risk_request(risk: Mapping[str, Any] | None, mapper: ArnMapper) -> dict[str, Any]:
    src = copy.deepcopy(dict(risk or {}))
    notify = (src.get("AccountTakeoverRiskConfiguration") or {}).get("NotifyConfiguration")
    if isinstance(notify, dict) and notify.get("SourceArn"):
        new = mapper.map(notify["SourceArn"], "risk configuration: NotifyConfiguration.SourceArn (SES identity)")
        if new is None:
            src["AccountTakeoverRiskConfiguration"].pop("NotifyConfiguration")
        else:
            notify["SourceArn"] = new
    return without_pool("SetRiskConfiguration", {k: src.get(k) for k in RISK_KEYS})


def plan_risk(ctx: _Context) -> None:
    if ctx.desired.risk_configuration is None:
        return
    want = _risk_request(ctx.desired.risk_configuration, ctx.mapper)
    have = _risk_request(ctx.actual.risk_configuration, ctx.same)
    changes = setting_changes("risk", want, have)
    if changes:
        ctx.add(
            ConfigOp(
                kind="set_risk_configuration",
                section="risk",
                call="SetRiskConfiguration",
                target="pool",
                request=want,
                changes=tuple(changes),
            )
        )


# In the order they run: MFA before the pool (UpdateUserPool takes MFA ON only once a factor is set), providers
# and resource servers before the clients that name them, the domain before the hosted UI's CSS.
SECTIONS: dict[str, Callable[[_Context], None]] = {
    "mfa": plan_mfa,
    "pool": plan_pool,
    "resource-servers": plan_resource_servers,
    "identity-providers": plan_identity_providers,
    "clients": plan_clients,
    "domain": plan_domain,
    "ui-customization": plan_ui_customization,
    "risk": plan_risk,
}
# The reads (aws/reader.py) each section's state comes from: a section either side could not read is not
# compared (an unread list would look empty, and a restore would create what is there, or switch MFA off).
SECTION_READS: dict[str, tuple[str, ...]] = {
    "mfa": ("GetUserPoolMfaConfig",),
    "resource-servers": ("ListResourceServers",),
    "identity-providers": ("ListIdentityProviders", "DescribeIdentityProvider"),
    "clients": ("ListUserPoolClients", "DescribeUserPoolClient"),
    "domain": ("DescribeUserPoolDomain",),
    "ui-customization": ("GetUICustomization",),
    "risk": ("DescribeRiskConfiguration",),
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


# What a standby follows: everything but its own domain (and its own triggers, ConfigOptions.keep).
STANDBY_SECTIONS = frozenset(SECTIONS) - {"domain"}
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
