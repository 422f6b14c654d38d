"""`recover`: AWS's own point-in-time recovery of a pool, checked beforehand and compared with the repository."""

from __future__ import annotations

import datetime as dt
import sys
import time
from collections.abc import Callable
from typing import Any, NoReturn

import click
from rich.table import Table

from cognito_backup.aws.native_pitr import NativePitr
from cognito_backup.aws.reader import PoolReader, ReadProgress
from cognito_backup.cli.common import (
    USER_POOL_ID,
    app,
    ask_yes_no,
    emit_json,
    err_console,
    handle_errors,
    json_option,
    make_pacer,
    out_console,
    rate_options,
)
from cognito_backup.cli.restore_cmds import _parse_at
from cognito_backup.core.recover_plan import (
    CANCELLABLE,
    COMPLETED,
    GENERATED,
    NOT_RESTORED_BY_AWS,
    RESTORING,
    PreviewCount,
    Recovery,
    active_recovery,
    adopt_after_failed_initiate,
    after_recovery,
    check_request,
    config_hint,
    outcome_error,
    parse_restore_id,
    refusals,
    side_by_side,
)
from cognito_backup.errors import (
    AwsError,
    CognitoBackupError,
    DifferencesFound,
    Interrupted,
    PlanRefused,
    RepositoryNotFound,
    UsageError,
)
from cognito_backup.ops.recover import POLL_SECONDS, RepoView, repo_view, verify, wait_for_preview, wait_for_restore
from cognito_backup.repo.repository import utcnow

PAUSE_WARNING = (
    "Initiating pauses every write to {pool} (sign-up, user creation, attribute updates, import jobs) until the "
    "recovery is started and completes, or is cancelled, or its preview expires after 24 hours. Sign-in "
    "continues, except NEW_PASSWORD_REQUIRED, MFA_SETUP and SOFTWARE_TOKEN_MFA challenges."
)


@click.command()
@click.option("--user-pool-id", type=USER_POOL_ID, required=True, help="The pool AWS recovers, in place.")
@click.option(
    "--at",
    "at",
    metavar="TIME",
    callback=_parse_at,
    help="Recovery point (ISO-8601, UTC unless an offset is given): at least 15 minutes ago, within 1 day "
    "(Essentials plan) or 14 days (Plus).",
)
@click.option(
    "--repo",
    help="Optional repository (directory or s3://bucket/prefix): shows this tool's per-user plan beside AWS's "
    "counts and checks the result afterwards, like `diff --at`.",
)
@click.option("--yes", is_flag=True, help="Initiate and start without asking (needed without a terminal).")
@click.option("--dry-run", is_flag=True, help="Only the checks and this tool's own plan; nothing is initiated.")
@click.option("--status", "show_status", is_flag=True, help="Show the pool's recoveries and what each status means.")
@click.option("--cancel", "do_cancel", is_flag=True, help="Cancel the pool's recovery before it starts; writes resume.")
@click.option("--restore-id", help="With --status or --cancel: one recovery (default: the active one).")
@click.option(
    "--poll-seconds",
    type=click.FloatRange(min=0.0),
    default=POLL_SECONDS,
    show_default=True,
    help="Seconds between two looks at the recovery's status while waiting.",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def recover(
    ctx: click.Context,
    user_pool_id: str,
    at: dt.datetime | None,
    repo: str | None,
    yes: bool,
    dry_run: bool,
    show_status: bool,
    do_cancel: bool,
    restore_id: str | None,
    poll_seconds: float,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Recover a pool's user data IN PLACE with AWS's native point-in-time recovery.

    \b
    AWS keeps passwords, MFA settings and passkeys, which `restore --at` cannot; it restores no
    configuration, only the whole pool, at most once per 24 hours, and only 15 minutes to 1 day
    (Essentials) or 14 days (Plus) back. Steps: checks (plan, window, import jobs, other recoveries),
    initiate (writes pause), wait for AWS's preview, show it beside this tool's per-user plan (--repo),
    ask, start, wait, check the result against the repository.

    \b
      cognito-backup recover --user-pool-id us-east-1_AbC --at 2026-11-21T10:15:00Z --repo s3://b/p --dry-run
      cognito-backup recover --user-pool-id us-east-1_AbC --status
      cognito-backup recover --user-pool-id us-east-1_AbC --cancel
    """
    if sum((show_status, do_cancel, at is not None)) != 1:
        raise UsageError("Give exactly one of --at TIME, --status or --cancel")
    if restore_id is not None:
        restore_id = parse_restore_id(restore_id)
    ctx_app = app(ctx)
    client = ctx_app.cognito()
    pacer = make_pacer(rates)
    pitr = NativePitr(client, pacer, user_pool_id)
    if show_status:
        _status(pitr, restore_id, as_json)
        return
    if do_cancel:
        _cancel(pitr, restore_id, as_json)
        return
    if at is None:  # unreachable: exactly one of the three was checked above; says so to mypy
        raise UsageError("Give exactly one of --at TIME, --status or --cancel")
    if restore_id is not None:
        raise UsageError("--restore-id goes with --status or --cancel; --at always initiates a new recovery")
    interactive = sys.stdin.isatty()
    if not (yes or dry_run or interactive):
        raise UsageError(
            "recover pauses the pool's writes and changes its user data: pass --yes to run without a terminal",
            hint="--dry-run shows the checks and the plan without initiating anything.",
        )
    now = utcnow()
    facts = pitr.facts()
    found = refusals(facts, at, now)
    view = RepoView(unavailable="no --repo given")
    reader = PoolReader(client, pacer, user_pool_id, progress=ReadProgress())
    if repo is not None:
        view = repo_view(ctx_app.repository(repo), reader, at)
    body: dict[str, Any] = {
        "user_pool_id": user_pool_id,
        "at": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "tier": facts.tier,
        "checks": {"ok": not found, "refusals": found},
        "tool_plan": _view_json(view),
        "not_restored_by_aws": NOT_RESTORED_BY_AWS,
    }
    talk = _Talk(as_json)
    talk.checks(facts.tier, found, view)
    if dry_run or found:
        body["dry_run"] = dry_run
        try:
            check_request(facts, at, now)  # PlanRefused (exit 8) with every reason
        except PlanRefused as refused:
            _exit_with(refused, body, as_json)
        if as_json:
            emit_json(body)
        return
    talk.say(PAUSE_WARNING.format(pool=user_pool_id))
    if not yes and not ask_yes_no("Initiate the recovery (pauses writes now)?"):
        raise Interrupted("Not initiated: nothing changed.")
    try:
        recovery = pitr.initiate(at)
    except CognitoBackupError as refused:  # AWS's own refusal (a limit the checks cannot see): keep the checks
        ours = adopt_after_failed_initiate(facts.recoveries, pitr.recoveries(), at)
        if ours is None:
            _exit_with(refused, body, as_json)
        recovery = ours
    talk.say(f"Initiated recovery {recovery.restore_id}: writes to {user_pool_id} are paused.")
    try:
        recovery = wait_for_preview(pitr, recovery.restore_id, on_status=talk.progress, sleep=_sleeper(poll_seconds))
        body["restore_id"] = recovery.restore_id
        if recovery.status != GENERATED:
            _fail_on(recovery, user_pool_id, body, as_json)
        body["comparison"] = side_by_side(recovery.preview, view.view.counts() if view.view else [])
        talk.preview(recovery.preview, view)
        if not yes and not ask_yes_no("Start the recovery? It cannot be cancelled once started"):
            raise Interrupted(_cancel_before_start(pitr, recovery.restore_id, "Not started"))
        recovery = _start(pitr, recovery)
    except KeyboardInterrupt:
        raise Interrupted(_cancel_before_start(pitr, recovery.restore_id, "Interrupted before the start")) from None
    except CognitoBackupError as exc:
        if isinstance(exc, Interrupted) or recovery.status not in CANCELLABLE:
            raise
        # The pool must not stay paused for up to 24 hours because this command failed while waiting.
        exc.message += " " + _cancel_before_start(pitr, recovery.restore_id, "Before the start")
        raise
    if recovery.status != RESTORING:  # refused at the start: the preview expired meanwhile, ...
        _fail_on(recovery, user_pool_id, body, as_json)
    talk.say(f"Started recovery {recovery.restore_id}; it cannot be cancelled now.")
    try:
        recovery = wait_for_restore(pitr, recovery.restore_id, on_status=talk.progress, sleep=_sleeper(poll_seconds))
    except KeyboardInterrupt:
        raise Interrupted(
            f"Stopped waiting: recovery {recovery.restore_id} continues at AWS (it cannot be cancelled once "
            f"started). Follow it with `cognito-backup recover --user-pool-id {user_pool_id} --status`."
        ) from None
    body["recovery"] = recovery.to_json()
    if recovery.status != COMPLETED:
        _fail_on(recovery, user_pool_id, body, as_json)
    data_diffs: list[Any] = []
    if view.desired is not None:
        data_diffs, config_diffs = verify(view.desired, reader)
        body["verify"] = {
            "user_data_differences": [d.to_json() for d in data_diffs],
            "configuration_differences": [d.to_json() for d in config_diffs],
        }
        talk.verified(data_diffs, config_diffs, view.label or "")
    talk.say(NOT_RESTORED_BY_AWS)
    hint = config_hint(user_pool_id, at, repo)
    body["configuration_hint"] = hint
    talk.say("Hint: " + hint)
    body["next_step"] = after_recovery(user_pool_id, repo)
    talk.say(body["next_step"])
    if as_json:
        emit_json(body)
    if data_diffs:
        sys.exit(DifferencesFound.exit_code)


def _cancel_before_start(pitr: NativePitr, restore_id: str, what: str) -> str:
    """Cancel a recovery that has not started (writes resume); the sentence saying what happened, also
    when the cancel itself fails (then the pool stays paused until someone cancels or it expires)."""
    try:
        done = pitr.cancel(restore_id)
    except CognitoBackupError as exc:
        current = _describe_quietly(pitr, restore_id)
        if current is not None and not current.writes_paused:
            return f"{what}: recovery {restore_id} is {current.status}. {current.sentence}"
        return (
            f"{what}: cancelling recovery {restore_id} failed too ({exc.message}); writes to {pitr.pool_id} stay "
            f"paused until `cognito-backup recover --user-pool-id {pitr.pool_id} --cancel` succeeds or the preview "
            "expires 24 hours after initiation."
        )
    return f"{what}: recovery {done.restore_id} cancelled ({done.status}); writes resumed and nothing changed."


def _describe_quietly(pitr: NativePitr, restore_id: str) -> Recovery | None:
    try:
        return pitr.describe(restore_id)
    except CognitoBackupError:
        return None


def _start(pitr: NativePitr, recovery: Recovery) -> Recovery:
    """Start. A refusal that the recovery's status explains (the preview expired while the prompt waited:
    the write pause ended, nothing changed) returns that status for the caller to report."""
    try:
        return pitr.start(recovery.restore_id)
    except CognitoBackupError:
        current = _describe_quietly(pitr, recovery.restore_id)
        if current is not None and outcome_error(current, pitr.pool_id) is not None:
            return current
        raise


def _sleeper(seconds: float) -> Callable[[float], None]:
    """--poll-seconds overrides the interval the waiting loop asks for."""
    return lambda _interval: time.sleep(seconds)


def _view_json(view: RepoView) -> dict[str, Any]:
    if view.view is None:
        return {"available": False, "reason": view.unavailable}
    return {"available": True, "state": view.label, "warnings": view.warnings, **view.view.to_json()}


def _fail_on(recovery: Recovery, pool_id: str, body: dict[str, Any], as_json: bool) -> NoReturn:
    err = outcome_error(recovery, pool_id)
    if err is None:  # an undocumented status: say it as it is
        err = AwsError(f"Recovery {recovery.restore_id} of {pool_id}: {recovery.sentence}")
    body["recovery"] = recovery.to_json()
    _exit_with(err, body, as_json)


def _exit_with(err: CognitoBackupError, body: dict[str, Any], as_json: bool) -> NoReturn:
    """Fail, with --json printing the command's whole object (the error in it) instead of the error
    alone: the checks and the plan stay readable by a script."""
    if not as_json:
        raise err
    body["error"] = {"kind": err.kind, "message": err.message, "hint": err.hint}
    emit_json(body)
    err_console().print(f"[bold red]error:[/] {err.message}", markup=True, soft_wrap=True)
    sys.exit(err.exit_code)


def _pick(pitr: NativePitr, restore_id: str | None) -> Recovery | None:
    if restore_id is not None:
        return pitr.describe(restore_id)
    current = active_recovery(pitr.recoveries())
    return pitr.describe(current.restore_id) if current else None


def _status(pitr: NativePitr, restore_id: str | None, as_json: bool) -> None:
    chosen = _pick(pitr, restore_id)
    listed = pitr.recoveries()
    if chosen is not None:
        # The described one carries its preview and trigger time, which the list does not.
        listed = [chosen] if restore_id else [chosen if r.restore_id == chosen.restore_id else r for r in listed]
    if as_json:
        emit_json(
            {
                "user_pool_id": pitr.pool_id,
                "active": chosen.to_json() if chosen and chosen.writes_paused else None,
                "recoveries": [r.to_json() for r in listed],
            }
        )
        return
    console = out_console()
    if not listed:
        console.print(f"{pitr.pool_id} has no point-in-time recoveries.", markup=False)
        return
    table = Table(title=f"Point-in-time recoveries of {pitr.pool_id} (most recent first)")
    for col in ("restore id", "recovery point", "status", "writes"):
        table.add_column(col)
    for r in listed:
        point = r.to_json()["restore_timestamp"] or "-"
        table.add_row(r.restore_id, point, r.status, "paused" if r.writes_paused else "open")
    console.print(table)
    if chosen is not None:
        console.print(chosen.sentence, markup=False)
        if chosen.preview:
            _print_counts(chosen.preview, None)


def _cancel(pitr: NativePitr, restore_id: str | None, as_json: bool) -> None:
    chosen = _pick(pitr, restore_id)
    if chosen is None:
        raise RepositoryNotFound(f"{pitr.pool_id} has no active recovery to cancel")
    if chosen.status not in CANCELLABLE:
        raise PlanRefused(
            f"Recovery {chosen.restore_id} is {chosen.status}: only a recovery whose preview is generating or "
            f"generated can be cancelled. {chosen.sentence}"
        )
    done = pitr.cancel(chosen.restore_id)
    if as_json:
        emit_json({"user_pool_id": pitr.pool_id, "cancelled": done.to_json()})
    else:
        out_console().print(f"Cancelled recovery {done.restore_id}: {done.sentence}", markup=False)


def _print_counts(aws: tuple[PreviewCount, ...] | list[PreviewCount], tool: list[PreviewCount] | None) -> None:
    table = Table(
        title="What the recovery changes" + (" (AWS's preview | this tool, from the repository)" if tool else "")
    )
    table.add_column("entity")
    for side in ("AWS",) + (("tool",) if tool is not None else ()):
        for verb in ("create", "update", "delete"):
            table.add_column(f"{side} {verb}", justify="right")
    for row in side_by_side(aws, tool or []):
        cells = [row["entity"]]
        for key in ("aws",) + (("tool",) if tool is not None else ()):
            part = row[key]
            cells += [str(part[v]) if part else "-" for v in ("create", "update", "delete")]
        table.add_row(*cells)
    out_console().print(table)


class _Talk:
    """What `recover` tells a person (stderr progress, stdout tables); silent with --json."""

    def __init__(self, as_json: bool) -> None:
        self.quiet = as_json
        self.err = err_console()
        self._last_status = ""
        self._last_said = 0.0

    def say(self, text: str) -> None:
        if not self.quiet:
            self.err.print(text, markup=False, highlight=False, soft_wrap=True)

    def progress(self, recovery: Recovery, waited: float) -> None:
        # A line when the status changes, and a sign of life each minute while it stays.
        if recovery.status != self._last_status or waited - self._last_said >= 60:
            self._last_status, self._last_said = recovery.status, waited
            self.say(f"  {recovery.status} after {waited:.0f}s")

    def checks(self, tier: str, found: list[str], view: RepoView) -> None:
        if self.quiet:
            return
        self.say(f"Feature plan: {tier}.")
        if found:
            for reason in found:
                self.say(f"  refused: {reason}")
        else:
            self.say("Checks passed: plan, window, no import job, no other recovery.")
        if view.view is None:
            self.say(f"No per-user plan from the repository: {view.unavailable}.")
            return
        for warning in view.warnings:
            self.say(f"warning: {warning}")
        console = out_console()
        v = view.view
        console.print(
            f"This tool's plan (live pool -> repository state {view.label}): {len(v.recreated)} users recreated, "
            f"{len(v.reverted)} reverted, {len(v.deleted)} deleted.",
            markup=False,
        )
        for title, names in (("recreated", v.recreated), ("reverted", v.reverted), ("deleted", v.deleted)):
            if names:
                console.print(
                    f"  {title}: " + ", ".join(names[:50]) + (" ..." if len(names) > 50 else ""), markup=False
                )

    def preview(self, aws: tuple[PreviewCount, ...], view: RepoView) -> None:
        if not self.quiet:
            _print_counts(aws, view.view.counts() if view.view else None)

    def verified(self, data: list[Any], config: list[Any], label: str) -> None:
        if self.quiet:
            return
        console = out_console()
        if not data:
            console.print(f"Check: the pool's user data matches the repository's state {label}.", markup=False)
        else:
            console.print(
                f"Check: {len(data)} user-data differences from the repository's state {label}:", markup=False
            )
            for d in data:
                console.print(f"  {d.kind} {d.name}: {d.what}", markup=False)
        if config:
            console.print(
                f"{len(config)} configuration differences (AWS's recovery does not restore them):", markup=False
            )
            for d in config:
                console.print(f"  {d.kind} {d.name}: {d.what}", markup=False)


def register(group: click.Group) -> None:
    group.add_command(recover)
