"""`snapshots`, `show`, `check`, `prune`: look after a repository."""

from __future__ import annotations

from typing import Any

import click
from rich import box
from rich.markup import escape
from rich.table import Table

from cognito_backup.cli.common import (
    USER_POOL_ID,
    Progress,
    app,
    emit_json,
    err_console,
    fail,
    handle_errors,
    json_option,
    out_console,
)
from cognito_backup.cli.common import (
    human_bytes as _human_bytes,
)
from cognito_backup.core.retention import Policy
from cognito_backup.errors import OperationsFailed, RepositoryDamaged, UsageError
from cognito_backup.ops.backup_meta import configuration_counts, replica_summary
from cognito_backup.ops.pitr import coverage, select_snapshot
from cognito_backup.ops.prune import DEFAULT_GRACE_SECONDS, prune
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.journal import journal_check
from cognito_backup.repo.layout import JOURNAL_PREFIX, OBJECTS_PREFIX, snapshot_key
from cognito_backup.repo.manifest import Manifest

repo_option = click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")


_manifest_row_keys = (
    "id", "kind", "user_pool_id", "region", "started_at", "finished_at", "users", "groups", "memberships", "bytes",
    "tool_version", "compacted_from", "standby_listing_of", "incomplete", "feature_plan", "replicas",
)  # fmt: skip


def _manifest_row(m: Manifest) -> dict[str, Any]:
    return {
        "id": m.id,
        # "backup" (listed the pool), "compacted" (a snapshot + the journal) or "standby_listing" (a standby
        # round's reading of its standby): `latest` is a backup.
        "kind": m.kind,
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
        "standby_listing_of": m.standby_listing_of,
        "incomplete": m.incomplete,
        # Absent from manifests written before they were recorded: null, not a guess.
        "feature_plan": m.extra.get("feature_plan"),
        "replicas": m.extra.get("replicas"),
    }


@click.command()
@repo_option
@click.option("--user-pool-id", type=USER_POOL_ID, help="Only snapshots of this pool.")
@json_option
@click.pass_context
@handle_errors
def snapshots(ctx: click.Context, repo: str, user_pool_id: str | None, as_json: bool) -> None:
    """List the snapshots in a repository, oldest first, with the time range each can restore to.

    Compacted states (a snapshot plus the journal, written by `compact` and standby rounds) are marked:
    `latest` is the newest backup, never one of them; choose one with --snapshot ID. So are standby
    listings (kind standby_listing: a replicate round's reading of its standby). A manifest that
    cannot be read is named (exit 6) and every readable snapshot is still listed."""
    repository = app(ctx).repository(repo)
    scan = repository.scan_snapshots()
    manifests = [m for m in scan.manifests if user_pool_id in (None, m.user_pool_id)]
    rows = [{**_manifest_row(m), "key": snapshot_key(m.id), "damaged": None} for m in manifests]
    try:
        reach = _coverage(repository, manifests)
        journal_damage = None
    except RepositoryDamaged as exc:
        # A damaged journal hides how far each snapshot reaches with it, not the snapshots: each is listed
        # as restorable to its own time only, and the damage is named.
        reach, journal_damage = {}, exc
    for row in rows:
        row["restorable_from"], row["restorable_to"] = reach.get(row["id"], (row["finished_at"], row["finished_at"]))
    # A damaged manifest's pool is unknown: it is named whatever --user-pool-id says.
    # Same keys as a readable row, all unknown (null) but the id (from the key's name) and the damage.
    blank = dict.fromkeys((*_manifest_row_keys, "restorable_from", "restorable_to"))
    broken = [{**blank, "id": d.snapshot_id, "key": d.key, "damaged": d.message} for d in scan.damaged]
    if as_json:
        emit_json(rows + broken)
    else:
        _print_snapshot_table(repository.store.describe(), rows, broken)
    if journal_damage is not None:
        err_console().print(
            f"[bold red]error:[/] {escape(journal_damage.message)}: each snapshot is shown restorable to its own "
            "time only.",
            soft_wrap=True,
        )
    if broken:
        err_console().print(
            f"[bold red]error:[/] {len(broken)} snapshot manifest(s) cannot be read; the other snapshots are usable.",
            soft_wrap=True,
        )
    if broken or journal_damage is not None:
        err_console().print("[dim]hint:[/] `cognito-backup check` reports the damage.", soft_wrap=True)
        raise SystemExit(RepositoryDamaged.exit_code)


def _print_snapshot_table(where: str, rows: list[dict[str, Any]], broken: list[dict[str, Any]]) -> None:
    # The id is what people copy into --snapshot: it is never wrapped or cut, even on 80 columns. So one
    # table per source pool (the pool is its title, not a column), no vertical rules, and the other
    # columns give way first. The start time is the id's own first part; --json has every field.
    console = out_console()
    for pool in sorted({r["user_pool_id"] for r in rows}):
        table = Table(
            title=f"Snapshots of {pool} in {where}", box=box.SIMPLE_HEAD, pad_edge=False, collapse_padding=True
        )
        table.add_column("id", no_wrap=True, min_width=max(len(r["id"]) for r in rows))
        table.add_column("kind")
        for col in ("users", "groups", "members", "size"):
            table.add_column(col, justify="right")
        table.add_column("restorable to (UTC)")
        table.add_column("plan")
        table.add_column("replicas")
        for row in (r for r in rows if r["user_pool_id"] == pool):
            table.add_row(
                row["id"],
                row["kind"],
                f"{row['users']:,}",
                f"{row['groups']:,}",
                f"{row['memberships']:,}",
                _human_bytes(row["bytes"]),
                str(row["restorable_to"])[:19].replace("T", " "),
                row["feature_plan"] or "?",
                _replica_regions(row["replicas"]),
            )
        console.print(table)
    if any(r["kind"] == "compacted" for r in rows):
        console.print(
            "[dim]compacted: a snapshot plus the journal (`compact`, standby rounds), not a listing of the pool; "
            "`latest` is the newest backup, never a compacted state: choose one with --snapshot ID.[/]",
            soft_wrap=True,
        )
    if any(r["kind"] == "standby_listing" for r in rows):
        console.print(
            "[dim]standby listing: a replicate round's reading of its standby (`--json` key standby_listing_of "
            "names the source), not a backup: no command picks it unless given with --snapshot ID.[/]",
            soft_wrap=True,
        )
    _print_incomplete(console, rows)
    for row in broken:
        console.print(f"[red]DAMAGED[/] snapshot {row['id']} ({row['key']}): {row['damaged']}", soft_wrap=True)
    if not rows and not broken:
        console.print("No snapshots yet: run `cognito-backup backup --user-pool-id ID --repo ...`.")


def _replica_regions(replicas: list[dict[str, Any]] | None) -> str:
    """The secondary Regions ('-' for none; '?' when the snapshot predates the record)."""
    if replicas is None:
        return "?"
    secondary = [str(r.get("region")) for r in replicas if r.get("role") != "PRIMARY"]
    return ", ".join(secondary) or "-"


def _print_incomplete(console: Any, rows: list[dict[str, Any]]) -> None:
    for row in rows:
        if row["incomplete"]:
            sections = ", ".join(f"{k} ({v})" for k, v in sorted(row["incomplete"].items()))
            console.print(f"[yellow]INCOMPLETE[/] snapshot {row['id']} lacks: {sections}")


def _coverage(repository: Any, manifests: list[Manifest]) -> dict[str, tuple[str, str]]:
    """Snapshot id -> (earliest, latest) time it restores exactly, with the journal."""
    return {sid: (str(start), str(end)) for sid, start, end in coverage(repository, manifests)}


@click.command()
@repo_option
@click.option(
    "--snapshot",
    default="latest",
    show_default=True,
    help="Snapshot id (or unique prefix), or 'latest': the newest backup, never a compacted state.",
)
@click.option(
    "--user-pool-id",
    type=USER_POOL_ID,
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
            "managed_login_version": (config.domain or {}).get("ManagedLoginVersion"),
            "feature_plan": pool.get("UserPoolTier"),
            "replicas": replica_summary(config),
            "key_configuration": pool.get("KeyConfiguration"),
            "issuer_configuration": pool.get("IssuerConfiguration"),
            "configuration": configuration_counts(config),
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
    if manifest.compacted:
        extra = manifest.extra
        console.print(
            f"  compacted: {extra.get('compacted_from')} plus the journal to {extra.get('journal_until')} "
            "(no listing of the pool)"
        )
    if manifest.standby_listing_of:
        console.print(
            f"  standby listing: a replicate round's reading of this standby of {manifest.standby_listing_of} "
            "(not a backup: no command picks it unless named)"
        )
    console.print(
        f"  {info['users']:,} users ({', '.join(f'{k} {v:,}' for k, v in info['users_by_status'].items()) or 'none'}; "
        f"{disabled:,} disabled), {info['groups']:,} groups, {info['memberships']:,} memberships"
    )
    console.print(f"  pool name {info['pool_name']!r}, username attributes {info['username_attributes'] or 'none'}")
    console.print(f"  custom attributes: {', '.join(info['custom_attributes']) or 'none'}")
    console.print(f"  MFA: {info['mfa']}; domain: {info['domain'] or 'none'}")
    console.print(
        f"  feature plan: {info['feature_plan'] or 'not recorded'}; encryption key: {_key(info['key_configuration'])}; "
        f"issuer: {(info['issuer_configuration'] or {}).get('Type') or 'default'}"
    )
    replicas = ", ".join(f"{r['region']} ({r['role']}, {r['status']})" for r in info["replicas"])
    console.print(f"  replicas: {replicas or 'none'}")
    counts = ", ".join(f"{k.replace('_', ' ')} {v}" for k, v in info["configuration"].items() if v)
    console.print(f"  also recorded: {counts or 'nothing more'}")
    console.print(f"  app clients: {', '.join(str(c) for c in info['app_clients']) or 'none'}")
    console.print(f"  identity providers: {', '.join(str(p) for p in info['identity_providers']) or 'none'}")
    console.print(f"  resource servers: {', '.join(str(r) for r in info['resource_servers']) or 'none'}")
    for call, why in sorted(config.unavailable.items()):
        console.print(f"  [dim]not recorded: {call} ({why})[/]")
    for call, why in sorted(manifest.incomplete.items()):
        console.print(f"  [yellow]INCOMPLETE[/]: {call} could not be read ({why}); the snapshot lacks it")


def _key(key: dict[str, Any] | None) -> str:
    # The key's ARN names a resource, not a person: it may be shown.
    if not key:
        return "not recorded"
    return str(key.get("KmsKeyArn") or key.get("KeyType") or "?")


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
        _print_incomplete(console, [{"id": k, "incomplete": v} for k, v in sorted(report.incomplete.items())])
        mode = "structure and data" if read_data else "structure (add --read-data to verify every byte)"
        state = "[green]no problems[/]" if report.ok else f"[red]{len(report.problems)} problem(s)[/]"
        console.print(
            f"Checked {report.snapshots} snapshot(s), {report.objects} object(s), "
            f"{report.journal_segments} journal segment(s); {mode}: {state}."
        )
    if not report.ok:
        # The report (stdout) lists each problem; stderr says so as every command that exits 6 does.
        fail(
            RepositoryDamaged(
                f"{len(report.problems)} problem(s) found in {repository.store.describe()} (listed in the report)",
                hint=damage_hint({problem.kind for problem in report.problems}),
            ),
            as_json=False,
        )


def damage_hint(kinds: set[str]) -> str:
    """What still restores, by what `check` found damaged. PURE."""
    ways = []
    if kinds - {"journal"}:
        ways.append("restore from a snapshot the report does not name (--snapshot ID)")
    if "journal" in kinds:
        # A damaged segment blocks only the times it covers and later ones (ops/state_at.py): the snapshots
        # are intact, and --at before the segment's first time (the first stamp in its name) never reads it.
        ways.append(
            "a damaged journal segment blocks only --at times from its first (the first stamp in its name): "
            "restore --at a time before that, or a snapshot by --snapshot ID"
        )
    return f"Keep the repository as it is; {'; '.join(ways)}; docs/runbook.md, 'A repository reports damage'."


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
@click.option("--user-pool-id", type=USER_POOL_ID, help="Apply the policy to this pool's snapshots only.")
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
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
    objects no remaining snapshot uses. Rules combine: a snapshot kept by any rule stays, and so does
    one an unfinished restore comes from (until it finishes: its re-run needs that snapshot).

    The rules count backups: a compacted state (`snapshots` marks them) stays while it is newer than the
    oldest backup kept, and never pushes a backup out."""
    policy = Policy(keep_last, keep_daily, keep_weekly, keep_monthly)
    if policy.is_empty():
        raise UsageError(
            "prune needs a policy: at least one of --keep-last/--keep-daily/--keep-weekly/--keep-monthly",
            hint="e.g. --keep-last 3 --keep-daily 7 --keep-weekly 4 --keep-monthly 12",
        )
    repository = app(ctx).repository(repo)
    result = prune(repository, policy, dry_run=dry_run, user_pool_id=user_pool_id, grace_seconds=grace)
    # A sweep held back by a running backup (or cut short) is not the whole job: exit 1 after the report.
    unfinished = not dry_run and bool(result.sweep_skipped_for or result.sweep_interrupted)
    if as_json:
        emit_json(result.summary())
        if unfinished:
            raise SystemExit(OperationsFailed.exit_code)
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
    for pool, since in sorted(result.journal_kept_from.items()):
        console.print(f"  journal of {pool} kept from {since} (the start of its oldest kept snapshot)")
    if result.journal_segments_removed:
        size = f" ({_human_bytes(result.journal_bytes_removed)})" if not dry_run else ""
        console.print(f"{result.journal_segments_removed} journal segment(s){size} {verb}.")
    if result.journal_segments_merged or result.journal_merged_inputs_removed:
        console.print(
            f"{result.journal_segments_merged} small journal segment(s) {'would be ' if dry_run else ''}merged; "
            f"{result.journal_merged_inputs_removed} merged earlier {verb} (after their grace period)."
        )
    if result.sweep_skipped_for:
        console.print(
            f"{'Would not sweep' if dry_run else 'Did not sweep'} unreferenced objects: running backup(s) hold "
            f"the repository's shared lock ({', '.join(result.sweep_skipped_for)}) and may reuse them. "
            "When they are done, run prune again."
        )
    if result.sweep_interrupted:
        console.print("The sweep stopped early: this prune stalled too long to keep its lock; run prune again.")
    if unfinished:
        raise SystemExit(OperationsFailed.exit_code)


def register(group: click.Group) -> None:
    for command in (snapshots, show, check, prune_cmd):
        group.add_command(command)
