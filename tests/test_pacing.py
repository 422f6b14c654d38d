"""The pacer keeps each quota category under its rate and rides out throttling (fake clock)."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.quotas import DEFAULT_RATES, OPERATION_CATEGORY, parse_rates
from cognito_backup.errors import Throttled, UsageError


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


def throttle() -> ClientError:
    return ClientError({"Error": {"Code": "TooManyRequestsException", "Message": "Rate exceeded"}}, "ListUsers")


def test_rate_is_respected_per_category() -> None:
    clock = FakeClock()
    pacer = Pacer({"UserList": 30, "UserCreation": 50}, clock=clock, sleep=clock.sleep)
    for _ in range(61):
        pacer.call("ListUsers", lambda: None)
    assert clock.now == pytest.approx(60 / 30)  # 61 calls at 30 RPS: the last starts at t=2s
    start = clock.now
    for _ in range(11):
        pacer.call("AdminCreateUser", lambda: None)
    assert clock.now - start == pytest.approx(10 / 50)


def test_per_operation_limit_in_pool_resource_categories() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep)
    for _ in range(11):
        pacer.call("CreateGroup", lambda: None, pool_id="p1")
    assert clock.now == pytest.approx(10 / 5)  # 5 RPS per operation per pool, below the category's 15


def test_throttling_retried_then_succeeds_and_slows_down() -> None:
    clock = FakeClock()
    pacer = Pacer({"UserList": 30}, clock=clock, sleep=clock.sleep, rng=lambda: 0.5)
    answers: list[Any] = [throttle(), throttle(), "ok"]

    def call() -> Any:
        item = answers.pop(0)
        if isinstance(item, Exception):
            raise item
        return item

    assert pacer.call("ListUsers", call) == "ok"
    assert pacer.summary()["UserList"]["throttled"] == 2
    assert pacer._buckets["UserList"].rate < 30  # multiplicative decrease


def test_throttled_beyond_budget_raises_throttled() -> None:
    clock = FakeClock()
    pacer = Pacer(clock=clock, sleep=clock.sleep, max_throttle_wait=30, rng=lambda: 0.5)

    def always() -> None:
        raise throttle()

    with pytest.raises(Throttled) as err:
        pacer.call("ListUsers", always)
    assert err.value.exit_code == 5
    assert "--rate" in str(err.value)


def test_other_errors_are_not_retried() -> None:
    pacer = Pacer(sleep=lambda s: None)
    calls = []

    def boom() -> None:
        calls.append(1)
        raise ClientError({"Error": {"Code": "LimitExceededException", "Message": "x"}}, "CreateGroup")

    with pytest.raises(ClientError):
        pacer.call("CreateGroup", boom)
    assert calls == [1]  # LimitExceeded is a hard resource limit in Cognito: never retried blindly


def test_every_category_has_operations_and_rates_parse() -> None:
    assert set(OPERATION_CATEGORY.values()) == set(DEFAULT_RATES)
    rates = parse_rates(["UserCreation=120", "UserList=10.5"])
    assert rates["UserCreation"] == 120 and rates["UserList"] == 10.5
    for bad in ["UserCreation", "Nope=3", "UserList=x", "UserList=0"]:
        with pytest.raises(UsageError):
            parse_rates([bad])
