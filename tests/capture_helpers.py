"""Shared by the capture tests: realistic events rendered for a moto pool, and a store that fails."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import StoreUnavailable
from cognito_backup.store.base import ObjectInfo, Store

FIXTURES = Path(__file__).parent / "fixtures" / "events"
FIX_POOL = "us-east-1_EXAMPLE11"
FIX_SUB = "4b1e0b3a-7c2d-4f1e-9a57-3f0c2d1e8a90"
FIX_CLIENT = "5exampleclientid0abcdefghi"
_TIME = re.compile(r"2026-11-21T10:15:\d\dZ")


def render(
    name: str,
    *,
    pool: str,
    sub: str = FIX_SUB,
    client: str = FIX_CLIENT,
    when: dt.datetime | None = None,
    event_id: str | None = None,
) -> dict[str, Any]:
    """A fixture event as if it happened in `pool` to the user with `sub`, at `when`."""
    text = (FIXTURES / f"{name}.json").read_text()
    stamp = (when or dt.datetime.now(dt.UTC)).strftime("%Y-%m-%dT%H:%M:%SZ")
    text = _TIME.sub(stamp, text).replace(FIX_POOL, pool).replace(FIX_SUB, sub).replace(FIX_CLIENT, client)
    event: dict[str, Any] = json.loads(text)
    if event_id and "detail" in event:
        event["detail"]["eventID"] = event_id
    return event


def event_for(
    name: str,
    *,
    pool: str,
    event_id: str,
    when: dt.datetime,
    sub: str | None = None,
    username: str | None = None,
    group: str | None = None,
) -> dict[str, Any]:
    """A CloudTrail-via-EventBridge event for an admin call, redacted as CloudTrail does."""
    rp: dict[str, Any] = {"userPoolId": pool}
    add: dict[str, Any] = {}
    if sub is not None or username is not None:
        rp["username"] = username or "HIDDEN_DUE_TO_SECURITY_REASONS"
        if sub:
            add["sub"] = sub
    if group is not None:
        rp["groupName"] = group
    detail: dict[str, Any] = {
        "eventVersion": "1.08",
        "eventTime": when.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "eventSource": "cognito-idp.amazonaws.com",
        "eventName": name,
        "awsRegion": "us-east-1",
        "requestParameters": rp,
        "responseElements": None,
        "eventID": event_id,
        "eventType": "AwsApiCall",
    }
    if add:
        detail["additionalEventData"] = add
    return {
        "version": "0",
        "id": f"eb-{event_id}",
        "detail-type": "AWS API Call via CloudTrail",
        "source": "aws.cognito-idp",
        "detail": detail,
    }


def fast_readers(client: Any) -> Any:
    """PoolReaders whose pacer never sleeps (moto does not throttle; tests never wait)."""
    pacer = Pacer(sleep=lambda s: None)
    readers: dict[str, PoolReader] = {}

    def reader_for(pool: str) -> PoolReader:
        if pool not in readers:
            readers[pool] = PoolReader(client, pacer, pool, chains=1)
        return readers[pool]

    return reader_for


class FailingStore:
    """Wraps a store; every write fails as a store that is down would (reads still work)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.failed_writes = 0

    def describe(self) -> str:
        return self.inner.describe()

    def _fail(self, key: str) -> None:
        self.failed_writes += 1
        raise StoreUnavailable(f"Cannot write {key}: injected outage")

    def put_bytes(self, key: str, data: bytes) -> None:
        self._fail(key)

    def put_file(self, key: str, path: Path) -> None:
        self._fail(key)

    def create_bytes(self, key: str, data: bytes) -> bool:
        self._fail(key)
        return False

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(key)

    def open_read(self, key: str) -> BinaryIO:
        return self.inner.open_read(key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)

    def delete(self, key: str) -> None:
        self.inner.delete(key)
