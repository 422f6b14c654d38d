"""`restore --only user:NAME --at T` for a user deleted before T (session 6 try-out).

Seen: the refusal said "The snapshot has no user:user-2" while `show` of that snapshot lists user-2: the
state at T (snapshot + journal) lacks it, deleted before T. Now the message names the state at T and the
hint says a user may have been deleted before that time. moto in-process; capture from CloudTrail-shaped
events."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3

from tests.capture_helpers import event_for
from tests.helpers import add_user, make_pool
from tests.test_pitr_cli import run, stamp


def test_a_user_deleted_before_the_time_is_said_to_be_missing_at_that_time(aws: None, tmp_path: Path) -> None:
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="changes")["QueueUrl"]
    pool = make_pool(cognito)
    for i in range(3):
        add_user(cognito, pool, f"user-{i}", {"email": f"u{i}@example.com"})
    repo = str(tmp_path / "repo")
    assert run("backup", "--user-pool-id", pool, "--repo", repo).exit_code == 0
    sub = next(
        a["Value"]
        for a in cognito.admin_get_user(UserPoolId=pool, Username="user-2")["UserAttributes"]
        if a["Name"] == "sub"
    )
    cognito.admin_delete_user(UserPoolId=pool, Username="user-2")
    event = event_for("AdminDeleteUser", pool=pool, event_id="e1", when=dt.datetime.now(dt.UTC), sub=sub)
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    assert run("capture", "--repo", repo, "--queue", queue).exit_code == 0
    at = stamp()
    result = run(
        "restore", "--repo", repo, "--user-pool-id", pool, "--only", "user:user-2", "--at", at,
        "--allow-after-coverage", "--dry-run",
    )  # fmt: skip
    assert result.exit_code == 7, result.output
    assert "The snapshot has no" not in result.stderr
    assert f"at {at[:19]}" in result.stderr and "user:user-2" in result.stderr
    assert "deleted before" in result.stderr
