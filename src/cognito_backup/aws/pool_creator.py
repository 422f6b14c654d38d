"""Create a new user pool from a snapshot's configuration (issue 3, `restore --new-pool NAME`).

The translation is pure (core/pool_translate.py); this module only makes the calls, in order, each through
the Pacer. Groups, users and memberships are the restore engine's job.

Failure handling: before anything is written, a domain prefix already in use by a pool of this account is
refused (PlanRefused). Once the pool exists, any later failure is re-raised as the same error class with a
message naming the new pool id, so the operator can finish into it (`--user-pool-id`) or delete it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore import xform_name
from botocore.exceptions import ClientError

from cognito_backup.aws.errors import error_code, translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.pool_translate import PoolPlan, translate_pool_config
from cognito_backup.errors import CognitoBackupError, PlanRefused
from cognito_backup.model import PoolConfig


@dataclass
class CreatedPool:
    user_pool_id: str
    client_id_map: dict[str, str] = field(default_factory=dict)  # old ClientId -> new ClientId
    warnings: list[str] = field(default_factory=list)
    domain: str | None = None
    keep_sub_attribute: str | None = None  # "custom:x" when --keep-sub-in declared it
    secrets_kept: dict[str, bool] = field(default_factory=dict)  # new ClientId -> secret kept (confidential only)
    tagged: bool = False  # the `tags` asked of create_prepared_pool were set


MAX_POOL_TAGS = 50
# What the per-client Create calls answer when the item exists already (a resumed run).
ALREADY_MADE = frozenset({"TermsExistsException", "ManagedLoginBrandingExistsException"})


def created_pool_id(err: BaseException) -> str | None:
    """The id of the pool created before `err` happened, if any (for callers that resume into it)."""
    value = getattr(err, "created_user_pool_id", None)
    return str(value) if value else None


def create_pool_from_config(
    client: Any,
    pacer: Pacer,
    config: PoolConfig,
    pool_name: str,
    *,
    arn_map: Mapping[str, str],
    domain_prefix: str | None,
    keep_sub_attribute: str | None,
    target_region: str | None,
    warn: Callable[[str], None],
    target_account: str | None = None,
    tags: Mapping[str, str] | None = None,
) -> CreatedPool:
    """Create the pool, its MFA configuration, resource servers, identity providers, app clients, domain
    and hosted-UI CSS. Every warning is passed to `warn` as it is known and kept in the result."""
    plan = prepare_pool(
        client,
        pacer,
        config,
        pool_name,
        arn_map=arn_map,
        domain_prefix=domain_prefix,
        keep_sub_attribute=keep_sub_attribute,
        target_region=target_region,
        warn=warn,
        target_account=target_account,
    )
    return create_prepared_pool(client, pacer, plan, pool_name, warn, tags=tags)


def prepare_pool(
    client: Any,
    pacer: Pacer,
    config: PoolConfig,
    pool_name: str,
    *,
    arn_map: Mapping[str, str],
    domain_prefix: str | None,
    keep_sub_attribute: str | None,
    target_region: str | None,
    warn: Callable[[str], None],
    target_account: str | None = None,
    adopting: str | None = None,
) -> PoolPlan:
    """Translate the configuration and check what can be checked before writing anything (PlanRefused):
    a domain prefix this account already uses, unless by the pool being `adopting`."""
    plan = translate_pool_config(
        config,
        pool_name,
        arn_map=arn_map,
        domain_prefix=domain_prefix,
        keep_sub_attribute=keep_sub_attribute,
        target_region=target_region,
        target_account=target_account,
    )
    for message in plan.warnings:
        warn(message)
    if plan.domain:
        _refuse_taken_domain(client, pacer, str(plan.domain["Domain"]), adopting)
    return plan


def create_prepared_pool(
    client: Any,
    pacer: Pacer,
    plan: PoolPlan,
    pool_name: str,
    warn: Callable[[str], None],
    *,
    tags: Mapping[str, str] | None = None,
    resume_hint: Callable[[str], str] | None = None,
) -> CreatedPool:
    """CreateUserPool (with `tags` added to the snapshot's), then the rest of the configuration.
    `resume_hint(pool_id)`: what to tell the operator if the configuration fails once the pool exists."""
    kwargs = dict(plan.create_pool)
    own = dict(kwargs.get("UserPoolTags") or {})
    if tags and len({**own, **tags}) > MAX_POOL_TAGS:
        message = (
            f"the snapshot's pool has {len(own)} tags, the most a pool can have: the new pool does not get "
            f"the tag{'s' if len(tags) > 1 else ''} {', '.join(sorted(tags))}"
        )
        warn(message)
        plan.warnings.append(message)
    elif tags:
        kwargs["UserPoolTags"] = {**own, **dict(tags)}
    try:
        resp = pacer.call("CreateUserPool", client.create_user_pool, **kwargs)
    except ClientError as exc:
        raise translate_client_error(exc, f"CreateUserPool {pool_name!r}") from exc
    pool_id = str(resp["UserPool"]["Id"])
    result = CreatedPool(user_pool_id=pool_id, warnings=list(plan.warnings), keep_sub_attribute=plan.keep_sub_attribute)
    result.tagged = bool(tags) and "UserPoolTags" in kwargs and all(k in kwargs["UserPoolTags"] for k in tags or {})
    try:
        _configure(client, pacer, pool_id, plan, result, warn)
    except CognitoBackupError as err:
        raise _after_creation(err, pool_id, resume_hint) from err
    return result


def finish_pool(
    client: Any,
    pacer: Pacer,
    pool_id: str,
    plan: PoolPlan,
    warn: Callable[[str], None],
    *,
    resume_hint: Callable[[str], str] | None = None,
) -> CreatedPool:
    """Complete the configuration of a pool an interrupted run created: what it already has (resource
    servers, identity providers, app clients by name, a domain) is kept, the rest is created."""
    result = CreatedPool(
        user_pool_id=pool_id, warnings=list(plan.warnings), keep_sub_attribute=plan.keep_sub_attribute, tagged=True
    )  # adopted pools are found by their tag
    try:
        existing = _existing(client, pacer, pool_id, plan)
        _configure(client, pacer, pool_id, plan, result, warn, existing)
    except CognitoBackupError as err:
        raise _after_creation(err, pool_id, resume_hint) from err
    return result


def pools_named(client: Any, pacer: Pacer, name: str) -> list[str]:
    """The ids of the account's pools (in the client's Region) named `name`: Cognito allows several."""
    found: list[str] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": 60, **({"NextToken": token} if token else {})}
        try:
            resp = pacer.call("ListUserPools", client.list_user_pools, **kwargs)
        except ClientError as exc:
            raise translate_client_error(exc, "ListUserPools") from exc
        found += [str(pool["Id"]) for pool in resp.get("UserPools", []) if pool.get("Name") == name]
        token = resp.get("NextToken")
        if not token:
            return found


def find_tagged_pool(client: Any, pacer: Pacer, name: str, tag: str, value: str) -> str | None:
    """The pool named `name` whose tag `tag` is `value` (ListUserPools has no tags: DescribeUserPool
    each pool of that name)."""
    for pool_id in pools_named(client, pacer, name):
        if (pool_tags(client, pacer, pool_id) or {}).get(tag) == value:
            return pool_id
    return None


def pool_tags(client: Any, pacer: Pacer, pool_id: str) -> dict[str, str] | None:
    """The pool's tags; None when the pool is gone."""
    try:
        resp = pacer.call("DescribeUserPool", client.describe_user_pool, pool_id=pool_id, UserPoolId=pool_id)
    except ClientError as exc:
        if error_code(exc) == "ResourceNotFoundException":
            return None
        raise translate_client_error(exc, f"DescribeUserPool {pool_id}") from exc
    return dict(resp.get("UserPool", {}).get("UserPoolTags") or {})


@dataclass
class _Existing:
    resource_servers: set[str]
    providers: set[str]
    clients: dict[str, list[str]]  # name -> ids
    domain: str | None
    # (client id, policy name) of the CIMD policies made: CreateCIMDPolicy has no "exists" answer, and
    # a second call would make a second policy.
    cimd_policies: set[tuple[str, str]] = field(default_factory=set)


def _pages(pacer: Pacer, operation: str, fn: Callable[..., Any], key: str, pool_id: str, size: int) -> list[Any]:
    items: list[Any] = []
    token: str | None = None
    while True:
        kwargs: dict[str, Any] = {"MaxResults": size, **({"NextToken": token} if token else {})}
        try:
            resp = pacer.call(operation, fn, pool_id=pool_id, UserPoolId=pool_id, **kwargs)
        except ClientError as exc:
            raise translate_client_error(exc, f"{operation} on user pool {pool_id}") from exc
        items += resp.get(key, [])
        token = resp.get("NextToken")
        if not token:
            return items


def _existing(client: Any, pacer: Pacer, pool_id: str, plan: PoolPlan) -> _Existing:
    servers = _pages(pacer, "ListResourceServers", client.list_resource_servers, "ResourceServers", pool_id, 50)
    providers = _pages(pacer, "ListIdentityProviders", client.list_identity_providers, "Providers", pool_id, 60)
    clients: dict[str, list[str]] = {}
    for item in _pages(pacer, "ListUserPoolClients", client.list_user_pool_clients, "UserPoolClients", pool_id, 60):
        clients.setdefault(str(item.get("ClientName")), []).append(str(item["ClientId"]))
    try:
        pool = pacer.call("DescribeUserPool", client.describe_user_pool, pool_id=pool_id, UserPoolId=pool_id)
    except ClientError as exc:
        raise translate_client_error(exc, f"DescribeUserPool {pool_id}") from exc
    policies: list[dict[str, Any]] = []
    if any(call.operation == "CreateCIMDPolicy" for call in plan.client_calls):
        policies = _pages(pacer, "ListCIMDPolicies", client.list_cimd_policies, "CIMDPolicies", pool_id, 60)
    return _Existing(
        resource_servers={str(s["Identifier"]) for s in servers},
        providers={str(p["ProviderName"]) for p in providers},
        clients=clients,
        domain=pool.get("UserPool", {}).get("Domain") or pool.get("UserPool", {}).get("CustomDomain"),
        cimd_policies={(str(p.get("ClientId")), str(p.get("PolicyName"))) for p in policies},
    )


def _configure(
    client: Any,
    pacer: Pacer,
    pool_id: str,
    plan: PoolPlan,
    result: CreatedPool,
    warn: Callable[[str], None],
    existing: _Existing | None = None,
) -> None:
    have = existing or _Existing(set(), set(), {}, None)

    def call(operation: str, fn: Callable[..., Any], what: str, **kwargs: Any) -> Any:
        try:
            return pacer.call(operation, fn, pool_id=pool_id, UserPoolId=pool_id, **kwargs)
        except ClientError as exc:
            if operation == "CreateUserPoolDomain" and error_code(exc) == "InvalidParameterException":
                raise PlanRefused(
                    f"the domain prefix {kwargs.get('Domain')!r} is taken (or not allowed) in this Region",
                    hint="Choose another with --domain-prefix PREFIX.",
                ) from exc
            raise translate_client_error(exc, f"{operation} {what} on new user pool {pool_id}") from exc

    if plan.mfa:
        call("SetUserPoolMfaConfig", client.set_user_pool_mfa_config, "", **plan.mfa)
    for rs in plan.resource_servers:
        if str(rs["Identifier"]) in have.resource_servers:
            continue
        call("CreateResourceServer", client.create_resource_server, str(rs["Identifier"]), **rs)
    for idp in plan.identity_providers:
        if str(idp["ProviderName"]) in have.providers:
            continue
        call("CreateIdentityProvider", client.create_identity_provider, str(idp["ProviderName"]), **idp)
    for cp in plan.clients:
        made = have.clients.get(cp.client_name) or []
        if made:
            result.client_id_map[cp.old_client_id] = made.pop(0)
            continue
        resp = call(
            "CreateUserPoolClient", client.create_user_pool_client, f"app client {cp.client_name!r}", **cp.kwargs
        )
        new_id = str(resp["UserPoolClient"]["ClientId"])
        result.client_id_map[cp.old_client_id] = new_id
        if "ClientSecret" in cp.kwargs or "GenerateSecret" in cp.kwargs:
            result.secrets_kept[new_id] = cp.secret_kept
    if plan.domain and have.domain:
        if have.domain != plan.domain["Domain"]:
            message = f"the pool keeps its domain {have.domain!r} (a pool has one); {plan.domain['Domain']!r} unused"
            warn(message)
            result.warnings.append(message)
        result.domain = have.domain
    elif plan.domain:
        call("CreateUserPoolDomain", client.create_user_pool_domain, str(plan.domain["Domain"]), **plan.domain)
        result.domain = str(plan.domain["Domain"])
    if plan.ui_customization:
        call("SetUICustomization", client.set_ui_customization, "(CSS)", **plan.ui_customization)
    for operation, kwargs in plan.pool_settings:
        call(operation, getattr(client, xform_name(operation)), "", **kwargs)
    _configure_client_settings(client, pacer, plan, result, warn, have)


def _configure_client_settings(
    client: Any, pacer: Pacer, plan: PoolPlan, result: CreatedPool, warn: Callable[[str], None], have: _Existing
) -> None:
    """Each app client's own settings (session configuration, terms, managed login style, CIMD policies),
    addressed by the client's new id."""
    pool_id = result.user_pool_id
    for item in plan.client_calls:
        target = result.client_id_map.get(item.old_client_id)
        if target is None:
            message = f"{item.what} of app client {item.old_client_id}: not set, the app client was not created"
            warn(message)
            result.warnings.append(message)
            continue
        if item.operation == "CreateCIMDPolicy" and (target, str(item.kwargs.get("PolicyName"))) in have.cimd_policies:
            continue  # made by the interrupted run this one finishes
        try:
            pacer.call(
                item.operation, getattr(client, xform_name(item.operation)), pool_id=pool_id,
                UserPoolId=pool_id, ClientId=target, **item.kwargs,
            )  # fmt: skip
        except ClientError as exc:
            if error_code(exc) in ALREADY_MADE:
                continue  # made by the interrupted run this one finishes
            raise translate_client_error(exc, f"{item.operation} {item.what} on new user pool {pool_id}") from exc


def _refuse_taken_domain(client: Any, pacer: Pacer, domain: str, adopting: str | None = None) -> None:
    """Before writing anything: a domain this account already uses elsewhere would fail later. (A prefix
    held by another account is only seen by CreateUserPoolDomain; that case is handled there.)"""
    try:
        resp = pacer.call("DescribeUserPoolDomain", client.describe_user_pool_domain, Domain=domain)
    except ClientError as exc:
        if error_code(exc) in {"ResourceNotFoundException", "InvalidParameterException"}:
            return
        raise translate_client_error(exc, f"DescribeUserPoolDomain {domain}") from exc
    owner = (resp.get("DomainDescription") or {}).get("UserPoolId")
    if owner and owner != adopting:
        raise PlanRefused(
            f"the domain {domain!r} is already used by user pool {owner}; nothing was created",
            hint="Choose another domain prefix with --domain-prefix PREFIX.",
        )


def _after_creation(
    err: CognitoBackupError, pool_id: str, resume_hint: Callable[[str], str] | None = None
) -> CognitoBackupError:
    hint = (
        resume_hint(pool_id)
        if resume_hint
        else (
            f"Re-run with --user-pool-id {pool_id} to finish into the new pool, or delete it "
            f"(aws cognito-idp delete-user-pool --user-pool-id {pool_id}; turn DeletionProtection off first if set)."
        )
    )
    if err.hint:
        hint = f"{err.hint} {hint}"
    new = type(err)(f"created user pool {pool_id}, then: {err.message}", hint=hint)
    new.created_user_pool_id = pool_id  # type: ignore[attr-defined]
    code = getattr(err, "aws_code", None)
    if code:
        new.aws_code = code  # type: ignore[attr-defined]
    return new
