"""Continuous capture and the warm standby as deployed: a CloudTrail-shaped Cognito event put on the
default bus -> the template's EventBridge rule -> the capture queue -> the capture Lambda (invoked with
the SQS batch as Lambda's event source mapping does) -> the journal; then the replicate Lambda applying
the journal to the standby pool, each call checked against the function's role."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.repo.journal import Journal
from cognito_backup.store.s3 import S3Store
from tests.capture_helpers import render
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.helpers import add_user, make_pool


def _put_on_bus(d: Deployed, event: dict[str, Any]) -> None:
    """What CloudTrail's delivery to EventBridge does: the event on the default bus."""
    answer = d.client("events").put_events(
        Entries=[{"Source": event["source"], "DetailType": event["detail-type"], "Detail": json.dumps(event["detail"])}]
    )
    assert answer["FailedEntryCount"] == 0


def _sub(cognito: Any, pool: str, username: str) -> str:
    attrs = cognito.admin_get_user(UserPoolId=pool, Username=username)["UserAttributes"]
    return str(next(a["Value"] for a in attrs if a["Name"] == "sub"))


def _journal(d: Deployed, pool: str) -> list[dict[str, Any]]:
    journal = Journal(S3Store(d.client("s3"), d.bucket, d.prefix, kms_key_id=d.kms_key_arn))
    return list(journal.iter_records(pool))


def _captured_change(url: str, lambdas: Lambdas, work: Path, *, standby: bool) -> tuple[Deployed, Any, str, str]:
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool = make_pool(cognito)
    add_user(cognito, pool, "existing", {"email": "existing@example.com"})
    params = {"UserPoolId": pool}
    standby_pool = ""
    if standby:
        standby_pool = make_pool(cognito, "standby")
        params["StandbyUserPoolId"] = standby_pool
    d = deploy_stack(url, lambdas, work, params)
    if standby:  # replication starts from a snapshot: the scheduled one
        assert d.wait_execution(d.start_scheduled_snapshot())["status"] == "SUCCEEDED"

    add_user(cognito, pool, "newcomer", {"email": "newcomer@example.com"})
    _put_on_bus(d, render("AdminCreateUser", pool=pool, sub=_sub(cognito, pool, "newcomer")))
    # Another pool's event: the rule's pattern drops it before the queue.
    _put_on_bus(d, render("AdminCreateUser", pool="us-east-1_OTHERPOOL"))

    delivered, answer = d.deliver_capture_batch()
    assert delivered == 1, "the rule delivers this pool's event, and only it"
    assert answer == {"batchItemFailures": []}
    return d, cognito, pool, standby_pool


def test_a_change_flows_through_the_rule_the_queue_and_capture_into_the_journal(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    d, _, pool, _ = _captured_change(url, lambdas, work, standby=False)

    records = _journal(d, pool)
    assert [(r["type"], r["key"], r["event_name"]) for r in records] == [("user_upsert", "newcomer", "AdminCreateUser")]
    # Acknowledged: the queue is empty (nothing comes back after the visibility timeout).
    attrs = d.client("sqs").get_queue_attributes(QueueUrl=d.stack.refs["CaptureQueue"], AttributeNames=["All"])
    assert attrs["Attributes"]["ApproximateNumberOfMessages"] == "0"
    assert attrs["Attributes"]["ApproximateNumberOfMessagesNotVisible"] == "0"
    assert d.denied() == []


def test_the_standby_follows_the_journal(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    d, cognito, _, standby = _captured_change(url, lambdas, work, standby=True)

    # EventBridge Scheduler's input to the replicate function is "{}".
    schedule = d.stack.resolve(d.stack.resource("ReplicateSchedule")["Properties"])
    result = d.function("ReplicateFunction").invoke(json.loads(schedule["Target"]["Input"]))

    assert d.denied() == [], d.denied()
    assert result.error is None, result.error
    users = {u["Username"] for u in cognito.list_users(UserPoolId=standby)["Users"]}
    assert users == {"existing", "newcomer"}


def test_a_malformed_event_is_reported_alone_and_ends_in_the_dead_letter_queue(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    """ReportBatchItemFailures and the queue's RedrivePolicy together: the good change of the batch is
    journaled and acknowledged; the malformed one comes back until maxReceiveCount, then sits in the DLQ
    (where CaptureDeadLetterAlarm sees it)."""
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool = make_pool(cognito)
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    add_user(cognito, pool, "newcomer", {"email": "newcomer@example.com"})
    _put_on_bus(d, render("AdminCreateUser", pool=pool, sub=_sub(cognito, pool, "newcomer")))
    malformed = render("AdminAddUserToGroup", pool=pool)
    del malformed["detail"]["requestParameters"]["groupName"]  # passes the rule, cannot be captured
    _put_on_bus(d, malformed)

    delivered, answer = d.deliver_capture_batch()

    assert delivered == 2
    assert len(answer["batchItemFailures"]) == 1
    assert [r["key"] for r in _journal(d, pool)] == ["newcomer"]
    redrive = d.stack.resolve(d.stack.resource("CaptureQueue")["Properties"])["RedrivePolicy"]
    receives = 1
    while True:
        d.elapse_visibility_timeout()
        count, _ = d.deliver_capture_batch(wait=0)
        if count == 0:
            break
        receives += 1
    assert receives == int(redrive["maxReceiveCount"])
    sqs = d.client("sqs")
    dlq = sqs.receive_message(QueueUrl=d.stack.refs["CaptureDeadLetterQueue"], WaitTimeSeconds=1)["Messages"]
    assert [json.loads(m["Body"])["detail"]["eventName"] for m in dlq] == ["AdminAddUserToGroup"]
    assert [r["key"] for r in _journal(d, pool)] == ["newcomer"]  # nothing recorded twice
