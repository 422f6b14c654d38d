"""`capture`, `compact`, `replicate`: the change journal's commands."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import click

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.quotas import parse_rates
from cognito_backup.aws.reader import PoolReader
from cognito_backup.cli.common import (
    QUEUE_URL,
    USER_POOL_ID,
    Progress,
    app,
    emit_json,
    err_console,
    fail,
    handle_errors,
    interrupted,
    json_option,
    make_pacer,
    out_console,
    rate_options,
)
from cognito_backup.cli.stop_signals import StopSignals, stderr_line
from cognito_backup.errors import OperationsFailed, OutOfTime, PlanRefused, UsageError
from cognito_backup.ops.capture import (
    BatchResult,
    CaptureOptions,
    Capturer,
    CaptureSummary,
    SqsQueue,
    capture_burst,
    capture_rates,
    run_capture,
)
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.manifest import backed_up_pools

if TYPE_CHECKING:
    from cognito_backup.ops.replicate import ReplicateRound


def reader_factory(client: Any, rates: tuple[str, ...], *, instances: int = 1) -> Callable[[str], PoolReader]:
    """The capture's readers (CLI and Lambda): one Pacer, never more than its share of UserList.

    `instances`: how many captures run at once, each with a Pacer of its own (the deployed function's
    concurrent instances): each paces at that fraction, so together they take one capture's share (an
    idle one may spend a second of its UserRead share at once: `capture_burst`)."""
    pacer = Pacer(
        {name: rps / max(1, instances) for name, rps in capture_rates(parse_rates(list(rates))).items()},
        burst=capture_burst(instances),
    )
    readers: dict[str, PoolReader] = {}
    lock = threading.Lock()

    def reader_for(pool_id: str) -> PoolReader:
        with lock:
            if pool_id not in readers:
                readers[pool_id] = PoolReader(client, pacer, pool_id, chains=1)
            return readers[pool_id]

    return reader_for


@click.command()
@click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")
@click.option(
    "--queue",
    "queue_url",
    type=QUEUE_URL,
    required=True,
    help="URL of the SQS queue EventBridge sends Cognito events to, e.g. "
    "https://sqs.eu-west-1.amazonaws.com/111122223333/cognito-changes (the stack's CaptureQueueUrl output).",
)
@click.option(
    "--follow",
    is_flag=True,
    help="Keep long-polling until SIGTERM / Ctrl-C (default: drain and exit). A stop once the batches in hand "
    "are journaled exits 0; a second signal stops at once (143/130; those messages come back).",
)
@click.option(
    "--user-pool-id",
    "pool_ids",
    type=USER_POOL_ID,
    multiple=True,
    help="Capture only these pools (repeatable). The first is also the pool of events that name none "
    "(some public API calls). Default: every pool the events name.",
)
@click.option(
    "--batch-size",
    default=20,
    show_default=True,
    help="Messages per journal segment (at most). Each message is re-read as soon as it is received; what has "
    "been read is journaled together, a segment at most every 0.1 s unless this many are ready "
    "(docs/capture.md, 'Recovery point, measured').",
)
@click.option(
    "--wait-seconds",
    type=click.IntRange(1, 20),
    default=5,
    show_default=True,
    help="With --follow: how long one SQS receive waits for messages. It is also the longest a stop signal "
    "waits to be noticed; 20 halves the (tiny) SQS request cost of an idle queue.",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def capture(
    ctx: click.Context,
    repo: str,
    queue_url: str,
    follow: bool,
    pool_ids: tuple[str, ...],
    batch_size: int,
    wait_seconds: int,
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Record Cognito changes from an SQS queue into the repository's change journal.

    Each event (CloudTrail via EventBridge, or a trigger event) says which user, group or setting
    changed; the current state is re-read (ListUsers with a filter: no monthly-active-user charge) and
    journaled. A message is deleted only after its records are durable; unparseable messages stay in
    the queue for its dead-letter queue.
    """
    if batch_size < 1:
        raise UsageError("--batch-size must be at least 1")
    ctx_app = app(ctx)
    queue = SqsQueue(ctx_app.aws.client("sqs"), queue_url)
    queue.check()  # before a repository is created at --repo for a queue that is not there
    repository = ctx_app.repository(repo)
    repository.init_if_needed()
    journal = Journal(repository.store)
    capturer = Capturer(
        reader_factory(ctx_app.cognito(), rates),
        CaptureOptions(default_pool_id=pool_ids[0] if pool_ids else None, pools=frozenset(pool_ids) or None),
    )
    progress = Progress(enabled=not as_json)
    signals = StopSignals(progress.line if progress.enabled else stderr_line)

    def on_batch(batch: BatchResult, total: CaptureSummary) -> None:
        progress.line(
            f"  batch: {batch.messages} messages -> {batch.records} records; "
            f"{len(batch.failed) + len(batch.poison)} failed, {len(batch.deferred)} deferred{_lag(total.lag_seconds)}"
        )

    with (
        signals.installed(),
        progress.running(f"Capturing {queue_url} into {repository.store.describe()}"),
    ):
        try:
            summary = run_capture(
                queue,
                capturer,
                journal,
                follow=follow,
                stop=signals.stop,
                batch_size=batch_size,
                wait_seconds=wait_seconds,
                on_batch=on_batch,
                # Quiet pools get their caught-up marker too: those named, else those with snapshots here.
                pools=pool_ids or backed_up_pools(repository.list_snapshots()),
            )
        except KeyboardInterrupt as exc:  # a second signal: stop now
            raise interrupted(exc, hint=_MESSAGES_COME_BACK) from None
    not_captured = summary.failed + summary.poison
    # A drain is one job: a signal that ended it early left messages in the queue (a follower's stop
    # after the batches in hand is its planned end).
    cut_short = signals.interrupted(_MESSAGES_COME_BACK) if signals.stop.is_set() and not follow else None
    if as_json:
        body = summary.to_json()
        if cut_short is not None:
            body["error"] = {"kind": cut_short.kind, "message": cut_short.message, "hint": cut_short.hint}
        emit_json(body)
    else:
        console = out_console()
        console.print(
            f"{summary.messages:,} messages -> {summary.records:,} journal records in {summary.segments} segment(s); "
            f"{summary.deleted:,} deleted from the queue, {not_captured} failed "
            f"({summary.poison} unparseable), {summary.deferred} deferred."
        )
        for mid, why in sorted(summary.failures.items()):
            console.print(f"  [yellow]not captured[/] {mid}: {why}")
    if summary.store_error is not None:
        raise summary.store_error  # the storage failure's own code (3, 7, 10): the messages stay queued
    if cut_short is not None:
        if as_json:
            raise SystemExit(cut_short.exit_code)  # stdout already holds the one JSON document, error included
        raise cut_short
    if not_captured and not follow:
        # A drain is one job: exit 0 would tell a scheduler every message is in the journal. (With
        # --follow the job is "run until stopped"; failed messages go back to SQS and its DLQ.)
        failure = OperationsFailed(
            f"{not_captured} message(s) could not be journaled: {', '.join(sorted(summary.failures)) or '?'}",
            hint="They stay in the queue: SQS delivers them again, then moves them to its dead-letter queue "
            "(see docs/capture.md).",
        )
        if as_json:
            raise SystemExit(failure.exit_code)  # stdout already holds the one JSON document, failures named
        raise failure


_MESSAGES_COME_BACK = (
    "Every message journaled was deleted from the queue; the others stay there and come back: run the same "
    "command again."
)


def _lag(seconds: float | None) -> str:
    # No message journaled yet means no lag to tell, not a lag of "None".
    return "" if seconds is None else f"; lag {seconds}s"


@click.command()
@click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")
@click.option("--user-pool-id", type=USER_POOL_ID, help="Compact this pool (default: every pool with snapshots).")
@json_option
@click.pass_context
@handle_errors
def compact(ctx: click.Context, repo: str, user_pool_id: str | None, as_json: bool) -> None:
    """Write a new full snapshot from the newest snapshot plus the change journal, without reading the pool.

    Only journal records older than the settle horizon (60 s) are folded: captures may still be writing
    the last minute's. Right after a pool's first backup there is nothing to compact yet: exit 0 with a
    note saying when to retry (a compaction scheduled after a backup does not fail). A pool with no
    snapshot at all exits 7.
    """
    from cognito_backup.ops.compact import compact as run_compact

    repository = app(ctx).repository(repo)
    pools = [user_pool_id] if user_pool_id else sorted(backed_up_pools(repository.list_snapshots()))
    results = [run_compact(repository, pool).summary() for pool in pools]
    if as_json:
        emit_json(results[0] if user_pool_id else results)
        return
    console = out_console()
    for r in results:
        if r["note"]:
            console.print(f"{r['user_pool_id']}: {r['note']}.", markup=False)
        elif r["snapshot"] is None:
            console.print(f"{r['user_pool_id']}: no journal record after snapshot {r['base_snapshot']}; nothing to do.")
        else:
            console.print(
                f"{r['user_pool_id']}: snapshot [bold]{r['snapshot']}[/] = {r['base_snapshot']} + {r['records']:,} "
                f"journal records (up to {r['journal_until']}): {r['users']:,} users, {r['groups']:,} groups."
            )


@click.command()
@click.option("--repo", required=True, help="Repository: a local directory or s3://bucket/prefix.")
@click.option(
    "--to-user-pool-id", "standby", type=USER_POOL_ID, required=True, help="The standby pool to keep in step."
)
@click.option(
    "--user-pool-id",
    "--source-user-pool-id",
    "source",
    type=USER_POOL_ID,
    help="The source pool (default: the only pool other than the standby with snapshots in the repository).",
)
@click.option("--region", "standby_region", help="Region of the standby pool (default: the global --region).")
@click.option(
    "--follow",
    is_flag=True,
    help="Keep applying new journal records until SIGTERM / Ctrl-C. A stop between rounds exits 0; inside a "
    "round, no new operation starts and it exits 143/130 (run again to carry on).",
)
@click.option(
    "--interval",
    type=click.FloatRange(min=0, min_open=True),
    default=10.0,
    show_default=True,
    help="Seconds between rounds with --follow.",
)
@click.option("--dry-run", is_flag=True, help="Print what one round would do (deletions named) and write nothing.")
@click.option(
    "--yes",
    is_flag=True,
    help="The target is this source's standby, deletions included: tag it so (once; later rounds and the "
    "deployed Lambda need no --yes). Without it, a round that would write anything (create, update or delete) "
    "into a pool that is not tagged as this source's standby (nor empty) is refused.",
)
@click.option(
    "--map-arn",
    multiple=True,
    metavar="OLD=NEW",
    help="Replace an ARN the source's configuration or group roles name (another Region or account): exact, "
    "or a prefix OLD*=NEW*; repeatable. The standby keeps its own triggers, domain and log delivery.",
)
@rate_options
@json_option
@click.pass_context
@handle_errors
def replicate(
    ctx: click.Context,
    repo: str,
    standby: str,
    source: str | None,
    standby_region: str | None,
    follow: bool,
    interval: float,
    dry_run: bool,
    yes: bool,
    map_arn: tuple[str, ...],
    rates: tuple[str, ...],
    as_json: bool,
) -> None:
    """Apply the change journal to a standby pool: silent, idempotent, paced; deletions included.

    Start the standby with `restore --new-pool` (or an empty pool), then run this; the position reached
    is kept in the repository (replication/<standby>.json), and `lag_seconds` tells how far behind the
    newest applied change is. Writes only into a pool tagged cognito-backup:standby-of=SOURCE (set by
    `restore --new-pool`, by a round that finds the pool empty, or by --yes): into any other pool (someone's
    own) a round that would write anything is refused (exit 8, each deletion named, nothing written).

    The standby follows the source's configuration too (the journal's configuration records: every section
    of `restore --config`: pool settings, MFA, sessions, app clients and their own settings, providers,
    resource servers, terms, managed login styles, CIMD policies, hosted UI customization, threat
    protection), except its own domain, log delivery (its logs go to destinations of its own) and triggers
    (LambdaConfig); ARNs of another Region or account are carried with --map-arn.
    """
    from cognito_backup.core.plan import PlanOptions
    from cognito_backup.core.pool_translate import parse_arn_maps
    from cognito_backup.core.source import choose_source
    from cognito_backup.ops.pitr import refuse_only_damaged
    from cognito_backup.ops.replicate import refusal
    from cognito_backup.ops.replicate import replicate as run_replicate
    from cognito_backup.ops.restore import RestoreOptions

    if dry_run and follow:
        raise UsageError("--dry-run shows one round: give it without --follow")
    ctx_app = app(ctx)
    repository = ctx_app.repository(repo)
    if source == standby:
        raise UsageError("The standby must be another pool than the source")
    # The standby may be backed up in the same repository too: it is never its own source.
    scan = repository.scan_snapshots()
    refuse_only_damaged(repository, scan)
    backed_up = backed_up_pools(scan.manifests)
    if not source and backed_up == {standby}:
        raise UsageError(
            f"{standby} is the only pool backed up in this repository, and the standby must be another pool "
            "than the source",
            hint="--to-user-pool-id names the standby (made by `restore --new-pool`, or an empty pool); the "
            "source is the pool backed up here.",
        )
    pools = backed_up - {standby}
    source = choose_source(pools, named_source=source).pool_id
    progress = Progress(enabled=not as_json)
    signals = StopSignals(progress.line if progress.enabled else stderr_line)

    def on_round(r: ReplicateRound) -> None:
        if r.applied:
            progress.line(f"  applied {r.operations} operation(s), {r.failed} failed; lag {r.lag_seconds}s")

    title = f"Replicating {source} -> {standby}" + (" (dry run)" if dry_run else "")
    with signals.installed(), progress.running(title):
        try:
            last = run_replicate(
                repository,
                ctx_app.cognito(region=standby_region),
                make_pacer(rates),
                source,
                standby,
                follow=follow,
                interval=interval,
                stop=signals.stop,
                on_round=on_round,
                options=RestoreOptions(dry_run=dry_run, plan=PlanOptions(arn_map=parse_arn_maps(map_arn))),
                confirmed=yes,
            )
        except (OutOfTime, KeyboardInterrupt) as exc:
            # A round the signal stopped (or a second signal): the standby's position stays where the last
            # whole round left it; the round's resume state lets the next run carry on.
            hint = "Run the same command again: the next round carries on from the last saved position."
            stopped = interrupted(exc, hint=hint) if isinstance(exc, KeyboardInterrupt) else signals.interrupted(hint)
            raise stopped from None
    body = {"source_user_pool_id": source, "standby_user_pool_id": standby, **last.to_json()}
    refused = refusal(last.plan, source, standby) if last.refused and last.plan is not None else None
    if refused is not None:
        # A dry run that a real round would refuse exits 8: its JSON says why, as every exit-8 document does.
        body["error"] = {"kind": refused.kind, "message": refused.message, "hint": refused.hint}
    if as_json:
        emit_json(body)
    else:
        _print_round(source, standby, last)
    if refused is not None:
        fail(refused, as_json=False)  # stdout holds the round: stderr says why it exits 8, as every exit 8
    if last.refused:
        sys.exit(PlanRefused.exit_code)
    if last.failed:
        failure = OperationsFailed(f"{last.failed} operation(s) failed on the standby; the next round retries them")
        if as_json:
            # stdout already holds the one JSON document (with `failed`): the message goes to stderr only.
            err_console().print(f"error: {failure.message}", markup=False, soft_wrap=True)
            sys.exit(failure.exit_code)
        raise failure


def _print_round(source: str, standby: str, last: ReplicateRound) -> None:
    from cognito_backup.cli.restore_cmds import print_plan
    from cognito_backup.core.standby import ADOPT

    console = out_console()
    if last.dry_run:
        if last.plan is not None:
            print_plan(last.plan, f"Plan for standby {standby} from {source} (dry run)")
        if last.refused:
            console.print(
                f"A real round would be REFUSED (exit 8): {standby} is not a standby of {source} and the round "
                "would write into it (the plan above). Run once with --yes if it is meant to be.",
                markup=False,
            )
        elif last.standby == ADOPT:
            console.print(f"A real round would first tag {standby} as the standby of {source}.", markup=False)
    elif last.standby == ADOPT:
        console.print(f"Tagged {standby} as the standby of {source} (cognito-backup:standby-of).", markup=False)
    if last.deleted_items:
        verb = "Would delete" if last.dry_run else "Deleted"
        console.print(f"{verb} ({len(last.deleted_items)}):")
        for item in last.deleted_items:
            console.print(f"  {item['kind']} {item['name']}", markup=False)
    if last.dry_run:
        console.print("Dry run: nothing was written.")
        return
    console.print(
        f"Standby {standby} is at journal position {last.position and last.position[0]} "
        f"(lag {last.lag_seconds}s); {last.operations} operation(s), {last.failed} failed."
    )


def register(group: click.Group) -> None:
    group.add_command(capture)
    group.add_command(compact)
    group.add_command(replicate)
