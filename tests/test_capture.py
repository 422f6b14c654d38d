"""Capture on moto: fixture events through SQS -> re-read -> journal; acks only after durability."""

from __future__ import annotations

import datetime as dt
import json
import threading
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.model import User
from cognito_backup.ops.capture import (
    BatchResult,
    CaptureOptions,
    Capturer,
    CaptureSummary,
    Message,
    SqsQueue,
    capture_batch,
    run_capture,
)
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import FailingStore, event_for, fast_readers, render
from tests.conftest import REGION
from tests.helpers import add_user, make_pool


@pytest.fixture
def env(aws: None, tmp_path: Path) -> dict[str, Any]:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    sqs = boto3.client("sqs", region_name=REGION)
    pool = make_pool(cognito)
    client_id = cognito.create_user_pool_client(UserPoolId=pool, ClientName="web")["UserPoolClient"]["ClientId"]
    cognito.create_group(UserPoolId=pool, GroupName="admins", Description="Administrators", Precedence=1)
    add_user(cognito, pool, "jane.doe", {"email": "jane@example.com", "custom:tier": "gold"})
    sub = User.from_api(cognito.admin_get_user(UserPoolId=pool, Username="jane.doe")).sub
    url = sqs.create_queue(QueueName="capture", Attributes={"VisibilityTimeout": "30"})["QueueUrl"]
    store = LocalStore(tmp_path / "repo")
    return {"cognito": cognito, "sqs": sqs, "pool": pool, "client": client_id, "sub": sub, "url": url, "store": store}


def capturer(env: dict[str, Any], **opts: Any) -> Capturer:
    return Capturer(fast_readers(env["cognito"]), CaptureOptions(default_pool_id=env["pool"], **opts))


def send(env: dict[str, Any], *events: Any) -> None:
    for event in events:
        body = event if isinstance(event, str) else json.dumps(event)
        env["sqs"].send_message(QueueUrl=env["url"], MessageBody=body)


def drain(env: dict[str, Any], store: Any = None, cap: Capturer | None = None) -> Any:
    return run_capture(
        SqsQueue(env["sqs"], env["url"]), cap or capturer(env), Journal(store or env["store"]), wait_seconds=0
    )


def queued(env: dict[str, Any]) -> int:
    names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
    attrs = env["sqs"].get_queue_attributes(QueueUrl=env["url"], AttributeNames=names)["Attributes"]
    return sum(int(attrs[n]) for n in names)


def current_image(env: dict[str, Any], username: str = "jane.doe") -> dict[str, Any]:
    found = env["cognito"].list_users(UserPoolId=env["pool"], Filter=f'username = "{username}"')["Users"]
    return User.from_api(found[0]).to_record()


def prepare(env: dict[str, Any], name: str) -> None:
    """Make the pool look as it would after the fixture's call."""
    c, pool = env["cognito"], env["pool"]
    if name in ("AdminDeleteUser", "DeleteUser"):
        c.admin_delete_user(UserPoolId=pool, Username="jane.doe")
    elif name == "AdminAddUserToGroup":
        c.admin_add_user_to_group(UserPoolId=pool, Username="jane.doe", GroupName="admins")
    elif name == "DeleteGroup":
        c.delete_group(UserPoolId=pool, GroupName="admins")
    elif name == "hosted_ui_Signup_POST":
        c.sign_up(
            ClientId=env["client"],
            Username="newbie",
            Password="Xx1!aaaaaaaaaaaa",
            UserAttributes=[{"Name": "email", "Value": "n@example.com"}],
        )


USER_UPSERT = [
    "AdminCreateUser",
    "AdminUpdateUserAttributes",
    "AdminDeleteUserAttributes",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminConfirmSignUp",
    "AdminSetUserPassword",
    "AdminResetUserPassword",
    "SignUp",
    "ConfirmSignUp",
    "UpdateUserAttributes",
    "VerifyUserAttribute",
    "hosted_ui_Confirm_POST",
]
CONFIG = [
    "UpdateUserPool",
    "AddCustomAttributes",
    "CreateUserPoolClient",
    "UpdateUserPoolClient",
    "DeleteUserPoolClient",
    "CreateIdentityProvider",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
]
NOTHING = ["hosted_ui_Login_GET", "AdminDeleteUser_failed", "InitiateAuth", "trigger_PreSignUp_SignUp"]


def expected_records(env: dict[str, Any], name: str) -> list[tuple[str, str | None, Any]]:
    """(type, key, after) the journal must hold after capturing fixture `name`."""
    if name in USER_UPSERT or name == "AdminUpdateUserAttributes_fully_redacted":
        return [("user_upsert", "jane.doe", current_image(env))]
    if name in ("AdminDeleteUser", "DeleteUser"):
        return [("user_delete", None, None)]
    if name in ("AdminAddUserToGroup", "AdminRemoveUserFromGroup"):
        groups = ["admins"] if name == "AdminAddUserToGroup" else []
        return [("user_upsert", "jane.doe", current_image(env)), ("user_groups", "jane.doe", {"groups": groups})]
    if name in ("CreateGroup", "UpdateGroup"):
        return [("group_upsert", "admins", "admins")]
    if name == "DeleteGroup":
        return [("group_delete", "admins", None)]
    if name in CONFIG:
        return [("config_changed", None, env["pool"])]
    if name == "hosted_ui_Signup_POST":
        return [("user_upsert", "newbie", current_image(env, "newbie"))]
    if name.startswith("trigger_PostConfirmation"):
        return [("user_upsert", "jane.doe", None)]
    assert name in NOTHING
    return []


ALL = (
    USER_UPSERT
    + CONFIG
    + NOTHING
    + [
        "AdminDeleteUser",
        "DeleteUser",
        "AdminAddUserToGroup",
        "AdminRemoveUserFromGroup",
        "CreateGroup",
        "UpdateGroup",
        "DeleteGroup",
        "hosted_ui_Signup_POST",
        "AdminUpdateUserAttributes_fully_redacted",
        "trigger_PostConfirmation_ConfirmSignUp",
        "trigger_PostConfirmation_ConfirmForgotPassword",
    ]
)


def test_all_fixtures_are_exercised() -> None:
    from tests.test_events import EXPECTED

    assert set(ALL) == set(EXPECTED)


@pytest.mark.parametrize("name", ALL)
def test_each_event_shape_produces_the_right_record(env: dict[str, Any], name: str) -> None:
    prepare(env, name)
    send(env, render(name, pool=env["pool"], sub=env["sub"], client=env["client"]))
    summary = drain(env)
    assert summary.messages == 1 and summary.deleted == 1 and summary.failed == 0
    assert queued(env) == 0
    records = list(Journal(env["store"]).iter_records(env["pool"]))
    got = [(r["type"], r["key"]) for r in records]
    want = expected_records(env, name)
    assert got == [(t, k) for t, k, _ in want]
    for r, (_, _, after) in zip(records, want, strict=True):
        assert r["pool"] == env["pool"] and r["event_id"]
        if r["type"] == "user_upsert":
            if after is not None:
                assert r["after"] == after
            assert r["sub"] == r["after"]["attributes"]["sub"]
        elif r["type"] == "user_delete":
            assert r["sub"] == env["sub"]
        elif r["type"] == "user_groups":
            assert r["after"] == after
        elif r["type"] == "group_upsert":
            assert r["after"]["name"] == after and r["after"]["description"] == "Administrators"
        elif r["type"] == "config_changed":
            assert r["after"]["user_pool"]["Id"] == after


def test_user_side_call_of_another_pools_client_is_ignored(env: dict[str, Any]) -> None:
    send(env, render("SignUp", pool=env["pool"], sub=env["sub"], client="someoneelsesclient000000000"))
    summary = drain(env)
    assert (summary.deleted, summary.records, summary.ignored) == (1, 0, 1)


def test_store_down_nothing_is_deleted_and_nothing_lost(env: dict[str, Any]) -> None:
    events = [
        render(n, pool=env["pool"], sub=env["sub"]) for n in ("AdminDisableUser", "CreateGroup", "UpdateUserPool")
    ]
    send(env, *events)
    # No visibility timeout, so that the retry below sees the messages again at once.
    env["sqs"].set_queue_attributes(QueueUrl=env["url"], Attributes={"VisibilityTimeout": "0"})
    failing = FailingStore(env["store"])
    summary = drain(env, store=failing)
    assert failing.failed_writes >= 1
    # (the queue has no visibility timeout: the drain sees the failing messages again, then stops)
    assert summary.deleted == 0 and summary.failed >= 3 and summary.records == 0
    assert queued(env) == 3
    assert all("journal write failed" in why for why in summary.failures.values())
    # The store is back: the same messages are captured and only then deleted.
    again = drain(env)
    assert (again.deleted, again.records) == (3, 3)
    assert queued(env) == 0


def test_poison_message_stays_for_the_dlq_and_the_rest_goes_through(env: dict[str, Any]) -> None:
    send(env, "this is not an event", render("AdminEnableUser", pool=env["pool"], sub=env["sub"]))
    summary = drain(env)
    assert (summary.poison, summary.deleted, summary.records) == (1, 1, 1)
    assert queued(env) == 1
    assert list(summary.failures.values()) == ["message body is not JSON"]


def test_duplicates_in_a_batch_are_read_once(env: dict[str, Any]) -> None:
    event = render("AdminDisableUser", pool=env["pool"], sub=env["sub"])
    send(env, event, event, event)
    summary = drain(env)
    assert (summary.messages, summary.deleted, summary.records) == (3, 3, 1)


def test_user_not_yet_visible_is_retried_then_believed_gone(env: dict[str, Any]) -> None:
    now = [dt.datetime.now(dt.UTC)]
    cap = Capturer(fast_readers(env["cognito"]), CaptureOptions(default_pool_id=env["pool"]), clock=lambda: now[0])
    event = event_for("AdminCreateUser", pool=env["pool"], event_id="e-new", when=now[0], sub="0000-not-there")
    msg = Message(id="m1", body=json.dumps(event))
    journal = Journal(env["store"])
    first = capture_batch(cap, journal, [msg])
    assert first.deferred == ["m1"] and first.done == [] and first.records == 0
    now[0] += dt.timedelta(seconds=60)
    second = capture_batch(cap, journal, [msg])
    assert [m.id for m in second.done] == ["m1"]
    assert [r["type"] for r in journal.iter_records(env["pool"])] == ["user_delete"]


def test_follow_stops_cleanly_after_the_current_batch(env: dict[str, Any]) -> None:
    send(env, *[render("AdminDisableUser", pool=env["pool"], sub=env["sub"]) for _ in range(3)])
    stop = threading.Event()
    batches: list[int] = []

    def on_batch(result: BatchResult, total: CaptureSummary) -> None:
        batches.append(result.messages)
        stop.set()  # as SIGTERM would, while a batch is in hand

    summary = run_capture(
        SqsQueue(env["sqs"], env["url"]),
        capturer(env),
        Journal(env["store"]),
        follow=True,
        stop=stop,
        wait_seconds=0,
        on_batch=on_batch,
    )
    assert batches == [3] and summary.deleted == 3 and queued(env) == 0
    assert summary.lag_seconds is not None and summary.lag_seconds >= 0


def test_lambda_capture_handler_reports_partial_failures(env: dict[str, Any], monkeypatch: pytest.MonkeyPatch) -> None:
    from cognito_backup.serverless import capture as lambda_capture

    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(env["store"].root))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", env["pool"])
    good = render("AdminDisableUser", pool=env["pool"], sub=env["sub"])
    event = {
        "Records": [
            {"messageId": "ok-1", "body": json.dumps(good), "attributes": {"SentTimestamp": "1795256105123"}},
            {"messageId": "bad-1", "body": "{", "attributes": {}},
            {
                "messageId": "other-pool",
                "body": json.dumps(render("AdminDisableUser", pool="us-east-1_Other", sub=env["sub"])),
            },
        ]
    }
    assert lambda_capture.handler(event, None) == {"batchItemFailures": [{"itemIdentifier": "bad-1"}]}
    assert [r["type"] for r in Journal(env["store"]).iter_records(env["pool"])] == ["user_upsert"]


def test_cli_capture_json(env: dict[str, Any]) -> None:
    from click.testing import CliRunner

    from cognito_backup.cli.main import cli

    send(env, render("AdminDisableUser", pool=env["pool"], sub=env["sub"]), "garbage")
    result = CliRunner().invoke(cli, ["capture", "--repo", str(env["store"].root), "--queue", env["url"], "--json"])
    assert result.exit_code == 1, result.output  # the garbage message could not be journaled
    out = json.loads(result.output)
    assert {k: out[k] for k in ("messages", "records", "deleted", "failed")} == {
        "messages": 2,
        "records": 1,
        "deleted": 1,
        "failed": 1,
    }
    assert "lag_seconds" in out
