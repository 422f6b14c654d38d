"""A damaged journal segment AFTER the time asked for (session 5 try-out).

Seen: `restore --at T --dry-run` (and `diff --at T`) exited 6 because a journal segment whose records
were all observed after T was altered: nothing after T goes into the state at T, but the look-ahead that
warns when the capture was behind at T read it and failed. So one bad object written later blocked every
restore to an earlier, intact time, on the day it is needed. Now that look-ahead's failure is a warning
(naming the segment) and the restore goes on; a damaged segment at or before T still refuses (exit 6).
moto in-process; capture from CloudTrail-shaped events; damage written over the data object."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path

import boto3

from cognito_backup.aws.session import AwsContext
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository
from cognito_backup.store import open_store
from tests.capture_helpers import event_for
from tests.helpers import add_user, make_pool
from tests.test_pitr_cli import run, stamp


def damaged_after(tmp_path: Path) -> tuple[str, str, str, str]:
    """A pool backed up, T taken, then user-2 deleted and captured; the segment holding that deletion has
    its data altered. Returns (repo, pool, T, the damaged segment's key)."""
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="changes")["QueueUrl"]
    pool = make_pool(cognito)
    for i in range(3):
        add_user(cognito, pool, f"user-{i}", {"email": f"u{i}@example.com"})
    repo = str(tmp_path / "repo")
    assert run("backup", "--user-pool-id", pool, "--repo", repo, "--json").exit_code == 0
    at = stamp()
    gone = next(
        a["Value"]
        for a in cognito.admin_get_user(UserPoolId=pool, Username="user-2")["UserAttributes"]
        if a["Name"] == "sub"
    )
    cognito.admin_delete_user(UserPoolId=pool, Username="user-2")
    event = event_for("AdminDeleteUser", pool=pool, event_id="e1", when=dt.datetime.now(dt.UTC), sub=gone)
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    assert run("capture", "--repo", repo, "--queue", queue, "--json").exit_code == 0
    journal = Journal(Repository(open_store(repo, AwsContext())).store)
    [ref] = journal.list_segments(pool)
    assert ref.first_observed > at
    data = next((tmp_path / "repo" / "journal" / "objects").rglob(f"{journal.load_segment(ref).object.sha256}*"))
    raw = bytearray(data.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    data.write_bytes(bytes(raw))
    return repo, pool, at, ref.key


def test_a_damaged_segment_after_the_time_warns_and_the_restore_goes_on(aws: None, tmp_path: Path) -> None:
    repo, pool, at, key = damaged_after(tmp_path)
    result = run("restore", "--repo", repo, "--user-pool-id", pool, "--at", at, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["plan"]["counts"].get("create_user") == 1  # user-2, deleted after T, comes back
    assert any(key in w for w in body["warnings"]), body["warnings"]
    diff = run("diff", "--repo", repo, "--user-pool-id", pool, "--at", at, "--json")
    assert diff.exit_code == 1, diff.output  # user-2 differs; the damage after T is not in the way
    assert any(key in w for w in json.loads(diff.stdout)["warnings"])


def test_a_damaged_segment_the_time_needs_still_refuses(aws: None, tmp_path: Path) -> None:
    repo, pool, _, key = damaged_after(tmp_path)
    later = stamp()
    result = run(
        "restore", "--repo", repo, "--user-pool-id", pool, "--at", later, "--allow-after-coverage", "--dry-run"
    )
    assert result.exit_code == 6, result.output
    assert key in result.stderr
