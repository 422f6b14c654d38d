"""The deployed capture runs as several concurrent Lambda instances (the SQS event source mapping's
MaximumConcurrency), each with its own Pacer: together they must not take more than one capture's
share of the quotas (half of UserList: a backup running at the same time keeps the other half)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.test_deploy_template import TEMPLATE, load_template
from tests.test_pacing import FakeClock

REGION = "us-east-1"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text(encoding="utf-8"))


def test_each_capture_instance_paces_at_its_share_of_the_capture_quota() -> None:
    from cognito_backup.cli.journal_cmds import reader_factory

    client = boto3.client("cognito-idp", region_name=REGION)
    whole = reader_factory(client, ())("us-east-1_Pool1").pacer.rates
    shared = reader_factory(client, (), instances=10)("us-east-1_Pool1").pacer.rates
    assert shared["UserList"] == pytest.approx(whole["UserList"] / 10)  # 10 instances: 15/s in all, not 150
    assert shared["UserRead"] == pytest.approx(whole["UserRead"] / 10)


def test_the_capture_function_knows_how_many_instances_share_the_quota(template: dict[str, Any]) -> None:
    fn = template["Resources"]["CaptureFunction"]["Properties"]
    pollers = fn["Events"]["CaptureQueue"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert int(fn["Environment"]["Variables"]["COGNITO_BACKUP_CAPTURE_INSTANCES"]) == pollers
    # The scheduled caught-up check runs beside the pollers (it is not counted by MaximumConcurrency).
    assert "CaughtUpCheck" in fn["Events"]


def test_the_capture_handler_paces_at_its_instance_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cognito_backup.serverless import capture

    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(tmp_path / "repo"))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", "us-east-1_Pool1")
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_REGION", REGION)
    monkeypatch.setenv("COGNITO_BACKUP_CAPTURE_INSTANCES", "4")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(capture, "_runtime", {})
    capturer, _, _ = capture._components()
    rates = capturer.reader_for("us-east-1_Pool1").pacer.rates
    assert rates["UserList"] == pytest.approx(15 / 4)
    assert rates["UserRead"] == pytest.approx(120 / 4)


def _calls_without_waiting(pacer: Any, operation: str, clock: FakeClock, calls: int) -> int:
    """How many of `calls` calls, made at once by an idle instance, start without waiting."""
    started_at = clock.now
    immediate = 0
    for _ in range(calls):
        pacer.call(operation, lambda: None, pool_id="us-east-1_Pool1")
        if clock.now == started_at:
            immediate += 1
    return immediate


def test_a_pacer_burst_lets_an_idle_category_spend_that_many_seconds_of_its_rate_at_once() -> None:
    from cognito_backup.aws.pacing import Pacer

    fake = FakeClock()
    pacer = Pacer({"UserRead": 12.0}, burst={"UserRead": 1.0}, clock=fake, sleep=fake.sleep)
    assert _calls_without_waiting(pacer, "AdminGetUser", fake, 12) == 12  # one second of 12/s, at once
    pacer.call("AdminGetUser", lambda: None)
    assert fake.sleeps == [pytest.approx(1 / 12)]  # then the rate again
    for _ in range(11):
        pacer.call("AdminGetUser", lambda: None)
    # Over any interval T the category starts at most rate x (T + burst) calls: 24 calls in 1 s.
    assert fake.now == pytest.approx(1.0)
    fake.now += 0.5  # idle half a second: half the burst is back
    assert _calls_without_waiting(pacer, "AdminGetUser", fake, 12) == 6


def test_without_a_burst_calls_are_spaced_at_the_rate() -> None:
    from cognito_backup.aws.pacing import Pacer

    fake = FakeClock()
    pacer = Pacer({"UserRead": 12.0}, clock=fake, sleep=fake.sleep)
    assert _calls_without_waiting(pacer, "AdminGetUser", fake, 3) == 1
    assert fake.sleeps == [pytest.approx(1 / 12)] * 2


def test_a_capture_instance_starts_a_batchs_own_change_reads_at_once_within_one_second_of_the_quota() -> None:
    """Measured by bench/bench_capture_lambda.py: spaced at a tenth of UserRead (12/s), a batch of 10 users'
    own changes took 0.75 s of pacing alone, and 10 instances carried 82 changes/s, not 100. An idle instance
    may now spend one second of its share at once; the ten together burst at most one second of UserRead."""
    from cognito_backup.cli.journal_cmds import reader_factory

    client = boto3.client("cognito-idp", region_name=REGION)
    fake = FakeClock()
    pacer = reader_factory(client, (), instances=10)("us-east-1_Pool1").pacer
    pacer.clock, pacer.sleep = fake, fake.sleep
    at_once = _calls_without_waiting(pacer, "AdminGetUser", fake, 20)
    assert at_once >= 10  # a whole batch (the template's BatchSize) of users' own changes
    assert at_once * 10 <= 120  # ten instances: at most one second of the account's UserRead quota


def test_capture_instances_keep_listusers_spaced_so_a_backup_keeps_its_half_every_second() -> None:
    from cognito_backup.cli.journal_cmds import reader_factory

    client = boto3.client("cognito-idp", region_name=REGION)
    for instances in (1, 10):
        fake = FakeClock()
        pacer = reader_factory(client, (), instances=instances)("us-east-1_Pool1").pacer
        pacer.clock, pacer.sleep = fake, fake.sleep
        assert _calls_without_waiting(pacer, "ListUsers", fake, 3) == 1
        assert fake.sleeps == [pytest.approx(instances / 15)] * 2  # 15/s in all, spaced


def test_the_cli_capture_keeps_its_reads_spaced() -> None:
    """One capture process (`capture --follow`) streams its reads: spacing at 120/s costs it 8 ms a read."""
    from cognito_backup.cli.journal_cmds import reader_factory

    client = boto3.client("cognito-idp", region_name=REGION)
    fake = FakeClock()
    pacer = reader_factory(client, ())("us-east-1_Pool1").pacer
    pacer.clock, pacer.sleep = fake, fake.sleep
    assert _calls_without_waiting(pacer, "AdminGetUser", fake, 2) == 1


def test_the_capture_function_is_invoked_with_what_one_receive_brings(template: dict[str, Any]) -> None:
    """A batching window holds every change of a batch that is not full: measured with
    bench/bench_capture_lambda.py at 100 users' own changes/s, the template's 5 s window made p99 5.0 s
    (the last changes of a burst waited the whole window) and a 1 s window p99 1.25 s; none, 0.92 s.
    Batches still grow with the load (up to BatchSize): a busy queue returns up to 10 messages a receive."""
    source = template["Resources"]["CaptureFunction"]["Properties"]["Events"]["CaptureQueue"]["Properties"]
    assert source.get("MaximumBatchingWindowInSeconds", 0) == 0
    # Without a window Lambda invokes with one receive's messages: a BatchSize above 10 would need one.
    assert source["BatchSize"] <= 10
