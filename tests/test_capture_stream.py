"""The capture consumer streams: each change is re-read as soon as it is received and journaled with
whatever else is ready (group commit), so a slow read never holds back the changes received with it,
and a change is still acknowledged to SQS only once its record is durable."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.model import User
from cognito_backup.ops.capture import (
    BatchResult,
    CaptureOptions,
    Capturer,
    CaptureSummary,
    SqsQueue,
    commit_due,
    run_capture,
)
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for, fast_readers
from tests.conftest import REGION
from tests.helpers import add_user, make_pool


def _until(check: Any, seconds: float = 10.0) -> bool:
    """Poll `check` until it holds (a bound for a failing test, not a speed goal)."""
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if check():
            return True
        time.sleep(0.02)
    return False


def _two_users_and_a_queue() -> tuple[Any, Any, str, dict[str, str | None], str]:
    """A pool with jane and joe (name -> sub) and the capture queue."""
    cognito = boto3.client("cognito-idp", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    pool = make_pool(cognito)
    for name in ("jane", "joe"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com"})
    subs = {n: User.from_api(cognito.admin_get_user(UserPoolId=pool, Username=n)).sub for n in ("jane", "joe")}
    url = sqs.create_queue(QueueName="capture", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
    return cognito, sqs, pool, subs, url


def test_a_slow_read_does_not_hold_back_the_changes_received_with_it(aws: None, tmp_path: Path) -> None:
    cognito, sqs, pool, subs, url = _two_users_and_a_queue()
    now = dt.datetime.now(dt.UTC)
    for name in ("jane", "joe"):  # both in the queue before the first receive: one poll gets both
        body = event_for("AdminDisableUser", pool=pool, event_id=f"e-{name}", when=now, sub=subs[name])
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))

    # jane's re-read hangs (a slow Cognito answer) until released; joe's goes through.
    release = threading.Event()

    def slow_for_jane(params: dict[str, Any], **_: Any) -> None:
        if subs["jane"] in str(params.get("body", "")):  # the serialized request: its Filter names the sub
            release.wait(30)

    cognito.meta.events.register("before-call.cognito-idp.ListUsers", slow_for_jane)
    journal = Journal(LocalStore(tmp_path / "repo"))
    stop = threading.Event()
    batches: list[BatchResult] = []
    out: list[CaptureSummary] = []

    def on_batch(result: BatchResult, total: CaptureSummary) -> None:
        batches.append(result)

    def consume() -> None:
        out.append(
            run_capture(
                SqsQueue(sqs, url),
                Capturer(fast_readers(cognito), CaptureOptions(default_pool_id=pool)),
                journal,
                follow=True,
                stop=stop,
                wait_seconds=0,
                on_batch=on_batch,
            )
        )

    consumer = threading.Thread(target=consume)
    consumer.start()
    try:
        keys = lambda: [r["key"] for r in journal.iter_records(pool)]  # noqa: E731
        joe_first = _until(lambda: keys() == ["joe"] and sum(len(b.done) for b in batches) == 1)
        jane_waiting = not release.is_set()
    finally:
        release.set()
    assert _until(lambda: sorted(keys()) == ["jane", "joe"] and sum(len(b.done) for b in batches) == 2)
    stop.set()
    consumer.join(30)
    assert joe_first and jane_waiting, "joe's change waited for jane's read"
    assert not consumer.is_alive()
    assert out[0].deleted == 2 and out[0].failed == 0
    # Acknowledged only once journaled: joe's message went in the batch that journaled joe alone.
    assert len(batches[0].done) == 1 and batches[0].records == 1
    attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["All"])["Attributes"]
    assert int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"]) == 0


def test_group_commit_writes_at_most_one_segment_an_interval_unless_a_segment_is_full() -> None:
    # Records ready soon after a segment was started: wait for the interval, so one segment carries more.
    assert not commit_due(ready=3, since_last_commit=0.02, batch_size=20, interval=0.1)
    # The interval is over (or no segment was written for a while: a quiet pool): write now.
    assert commit_due(ready=3, since_last_commit=0.1, batch_size=20, interval=0.1)
    assert commit_due(ready=1, since_last_commit=float("inf"), batch_size=20, interval=0.1)
    # A full segment's worth: write now.
    assert commit_due(ready=20, since_last_commit=0.0, batch_size=20, interval=0.1)
    # Nothing ready: nothing to write.
    assert not commit_due(ready=0, since_last_commit=5.0, batch_size=20, interval=0.1)


def test_changes_of_one_user_received_while_its_read_waits_are_read_once(aws: None, tmp_path: Path) -> None:
    """A backlog merges reads: a change whose user already has a read waiting to start (all re-read
    workers busy) joins that read, whichever poll brought it."""
    cognito, sqs, pool, subs, url = _two_users_and_a_queue()
    release = threading.Event()
    reads: list[str] = []

    def count_and_hold(params: dict[str, Any], **_: Any) -> None:
        body = str(params.get("body", ""))
        who = next((n for n, sub in subs.items() if sub in body), "?")
        reads.append(who)
        if who == "jane":  # the one worker is busy with jane until released
            release.wait(30)

    cognito.meta.events.register("before-call.cognito-idp.ListUsers", count_and_hold)
    journal = Journal(LocalStore(tmp_path / "repo"))
    stop = threading.Event()
    out: list[CaptureSummary] = []
    capturer = Capturer(fast_readers(cognito), CaptureOptions(default_pool_id=pool, workers=1))

    def visible() -> int:
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=["ApproximateNumberOfMessages"])
        return int(attrs["Attributes"]["ApproximateNumberOfMessages"])

    def send(name: str, n: int) -> None:
        body = event_for(
            "AdminUpdateUserAttributes",
            pool=pool,
            event_id=f"e-{name}-{n}",
            when=dt.datetime.now(dt.UTC),
            sub=subs[name],
        )
        sqs.send_message(QueueUrl=url, MessageBody=json.dumps(body))
        assert _until(lambda: visible() == 0)  # received: the next one comes in another poll

    consumer = threading.Thread(
        target=lambda: out.append(
            run_capture(SqsQueue(sqs, url), capturer, journal, follow=True, stop=stop, wait_seconds=0)
        )
    )
    consumer.start()
    try:
        send("jane", 0)
        assert _until(lambda: reads == ["jane"])
        for n in range(3):
            send("joe", n)
    finally:
        release.set()
    assert _until(lambda: out == [] and sorted(r["key"] for r in journal.iter_records(pool)) == ["jane", "joe"])
    stop.set()
    consumer.join(30)
    assert out[0].deleted == 4 and out[0].failed == 0
    assert reads == ["jane", "joe"]  # joe's three changes: one read
