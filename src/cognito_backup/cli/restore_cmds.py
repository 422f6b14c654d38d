"""`diff` and `restore`."""

from __future__ import annotations

import datetime as dt
import itertools
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import click
from rich.table import Table
from rich.text import Text

from cognito_backup.aws.reader import PoolReader, ReadProgress
from cognito_backup.cli.common import (
    DOMAIN_PREFIX,
    POOL_NAME,
    USER_POOL_ID,
    JsonArray,
    Progress,
    app,
    ask_yes_no,
    check_report_dir,
    emit_json,
    err_console,
    handle_errors,
    json_option,
    make_pacer,
    on_interrupt,
    out_console,
    rate_options,
)
from cognito_backup.core.config_plan import SECTIONS, ConfigOp, ConfigOptions, parse_sections
from cognito_backup.core.diff import Difference, differences
from cognito_backup.core.plan import DEFAULT_PASSWORD_MODE, PASSWORD_MODES, Plan, PlanOptions
from cognito_backup.core.recover_plan import native_alternative
from cognito_backup.errors import DifferencesFound, UsageError
from cognito_backup.ops.pitr import select_desired
from cognito_backup.ops.restore import (
    USERS_VIA,
    RestoreOptions,
    RestoreOutcome,
    RestoreProgress,
    RestoreRequest,
    outcome_error,
)
from cognito_backup.ops.restore import run_restore as _run_restore
from cognito_backup.repo.repository import parse_time, utcnow

MAX_PLAN_LINES = 200
repo_option = click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")


def _parse_at(ctx: click.Context, param: click.Parameter, value: str | None) -> dt.datetime | None:
    if value is None:
        return None
    try:
        return parse_time(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not an ISO-8601 time, e.g. 2026-11-21T10:15:30Z") from None


def at_options(fn: Any) -> Any:
    fn = click.option(
        "--allow-after-coverage",
        is_flag=True,
        help="With --at: accept a time later than the repository knows the pool's state exactly (after the "
        "capture last caught up, or after the snapshot when there is no journal); later changes are missing.",
    )(fn)
    fn = click.option(
        "--source-user-pool-id",
        type=USER_POOL_ID,
        help="The pool whose snapshots (and journal, with --at) to use. Default: the target's own when it was "
        "backed up in this repository, else the repository's only pool. Writing another pool's snapshot into an "
        "existing pool needs it (or a --snapshot ID of that pool).",
    )(fn)
    fn = click.option(
        "--at",
        "at",
        metavar="TIME",
        callback=_parse_at,
        help="Point in time (ISO-8601, UTC unless an offset is given, e.g. 2026-11-21T10:15:30Z): the newest "
        "snapshot before it plus every journal record up to it; not with --snapshot. Refused (exit 8) when later "
        "than the repository knows exactly; `snapshots` shows the range each can reach.",
    )(fn)
    return fn


SNAPSHOT_HELP = (
    "Snapshot id (or unique prefix), or latest (the default, unless --at picks one): the newest backup, "
    "never a compacted state (`snapshots` marks those; give one by id)."
)


@click.command()
@repo_option
@click.option("--user-pool-id", type=USER_POOL_ID, required=True, help="The live pool to compare.")
@click.option("--snapshot", help=SNAPSHOT_HELP)
@at_options
@rate_options
@json_option
@click.pass_context
@handle_errors
def diff(
    ctx: click.Context,
    repo: str,
    user_pool_id: str,
    snapshot: str | None,
    at: dt.datetime | None,
    source_user_pool_id: str | None,
    allow_after_coverage: bool,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """What differs between a live pool and a snapshot, field by field.

    Ignores what can never match (sub, dates, password state, user status) and never shows attribute
    values, only their names. Configuration differences are listed per setting (section and path, as
    `restore --config` would change them; secrets never shown). Exit status 0 when equal, 1 when they
    differ: fit for monitoring.
    """
    ctx_app = app(ctx)
    repository = ctx_app.repository(repo)
    chosen = select_desired(
        repository,
        snapshot,
        at,
        source_pool_id=source_user_pool_id,
        target_pool_id=user_pool_id,
        allow_after_coverage=allow_after_coverage,
    )
    desired, label = chosen.state, chosen.label
    if chosen.source_pool_id != user_pool_id:
        label = f"{label} of {chosen.source_pool_id}"
    progress = Progress(enabled=not as_json)
    reader = PoolReader(ctx_app.cognito(), make_pacer(rates), user_pool_id, progress=ReadProgress())
    with progress.running(f"Comparing {user_pool_id} with snapshot {label}"):
        found = differences(desired, reader.read_state())
    if as_json:
        emit_json(
            {
                "user_pool_id": user_pool_id,
                "snapshot": chosen.label,
                "source_user_pool_id": chosen.source_pool_id,
                "known_exactly_until": chosen.known_exactly_until,
                "warnings": list(chosen.warnings),
                "equal": not found,
                "differences": JsonArray(found, lambda d: d.to_json()),
            }
        )
    else:
        console = out_console()
        _print_known(chosen.known_exactly_until, list(chosen.warnings))
        if not found:
            console.print(f"{user_pool_id} matches snapshot {label} (sub, dates and password state ignored).")
        else:
            _print_differences(found, f"{len(found)} differences: {user_pool_id} vs snapshot {label}")
    if found:
        sys.exit(DifferencesFound.exit_code)


TABLE_ROWS = 1_000  # rows per printed table: rich holds a table's rows until it prints it


def _print_differences(found: Iterable[Difference], title: str) -> None:
    """The differences as tables of TABLE_ROWS rows, printed as they are read (there may be millions)."""
    console = out_console()
    rows = iter(found)
    first = True
    while page := list(itertools.islice(rows, TABLE_ROWS)):
        table = Table(title=title if first else None, show_header=first)
        for col in ("kind", "name", "difference"):
            table.add_column(col)
        for d in page:
            table.add_row(d.kind, Text(d.name), Text(d.what))
        console.print(table)
        first = False


def _print_known(known: str | None, warnings: list[str]) -> None:
    console = out_console()
    if known is not None:
        console.print(f"State known exactly until {known[:19]}Z.", markup=False)
    for w in warnings:
        console.print(f"  warning: {w}", markup=False)


def _parse_only(values: tuple[str, ...]) -> tuple[frozenset[str], frozenset[str]]:
    users: set[str] = set()
    groups: set[str] = set()
    for value in values:
        kind, sep, name = value.partition(":")
        if not sep or not name or kind not in ("user", "group"):
            raise UsageError(f"--only {value!r}: expected user:NAME or group:NAME")
        (users if kind == "user" else groups).add(name)
    return frozenset(users), frozenset(groups)


ONLY_MISSING_SAYS = (
    "--only-missing: only users the target lacks are created (of those named with --only user:NAME / "
    "--only-from, if given), with their memberships in groups the target has; no user already in the target "
    "is updated, no group is created or changed, nothing is deleted."
)


def _read_only_from(path: Path | None) -> frozenset[str]:
    """--only-from FILE: usernames (or, in email sign-in pools, emails), one per line; blank lines and the
    spaces around a name are not part of it (Cognito usernames hold no surrounding spaces)."""
    if path is None:
        return frozenset()
    try:
        text = path.read_text(encoding="utf-8-sig")
    except (OSError, UnicodeDecodeError) as e:
        raise UsageError(f"--only-from {path}: cannot read it ({e})") from None
    names = frozenset(line.strip() for line in text.splitlines() if line.strip())
    if not names:
        raise UsageError(f"--only-from {path}: no usernames in it (one per line)")
    return names


def _check_only_missing(
    only_groups: frozenset[str], prune: bool, config_sections: str | None, new_pool: str | None
) -> None:
    """--only-missing touches nothing already in the target: what would is refused, not ignored."""
    if new_pool:
        # A new pool lacks everything: the option would select every user and leave out every group (it
        # creates none), a half-restored pool nobody asked for.
        raise UsageError(
            "--only-missing brings back what an existing pool lacks; a --new-pool lacks everything, and "
            "--only-missing creates no groups. Drop --only-missing to restore the whole snapshot into a new "
            "pool (with --only user:NAME / --only-from for some users only)."
        )
    clashes = [
        flag
        for flag, given in (
            ("--prune", prune),
            ("--config", config_sections is not None),
            ("--only group:NAME", bool(only_groups)),
        )
        if given
    ]
    if clashes:
        raise UsageError(
            f"--only-missing creates missing users and touches nothing else; {' and '.join(clashes)} would "
            "change what is already in the target. Run those as a separate restore."
        )


def _parse_arn_map(values: tuple[str, ...]) -> dict[str, str]:
    out = {}
    for value in values:
        old, sep, new = value.partition("=")
        if not sep or not old or not new:
            raise UsageError(f"--map-arn {value!r}: expected OLD_ARN=NEW_ARN")
        out[old] = new
    return out


def _check_keep_sub(value: str | None) -> None:
    if value is None:
        return
    name = value.removeprefix("custom:")
    if not value.startswith("custom:") or not name or len(name) > 20:
        raise UsageError(f"--keep-sub-in {value!r}: expected custom:NAME with NAME of 1 to 20 characters")


def print_plan(plan: Plan, title: str, *, only_missing: bool = False) -> None:
    console = out_console()
    counts = plan.count_by_kind()
    console.print(f"[bold]{title}[/]: {len(plan.ops)} operations")
    for kind, n in counts.items():
        console.print(f"  {kind:<24} {n:>8,}")
    if plan.ops:
        table = Table(show_header=True)
        for col in ("operation", "user / setting", "group", "fields"):
            table.add_column(col)
        for op in plan.ops[:MAX_PLAN_LINES]:
            desc = op.describe()
            fields = desc.get("fields") or desc.get("attributes") or desc.get("settings") or ""
            if isinstance(fields, dict):
                fields = ", ".join(f"{k}={v}" for k, v in fields.items())
            elif isinstance(fields, list):
                fields = ", ".join(str(f) for f in fields)
            table.add_row(
                op.kind,
                Text(op.target if isinstance(op, ConfigOp) else op.user or ""),
                Text(op.group or ""),
                Text(str(fields) + (f" ({op.note})" if op.note else "")),
            )
        console.print(table)
        if len(plan.ops) > MAX_PLAN_LINES:
            console.print(f"  ... and {len(plan.ops) - MAX_PLAN_LINES:,} more (--json lists them all)")
    _print_config_changes(plan)
    _print_notices(plan, ahead=True)
    _print_kept(plan, prune_refused=only_missing)
    _print_left_as_is(plan.left_as_is, ahead=True)


def _print_kept(plan: Plan, *, prune_refused: bool = False) -> None:
    """Counts, never names: what the target keeps can be most of a big pool. --prune is offered only where
    it may be given (--only-missing refuses it)."""
    kept = plan.kept_in_target
    parts = [
        f"{kept[key]:,} {noun if kept[key] == 1 else noun + 's'}"
        for key, noun in (("users", "user"), ("groups", "group"), ("memberships", "membership"))
        if kept.get(key)
    ]
    if parts:
        offer = "" if prune_refused else "--prune would delete them; "
        out_console().print(f"Not in the snapshot, kept in the target: {', '.join(parts)} ({offer}`diff` names them).")


def _print_left_as_is(left: dict[str, int], *, ahead: bool = False) -> None:
    """--only-missing: what differs from the snapshot in the target but is not the restore's to change.
    Counts, never names (`diff` names them)."""
    parts = [
        f"{left[key]:,} {noun if left[key] == 1 else noun + 's'}"
        for key, noun in (("users", "user"), ("memberships", "membership"))
        if left.get(key)
    ]
    if parts:
        verb = "would be" if ahead else "were"
        out_console().print(
            f"Differ from the snapshot but {verb} left as they are (--only-missing): {', '.join(parts)} of users "
            "already in the target (`diff` names them).",
            markup=False,
        )


def _print_config_changes(plan: Plan) -> None:
    changes = [c for op in plan.ops if isinstance(op, ConfigOp) for c in op.changes]
    if changes:
        out_console().print(f"[bold]Configuration settings that change[/] ({len(changes)}):")
        for c in changes:
            out_console().print(f"  {c.section} {c.path}: {c.old} -> {c.new}", markup=False, soft_wrap=True)


def _print_notices(plan: Plan, *, ahead: bool = False) -> None:
    """`ahead`: the plan before it runs (a dry run, a prompt), so the headings say what would happen."""
    console = out_console()
    for title, notices in (
        (
            "Would not be restored: the target cannot take them"
            if ahead
            else "Not restored: the target cannot take them",
            plan.unrestorable,
        ),
        ("Left out by --only / --only-from / --only-missing", [n for n in plan.skipped if n.by_choice]),
        ("Would be restored, but not as they were" if ahead else "Restored, but not as they were", plan.notes),
        ("Differences no restore can fix", plan.drift),
    ):
        if notices:
            console.print(f"[bold]{title}[/] ({len(notices)}):")
            for n in notices[:MAX_PLAN_LINES]:
                console.print(f"  {n.kind} {n.name}: {n.reason}", markup=False)
            if len(notices) > MAX_PLAN_LINES:
                console.print(f"  ... and {len(notices) - MAX_PLAN_LINES:,} more (--json and the report list them all)")


def _confirm_prune(plan: Plan) -> bool:
    counts = plan.count_by_kind()
    deletions = ", ".join(
        f"{counts[k]} {label}"
        for k, label in (
            ("delete_user", "users"),
            ("delete_group", "groups"),
            ("remove_membership", "memberships"),
        )
        if counts.get(k)
    )
    print_plan(plan, "Plan")
    return ask_yes_no(f"--prune will DELETE {deletions} from the target. Continue?")


@click.command()
@click.option(
    "--repo",
    help="Repository: a local directory or s3://bucket/prefix. With --deployed: the stack's (its RepositoryUrl).",
)
@click.option("--snapshot", help=SNAPSHOT_HELP)
@at_options
@click.option("--user-pool-id", "target", type=USER_POOL_ID, help="Restore into this existing pool.")
@click.option(
    "--new-pool", "new_pool", metavar="NAME", type=POOL_NAME, help="Create a new pool with this name from the snapshot."
)
@click.option("--region", "target_region", help="Region of the target pool (default: the global --region).")
@click.option("--dry-run", is_flag=True, help="Print the plan and write nothing.")
@click.option("--prune", is_flag=True, help="Also delete users, groups and memberships the snapshot does not have.")
@click.option("--yes", is_flag=True, help="Do not ask before --prune deletes (needed without a terminal).")
@click.option(
    "--only",
    multiple=True,
    metavar="user:NAME|group:NAME",
    help="Restore only this user (with its memberships) or this group (with its memberships); repeatable. "
    "Nothing else in the target is touched.",
)
@click.option(
    "--only-from",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    metavar="FILE",
    help="Like --only user:NAME for each line of FILE (usernames, or emails in email sign-in pools; one per "
    "line, blank lines ignored). A name the snapshot lacks is refused (exit 7, nothing written).",
)
@click.option(
    "--only-missing",
    is_flag=True,
    help="Bring back only the users the target lacks (e.g. deleted by mistake), with their memberships in "
    "groups the target has: no user already in the target is updated (changes made since the snapshot stay), "
    "no group is created or changed, nothing is deleted; the plan counts what differs but is left as it is. "
    "Narrowed by --only user:NAME / --only-from; works with --at. Not with --prune, --config, --only group:NAME "
    "or --new-pool (a new pool lacks everything: restore it whole).",
)
@click.option(
    "--password-mode",
    type=click.Choice(PASSWORD_MODES),
    default=DEFAULT_PASSWORD_MODE,
    show_default=True,
    help="What restored users face (passwords cannot be restored): random-permanent = a random password "
    "nobody knows, users recover with forgot-password; temporary-file = per-user temporary passwords in an "
    "owner-only CSV for you to hand out; none = leave them as AdminCreateUser does (FORCE_CHANGE_PASSWORD).",
)
@click.option("--keep-sub-in", metavar="custom:NAME", help="Write each user's old sub into this custom attribute.")
@click.option("--map-arn", multiple=True, metavar="OLD=NEW", help="Replace an ARN (Lambda, SES, SNS, KMS, role).")
@click.option(
    "--domain-prefix", type=DOMAIN_PREFIX, help="Hosted UI domain prefix for the new pool (when the old one is taken)."
)
@click.option(
    "--config",
    "config_sections",
    metavar="SECTION[,SECTION...]",
    help="Also make these configuration sections of the existing pool equal to the snapshot (opt-in): all, or "
    f"any of {', '.join(SECTIONS)}. The plan shows each setting that changes (old -> new; secrets never, "
    "image bytes as a digest). An app client's own settings (client-*, terms, managed-login-branding, "
    "cimd-policies) go to the matching client; add clients to create the ones the pool lacks. "
    "App clients missing in the pool are created (new ids, listed old -> new); what cannot change in place "
    "(username attributes, a client's secret, another domain) is named and left as it is.",
)
@click.option(
    "--users-via",
    type=click.Choice(USERS_VIA),
    default="admin",
    show_default=True,
    help="How users are created: admin = AdminCreateUser per user (every user counts as a billed monthly "
    "active user); import-job = CSV user import jobs (cheaper and faster for large pools; imported users are "
    "RESET_REQUIRED; disabled state and memberships applied afterwards). See docs/import-jobs.md.",
)
@click.option("--import-role-arn", help="CloudWatch Logs role for --users-via import-job.")
@click.option(
    "--no-add-attributes",
    is_flag=True,
    help="Refuse (exit 8, nothing written) instead of adding custom attributes the target lacks.",
)
@click.option(
    "--report-dir",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("cognito-backup-restore"),
    show_default=True,
    help="Where the report, the sub map and the passwords file go (owner-only local files). The resume state "
    "is kept in the repository (restores/), so a re-run from any directory or machine finishes the job.",
)
@click.option(
    "--deployed",
    metavar="STACK",
    help="Run the restore in this stack's restore state machine (Lambda steps: nothing needs to stay running "
    "here; a 1M-user restore takes about 9 hours) and print the execution ARN. The stack must have been deployed "
    "with RestoreUserPoolId = the target. Not with --new-pool, --dry-run, temporary-file passwords or "
    "import jobs. See docs/deploy.md.",
)
@click.option(
    "--status",
    "status_of",
    metavar="EXECUTION|RUN",
    help="With --deployed: follow a deployed restore (its execution ARN or name, or its run key TARGET@SNAPSHOT): "
    "running, succeeded or failed, with the counts so far. Exit 0 while running or after success, else the exit "
    "code the restore would have had.",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def restore(
    ctx: click.Context,
    repo: str | None,
    snapshot: str | None,
    at: dt.datetime | None,
    source_user_pool_id: str | None,
    allow_after_coverage: bool,
    target: str | None,
    new_pool: str | None,
    target_region: str | None,
    dry_run: bool,
    prune: bool,
    yes: bool,
    only: tuple[str, ...],
    only_from: Path | None,
    only_missing: bool,
    password_mode: str,
    keep_sub_in: str | None,
    map_arn: tuple[str, ...],
    domain_prefix: str | None,
    config_sections: str | None,
    users_via: str,
    import_role_arn: str | None,
    no_add_attributes: bool,
    report_dir: Path,
    deployed: str | None,
    status_of: str | None,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Make a pool equal to a snapshot: plan, then apply; idempotent and resumable.

    Into an existing pool (--user-pool-id) it creates what is missing and updates what differs; with
    --prune it also deletes what the snapshot lacks; with --config SECTIONS it also brings those
    configuration sections back, each changed setting shown in the plan. --new-pool NAME first creates the pool from the
    snapshot's configuration. Users are created silently (MessageAction SUPPRESS), disabled users stay
    disabled, memberships come back. Interrupted? Run the same command again: it finishes the job.

    Users deleted by mistake, the rest of the pool changed since? --only-missing creates only the users
    the target lacks (with their memberships) and changes nothing else.

    Exit 0 only when the target holds everything in the snapshot that can be restored; 1 when operations
    failed or created users are missing afterwards (re-run); 12 when the target cannot take some items
    (each named); 7 for --only names the snapshot lacks; 8 for a refused plan (nothing written).

    A restore longer than a terminal session: --deployed STACK runs it in the stack's Lambda steps,
    --deployed STACK --status EXECUTION follows it.
    """
    only_users, only_groups = _parse_only(only)
    only_users |= _read_only_from(only_from)
    if only_missing:
        _check_only_missing(only_groups, prune, config_sections, new_pool)
    if status_of is not None or deployed is not None:
        from cognito_backup.cli.deployed_restore import run_deployed

        run_deployed(
            ctx,
            stack=deployed,
            status_of=status_of,
            repo=repo,
            as_json=as_json,
            target=target,
            new_pool=new_pool,
            dry_run=dry_run,
            prune=prune,
            yes=yes,
            users_via=users_via,
            document={
                "target_user_pool_id": target,
                "snapshot": snapshot,
                "at": at.isoformat() if at else None,
                "source_user_pool_id": source_user_pool_id,
                "allow_after_coverage": allow_after_coverage,
                "prune": prune,
                "only": [*only, *(f"user:{name}" for name in sorted(_read_only_from(only_from)))],
                "only_missing": only_missing,
                "password_mode": password_mode,
                "keep_sub_in": keep_sub_in,
                "map_arn": _parse_arn_map(map_arn),
                "no_add_attributes": no_add_attributes,
            },
        )
        return
    if repo is None:
        raise UsageError("Missing option --repo (or --deployed STACK, which names the stack's repository)")
    if bool(target) == bool(new_pool):
        raise UsageError("Give exactly one of --user-pool-id TARGET and --new-pool NAME")
    if users_via == "import-job" and not import_role_arn:
        raise UsageError("--users-via import-job needs --import-role-arn ARN")
    _check_keep_sub(keep_sub_in)
    sections = parse_sections(config_sections) if config_sections is not None else frozenset()
    if sections and new_pool:
        raise UsageError("--config is for an existing pool (--user-pool-id); --new-pool creates every section")
    interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if prune and not dry_run and not yes and (not interactive or as_json):
        raise UsageError("--prune deletes from the target: confirm on a terminal, or pass --yes")
    if not dry_run:
        check_report_dir(report_dir)
    ctx_app = app(ctx)
    repository = ctx_app.repository(repo)
    request = RestoreRequest(
        snapshot=snapshot,
        at=at,
        source_pool_id=source_user_pool_id,
        target_pool_id=target,
        new_pool_name=new_pool,
        options=RestoreOptions(
            plan=PlanOptions(
                prune=prune,
                only_users=only_users,
                only_groups=only_groups,
                password_mode=password_mode,
                users_via=users_via,
                add_missing_attributes=not no_add_attributes,
                keep_sub_in=keep_sub_in,
                arn_map=_parse_arn_map(map_arn),
                only_missing=only_missing,
            ),
            dry_run=dry_run,
            users_via=users_via,
            config=ConfigOptions(sections=sections, arn_map=_parse_arn_map(map_arn)),
            import_role_arn=import_role_arn,
        ),
        report_dir=report_dir,
        domain_prefix=domain_prefix,
        target_region=target_region or ctx_app.aws.region_name,
        allow_after_coverage=allow_after_coverage,
    )
    progress = Progress(enabled=not as_json)
    if prune and not yes and not dry_run:
        progress.live = False  # a spinner would draw over the confirmation prompt
    counter = progress.counter("operations", every=1000)
    hooks = RestoreProgress(
        stage=progress.stage,
        applied=lambda done, total: counter(done, total),
        note=lambda msg: progress.line(f"  note: {msg}"),
    )
    title = f"Restoring into {target or 'new pool ' + str(new_pool)}" + (" (dry run)" if dry_run else "")
    with progress.running(title), on_interrupt(RESTORE_AGAIN):
        outcome = _run_restore(
            ctx_app.cognito(region=target_region),
            make_pacer(rates),
            repository,
            request,
            progress=hooks,
            confirm=None if (yes or dry_run) else _confirm_prune,
        )
    native = None
    if at is not None and target is not None:
        # Restoring a pool onto itself: AWS's own recovery may be the better tool (it keeps passwords).
        # A journal replayed from another pool (--source-user-pool-id) is no such case.
        source = outcome.summary.source_pool_id or source_user_pool_id or target
        native = native_alternative(at, utcnow(), target, source)
    _report(outcome, as_json, native, only_missing=only_missing)


RESTORE_AGAIN = (
    "Run the same command again: it re-reads the target and finishes the job, no user twice (its progress is "
    "kept in the repository; docs/restore.md, 'Idempotence, checkpoint and resume')."
)


def _report(outcome: RestoreOutcome, as_json: bool, native: str | None = None, *, only_missing: bool = False) -> None:
    summary = outcome.summary
    body = outcome.to_json()
    body["native_recovery"] = native
    if native and not as_json:
        err_console().print(f"note: {native}", markup=False, highlight=False, soft_wrap=True)
    error = outcome_error(summary, str(outcome.report_path) if outcome.report_path else None)
    if as_json:
        if summary.dry_run:
            # The operations are streamed to the output (a plan may have millions), the rest as before.
            ops = JsonArray(summary.plan.ops, lambda op: op.describe())
            body["plan"] = {**summary.plan.to_json(ops=False), "ops": ops}
        emit_json(body)
        if error is not None:
            sys.exit(error.exit_code)
        return
    if summary.dry_run:
        print_plan(
            summary.plan,
            f"Plan for {summary.user_pool_id or 'a new pool'} from snapshot {summary.snapshot} "
            f"of {summary.source_pool_id}",
            only_missing=only_missing,
        )
        _print_known(summary.known_exactly_until, [])
        for w in summary.warnings:
            out_console().print(f"  note: {w}", markup=False)
        if only_missing:
            out_console().print(ONLY_MISSING_SAYS, markup=False, soft_wrap=True)
        out_console().print("Dry run: nothing was written.")
        return
    _print_done(body, summary.plan)
    if error is not None:
        raise error


def _print_done(body: dict[str, Any], plan: Plan) -> None:
    console = out_console()
    _print_notices(plan)
    for key in body.get("missing_after_restore", []):
        console.print(f"  missing after the restore: user {key}", markup=False)
    for failure in body["failures"]:
        who = " ".join(f"{k} {failure[k]}" for k in ("user", "group") if k in failure)
        console.print(f"  failed {failure['op']} {who}: {failure['error']}", markup=False, soft_wrap=True)
    for w in body["warnings"]:
        console.print(f"  warning: {w}", markup=False)
    _print_left_as_is(body.get("left_as_is") or {})
    if body["config_changes"]:
        console.print(f"Configuration settings changed ({len(body['config_changes'])}):")
        for c in body["config_changes"]:
            console.print(f"  {c['section']} {c['path']}: {c['old']} -> {c['new']}", markup=False, soft_wrap=True)
    if body["client_id_map"]:
        console.print("App client ids (old -> new):")
        for old, new in sorted(body["client_id_map"].items()):
            console.print(f"  {old} -> {new}", markup=False)
    detail = body["detail"]
    console.print(
        f"Restore into [bold]{body['user_pool_id']}[/] from snapshot {body['snapshot']} of "
        f"{body['source_user_pool_id']} finished in "
        f"{body['seconds']:.1f}s: created {body['created']}, updated {body['updated']}, deleted {body['deleted']}, "
        f"unchanged {body['unchanged']}, skipped {body['skipped']}, failed {body['failed']} "
        f"(users: {detail['users']['created']} created, {detail['users']['failed']} failed)."
    )
    _print_known(body["known_exactly_until"], [])
    if body["deleted_items"]:
        console.print(f"Deleted ({len(body['deleted_items'])}):")
        for item in body["deleted_items"]:
            console.print(f"  {item['kind']} {item['name']}", markup=False)
    console.print(f"Report: {body['report']}\nSub map: {body['sub_map']}", markup=False)
    if body["kept_passwords"]:
        console.print(
            f"{len(body['kept_passwords'])} users were already in the target: their passwords were left alone "
            "(kept_passwords in the report).",
            markup=False,
        )
    if body["new_passwords"]:
        console.print(f"{len(body['new_passwords'])} users created by an earlier run got new passwords:", markup=False)
        for item in body["new_passwords"][:MAX_PLAN_LINES]:
            console.print(f"  {item['username']}: {item['reason']}", markup=False, soft_wrap=True)
        if len(body["new_passwords"]) > MAX_PLAN_LINES:
            more = len(body["new_passwords"]) - MAX_PLAN_LINES
            console.print(f"  ... and {more:,} more (new_passwords in the report)", markup=False)
    if body.get("passwords_file"):
        console.print(f"Temporary passwords (owner-only, hand out securely): {body['passwords_file']}", markup=False)


def register(group: click.Group) -> None:
    group.add_command(diff)
    group.add_command(restore)
