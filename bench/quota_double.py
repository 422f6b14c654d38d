"""A double of Cognito's request-rate quotas, as a WSGI layer in front of the emulator.

Honest double of documented behaviour: Cognito enforces each quota category per account and Region
(and, for the UserPoolResource categories, 5 RPS per operation per pool), and answers a call over quota
with HTTP 400 TooManyRequestsException. Here another application is taken to use `share_used` of every
quota all the time, so this process gets the rest, enforced as a token bucket (one second of burst);
and a further `random_throttle` of calls is throttled at random whatever the rate. Throttled calls do
not consume quota. Counts every HTTP attempt server-side, so the benchmark's figures do not depend on
the tool's own statistics.
"""

from __future__ import annotations

import io
import json
import random
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.aws.quotas import PER_OPERATION_CATEGORIES, PER_OPERATION_RATE, category_of
from cognito_backup.emulator import WsgiApp

TARGET_PREFIX = "AWSCognitoIdentityProviderService."


@dataclass
class _TokenBucket:
    rate: float
    tokens: float
    last: float

    def refill(self, now: float) -> None:
        self.tokens = min(max(1.0, self.rate), self.tokens + (now - self.last) * self.rate)
        self.last = now


@dataclass
class QuotaDouble:
    rates: Mapping[str, float]  # the account's quota per category (what the tool is configured with)
    share_used: float = 0.5  # by another application
    random_throttle: float = 0.3
    seed: int = 11
    clock: Callable[[], float] = time.monotonic
    enabled: bool = True  # off: counts nothing, throttles nothing (setting up, verifying)
    attempts: Counter[str] = field(default_factory=Counter)  # per category
    throttled: Counter[str] = field(default_factory=Counter)
    succeeded: Counter[str] = field(default_factory=Counter)  # per category, and per "operation@pool"
    first_ok: dict[str, float] = field(default_factory=dict)  # clock of each key's first and last success
    last_ok: dict[str, float] = field(default_factory=dict)
    _buckets: dict[str, _TokenBucket] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _rng: random.Random = field(init=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def reset(self, *, enabled: bool) -> None:
        with self._lock:
            self.enabled = enabled
            self.attempts.clear()
            self.throttled.clear()
            self.succeeded.clear()
            self.first_ok.clear()
            self.last_ok.clear()
            self._buckets.clear()

    def available(self, key: str) -> float:
        """Requests per second left to us for a category or an 'operation@pool' key."""
        base = PER_OPERATION_RATE if "@" in key else self.rates[key]
        return base * (1.0 - self.share_used)

    def _admit(self, keys: list[str], now: float) -> bool:
        buckets = []
        for key in keys:
            if key not in self._buckets:
                rate = self.available(key)
                self._buckets[key] = _TokenBucket(rate, max(1.0, rate), now)
            buckets.append(self._buckets[key])
        # A call takes a token from every bucket it is under, or from none.
        for bucket in buckets:
            bucket.refill(now)
        if all(b.tokens >= 1.0 for b in buckets):
            for bucket in buckets:
                bucket.tokens -= 1.0
            return True
        return False

    def decide(self, operation: str, pool_id: str | None) -> bool:
        """True when the call may go through; counts it either way."""
        category = category_of(operation)
        keys = [category]
        if category in PER_OPERATION_CATEGORIES and pool_id:
            keys.append(f"{operation}@{pool_id}")
        with self._lock:
            self.attempts[category] += 1
            now = self.clock()
            if self._rng.random() < self.random_throttle or not self._admit(keys, now):
                self.throttled[category] += 1
                return False
            for key in keys:
                self.succeeded[key] += 1
                self.first_ok.setdefault(key, now)
                self.last_ok[key] = now
            return True

    def wrap(self, app: WsgiApp) -> WsgiApp:
        def layer(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            if self.enabled and target.startswith(TARGET_PREFIX):
                length = int(environ.get("CONTENT_LENGTH") or 0)
                body = environ["wsgi.input"].read(length) if length else b""
                environ["wsgi.input"] = io.BytesIO(body)
                try:
                    pool_id = json.loads(body or b"{}").get("UserPoolId")
                except ValueError:
                    pool_id = None
                if not self.decide(target[len(TARGET_PREFIX) :], pool_id):
                    answer = json.dumps({"__type": "TooManyRequestsException", "message": "Rate exceeded"}).encode()
                    start_response(
                        "400 Bad Request",
                        [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(answer)))],
                    )
                    return [answer]
            return app(environ, start_response)

        return layer

    def bound_seconds(self) -> float:
        """The least time the calls that went through need at the quota left to us."""
        return max((n / self.available(key) for key, n in self.succeeded.items()), default=0.0)

    def bounding_key(self) -> str | None:
        """The category (or 'operation@pool') whose calls need the most time at the quota left to us."""
        return max(self.succeeded, key=lambda key: self.succeeded[key] / self.available(key), default=None)

    def busy_seconds(self, key: str) -> float:
        """From the key's first success to its last: how long it was being used."""
        return self.last_ok.get(key, 0.0) - self.first_ok.get(key, 0.0)

    def attempts_per_success(self) -> float:
        ok = sum(n for key, n in self.succeeded.items() if "@" not in key)
        return sum(self.attempts.values()) / ok if ok else 0.0
