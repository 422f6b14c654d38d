"""One retry layer for Cognito: the pacer sees, paces and counts every HTTP attempt (issue #9, point 1).

Faults are answered below botocore's retry layer (tests/http_faults.py), so botocore's own retries,
if any were left, would show up as extra HTTP attempts.
"""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError, EndpointConnectionError

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.session import AwsContext
from cognito_backup.errors import Throttled
from tests.http_faults import Fault, HttpFaults, internal_error, throttle

REGION = "us-east-1"


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def paced(aws: None) -> tuple[Any, Pacer, str]:
    client = AwsContext(region=REGION).client("cognito-idp")
    pool_id = client.create_user_pool(PoolName="p")["UserPool"]["Id"]
    clock = FakeClock()
    return client, Pacer(clock=clock, sleep=clock.sleep, rng=lambda: 0.5, max_throttle_wait=60), pool_id


def _faults(client: Any, plan: Any) -> HttpFaults:
    faults = HttpFaults(plan)
    faults.install(client)
    return faults


def test_a_throttled_paced_call_is_one_quota_hit_per_attempt_and_the_pacer_sees_each(paced: Any) -> None:
    client, pacer, pool_id = paced
    faults = _faults(client, lambda op, n: throttle() if op == "ListUsers" and n <= 2 else None)
    pacer.call("ListUsers", client.list_users, UserPoolId=pool_id)
    # Two throttled attempts and a third that succeeds: three HTTP attempts, all made by the pacer.
    assert faults.attempts["ListUsers"] == 3
    stats = pacer.summary()["UserList"]
    assert (stats["calls"], stats["throttled"], stats["succeeded"]) == (3, 2, 1)


def test_throttling_to_the_end_fails_throttled_after_exactly_the_pacers_attempts(paced: Any) -> None:
    client, pacer, pool_id = paced
    faults = _faults(client, lambda op, n: throttle() if op == "ListUsers" else None)
    with pytest.raises(Throttled) as err:
        pacer.call("ListUsers", client.list_users, UserPoolId=pool_id)
    assert err.value.exit_code == 5
    stats = pacer.summary()["UserList"]
    assert faults.attempts["ListUsers"] == stats["calls"] == stats["throttled"] > 1
    assert pacer._buckets["UserList"].rate < pacer.rates["UserList"]  # it slowed down


def test_limit_exceeded_is_never_retried_below_the_pacer(paced: Any) -> None:
    # Cognito's LimitExceededException is a resource limit (too many groups, domains...), not a rate:
    # botocore's standard mode would retry it as throttling.
    client, pacer, pool_id = paced
    faults = _faults(client, lambda op, n: Fault(400, "LimitExceededException") if op == "CreateGroup" else None)
    with pytest.raises(ClientError):
        pacer.call("CreateGroup", client.create_group, pool_id=pool_id, UserPoolId=pool_id, GroupName="g")
    assert faults.attempts["CreateGroup"] == 1


def test_a_5xx_is_retried_a_bounded_counted_number_of_times(paced: Any) -> None:
    client, pacer, pool_id = paced
    faults = _faults(client, lambda op, n: internal_error() if op == "ListUsers" and n == 1 else None)
    pacer.call("ListUsers", client.list_users, UserPoolId=pool_id)
    assert faults.attempts["ListUsers"] == 2
    assert pacer.summary()["UserList"]["retried"] == 1
    assert pacer._buckets["UserList"].rate == pacer.rates["UserList"]  # a 5xx is no quota signal

    faults.plan = lambda op, n: internal_error() if op == "DescribeUserPool" else None
    with pytest.raises(ClientError) as err:
        pacer.call("DescribeUserPool", client.describe_user_pool, UserPoolId=pool_id)
    assert err.value.response["Error"]["Code"] == "InternalErrorException"
    assert faults.attempts["DescribeUserPool"] == pacer.max_transient_attempts == 3
    assert pacer.summary()["UserPoolRead"]["retried"] == 2


def test_a_broken_connection_is_retried_by_the_pacer(paced: Any) -> None:
    client, pacer, pool_id = paced
    broken = Fault(0, exception=EndpointConnectionError(endpoint_url="https://cognito-idp.invalid"))
    faults = _faults(client, lambda op, n: broken if op == "ListUsers" and n == 1 else None)
    pacer.call("ListUsers", client.list_users, UserPoolId=pool_id)
    assert faults.attempts["ListUsers"] == 2
    assert pacer.summary()["UserList"]["retried"] == 1


def test_s3_keeps_botocores_retries(aws: None) -> None:
    # S3 has no pacer: botocore's standard mode retries its SlowDown answers.
    s3 = AwsContext(region=REGION).client("s3")
    s3.create_bucket(Bucket="bkt")
    faults = HttpFaults(lambda op, n: Fault(503, "SlowDown") if op == "PutObject" and n == 1 else None)
    faults.install(s3)
    s3.put_object(Bucket="bkt", Key="k", Body=b"v")
    assert faults.attempts["PutObject"] == 2
    assert s3.get_object(Bucket="bkt", Key="k")["Body"].read() == b"v"


# ---- the category's rate adapts (pure: fake clock, no HTTP) ------------------------------------------


def _throttle_error() -> ClientError:
    return ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "ListUsers")


def test_a_category_slows_on_throttling_and_speeds_back_up_never_above_its_rate() -> None:
    clock = FakeClock()
    pacer = Pacer({"UserList": 30}, clock=clock, sleep=clock.sleep, rng=lambda: 0.5)
    answers: list[Exception | None] = [_throttle_error()] * 5 + [None]

    def call() -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    pacer.call("ListUsers", call)
    slowed = pacer._buckets["UserList"].rate
    assert slowed < 30 * 0.7  # five throttles in a row: well down
    rates = []
    for _ in range(200):
        pacer.call("ListUsers", lambda: None)
        rates.append(pacer._buckets["UserList"].rate)
    assert rates[-1] == 30  # recovered fully once throttling stopped...
    assert max(rates) <= 30  # ...and never beyond the configured rate
    assert rates.index(30) < 40  # within a few dozen calls


def test_the_first_retry_of_a_throttled_call_waits_only_for_its_slot() -> None:
    clock = FakeClock()
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        clock.sleep(seconds)

    pacer = Pacer({"UserList": 10}, clock=clock, sleep=sleep, rng=lambda: 0.5, base_backoff=0.25)
    answers: list[Exception | None] = [_throttle_error(), _throttle_error(), None]

    def call() -> None:
        answer = answers.pop(0)
        if answer is not None:
            raise answer

    pacer.call("ListUsers", call)
    # slot for attempt 2 (the slowed rate's interval), backoff 0.25 s, slot for attempt 3.
    assert sleeps[0] == pytest.approx(1 / 10)
    assert 0.25 in sleeps
    assert pacer.summary()["UserList"]["throttle_wait_s"] == 0.25


def test_background_throttling_does_not_starve_a_category() -> None:
    """A 30% share of throttles that does not depend on our rate (another cause than our own excess)
    must not drive the category down to a crawl: it keeps most of its configured rate."""
    import random

    clock = FakeClock()
    rng = random.Random(3)
    pacer = Pacer({"UserList": 30}, clock=clock, sleep=clock.sleep, rng=rng.random)

    def call() -> None:
        if rng.random() < 0.3:
            raise _throttle_error()

    rates = []
    for _ in range(2000):
        pacer.call("ListUsers", call)
        rates.append(pacer._buckets["UserList"].rate)
    assert sum(rates[500:]) / len(rates[500:]) > 0.6 * 30
