"""`backup`."""

from __future__ import annotations

import contextlib
import os
import shlex
import socket

import click

from cognito_backup.aws.reader import PoolReader, ReadProgress
from cognito_backup.cli.common import (
    USER_POOL_ID,
    Progress,
    app,
    emit_json,
    fail,
    handle_errors,
    human_bytes,
    interrupted,
    json_option,
    make_pacer,
    out_console,
    rate_options,
)
from cognito_backup.errors import CognitoBackupError, RepositoryBusy
from cognito_backup.ops.backup import BackupOptions, incomplete_error, run_backup
from cognito_backup.ops.backup_steps import interrupted_snapshots, load_checkpoint
from cognito_backup.repo.leases import Lease
from cognito_backup.repo.locks import RUNNING_SECONDS, list_locks, may_be_running
from cognito_backup.repo.objects import pid_alive
from cognito_backup.repo.repository import Repository


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
    type=click.IntRange(1, 16),
    default=16,
    show_default=True,
    help="Concurrent ListUsers chains (one per leading hex digit of sub). 1 lists in a single chain.",
)
@click.option(
    "--resume",
    is_flag=True,
    help="Continue this pool's interrupted backup in the repository (killed, failed or stopped with "
    "Ctrl-C) from its last checkpoint instead of listing the pool again; start a new one if there is "
    "none. The interrupted snapshot's options (--with-mfa-preferences) and start time apply.",
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
    resume: bool,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Snapshot a whole user pool into a repository.

    Reads the pool configuration (schema, policies, MFA, app clients with secrets, identity providers,
    resource servers, domain), every group, every user with all attributes and state, and every group
    membership. Objects are written first and the manifest last: an interrupted backup leaves no
    snapshot, never a partial one. Reads are paced to Cognito's quotas; throttling is retried.

    The backup saves a checkpoint in the repository every minute and when it fails or is stopped
    (Ctrl-C, SIGTERM): `backup --resume` then continues it where it stopped. The same engine runs in
    the deployed stack, one bounded Lambda step at a time.

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
    interrupted = [] if creating else interrupted_snapshots(repository, user_pool_id)
    continued = interrupted[-1] if resume and interrupted else None
    held = contextlib.ExitStack()
    if continued is not None:
        lease = take_over(repository, continued)
        held.callback(lease.release_quietly)
        held.enter_context(lease.heartbeat())
        progress.line(f"Continuing the interrupted snapshot {continued}")
        taken_with = bool(load_checkpoint(repository, continued).options.get("with_mfa_preferences"))
        if taken_with != with_mfa_preferences:
            progress.line(
                f"  note: it was started {'with' if taken_with else 'without'} --with-mfa-preferences, "
                "and continues so (one snapshot, one way of reading)"
            )
    elif interrupted:
        progress.line(
            f"  note: the interrupted snapshot {interrupted[-1]} of this pool is left as it is (a deployed "
            "backup may still be running it); --resume continues it"
        )
    saved: list[str] = []
    with held, progress.running(f"Backing up {user_pool_id} into {repository.store.describe()}"):
        try:
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
                resume=continued,
                on_checkpoint=saved.append,
            )
        except (CognitoBackupError, KeyboardInterrupt) as exc:
            if saved:
                raise _with_how_to_continue(exc, saved[-1], user_pool_id, repo) from None
            raise
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
    # Shards whose key range did not change are the same objects as before (docs/format.md).
    console.print(
        f"  {summary['reused_objects']:,} of {len(result.manifest.objects):,} objects "
        f"({human_bytes(summary['reused_bytes'])}) were already stored and are shared with earlier snapshots."
    )
    for call, why in sorted(summary["unavailable"].items()):
        console.print(f"  [dim]not recorded: {call} ({why})[/]")
    if incomplete is not None:
        _exit_incomplete(incomplete)


def take_over(repository: Repository, snapshot_id: str) -> Lease:
    """The right to continue an interrupted snapshot, or RepositoryBusy. Two --resume of one checkpoint
    started together (two machines, the same second) both find its backup stopped: the lease's
    conditional create lets exactly one of them continue it."""
    _refuse_if_running(repository, snapshot_id)
    return Lease.acquire(
        repository.store,
        f"backup/{snapshot_id}",
        what=f"The interrupted snapshot {snapshot_id}",
        purpose="backup --resume",
        took_over="it writes the snapshot; `cognito-backup snapshots` lists it when done",
    )


def _refuse_if_running(repository: Repository, snapshot_id: str) -> None:
    """Two writers of one checkpoint would record pages twice: refuse to continue a snapshot whose
    backup (a deployed step, another shell) may still be running."""
    now = repository.lock_now()
    for lock in list_locks(repository.store):
        if lock.id == snapshot_id and may_be_running(lock, now, socket.gethostname(), os.getpid(), pid_alive):
            owner = lock.body.get("owner") or {}
            raise RepositoryBusy(
                f"The interrupted snapshot {snapshot_id} may still be running: its lock was written "
                f"{now - lock.modified:.0f} s ago by {owner.get('host', 'an unknown host')}",
                hint="If that backup (a deployed execution, another shell) has stopped, run --resume again "
                f"{RUNNING_SECONDS / 60:.0f} minutes after its lock was written; or run backup without --resume "
                "for a new snapshot.",
            )


def _with_how_to_continue(
    exc: CognitoBackupError | KeyboardInterrupt, snapshot_id: str, user_pool_id: str, repo: str
) -> CognitoBackupError:
    """A backup that stopped with its checkpoint saved: its error, with the command that continues it as
    the hint (so also in the --json error a scheduler reads)."""
    how = f"continue with: cognito-backup backup --user-pool-id {user_pool_id} --repo {shlex.quote(repo)} --resume"
    if isinstance(exc, KeyboardInterrupt):
        return interrupted(exc, hint=f"Snapshot {snapshot_id} saved its progress; {how}")
    exc.hint = f"{exc.hint or ''} Snapshot {snapshot_id} saved its progress; {how}".lstrip()
    return exc


def _exit_incomplete(error: CognitoBackupError) -> None:
    """The snapshot exists but lacks sections: say so on stderr and exit 11 (stdout keeps the summary)."""
    fail(error, as_json=False)


def register(group: click.Group) -> None:
    group.add_command(backup)
