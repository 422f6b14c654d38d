"""HTTP answers injected at botocore's `before-send` event: below botocore's retry layer, so that every
retry (botocore's and the tool's) sees the fault exactly as it would see a failing endpoint's answer."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import pytest
from botocore.awsrequest import AWSResponse


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


@dataclass
class HttpFault:
    """Answer `operation` with `status` and `body` instead of sending it; `times` None = every time."""

    operation: str
    status: int = 500
    code: str | None = "InternalErrorException"  # None: `body` is sent as it is (e.g. an HTML page)
    body: bytes = b""
    content_type: str = "application/x-amz-json-1.1"
    times: int | None = None
    sent: int = 0  # requests of `operation` that reached the hook (every attempt counts)
    injected: int = 0
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def install(self, client: Any) -> HttpFault:
        client.meta.events.register(f"before-send.cognito-idp.{self.operation}", self._hook)
        return self

    def _hook(self, request: Any, **_: Any) -> AWSResponse | None:
        with self._lock:
            self.sent += 1
            if self.times is not None and self.injected >= self.times:
                return None
            self.injected += 1
        body = self.body
        if self.code is not None:
            body = json.dumps({"__type": self.code, "message": "injected by test"}).encode()
        headers = {"content-type": self.content_type, "content-length": str(len(body))}
        return AWSResponse(request.url, self.status, headers, _Raw(body))


HTML_PAGE = b"<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>"


@contextmanager
def on_every_client(*faults: HttpFault) -> Iterator[None]:
    """Install the faults on every cognito-idp client created meanwhile (the CLI builds its own)."""
    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *a: Any, **kw: Any) -> Any:
        client = original(self, service_name, *a, **kw)
        if service_name == "cognito-idp":
            for fault in faults:
                fault.install(client)
        return client

    mp = pytest.MonkeyPatch()
    mp.setattr(botocore.session.Session, "create_client", create_client)
    try:
        yield
    finally:
        mp.undo()
