"""`backup`."""

from __future__ import annotations

import click

from cognito_backup.aws.reader import PoolReader, ReadProgress
from cognito_backup.cli.common import (
    USER_POOL_ID,
    Progress,
    app,
    emit_json,
    fail,
    handle_errors,
    json_option,
    make_pacer,
    out_console,
    rate_options,
)
from cognito_backup.errors import CognitoBackupError
from cognito_backup.ops.backup import BackupOptions, incomplete_error, run_backup


@click.command()
@click.option("--user-pool-id", type=USER_POOL_ID, required=True, help="The pool to back up, e.g. us-east-1_AbCdEf123.")
@click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")
@click.option(
    "--sse-kms-key-id",
    help="KMS key (id, alias or ARN) for SSE-KMS on s3:// repositories; default is SSE-S3 (AES256).",
)
@click.option(
    "--with-mfa-preferences",
    is_flag=True,
    help="Also record each user's MFA preferences (UserMFASettingList, PreferredMfaSetting). Off by "
    "default: it needs one AdminGetUser per user, and AdminGetUser makes every user a billed monthly "
    "active user.",
)
@click.option(
    "--list-chains",
    default=16,
    show_default=True,
    help="Concurrent ListUsers chains (one per leading hex digit of sub). 1 lists in a single chain.",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def backup(
    ctx: click.Context,
    user_pool_id: str,
    repo: str,
    sse_kms_key_id: str | None,
    with_mfa_preferences: bool,
    list_chains: int,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Snapshot a whole user pool into a repository.

    Reads the pool configuration (schema, policies, MFA, app clients with secrets, identity providers,
    resource servers, domain), every group, every user with all attributes and state, and every group
    membership. Objects are written first and the manifest last: an interrupted backup leaves no
    snapshot, never a partial one. Reads are paced to Cognito's quotas; throttling is retried.

    A configuration section the pool or endpoint does not offer is listed as "not recorded". One that
    cannot be read (still failing after retries, or denied by IAM) is missing from the snapshot, which
    is then written marked incomplete, and the command exits 11 (docs/exit-codes.md).
    """
    ctx_app = app(ctx)
    repository = ctx_app.repository(repo, kms_key_id=sse_kms_key_id)
    # Refuse a location that is not a repository before reading a single user.
    creating = repository.location_is_new()
    progress = Progress(enabled=not as_json)
    reader = PoolReader(
        ctx_app.cognito(),
        make_pacer(rates),
        user_pool_id,
        chains=max(1, list_chains),
        progress=ReadProgress(
            users=progress.counter("users"),
            memberships=progress.counter("memberships"),
            note=lambda msg: progress.line(f"  note: {msg}"),
        ),
    )
    with progress.running(f"Backing up {user_pool_id} into {repository.store.describe()}"):
        result = run_backup(
            reader,
            repository,
            ctx_app.aws.region_name,
            BackupOptions(with_mfa_preferences=with_mfa_preferences),
            stage=progress.stage,
            # Cognito's own estimate gives the users bar its length (it can lag by a few users).
            on_config=lambda config: progress.set_total(
                "users", int(config.user_pool.get("EstimatedNumberOfUsers") or 0) or None
            ),
        )
    summary = {**result.summary(), "repository_created": creating}
    incomplete = incomplete_error(result.manifest)
    if as_json:
        emit_json(summary)  # carries "incomplete": one JSON object on stdout, whatever the exit code
        if incomplete is not None:
            _exit_incomplete(incomplete)
        return
    console = out_console()
    if creating:
        console.print(f"Created repository at {repository.store.describe()}", markup=False)
    console.print(
        f"Snapshot [bold]{summary['snapshot']}[/] of {user_pool_id}: {summary['users']:,} users, "
        f"{summary['groups']:,} groups, {summary['memberships']:,} memberships, "
        f"{summary['app_clients']} app clients, {summary['identity_providers']} identity providers "
        f"in {summary['seconds']:.1f}s."
    )
    for call, why in sorted(summary["unavailable"].items()):
        console.print(f"  [dim]not recorded: {call} ({why})[/]")
    if incomplete is not None:
        _exit_incomplete(incomplete)


def _exit_incomplete(error: CognitoBackupError) -> None:
    """The snapshot exists but lacks sections: say so on stderr and exit 11 (stdout keeps the summary)."""
    fail(error, as_json=False)


def register(group: click.Group) -> None:
    group.add_command(backup)
