"""`migrate start | sync | status | finish`: move users to another pool with their passwords."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import click
from rich.table import Table

from cognito_backup.cli.common import (
    POOL_NAME,
    USER_POOL_ID,
    Progress,
    app,
    check_report_dir,
    emit_json,
    handle_errors,
    json_option,
    make_pacer,
    on_interrupt,
    out_console,
    rate_options,
)
from cognito_backup.core.plan import DEFAULT_PASSWORD_MODE, PASSWORD_MODES
from cognito_backup.ops.migrate import (
    Pools,
    StartRequest,
    require_state,
    run_finish,
    run_start,
    run_status,
    run_sync,
)
from cognito_backup.ops.restore import outcome_error
from cognito_backup.repo.repository import Repository

repo_option = click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")
from_option = click.option(
    "--from-user-pool-id", "from_pool", type=USER_POOL_ID, required=True, help="The pool users move out of (A)."
)


# start, sync and finish each resume where they stopped when run again (docs/migrate.md).
MIGRATE_AGAIN = "Run the same command again: it resumes where it stopped."


def _pools(ctx: click.Context, rates: tuple[str, ...], to_region: str | None) -> Pools:
    ctx_app = app(ctx)
    return Pools(
        source=ctx_app.cognito(),
        target=ctx_app.cognito(region=to_region),
        pacer=make_pacer(rates),
        functions=ctx_app.aws.client("lambda", region=to_region),
    )


def _pools_of(ctx: click.Context, repo: Repository, from_pool: str, rates: tuple[str, ...]) -> Pools:
    return _pools(ctx, rates, require_state(repo, from_pool).to_region)


@click.group()
def migrate() -> None:
    """Move a pool's users into another pool WITH their passwords (docs/migrate.md).

    \b
    While the old pool (A) still answers sign-ins, a user-migration trigger on the new pool (B) takes each
    user over at their next sign-in or password reset, password included. Then:
      migrate start   snapshot A, prepare B, attach the trigger (plan first; --dry-run writes nothing)
      migrate sync    apply memberships and disabled state of the users who moved
      migrate status  how many moved, how many remain, per day
      migrate finish  restore the users who never signed in, remove the trigger, write the sub map
    """


@migrate.command()
@repo_option
@from_option
@click.option("--to-user-pool-id", "to_pool", type=USER_POOL_ID, help="The existing pool users move into (B).")
@click.option(
    "--new-pool", "new_pool", metavar="NAME", type=POOL_NAME, help="Create B with A's configuration, under this name."
)
@click.option("--to-region", help="B's Region, when it is not A's (default: A's Region, or --region).")
@click.option(
    "--trigger-arn",
    help="ARN of the user-migration function. Default: the one deploy/template.yaml deployed for this source "
    "pool in the target's Region (MigrateSourceUserPoolId; found with lambda:ListFunctions). Your own function "
    "works too; Cognito must be allowed to invoke it (docs/migrate.md).",
)
@click.option("--dry-run", is_flag=True, help="Show the plan and refusals; write nothing.")
@rate_options
@json_option
@click.pass_context
@handle_errors
def start(
    ctx: click.Context,
    repo: str,
    from_pool: str,
    to_pool: str | None,
    new_pool: str | None,
    to_region: str | None,
    trigger_arn: str | None,
    dry_run: bool,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Snapshot A, prepare B (its groups; the whole configuration with --new-pool), create an admin-auth-only
    app client on A (no secret), attach the trigger to B, and record the migration in the repository.

    Every setting of B is kept: only its user-migration trigger changes. Refused (exit 8, nothing written)
    when B lacks attributes A uses, or already has another migration trigger. Re-running resumes."""
    repository = app(ctx).repository(repo)
    request = StartRequest(from_pool, trigger_arn, to_pool, new_pool, to_region, dry_run)
    progress = Progress(enabled=not as_json)
    with progress.running(f"Starting the migration out of {from_pool}"), on_interrupt(MIGRATE_AGAIN):
        outcome = run_start(_pools(ctx, rates, to_region), repository, request, stage=progress.stage)
    if as_json:
        emit_json(outcome.to_json())
        return
    console = out_console()
    console.print(f"Plan: {from_pool} -> {outcome.plan.to_user_pool_id or repr(new_pool)}", markup=False)
    for step in outcome.plan.steps:
        console.print(f"  - {step}", markup=False)
    for warning in outcome.warnings:
        console.print(f"  warning: {warning}", markup=False)
    if outcome.state is None:
        console.print("Dry run: nothing was written.")
        return
    console.print(
        f"Migration started into {outcome.state.to_user_pool_id} (snapshot {outcome.state.snapshot}). Point your "
        "app at the new pool; run `migrate sync` regularly and `migrate status` to follow it.",
        markup=False,
    )


@migrate.command()
@repo_option
@from_option
@click.option(
    "--all",
    "everyone",
    is_flag=True,
    help="Re-read every user who moved, not only those who moved since the last sync (catches group or "
    "disabled-state changes made in A after a user's move).",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def sync(ctx: click.Context, repo: str, from_pool: str, everyone: bool, rates: tuple[str, ...], as_json: bool) -> None:
    """Give the users who moved since the last sync their groups and disabled state from A (one filtered
    read and one group listing per user, paced). Run it every few minutes while the migration lasts."""
    repository = app(ctx).repository(repo)
    pools = _pools_of(ctx, repository, from_pool, rates)
    progress = Progress(enabled=not as_json)
    with progress.running(f"Syncing moved users of {from_pool}"), on_interrupt(MIGRATE_AGAIN):
        summary = run_sync(pools, repository, from_pool, everyone=everyone)
    body = summary.to_json()
    error = outcome_error(summary)
    if as_json:
        emit_json(body)
    else:
        out_console().print(
            f"Synced into {summary.user_pool_id}: {body['created']} created, {body['updated']} updated, "
            f"{body['failed']} failed.",
            markup=False,
        )
    if error is not None:
        if as_json:
            sys.exit(error.exit_code)
        raise error


@migrate.command()
@repo_option
@from_option
@rate_options
@json_option
@click.pass_context
@handle_errors
def status(ctx: click.Context, repo: str, from_pool: str, rates: tuple[str, ...], as_json: bool) -> None:
    """How many users moved, how many remain, and how many moved each day."""
    repository = app(ctx).repository(repo)
    body = run_status(_pools_of(ctx, repository, from_pool, rates), repository, from_pool)
    if as_json:
        emit_json(body)
        return
    migration: dict[str, Any] = body["migration"]
    table = Table(title=f"{from_pool} -> {migration['to_user_pool_id']} ({migration['status']})")
    table.add_column("day")
    table.add_column("moved", justify="right")
    for row in body["per_day"]:
        table.add_row(row["day"], str(row["moved"]))
    console = out_console()
    console.print(table)
    console.print(f"moved {body['moved']} of {body['users_in_source']}, remaining {body['remaining']}", markup=False)


@migrate.command()
@repo_option
@from_option
@click.option(
    "--password-mode",
    type=click.Choice(PASSWORD_MODES),
    default=DEFAULT_PASSWORD_MODE,
    show_default=True,
    help="What the users who never signed in face (their passwords cannot move without them): as for "
    "`restore --password-mode`.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cognito-backup-migrate"),
    show_default=True,
    help="Where the report and the sub map (old sub -> new sub of every user) go, owner-only.",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def finish(
    ctx: click.Context,
    repo: str,
    from_pool: str,
    password_mode: str,
    report_dir: Path,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Remove the trigger from B, restore the users who never signed in (restore engine), remove the client
    on A, and write the report with the sub map. If A is gone, its last snapshot is used."""
    check_report_dir(report_dir)
    repository = app(ctx).repository(repo)
    pools = _pools_of(ctx, repository, from_pool, rates)
    progress = Progress(enabled=not as_json)
    with progress.running(f"Finishing the migration out of {from_pool}"), on_interrupt(MIGRATE_AGAIN):
        outcome = run_finish(pools, repository, from_pool, password_mode=password_mode, report_dir=report_dir)
    summary = outcome.restore.summary
    error = outcome_error(summary, str(outcome.restore.report_path))
    if as_json:
        emit_json(outcome.to_json())
        if error is not None:
            sys.exit(error.exit_code)
        return
    console = out_console()
    for warning in summary.warnings:
        console.print(f"  warning: {warning}", markup=False)
    console.print(
        f"Migration into {outcome.state.to_user_pool_id} finished: {outcome.moved} users moved with their "
        f"password, {outcome.restored} restored (password mode {password_mode}).\n"
        f"Report: {outcome.restore.report_path}\nSub map: {outcome.restore.sub_map_path}",
        markup=False,
    )
    if error is not None:
        raise error


def register(group: click.Group) -> None:
    group.add_command(migrate)
