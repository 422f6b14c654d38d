"""Quota pacing: one scheduler per Cognito quota category, shared by every thread of a process.

Each category is a leaky bucket (the next call may start 1/rate seconds after the previous one). When
Cognito still throttles (other applications share the account's quota), the category slows down
multiplicatively and recovers additively (AIMD), and the call is retried with jittered exponential
backoff until `max_throttle_wait` seconds of waiting have been spent on it: only then does it fail with
`Throttled`. botocore keeps retrying transient network errors; this layer owns throttling.
Clock, sleep and randomness are injected so tests never wait.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cognito_backup.aws.errors import is_throttling
from cognito_backup.aws.quotas import (
    DEFAULT_RATES,
    PER_OPERATION_CATEGORIES,
    PER_OPERATION_RATE,
    category_of,
)
from cognito_backup.errors import Throttled

T = TypeVar("T")

MIN_RATE_FRACTION = 0.05
DECREASE = 0.7
RECOVER_PER_SUCCESS = 0.02


@dataclass
class _Bucket:
    rate: float
    ceiling: float
    next_start: float = 0.0
    lock: threading.Lock = field(default_factory=threading.Lock)

    def reserve(self, now: float) -> float:
        """Reserve the next slot; returns how long the caller must wait for it."""
        with self.lock:
            start = max(now, self.next_start)
            self.next_start = start + 1.0 / self.rate
            return start - now

    def throttled(self) -> None:
        with self.lock:
            self.rate = max(self.ceiling * MIN_RATE_FRACTION, self.rate * DECREASE)

    def succeeded(self) -> None:
        if self.rate < self.ceiling:
            with self.lock:
                self.rate = min(self.ceiling, self.rate + self.ceiling * RECOVER_PER_SUCCESS)


@dataclass
class CategoryStats:
    calls: int = 0
    throttled: int = 0
    waited: float = 0.0


class Pacer:
    def __init__(
        self,
        rates: Mapping[str, float] | None = None,
        *,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
        rng: Callable[[], float] = random.random,
        max_throttle_wait: float = 900.0,
        base_backoff: float = 0.25,
        max_backoff: float = 20.0,
    ) -> None:
        self.rates = dict(rates or DEFAULT_RATES)
        self.clock = clock
        self.sleep = sleep
        self.rng = rng
        self.max_throttle_wait = max_throttle_wait
        self.base_backoff = base_backoff
        self.max_backoff = max_backoff
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        self.stats: dict[str, CategoryStats] = {}

    def _bucket(self, key: str, rate: float) -> _Bucket:
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(rate=rate, ceiling=rate)
                self.stats.setdefault(key, CategoryStats())
            return bucket

    def _wait_for_slot(self, operation: str, pool_id: str | None) -> list[_Bucket]:
        category = category_of(operation)
        buckets = [self._bucket(category, self.rates[category])]
        if category in PER_OPERATION_CATEGORIES and pool_id:
            buckets.append(self._bucket(f"{operation}@{pool_id}", PER_OPERATION_RATE))
        for bucket in buckets:
            delay = bucket.reserve(self.clock())
            if delay > 0:
                self.sleep(delay)
        stats = self.stats[category]
        stats.calls += 1
        return buckets

    def call(self, operation: str, fn: Callable[..., T], /, pool_id: str | None = None, **kwargs: Any) -> T:
        """Run `fn(**kwargs)` (one AWS API call named `operation`) within its category's quota."""
        category = category_of(operation)
        waited = 0.0
        attempt = 0
        while True:
            buckets = self._wait_for_slot(operation, pool_id)
            try:
                result = fn(**kwargs)
            except Exception as exc:
                if not is_throttling(exc):
                    raise
                for bucket in buckets:
                    bucket.throttled()
                stats = self.stats[category]
                stats.throttled += 1
                backoff = min(self.max_backoff, self.base_backoff * (2**attempt)) * (0.5 + self.rng())
                if waited + backoff > self.max_throttle_wait:
                    raise Throttled(
                        f"{operation}: Cognito kept throttling for {waited:.0f}s "
                        f"(category {category}, {stats.throttled} throttled calls so far)",
                        hint="Lower the rate with --rate CATEGORY=RPS, or retry later; progress is saved.",
                    ) from exc
                waited += backoff
                stats.waited += backoff
                attempt += 1
                self.sleep(backoff)
                continue
            for bucket in buckets:
                bucket.succeeded()
            return result

    def summary(self) -> dict[str, dict[str, float]]:
        return {
            cat: {"calls": s.calls, "throttled": s.throttled, "throttle_wait_s": round(s.waited, 3)}
            for cat, s in sorted(self.stats.items())
            if "@" not in cat
        }
