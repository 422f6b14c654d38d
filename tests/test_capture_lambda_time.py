"""The capture Lambda answers within its time whatever Cognito does, and a batch cut short loses nothing.

Lambda ends an invocation that overruns the function's Timeout: the whole batch comes back (no
`batchItemFailures`), and after `maxReceiveCount` receives (5) a message ends in the dead-letter queue,
its change never journaled. So an instance that Cognito throttles must give up the throttled reads in
time, report only their messages failed, and journal the rest of the batch. Faults are injected below
botocore (tests/http_faults.py); the Lambda context is a double of the documented
`get_remaining_time_in_millis`.
"""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.model import User
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import render
from tests.conftest import REGION
from tests.helpers import add_user, make_pool
from tests.http_faults import HttpFaults, every_new_client, throttle
from tests.test_pacing import FakeClock
from tests.test_pacing import throttle as throttled_error


class LambdaContext:
    """Double of the Lambda context object: the time left of an invocation given `seconds`."""

    def __init__(self, seconds: float) -> None:
        self.deadline = time.monotonic() + seconds

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self.deadline - time.monotonic()) * 1000))


@pytest.fixture
def deployed(aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Any]:
    from cognito_backup.serverless import capture

    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = make_pool(cognito)
    cognito.create_group(UserPoolId=pool, GroupName="admins", Description="Administrators")
    add_user(cognito, pool, "jane.doe", {"email": "jane@example.com"})
    sub = User.from_api(cognito.admin_get_user(UserPoolId=pool, Username="jane.doe")).sub
    store = LocalStore(tmp_path / "repo")
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(store.root))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", pool)
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_REGION", REGION)
    monkeypatch.setenv("COGNITO_BACKUP_CAPTURE_INSTANCES", "10")
    monkeypatch.setattr(capture, "_runtime", {})  # a cold instance
    return {"pool": pool, "sub": sub, "store": store, "handler": capture.handler}


def _record(mid: str, event: dict[str, Any]) -> dict[str, Any]:
    return {"messageId": mid, "body": json.dumps(event), "attributes": {"SentTimestamp": "1795256105123"}}


def _invoke(handler: Any, event: dict[str, Any], context: LambdaContext, limit: float) -> dict[str, Any] | None:
    """The handler's answer, or None when it had none after `limit` seconds (Lambda would have ended it)."""
    answer: list[dict[str, Any]] = []
    worker = threading.Thread(target=lambda: answer.append(handler(event, context)), daemon=True)
    worker.start()
    worker.join(limit)
    return answer[0] if answer else None


def test_a_throttled_instance_answers_in_time_and_journals_the_rest_of_its_batch(deployed: dict[str, Any]) -> None:
    pool, sub = deployed["pool"], deployed["sub"]
    batch = {
        "Records": [
            _record("user-change", render("AdminDisableUser", pool=pool, sub=sub)),  # ListUsers: throttled
            _record("group-change", render("UpdateGroup", pool=pool)),  # GetGroup: answered
        ]
    }
    lifted = threading.Event()
    faults = HttpFaults(lambda op, _: throttle() if op == "ListUsers" and not lifted.is_set() else None)
    with every_new_client(faults):  # the handler's own clients, built at its cold start
        began = time.monotonic()
        answer = _invoke(deployed["handler"], batch, LambdaContext(8.0), limit=8.0)
        assert answer is not None, "the invocation overran its 8 s: Lambda would send the whole batch back"
        assert time.monotonic() - began < 8.0
        assert answer == {"batchItemFailures": [{"itemIdentifier": "user-change"}]}
        assert faults.injected["ListUsers"] >= 2  # it was retried before it gave up
        journal = Journal(deployed["store"])
        assert [r["type"] for r in journal.iter_records(pool)] == ["group_upsert"]

        # The failed message comes back after the visibility timeout, Cognito answering again.
        lifted.set()
        again = {"Records": [_record("user-change", render("AdminDisableUser", pool=pool, sub=sub))]}
        assert _invoke(deployed["handler"], again, LambdaContext(8.0), limit=8.0) == {"batchItemFailures": []}
    records = list(Journal(deployed["store"]).iter_records(pool))
    assert sorted(r["type"] for r in records) == ["group_upsert", "user_upsert"]  # each change once
    assert [r["after"]["enabled"] for r in records if r["type"] == "user_upsert"] == [True]


def test_a_pacer_retries_a_throttled_call_until_its_give_up_time_only() -> None:
    from cognito_backup.aws.pacing import Pacer
    from cognito_backup.errors import Throttled

    clock = FakeClock()
    pacer = Pacer({"UserList": 1.5}, clock=clock, sleep=clock.sleep, rng=lambda: 0.5)
    pacer.give_up_at = 5.0
    attempts = []

    def throttled() -> None:
        attempts.append(clock.now)
        raise throttled_error()

    with pytest.raises(Throttled, match="ran out"):
        pacer.call("ListUsers", throttled)
    assert len(attempts) >= 3 and clock.now <= 5.0 + 1 / 1.5  # at most one slot past the time given
    pacer.give_up_at = None  # no deadline: only max_throttle_wait (900 s) ends the retries
    with pytest.raises(Throttled):
        pacer.call("ListUsers", throttled)
    assert clock.now > 600  # minutes of retries, far past any Lambda timeout


def test_the_throttle_budget_leaves_half_the_invocation_for_the_journal() -> None:
    from cognito_backup.serverless.capture import TIMEOUT_SECONDS, throttle_budget

    assert throttle_budget(TIMEOUT_SECONDS) == 60.0
    assert throttle_budget(8.0) == 4.0
    assert throttle_budget(-1.0) == 0.0


class InstanceEnded(BaseException):
    """The instance's process ending at that instant (Lambda's timeout): nothing in the handler catches it."""


@pytest.mark.parametrize(
    ("where", "attempt", "observations"),
    [
        ("ListUsers", 1, 1),  # re-reading the user: nothing of the batch is in the journal
        ("PutObject", 2, 1),  # writing the segment (its records object is stored): still no segment
        ("ListObjectsV2", 1, 2),  # after the segment (looking for rescans): durable, but not answered
    ],
)
def test_an_invocation_ended_mid_batch_loses_nothing_and_journals_no_record_twice_over(
    deployed: dict[str, Any], monkeypatch: pytest.MonkeyPatch, where: str, attempt: int, observations: int
) -> None:
    """Lambda ends an invocation that overruns its Timeout: no answer, so the whole batch comes back. Ended
    before its segment is stored, the batch leaves nothing in the journal; ended after, the change is
    observed again when the batch comes back: two observations of the same state, which the fold applies as
    one (the newest observation of each user wins; docs/capture.md "Record semantics")."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket="repo")
    monkeypatch.setenv("COGNITO_BACKUP_REPO", "s3://repo/backups")
    pool, sub = deployed["pool"], deployed["sub"]
    batch = {"Records": [_record("user-change", render("AdminDisableUser", pool=pool, sub=sub))]}
    armed = threading.Event()
    armed.set()

    def plan(operation: str, n: int) -> Any:
        from tests.http_faults import Fault

        if armed.is_set() and operation == where and n == attempt:
            return Fault(0, exception=InstanceEnded())
        return None

    faults = HttpFaults(plan)
    with every_new_client(faults):
        with pytest.raises(InstanceEnded):
            deployed["handler"](batch, LambdaContext(8.0))
        armed.clear()
        # The batch comes back after the visibility timeout, to a new instance (the old one ended).
        from cognito_backup.serverless import capture

        monkeypatch.setattr(capture, "_runtime", {})
        assert deployed["handler"](batch, LambdaContext(8.0)) == {"batchItemFailures": []}
    from cognito_backup.store.s3 import S3Store

    records = list(Journal(S3Store(s3, "repo", "backups")).iter_records(pool))
    assert [r["type"] for r in records] == ["user_upsert"] * observations
    assert {r["sub"] for r in records} == {sub}
    assert len({json.dumps(r["after"], sort_keys=True) for r in records}) == 1  # the same state observed


def test_the_handlers_default_time_is_the_functions_timeout() -> None:
    """Without a context (a local run) the handler assumes the template's Timeout."""
    from cognito_backup.serverless.capture import TIMEOUT_SECONDS
    from tests.test_deploy_template import TEMPLATE, load_template

    fn = load_template(TEMPLATE.read_text(encoding="utf-8"))["Resources"]["CaptureFunction"]["Properties"]
    assert float(fn["Timeout"]) == TIMEOUT_SECONDS
