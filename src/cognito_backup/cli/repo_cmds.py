"""`snapshots`, `show`, `check`, `prune`: look after a repository."""

from __future__ import annotations

from typing import Any

import click
from rich.table import Table

from cognito_backup.cli.common import Progress, app, emit_json, handle_errors, json_option, out_console
from cognito_backup.core.retention import Policy
from cognito_backup.errors import RepositoryDamaged, UsageError
from cognito_backup.ops.pitr import coverage, select_snapshot
from cognito_backup.ops.prune import DEFAULT_GRACE_SECONDS, prune
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.journal import journal_check
from cognito_backup.repo.layout import JOURNAL_PREFIX, OBJECTS_PREFIX
from cognito_backup.repo.manifest import Manifest

repo_option = click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")


def _manifest_row(m: Manifest) -> dict[str, Any]:
    return {
        "id": m.id,
        "user_pool_id": m.user_pool_id,
        "region": m.region,
        "started_at": m.started_at,
        "finished_at": m.finished_at,
        "users": m.counts.get("users", 0),
        "groups": m.counts.get("groups", 0),
        "memberships": m.counts.get("memberships", 0),
        "bytes": sum(o.size for o in m.objects),
        "tool_version": m.tool_version,
        "compacted_from": m.extra.get("compacted_from"),
    }


@click.command()
@repo_option
@click.option("--user-pool-id", help="Only snapshots of this pool.")
@json_option
@click.pass_context
@handle_errors
def snapshots(ctx: click.Context, repo: str, user_pool_id: str | None, as_json: bool) -> None:
    """List the snapshots in a repository, oldest first, with the time range each can restore to."""
    repository = app(ctx).repository(repo)
    manifests = [m for m in repository.list_snapshots() if user_pool_id in (None, m.user_pool_id)]
    rows = [_manifest_row(m) for m in manifests]
    reach = _coverage(repository, manifests)
    for row in rows:
        row["restorable_from"], row["restorable_to"] = reach.get(row["id"], (row["finished_at"], row["finished_at"]))
    if as_json:
        emit_json(rows)
        return
    table = Table(title=f"Snapshots in {repository.store.describe()}")
    for col in ("id", "pool", "started (UTC)", "users", "groups", "memberships", "size", "restorable to"):
        table.add_column(col, justify="right" if col in ("users", "groups", "memberships", "size") else "left")
    for row in rows:
        table.add_row(
            row["id"],
            row["user_pool_id"],
            row["started_at"][:19].replace("T", " "),
            f"{row['users']:,}",
            f"{row['groups']:,}",
            f"{row['memberships']:,}",
            _human_bytes(row["bytes"]),
            str(row["restorable_to"])[:19].replace("T", " "),
        )
    console = out_console()
    console.print(table)
    if not rows:
        console.print("No snapshots yet: run `cognito-backup backup --user-pool-id ID --repo ...`.")


def _coverage(repository: Any, manifests: list[Manifest]) -> dict[str, tuple[str, str]]:
    """Snapshot id -> (earliest, latest) time it restores exactly, with the journal."""
    return {sid: (str(start), str(end)) for sid, start, end in coverage(repository, manifests)}


def _human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"


@click.command()
@repo_option
@click.option("--snapshot", default="latest", show_default=True, help="Snapshot id (or unique prefix) or 'latest'.")
@click.option(
    "--user-pool-id",
    help="Show this pool's latest snapshot. Needed for `latest` when the repository holds several pools.",
)
@json_option
@click.pass_context
@handle_errors
def show(ctx: click.Context, repo: str, snapshot: str, user_pool_id: str | None, as_json: bool) -> None:
    """Show what a snapshot holds: counts, users by status, and the pool configuration summary."""
    repository = app(ctx).repository(repo)
    _, manifest = select_snapshot(repository, snapshot, source_pool_id=user_pool_id)
    config = repository.load_config(manifest)
    by_status: dict[str, int] = {}
    disabled = 0
    for user in repository.iter_users(manifest):
        by_status[user.status] = by_status.get(user.status, 0) + 1
        disabled += 0 if user.enabled else 1
    pool = config.user_pool
    info: dict[str, Any] = _manifest_row(manifest)
    info.update(
        {
            "snapshot": manifest.id,
            "pool_name": pool.get("Name"),
            "users_by_status": dict(sorted(by_status.items())),
            "disabled_users": disabled,
            "username_attributes": pool.get("UsernameAttributes", []),
            "alias_attributes": pool.get("AliasAttributes", []),
            "custom_attributes": sorted(config.custom_attributes()),
            "mfa": config.mfa_config.get("MfaConfiguration", pool.get("MfaConfiguration")),
            "app_clients": [c.get("ClientName") for c in config.clients],
            "identity_providers": [p.get("ProviderName") for p in config.identity_providers],
            "resource_servers": [r.get("Identifier") for r in config.resource_servers],
            "domain": (config.domain or {}).get("Domain"),
            "lambda_triggers": sorted((pool.get("LambdaConfig") or {}).keys()),
            "not_recorded": config.unavailable,
            "options": manifest.options,
        }
    )
    if as_json:
        emit_json(info)
        return
    console = out_console()
    console.print(f"[bold]Snapshot {manifest.id}[/] of {manifest.user_pool_id} ({manifest.region or '?'})")
    console.print(f"  taken {manifest.started_at} .. {manifest.finished_at} by cognito-backup {manifest.tool_version}")
    console.print(
        f"  {info['users']:,} users ({', '.join(f'{k} {v:,}' for k, v in info['users_by_status'].items()) or 'none'}; "
        f"{disabled:,} disabled), {info['groups']:,} groups, {info['memberships']:,} memberships"
    )
    console.print(f"  pool name {info['pool_name']!r}, username attributes {info['username_attributes'] or 'none'}")
    console.print(f"  custom attributes: {', '.join(info['custom_attributes']) or 'none'}")
    console.print(f"  MFA: {info['mfa']}; domain: {info['domain'] or 'none'}")
    console.print(f"  app clients: {', '.join(str(c) for c in info['app_clients']) or 'none'}")
    console.print(f"  identity providers: {', '.join(str(p) for p in info['identity_providers']) or 'none'}")
    console.print(f"  resource servers: {', '.join(str(r) for r in info['resource_servers']) or 'none'}")
    for call, why in sorted(config.unavailable.items()):
        console.print(f"  [dim]not recorded: {call} ({why})[/]")


@click.command()
@repo_option
@click.option("--snapshot", help="Check only this snapshot (default: all).")
@click.option(
    "--read-data",
    is_flag=True,
    help="Also re-hash, decompress and decode every object and count its records (reads everything).",
)
@json_option
@click.pass_context
@handle_errors
def check(ctx: click.Context, repo: str, snapshot: str | None, read_data: bool, as_json: bool) -> None:
    """Verify a repository: every manifest valid, every object present with the right size; with
    --read-data also its hash, compression and records. Exits 6 when anything is damaged."""
    repository = app(ctx).repository(repo)
    progress = Progress(enabled=not as_json)
    with progress.running(f"Checking {repository.store.describe()}"):
        report = check_repository(
            repository,
            snapshot=snapshot,
            read_data=read_data,
            journal_check=_journal_check(repository),
            on_object=progress.counter("objects checked", every=50),
        )
        report.journal_segments = sum(
            1
            for info in repository.store.list(JOURNAL_PREFIX)
            if info.key.endswith(".json") and not info.key.startswith(JOURNAL_PREFIX + OBJECTS_PREFIX)
        )
    if as_json:
        emit_json(report.summary())
    else:
        console = out_console()
        for problem in report.problems:
            where = f"snapshot {problem.snapshot}: " if problem.snapshot else ""
            console.print(f"[red]DAMAGED[/] {where}{problem.message}")
        mode = "structure and data" if read_data else "structure (add --read-data to verify every byte)"
        state = "[green]no problems[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
        console.print(
            f"Checked {report.snapshots} snapshot(s), {report.objects} object(s), "
            f"{report.journal_segments} journal segment(s); {mode}: {state}."
        )
    if not report.ok:
        raise SystemExit(RepositoryDamaged.exit_code)


def _journal_check(repository: Any) -> Any:
    def run(read_data: bool) -> list[str]:
        return list(journal_check(repository.store, read_data))

    return run


@click.command(name="prune")
@repo_option
@click.option("--keep-last", type=click.IntRange(min=0), default=0, help="Keep the N newest snapshots.")
@click.option("--keep-daily", type=click.IntRange(min=0), default=0, help="Keep the newest snapshot of N days.")
@click.option("--keep-weekly", type=click.IntRange(min=0), default=0, help="Keep the newest of N ISO weeks.")
@click.option("--keep-monthly", type=click.IntRange(min=0), default=0, help="Keep the newest of N months.")
@click.option("--user-pool-id", help="Apply the policy to this pool's snapshots only.")
@click.option(
    "--grace",
    type=float,
    default=DEFAULT_GRACE_SECONDS,
    show_default=True,
    help="Never delete unreferenced objects younger than this many seconds (a backup may be writing them).",
)
@click.option("--dry-run", is_flag=True, help="Show what would be removed; change nothing.")
@json_option
@click.pass_context
@handle_errors
def prune_cmd(
    ctx: click.Context,
    repo: str,
    keep_last: int,
    keep_daily: int,
    keep_weekly: int,
    keep_monthly: int,
    user_pool_id: str | None,
    grace: float,
    dry_run: bool,
    as_json: bool,
) -> None:
    """Forget snapshots that the retention policy does not keep (per source pool), then delete the
    objects no remaining snapshot uses. Rules combine: a snapshot kept by any rule stays."""
    policy = Policy(keep_last, keep_daily, keep_weekly, keep_monthly)
    if policy.is_empty():
        raise UsageError(
            "prune needs a policy: at least one of --keep-last/--keep-daily/--keep-weekly/--keep-monthly",
            hint="e.g. --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12",
        )
    repository = app(ctx).repository(repo)
    result = prune(repository, policy, dry_run=dry_run, user_pool_id=user_pool_id, grace_seconds=grace)
    if as_json:
        emit_json(result.summary())
        return
    console = out_console()
    verb = "would remove" if dry_run else "removed"
    for sid in result.decision.remove:
        console.print(f"  {verb} snapshot {sid}")
    for sid in result.decision.keep:
        console.print(f"  keep {sid} ({', '.join(result.decision.reasons.get(sid, []))})")
    console.print(
        f"{'Dry run: ' if dry_run else ''}{len(result.decision.keep)} kept, {len(result.decision.remove)} "
        f"{verb}; {len(result.removed_objects)} unreferenced object(s) ({_human_bytes(result.removed_bytes)}) "
        f"{verb}, {result.kept_young_objects} too young to remove."
    )


def register(group: click.Group) -> None:
    for command in (snapshots, show, check, prune_cmd):
        group.add_command(command)
