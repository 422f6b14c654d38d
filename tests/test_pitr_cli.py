"""Point in time from the command line: backup, changes captured from events, `restore --at`, `diff --at`."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.capture_helpers import event_for
from tests.helpers import add_user, make_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def sub_of(client: Any, pool: str, username: str) -> str:
    user = client.admin_get_user(UserPoolId=pool, Username=username)
    return next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")


def stamp() -> str:
    time.sleep(0.01)  # strictly between the records around it
    moment = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.01)
    return moment


def test_restore_at_a_time_then_diff_at_that_time(aws: None, tmp_path: Path) -> None:
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="changes")["QueueUrl"]
    pool = make_pool(cognito)
    for i in range(5):
        add_user(cognito, pool, f"user-{i}", {"email": f"u{i}@example.com", "custom:tier": "gold"})
    cognito.create_group(UserPoolId=pool, GroupName="admins", Precedence=1)
    repo = str(tmp_path / "repo")
    assert run("backup", "--user-pool-id", pool, "--repo", repo, "--json").exit_code == 0
    before = stamp()

    # Changes after the snapshot, each announced by its (redacted) CloudTrail event.
    gone_sub = sub_of(cognito, pool, "user-2")
    cognito.admin_delete_user(UserPoolId=pool, Username="user-2")
    cognito.admin_disable_user(UserPoolId=pool, Username="user-1")
    add_user(cognito, pool, "user-9", {"email": "u9@example.com"})
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="user-9", GroupName="admins")
    now = dt.datetime.now(dt.UTC)
    events = [
        event_for("AdminDeleteUser", pool=pool, event_id="e1", when=now, sub=gone_sub),
        event_for("AdminDisableUser", pool=pool, event_id="e2", when=now, sub=sub_of(cognito, pool, "user-1")),
        event_for("AdminCreateUser", pool=pool, event_id="e3", when=now, sub=sub_of(cognito, pool, "user-9")),
        event_for("AdminAddUserToGroup", pool=pool, event_id="e4", when=now, username="user-9", group="admins"),
    ]
    for event in events:
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    captured = run("capture", "--repo", repo, "--queue", queue, "--json")
    assert captured.exit_code == 0, captured.output
    assert json.loads(captured.output)["records"] >= 4
    after = stamp()
    # A poll of the (now empty) queue records that capture has caught up past `after`.
    assert run("capture", "--repo", repo, "--queue", queue, "--json").exit_code == 0

    restored = run(
        "restore",
        "--repo",
        repo,
        "--at",
        after,
        "--new-pool",
        "at-after",
        "--json",
        "--report-dir",
        str(tmp_path / "reports"),
    )
    assert restored.exit_code == 0, restored.output
    new_pool = json.loads(restored.output)["user_pool_id"]
    users = {u["Username"]: u for u in cognito.list_users(UserPoolId=new_pool)["Users"]}
    assert set(users) == {"user-0", "user-1", "user-3", "user-4", "user-9"}
    assert users["user-1"]["Enabled"] is False
    members = cognito.list_users_in_group(UserPoolId=new_pool, GroupName="admins")["Users"]
    assert [m["Username"] for m in members] == ["user-9"]

    same = run("diff", "--repo", repo, "--at", after, "--user-pool-id", new_pool, "--source-user-pool-id", pool)
    assert same.exit_code == 0, same.output
    earlier = run(
        "diff", "--repo", repo, "--at", before, "--user-pool-id", new_pool, "--source-user-pool-id", pool, "--json"
    )
    assert earlier.exit_code == 1
    names = {d["name"] for d in json.loads(earlier.output)["differences"]}
    assert {"user-2", "user-9"} <= names
    both = run("restore", "--repo", repo, "--at", after, "--snapshot", "x", "--new-pool", "y")
    assert both.exit_code == 2
    bad = run("restore", "--repo", repo, "--at", "yesterday", "--new-pool", "y")
    assert bad.exit_code == 2 and "ISO-8601" in bad.output
    checked = json.loads(run("check", "--repo", repo, "--read-data", "--json").output)
    assert checked["ok"] is True and checked["journal_segments"] >= 1
    snaps = json.loads(run("snapshots", "--repo", repo, "--json").output)
    assert snaps[0]["restorable_to"] > before  # the journal extends what the snapshot reaches
