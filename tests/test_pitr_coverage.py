"""Plans that cannot work are refused before anything is written (issue 8, point 6), against moto
in-process through the CLI: `--at` past what the repository knows exactly (exit 8 unless
--allow-after-coverage, the known second always said), capture's caught-up marker covering a quiet
pool, a warning for `--at` inside a capture backlog, `--at` with `--snapshot` (exit 2), and custom
attribute conflicts (exit 8)."""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.ops.capture import caught_up_time
from cognito_backup.repo.journal import Journal, journal_check
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for
from tests.helpers import add_user, make_pool

POOL = "us-east-1_Quiet"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def stamp() -> str:
    time.sleep(0.01)
    moment = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    time.sleep(0.01)
    return moment


def second(value: str) -> str:
    return value[:19] + "Z"


def setup(tmp_path: Path) -> tuple[Any, Any, str, str, str]:
    cognito = boto3.client("cognito-idp", region_name="us-east-1")
    sqs = boto3.client("sqs", region_name="us-east-1")
    queue = sqs.create_queue(QueueName="changes")["QueueUrl"]
    pool = make_pool(cognito)
    for name in ("ann", "ben"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com", "email_verified": "true"}, confirmed=True)
    repo = str(tmp_path / "repo")
    assert run("backup", "--user-pool-id", pool, "--repo", repo, "--json").exit_code == 0
    return cognito, sqs, queue, pool, repo


def test_at_past_the_snapshot_without_a_journal_is_refused_naming_the_known_second(aws: None, tmp_path: Path) -> None:
    cognito, _, _, pool, repo = setup(tmp_path)
    finished = json.loads(run("snapshots", "--repo", repo, "--json").stdout)[0]["finished_at"]
    later = stamp()
    reports = tmp_path / "reports"
    refused = run("restore", "--repo", repo, "--at", later, "--new-pool", "B", "--report-dir", str(reports))
    assert refused.exit_code == 8, refused.output
    assert f"known exactly until {second(finished)}" in refused.output
    assert "--allow-after-coverage" in refused.output
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == 1 and not reports.exists()

    as_json = run("diff", "--repo", repo, "--at", later, "--user-pool-id", pool, "--json")
    assert as_json.exit_code == 8
    assert json.loads(as_json.stdout)["error"]["kind"] == "plan_refused"

    allowed = run("restore", "--repo", repo, "--at", later, "--new-pool", "B", "--allow-after-coverage", "--json",
                  "--report-dir", str(reports))  # fmt: skip
    assert allowed.exit_code == 0, allowed.output
    body = json.loads(allowed.stdout)
    assert body["known_exactly_until"] == finished
    assert any("known exactly until" in w and second(later) in w for w in body["warnings"])


def test_a_quiet_pool_is_covered_up_to_the_last_capture_poll(aws: None, tmp_path: Path) -> None:
    _, _, queue, pool, repo = setup(tmp_path)
    quiet = stamp()  # nothing changes in the pool after the backup
    captured = run("capture", "--repo", repo, "--queue", queue, "--json")
    assert captured.exit_code == 0, captured.output
    marker = json.loads(captured.stdout)["caught_up_to"]
    assert marker is not None and marker > quiet
    assert Journal(LocalStore(repo)).caught_up(pool) == marker

    result = run("diff", "--repo", repo, "--at", quiet, "--user-pool-id", pool, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["known_exactly_until"] == marker and body["equal"] is True
    text = run("diff", "--repo", repo, "--at", quiet, "--user-pool-id", pool)
    assert f"State known exactly until {second(marker)}" in text.output
    snaps = json.loads(run("snapshots", "--repo", repo, "--json").stdout)
    assert snaps[0]["restorable_to"] == marker
    assert journal_check(LocalStore(repo), read_data=True) == []  # the marker is a known key


def test_at_inside_a_capture_backlog_warns_naming_that_second(aws: None, tmp_path: Path) -> None:
    cognito, sqs, queue, pool, repo = setup(tmp_path)
    cognito.admin_disable_user(UserPoolId=pool, Username="ann")
    changed = dt.datetime.now(dt.UTC)
    sub = next(
        a["Value"]
        for a in cognito.admin_get_user(UserPoolId=pool, Username="ann")["UserAttributes"]
        if a["Name"] == "sub"
    )
    sqs.send_message(
        QueueUrl=queue,
        MessageBody=json.dumps(event_for("AdminDisableUser", pool=pool, event_id="e1", when=changed, sub=sub)),
    )
    behind = stamp()  # the change is made, its event waits in the queue: the capture is behind
    assert run("capture", "--repo", repo, "--queue", queue, "--json").exit_code == 0
    result = run("restore", "--repo", repo, "--at", behind, "--new-pool", "B", "--json",
                 "--report-dir", str(tmp_path / "reports"))  # fmt: skip
    assert result.exit_code == 0, result.output
    warnings = json.loads(result.stdout)["warnings"]
    assert any("capture was behind" in w and second(behind) in w for w in warnings)
    diffed = run("diff", "--repo", repo, "--at", behind, "--user-pool-id", pool)
    assert "capture was behind" in diffed.output and second(behind) in diffed.output


def test_at_with_snapshot_is_a_usage_error_even_latest(aws: None, tmp_path: Path) -> None:
    _, _, _, pool, repo = setup(tmp_path)
    moment = stamp()
    for command in (
        ("restore", "--repo", repo, "--at", moment, "--snapshot", "latest", "--new-pool", "B"),
        ("diff", "--repo", repo, "--at", moment, "--snapshot", "latest", "--user-pool-id", pool),
    ):
        result = run(*command)
        assert result.exit_code == 2, result.output
        assert "--snapshot or --at" in result.output


def test_custom_attribute_conflict_exits_8_naming_it_and_writes_nothing(aws: None, tmp_path: Path) -> None:
    cognito, _, _, source, repo = setup(tmp_path)
    target = str(
        cognito.create_user_pool(
            PoolName="other",
            Schema=[
                {"Name": "score", "AttributeDataType": "String", "Mutable": True},  # Number in the snapshot
                {"Name": "tier", "AttributeDataType": "String", "Mutable": False},  # mutable in the snapshot
            ],
        )["UserPool"]["Id"]
    )
    result = run(
        "restore",
        *("--repo", repo, "--source-user-pool-id", source, "--user-pool-id", target),
        *("--report-dir", str(tmp_path / "r")),
    )
    assert result.exit_code == 8, result.output
    assert "custom:score is Number in the snapshot but String in the target" in result.output
    assert "custom:tier is mutable in the snapshot but immutable in the target" in result.output
    assert cognito.list_users(UserPoolId=target)["Users"] == []


def test_caught_up_time_never_passes_a_message_still_waiting() -> None:
    t0 = dt.datetime(2026, 11, 21, 10, 0, 0, tzinfo=dt.UTC)
    assert caught_up_time(t0, []) == t0
    assert caught_up_time(t0, [t0 + dt.timedelta(seconds=5)]) == t0
    waiting = t0 - dt.timedelta(seconds=30)
    assert caught_up_time(t0, [t0, waiting]) == waiting - dt.timedelta(microseconds=1)


def test_marker_round_trip_and_a_damaged_marker_is_named_by_check(tmp_path: Path) -> None:
    store = LocalStore(str(tmp_path / "repo"))
    journal = Journal(store)
    assert journal.caught_up(POOL) is None
    journal.mark_caught_up(POOL, dt.datetime(2026, 11, 21, 10, 0, 0, 5, tzinfo=dt.UTC))
    journal.mark_caught_up(POOL, dt.datetime(2026, 11, 21, 10, 0, 1, tzinfo=dt.UTC))  # overwritten
    assert journal.caught_up(POOL) == "2026-11-21T10:00:01.000000Z"
    assert journal.list_segments(POOL) == [] and journal_check(store) == []
    store.put_bytes(f"journal/{POOL}/caught-up", b"{not json")
    problems = journal_check(store)
    assert len(problems) == 1 and "caught-up marker" in problems[0]


def test_lambda_scheduled_check_marks_a_drained_queue_only(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The capture Lambda never sees an empty queue: a scheduled invocation checks the queue's counts."""
    from cognito_backup.serverless import capture as lambda_capture

    sqs = boto3.client("sqs", region_name="us-east-1")
    url = sqs.create_queue(QueueName="lambda-changes")["QueueUrl"]
    repo = tmp_path / "lambda-repo"
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(repo))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", POOL)
    monkeypatch.setenv("COGNITO_BACKUP_CAPTURE_QUEUE_URL", url)
    before = dt.datetime.now(dt.UTC)
    out = lambda_capture.handler({"caught_up_check": True}, None)
    marker = out["caught_up_to"]
    assert marker is not None
    # SQS counts settle within about a minute: the marker stays behind the check by SQS_COUNTS_SETTLE.
    assert marker <= (before - dt.timedelta(minutes=1)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    journal = Journal(LocalStore(str(repo)))
    assert journal.caught_up(POOL) == marker

    sqs.send_message(QueueUrl=url, MessageBody="{}")
    assert lambda_capture.handler({"caught_up_check": True}, None) == {"caught_up_to": None}
    assert journal.caught_up(POOL) == marker  # a queue with messages moves nothing


def test_template_schedules_the_caught_up_check() -> None:
    from tests.test_deploy_template import TEMPLATE, load_template

    fn = load_template(TEMPLATE.read_text())["Resources"]["CaptureFunction"]["Properties"]
    check = fn["Events"]["CaughtUpCheck"]
    assert check["Type"] == "Schedule"
    assert json.loads(check["Properties"]["Input"]) == {"caught_up_check": True}
    assert fn["Environment"]["Variables"]["COGNITO_BACKUP_CAPTURE_QUEUE_URL"] == {"Ref": "CaptureQueue"}


def test_at_while_the_only_snapshot_was_being_taken_warns(aws: None, tmp_path: Path) -> None:
    from cognito_backup.ops.pitr import select_desired
    from cognito_backup.repo.repository import Repository, parse_time

    _, _, _, _, repo_path = setup(tmp_path)
    repo = Repository(LocalStore(repo_path))
    snap = repo.list_snapshots()[0]
    start, end = parse_time(snap.started_at), parse_time(snap.finished_at)
    resolved = select_desired(repo, at=start + (end - start) / 2)
    assert resolved.known_exactly_until == snap.finished_at
    assert any("still being taken" in w and snap.id in w for w in resolved.warnings)
    assert select_desired(repo, at=end).warnings == ()


def test_a_message_waiting_to_be_captured_holds_the_marker_before_its_send_time(aws: None, tmp_path: Path) -> None:
    _, sqs, queue, pool, repo = setup(tmp_path)
    sent_after = dt.datetime.now(dt.UTC) - dt.timedelta(milliseconds=1)  # SentTimestamp has milliseconds
    # A create whose user ListUsers does not show yet: deferred (it comes back after its visibility timeout).
    event = event_for("AdminCreateUser", pool=pool, event_id="e1", when=dt.datetime.now(dt.UTC), sub="not-yet")
    sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    sent_before = stamp()
    captured = run("capture", "--repo", repo, "--queue", queue, "--json")
    body = json.loads(captured.stdout)
    assert body["deferred"] == 1
    marker = body["caught_up_to"]
    assert marker is not None and marker < sent_before  # not the later poll's start: the message holds it
    assert marker >= sent_after.strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    refused = run("diff", "--repo", repo, "--at", stamp(), "--user-pool-id", pool)
    assert refused.exit_code == 8 and f"known exactly until {second(marker)}" in refused.output
