"""`restore --deployed STACK` and `restore --deployed STACK --status EXECUTION` (ops/deployed_restore.py)."""

from __future__ import annotations

import sys
from typing import Any

import click

from cognito_backup.cli.common import app, emit_json, out_console
from cognito_backup.core.deployed_restore import FAILED, RUNNING, execution_input, parse_request
from cognito_backup.errors import AccessDenied, RepositoryNotFound, StoreUnavailable, UsageError
from cognito_backup.ops.deployed_restore import DeployedStack, describe_stack, restore_status, start_restore
from cognito_backup.repo.leases import refuse_if_held


def _refuse_what_a_deployed_restore_cannot_do(
    *, target: str | None, new_pool: str | None, dry_run: bool, prune: bool, yes: bool, users_via: str
) -> None:
    if new_pool:
        raise UsageError(
            "A deployed restore writes into an existing pool (the stack's RestoreUserPoolId); it does not create "
            "one. Create the pool first (`restore --new-pool NAME` from here, or by hand), then restore into it "
            "with --user-pool-id."
        )
    if not target:
        raise UsageError("--deployed needs --user-pool-id TARGET (the stack's RestoreUserPoolId)")
    if dry_run:
        raise UsageError("A dry run writes nothing and needs no Lambda: run it here without --deployed (same plan).")
    if prune and not yes:
        raise UsageError("--prune deletes from the target and a deployed restore cannot ask first: pass --yes")
    if users_via != "admin":
        raise UsageError("A deployed restore creates users with AdminCreateUser only: run import jobs from here.")


def run_deployed(
    ctx: click.Context,
    *,
    stack: str | None,
    status_of: str | None,
    repo: str | None,
    as_json: bool,
    target: str | None,
    new_pool: str | None,
    dry_run: bool,
    prune: bool,
    yes: bool,
    users_via: str,
    document: dict[str, Any],
) -> None:
    if not stack:
        raise UsageError("--status follows a deployed restore: give --deployed STACK too")
    ctx_app = app(ctx)
    if status_of is None:
        _refuse_what_a_deployed_restore_cannot_do(
            target=target, new_pool=new_pool, dry_run=dry_run, prune=prune, yes=yes, users_via=users_via
        )
        # Validated here as the Lambda will: a refusal costs no execution.
        request = parse_request({k: v for k, v in document.items() if v not in (None, [], {}, False)})
        execution_input(request)  # too long for Step Functions: refused before any AWS call
    deployed = describe_stack(ctx_app.aws.client("cloudformation"), stack)
    stepfunctions = ctx_app.aws.client("stepfunctions")
    if status_of is None:
        _refuse_a_held_target(ctx_app, deployed, repo, request.target_user_pool_id)
        started = start_restore(stepfunctions, deployed, request)
        if as_json:
            emit_json(started)
            return
        console = out_console()
        console.print(f"Started the restore into {request.target_user_pool_id} in stack {stack}.", markup=False)
        console.print(started["execution_arn"], markup=False, soft_wrap=True)
        console.print(
            f"Follow it: cognito-backup restore --deployed {stack} --status {started['execution']}\n"
            f"The stack's topic hears when it ends or fails; the report goes to {started['report_prefix']} in the "
            "repository.",
            markup=False,
            soft_wrap=True,
        )
        return
    repository = ctx_app.repository(repo or deployed.repository_url, kms_key_id=deployed.kms_key_arn)
    body = restore_status(stepfunctions, repository, deployed, status_of)
    if as_json:
        emit_json(body)
    else:
        _print_status(body)
    if body["exit_code"]:
        sys.exit(int(body["exit_code"]))


def _refuse_a_held_target(ctx_app: Any, deployed: DeployedStack, repo: str | None, target: str) -> None:
    """Exit 13 before anything starts when another restore holds the target (repo/leases.py). Best
    effort: an operator who may start executions but not read the repository gets the refusal from
    the execution's first step instead (the stack's topic says it failed, naming the holder)."""
    try:
        repository = ctx_app.repository(repo or deployed.repository_url, kms_key_id=deployed.kms_key_arn)
        store = repository.store
        refuse_if_held(
            store,
            f"restore/{target}",
            what=f"The restore target {target}",
            took_over="another restore into that pool",
        )
    except (StoreUnavailable, AccessDenied, RepositoryNotFound):
        return


def _print_status(body: dict[str, Any]) -> None:
    console = out_console()
    request = body.get("request") or {}
    counts = body["counts"]
    console.print(
        f"Restore into {request.get('target_user_pool_id', '?')} ({body['execution_arn']}): {body['status']}, "
        f"{body['steps']} steps so far",
        markup=False,
        soft_wrap=True,
    )
    if counts:
        console.print("  " + ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in sorted(counts.items())), markup=False)
    if body["status"] == FAILED:
        console.print(f"  failed: {body['error']}: {body['cause'] or ''}", markup=False, soft_wrap=True)
    if body["report"]:
        console.print(f"  report: {body['report']}  sub map: {body['sub_map']} (in the repository)", markup=False)
    if body["status"] == RUNNING:
        console.print("  still running: ask again later, or wait for the stack's topic.", markup=False)
