"""`capture --follow` as a real process: SIGTERM stops it cleanly, and no message is lost."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for
from tests.helpers import add_user, make_pool


def journal_records(repo: Path, pool: str) -> list[dict[str, Any]]:
    if not repo.exists():
        return []
    return list(Journal(LocalStore(repo)).iter_records(pool))


def test_follow_survives_a_stream_then_stops_on_sigterm(server_url: str, tmp_path: Path) -> None:
    cognito = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=server_url)
    sqs = boto3.client("sqs", region_name="us-east-1", endpoint_url=server_url)
    queue = sqs.create_queue(QueueName="changes")["QueueUrl"]
    pool = make_pool(cognito)
    repo = tmp_path / "repo"
    env = dict(os.environ, AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_REGION="us-east-1")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cognito_backup.cli.main", "--endpoint-url", server_url]
        + ["capture", "--repo", str(repo), "--queue", queue, "--follow", "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        for i in range(6):  # changes arrive while the consumer runs
            add_user(cognito, pool, f"user-{i}", {"email": f"u{i}@example.com"})
            user = cognito.admin_get_user(UserPoolId=pool, Username=f"user-{i}")
            sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
            event = event_for("AdminCreateUser", pool=pool, event_id=f"e{i}", when=_now(), sub=sub)
            sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
            time.sleep(0.2)
        deadline = time.monotonic() + 60
        while len({r["key"] for r in journal_records(repo, pool)}) < 6:
            assert proc.poll() is None, proc.stderr.read() if proc.stderr else ""
            assert time.monotonic() < deadline, "capture did not record the stream"
            time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=60)  # at most one long poll (--wait-seconds) to notice
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err
    summary = json.loads(out)
    assert summary["records"] >= 6 and summary["failed"] == 0
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    assert attrs["ApproximateNumberOfMessages"] == "0"
    assert attrs["ApproximateNumberOfMessagesNotVisible"] == "0"  # every message deleted, none in flight
    keys = {r["key"] for r in journal_records(repo, pool)}
    assert keys == {f"user-{i}" for i in range(6)}


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)
