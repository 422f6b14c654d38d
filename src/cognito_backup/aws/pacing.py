"""Quota pacing: one scheduler per Cognito quota category, shared by every thread of a process.

This is the only retry layer for Cognito calls: their botocore clients make exactly one HTTP attempt
(aws/session.py), so every attempt is paced here and every throttle is seen here.

Each category is a leaky bucket (the next call may start 1/rate seconds after the previous one), unless
given a `burst` of S seconds: then an idle category may start up to rate x S calls at once, and over any
interval T it starts at most rate x (T + S) (the generic cell rate algorithm: a token bucket holding S
seconds of the rate). When
Cognito throttles (other applications share the account's quota), the category slows down
multiplicatively and recovers additively (AIMD), never above the configured rate. The decrease is
gentle and the recovery quick so that throttles that do not come from our own rate (a background of
random throttling) cannot starve the category: under a shared quota the rate settles where about a
third of attempts are throttled, at the rate the quota leaves us. A throttled call is retried with
jittered exponential backoff until `max_throttle_wait` seconds of waiting have been spent on it, or until
`give_up_at` (a time on the pacer's clock: a Lambda invocation's deadline) has passed: only then does it
fail with `Throttled`. Connection errors and 5xx answers are retried a bounded number of
times (`max_transient_attempts` attempts in all), counted, then raised as they are.
Clock, sleep and randomness are injected so tests never wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cognito_backup.aws.errors import is_throttling, is_transient
from cognito_backup.aws.quotas import (
    DEFAULT_RATES,
    PER_OPERATION_CATEGORIES,
    PER_OPERATION_RATE,
    category_of,
)
from cognito_backup.errors import Throttled

T = TypeVar("T")

MIN_RATE_FRACTION = 0.05
# Tuned with bench/bench_throttle.py (half the quota taken by another application, 30% of the calls
# throttled at random): x0.9 per throttle, +5% of the ceiling per success.
DECREASE = 0.9
RECOVER_PER_SUCCESS = 0.05


@dataclass
class _Bucket:
    rate: float
    ceiling: float
    burst: float = 0.0  # seconds of the rate an idle bucket may spend at once
    next_start: float = 0.0  # when the next call would start if calls were evenly spaced
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, now: float) -> float:
        """Reserve the next slot; returns how long the caller must wait for it."""
        with self.lock:
            spaced = max(now, self.next_start)
            # A call may start this much before its evenly spaced slot: rate x burst calls at once.
            early = max(0.0, self.burst - 1.0 / self.rate)
            start = max(now, spaced - early)
            self.next_start = spaced + 1.0 / self.rate
            # Sums of 1/rate carry rounding: the last call of a burst must not wait a femtosecond.
            return start - now if start - now > 1e-9 else 0.0

    def throttled(self) -> None:
        with self.lock:
            self.rate = max(self.ceiling * MIN_RATE_FRACTION, self.rate * DECREASE)

    def succeeded(self) -> None:
        with self.lock:
            if self.rate < self.ceiling:
                self.rate = min(self.ceiling, self.rate + self.ceiling * RECOVER_PER_SUCCESS)


@dataclass
class CategoryStats:
    calls: int = 0  # HTTP attempts
    succeeded: int = 0
    throttled: int = 0
    retried: int = 0  # attempts repeated after a connection error or a 5xx answer
    waited: float = 0.0


class Pacer:
    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        burst: Mapping[str, float] | None = None,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        max_throttle_wait: float = 900.0,
        base_backoff: float = 0.25,
        max_backoff: float = 20.0,
        max_transient_attempts: int = 3,
    ) -> None:
        self.rates = dict(rates or DEFAULT_RATES)
        self.burst = dict(burst or {})  # category -> seconds (see the module's docstring); none: spaced
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self.max_throttle_wait = max_throttle_wait
        # Set by a caller with a deadline (the capture Lambda, per invocation): no throttled call is
        # retried past it, so the caller answers in time with that call failed.
        self.give_up_at: float | None = None
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self.max_transient_attempts = max_transient_attempts
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, CategoryStats] = {}

    def _bucket(self, key: str, rate: float) -> _Bucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(rate=rate, ceiling=rate, burst=self.burst.get(key, 0.0))
            return bucket

    def _count(
        self,
        category: str,
        *,
        calls: int = 0,
        succeeded: int = 0,
        throttled: int = 0,
        retried: int = 0,
        waited: float = 0.0,
    ) -> CategoryStats:
        """Update a category's statistics under the pacer's lock (every worker thread shares them);
        returns a copy."""
        with self._lock:
            stats = self.stats.setdefault(category, CategoryStats())
            stats.calls += calls
            stats.succeeded += succeeded
            stats.throttled += throttled
            stats.retried += retried
            stats.waited += waited
            return CategoryStats(stats.calls, stats.succeeded, stats.throttled, stats.retried, stats.waited)

    def _wait_for_slot(self, operation: str, pool_id: str | None) -> list[_Bucket]:
        category = category_of(operation)
        buckets = [self._bucket(category, self.rates[category])]
        if category in PER_OPERATION_CATEGORIES and pool_id:
            buckets.append(self._bucket(f"{operation}@{pool_id}", PER_OPERATION_RATE))
        for bucket in buckets:
            delay = bucket.reserve(self.clock())
            if delay > 0:
                self.sleep(delay)
        self._count(category, calls=1)
        return buckets

    def _backoff(self, attempt: int) -> float:
        return min(self.max_backoff, self.base_backoff * (2.0**attempt)) * (0.5 + self.rng())

    def _throttle_backoff(self, throttles: int) -> float:
        """Extra wait before retrying a call throttled `throttles` times before. The first retry waits
        only for its slot in the category, which has just slowed down (that is the backoff): sleeping
        on top would leave slots unused that other workers could not take in time. A call throttled
        again backs off exponentially."""
        return 0.0 if throttles == 0 else self._backoff(throttles - 1)

    def call(self, operation: str, fn: Callable[..., T], /, pool_id: str | None = None, **kwargs: Any) -> T:
        """Run `fn(**kwargs)` (one AWS API call named `operation`) within its category's quota."""
        category = category_of(operation)
        waited = 0.0
        throttles = 0
        failures = 0
        while True:
            buckets = self._wait_for_slot(operation, pool_id)
            try:
                result = fn(**kwargs)
            except Exception as exc:
                if is_throttling(exc):
                    for bucket in buckets:
                        bucket.throttled()
                    backoff = self._throttle_backoff(throttles)
                    out_of_time = self.give_up_at is not None and self.clock() + backoff >= self.give_up_at
                    if waited + backoff > self.max_throttle_wait or out_of_time:
                        stats = self._count(category, throttled=1)
                        raise Throttled(
                            f"{operation}: Cognito kept throttling for {waited:.0f}s"
                            f"{' until the time given for the call ran out' if out_of_time else ''} "
                            f"(category {category}, {stats.throttled} throttled calls so far)",
                            hint="Lower the rate with --rate CATEGORY=RPS, or retry later; progress is saved.",
                        ) from exc
                    self._count(category, throttled=1, waited=backoff)
                    waited += backoff
                    throttles += 1
                    if backoff > 0:
                        self.sleep(backoff)
                    continue
                failures += 1
                if not is_transient(exc) or failures >= self.max_transient_attempts:
                    raise
                self._count(category, retried=1)
                self.sleep(self._backoff(failures - 1))
                continue
            for bucket in buckets:
                bucket.succeeded()
            self._count(category, succeeded=1)
            return result

    def summary(self) -> dict[str, dict[str, float]]:
        with self._lock:
            return {
                cat: {
                    "calls": s.calls,
                    "succeeded": s.succeeded,
                    "throttled": s.throttled,
                    "retried": s.retried,
                    "throttle_wait_s": round(s.waited, 3),
                }
                for cat, s in sorted(self.stats.items())
            }
