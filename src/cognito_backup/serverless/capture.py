"""SQS -> capture Lambda: the same code as `cognito-backup capture`, one journal segment per batch.

Returns `batchItemFailures` so that Lambda deletes exactly the messages whose records are durable
(or that carry nothing to record); the others come back, and unparseable ones end in the DLQ.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cognito_backup.serverless.metrics import MetricDef

log = logging.getLogger("cognito_backup.capture")

_runtime: dict[str, Any] = {}
INSTANCES_VAR = "COGNITO_BACKUP_CAPTURE_INSTANCES"
# The function's Timeout in deploy/template.yaml: the time an invocation has when no context says.
TIMEOUT_SECONDS = 120.0


def throttle_budget(seconds_left: float) -> float:
    """How long, from now, this invocation's Cognito calls may keep retrying throttled attempts (PURE).

    An invocation that overruns its Timeout sends its whole batch back, and after maxReceiveCount receives a
    message ends in the dead-letter queue, its change never journaled: a throttled read must give up in time
    (its message reported failed, retried later) so that the rest of the batch is journaled. Half of the
    time left: the reads run concurrently, so this bounds them all; the other half is for the journal
    write (S3 calls with their own timeouts) and the rescan pages after it, which give up at the same time."""
    return max(0.0, seconds_left / 2)


def _build(env_key: tuple[Any, ...]) -> tuple[Any, Any, str | None]:
    import os

    from cognito_backup.aws.pacing import Pacer
    from cognito_backup.aws.session import AwsContext
    from cognito_backup.cli.journal_cmds import reader_factory
    from cognito_backup.ops.capture import CaptureOptions, Capturer
    from cognito_backup.repo.journal import Journal
    from cognito_backup.serverless._env import LambdaEnv, open_repo_store

    del Pacer  # the reader factory builds the pacer with the default quota rates
    env = LambdaEnv.read()
    cognito = AwsContext(region=env.pool_region).client("cognito-idp")
    options = CaptureOptions(
        default_pool_id=env.pool_id,
        pools=frozenset({env.pool_id}) if env.pool_id else None,
    )
    # The event source mapping runs up to this many instances at once (the template's MaximumConcurrency),
    # each with its own Pacer: each takes its share, so together they stay within one capture's quota.
    instances = int(os.environ.get(INSTANCES_VAR) or 1)
    capturer = Capturer(reader_factory(cognito, (), instances=instances), options)
    return capturer, Journal(open_repo_store(env)), env.pool_id


def _components() -> tuple[Any, Any, str | None]:
    import os

    key = tuple(
        os.environ.get(v)
        for v in (
            "COGNITO_BACKUP_REPO",
            "COGNITO_BACKUP_USER_POOL_ID",
            "COGNITO_BACKUP_USER_POOL_REGION",
            "AWS_ENDPOINT_URL",
            INSTANCES_VAR,
        )
    )
    if _runtime.get("key") != key:  # warm invocations reuse clients, pacer and caches
        _runtime["key"] = key
        _runtime["parts"] = _build(key)
    parts: tuple[Any, Any, str | None] = _runtime["parts"]
    return parts


def _give_up_by(seconds_left: float) -> None:
    """This invocation's deadline for throttled Cognito calls (the instance's Pacer is shared by its
    reads; an instance runs one invocation at a time)."""
    capturer, _, pool_id = _components()
    # reader_factory gives every pool's reader the one Pacer of this instance.
    pacer = capturer.reader_for(pool_id or "").pacer
    pacer.give_up_at = pacer.clock() + throttle_budget(seconds_left)


def _messages(event: Any) -> list[Any]:
    from cognito_backup.ops.capture import Message

    out = []
    for rec in event.get("Records", []) if isinstance(event, dict) else []:
        sent = (rec.get("attributes") or {}).get("SentTimestamp")
        out.append(
            Message(
                id=str(rec["messageId"]),
                body=str(rec.get("body", "")),
                sent_at=dt.datetime.fromtimestamp(int(sent) / 1000, dt.UTC) if sent else None,
            )
        )
    return out


CHECK_KEY = "caught_up_check"  # the scheduled invocation's input (deploy/template.yaml)
QUEUE_VAR = "COGNITO_BACKUP_CAPTURE_QUEUE_URL"


def _caught_up_check() -> dict[str, Any]:
    """Scheduled: write the pool's caught-up marker when the queue is drained (docs/capture.md)."""
    import os

    from cognito_backup.aws.session import AwsContext
    from cognito_backup.ops.capture import SqsQueue, continue_rescans, mark_if_drained

    capturer, journal, _ = _components()
    url = os.environ.get(QUEUE_VAR, "")
    pools = capturer.options.pools or ()
    if not url or not pools:
        log.error("caught-up check needs %s and COGNITO_BACKUP_USER_POOL_ID", QUEUE_VAR)
        return {"caught_up_to": None}
    # Pending rescans move on even while no event invokes the function (core/rescan.py).
    progress = continue_rescans(capturer, journal, pools, writer_info={"source": "lambda"})
    if progress.pages:
        log.info(
            "rescan: %d pages, %d jobs finished, %d pending", progress.pages, progress.finished, len(progress.pending)
        )
    until = mark_if_drained(SqsQueue(AwsContext().client("sqs"), url), journal, pools, writer={"source": "lambda"})
    log.info("caught-up check: %s", f"marker {until}" if until else "queue not drained, marker unchanged")
    return {"caught_up_to": until}


def change_times(messages: list[Any]) -> dict[str, dt.datetime]:
    """message id -> when its change happened: the earliest event time it carries, else when SQS got
    it. A message that names no change (nothing to journal) has none."""
    from cognito_backup.core.events import EventParseError, hints_from_sqs_body
    from cognito_backup.repo.repository import parse_time

    def parsed(stamp: str) -> dt.datetime | None:
        try:
            return parse_time(stamp)
        except ValueError:
            return None

    out: dict[str, dt.datetime] = {}
    for m in messages:
        try:
            hints = hints_from_sqs_body(m.body, m.id)
        except EventParseError:
            hints = None  # never journaled (it ends in the DLQ): waiting since SQS got it
        if hints == []:
            continue
        times = [t for t in (parsed(h.changed_at) for h in hints or [] if h.changed_at) if t is not None]
        when = min(times) if times else m.sent_at
        if when is not None:
            out[m.id] = when
    return out


def recovery_metrics(times: dict[str, dt.datetime], not_done: set[str], now: dt.datetime) -> dict[MetricDef, float]:
    """CaptureDelay (the oldest change now durable) and JournalCaughtUpAge (the oldest change left for a
    retry, 0 when none is): the journal is complete up to `now - JournalCaughtUpAge`."""
    from cognito_backup.serverless.metrics import CAPTURE_DELAY, JOURNAL_CAUGHT_UP_AGE, seconds_between

    durable = [t for mid, t in times.items() if mid not in not_done]
    waiting = [t for mid, t in times.items() if mid in not_done]
    values: dict[MetricDef, float] = {JOURNAL_CAUGHT_UP_AGE: seconds_between(min(waiting), now) if waiting else 0.0}
    if durable:
        values[CAPTURE_DELAY] = seconds_between(min(durable), now)
    return values


def _publish(messages: list[Any], not_done: set[str], pool_id: str | None) -> None:
    """The batch's metrics; a failure here must not send back messages whose records are durable."""
    from cognito_backup.serverless.metrics import publish

    try:
        now = dt.datetime.now(dt.UTC)
        publish(recovery_metrics(change_times(messages), not_done, now), pool_id)
    except Exception as exc:
        log.warning("recovery point metrics not published (%s)", type(exc).__name__)


def handler(event: Any, context: Any) -> dict[str, Any]:
    import os

    from cognito_backup.ops.capture import capture_batch
    from cognito_backup.serverless._env import POOL_VAR, seconds_left

    left = seconds_left(context, TIMEOUT_SECONDS)
    if isinstance(event, dict) and event.get(CHECK_KEY):
        _give_up_by(left())
        return _caught_up_check()
    messages = _messages(event)
    try:
        _give_up_by(left())
        capturer, journal, pool_id = _components()
        result = capture_batch(capturer, journal, messages, writer_info={"source": "lambda"})
    except Exception as exc:  # configuration or a bug: nothing is acknowledged, everything is retried
        log.exception("capture failed for the whole batch (%s)", type(exc).__name__)
        _publish(messages, {m.id for m in messages}, os.environ.get(POOL_VAR))
        return {"batchItemFailures": [{"itemIdentifier": m.id} for m in messages]}
    _publish(messages, set(result.not_done_ids), pool_id)
    for mid, why in {**result.failed, **result.poison}.items():
        log.error("message %s not captured: %s", mid, why)
    log.info(
        "captured %d messages -> %d records (%d failed, %d deferred, %d poison)",
        len(messages),
        result.records,
        len(result.failed),
        len(result.deferred),
        len(result.poison),
    )
    return {"batchItemFailures": [{"itemIdentifier": mid} for mid in result.not_done_ids]}
