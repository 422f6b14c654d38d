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
    and hosted-UI CSS. Every warning is passed to `warn` as it is known and kept in the result.

    `tags` are set on the pool as it is created (CreateUserPool's UserPoolTags, no later call), over the
    snapshot's own tags of the same keys."""
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
    if tags:
        plan.create_pool["UserPoolTags"] = {**(plan.create_pool.get("UserPoolTags") or {}), **tags}
    if plan.domain:
        _refuse_taken_domain(client, pacer, str(plan.domain["Domain"]))
    try:
        resp = pacer.call("CreateUserPool", client.create_user_pool, **plan.create_pool)
    except ClientError as exc:
        raise translate_client_error(exc, f"CreateUserPool {pool_name!r}") from exc
    pool_id = str(resp["UserPool"]["Id"])
    result = CreatedPool(user_pool_id=pool_id, warnings=list(plan.warnings), keep_sub_attribute=plan.keep_sub_attribute)
    try:
        _configure(client, pacer, pool_id, plan, result, warn)
    except CognitoBackupError as err:
        raise _after_creation(err, pool_id) from err
    return result


def _configure(
    client: Any, pacer: Pacer, pool_id: str, plan: PoolPlan, result: CreatedPool, warn: Callable[[str], None]
) -> None:
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
        call("CreateResourceServer", client.create_resource_server, str(rs["Identifier"]), **rs)
    for idp in plan.identity_providers:
        call("CreateIdentityProvider", client.create_identity_provider, str(idp["ProviderName"]), **idp)
    for cp in plan.clients:
        resp = call(
            "CreateUserPoolClient", client.create_user_pool_client, f"app client {cp.client_name!r}", **cp.kwargs
        )
        new_id = str(resp["UserPoolClient"]["ClientId"])
        result.client_id_map[cp.old_client_id] = new_id
        if "ClientSecret" in cp.kwargs or "GenerateSecret" in cp.kwargs:
            result.secrets_kept[new_id] = cp.secret_kept
    if plan.domain:
        call("CreateUserPoolDomain", client.create_user_pool_domain, str(plan.domain["Domain"]), **plan.domain)
        result.domain = str(plan.domain["Domain"])
    if plan.ui_customization:
        call("SetUICustomization", client.set_ui_customization, "(CSS)", **plan.ui_customization)


def _refuse_taken_domain(client: Any, pacer: Pacer, domain: str) -> None:
    """Before writing anything: a domain this account already uses elsewhere would fail later. (A prefix
    held by another account is only seen by CreateUserPoolDomain; that case is handled there.)"""
    try:
        resp = pacer.call("DescribeUserPoolDomain", client.describe_user_pool_domain, Domain=domain)
    except ClientError as exc:
        if error_code(exc) in {"ResourceNotFoundException", "InvalidParameterException"}:
            return
        raise translate_client_error(exc, f"DescribeUserPoolDomain {domain}") from exc
    owner = (resp.get("DomainDescription") or {}).get("UserPoolId")
    if owner:
        raise PlanRefused(
            f"the domain {domain!r} is already used by user pool {owner}; nothing was created",
            hint="Choose another domain prefix with --domain-prefix PREFIX.",
        )


def _after_creation(err: CognitoBackupError, pool_id: str) -> CognitoBackupError:
    hint = (
        f"Re-run with --user-pool-id {pool_id} to finish into the new pool, or delete it "
        f"(aws cognito-idp delete-user-pool --user-pool-id {pool_id}; turn DeletionProtection off first if set)."
    )
    if err.hint:
        hint = f"{err.hint} {hint}"
    new = type(err)(f"created user pool {pool_id}, then: {err.message}", hint=hint)
    new.created_user_pool_id = pool_id  # type: ignore[attr-defined]
    code = getattr(err, "aws_code", None)
    if code:
        new.aws_code = code  # type: ignore[attr-defined]
    return new
