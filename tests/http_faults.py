"""Faults injected BELOW botocore's retry layer, on every HTTP attempt (botocore's 'before-send' event).

botocore emits 'before-send' once per HTTP attempt, inside its retry loop, where a real request would
leave for the endpoint: an answer given here is parsed, classified and retried by botocore exactly as
the same answer from AWS would be. So a test sees every retry layer at work (botocore's and the tool's)
and counts true HTTP attempts, i.e. quota hits.

Works against moto in-process (mock_aws) and against moto's HTTP server. Under mock_aws, moto answers
from a 'before-send' handler of its own that runs whatever the others answered; a faulted request is
therefore re-addressed to a host no handler serves, so moto never carries it out (a throttled or failed
call has no effect, as on AWS).
"""

from __future__ import annotations

import io
import json
import threading
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from botocore import handlers
from botocore.awsrequest import AWSResponse

# (operation name, 1-based attempt number of that operation) -> a fault to answer with, or None.
Plan = Callable[[str, int], "Fault | None"]

_NOWHERE = "https://fault-injected.invalid/"


@dataclass(frozen=True)
class Fault:
    status: int
    code: str = ""
    body: bytes | None = None  # the raw answer; default: an AWS error document for `code`
    headers: dict[str, str] = field(default_factory=dict)
    # A connection that breaks instead of answering (botocore raises as for a dead socket).
    exception: Exception | None = None


def throttle() -> Fault:
    return Fault(400, "TooManyRequestsException")


def internal_error() -> Fault:
    return Fault(500, "InternalErrorException")


class _Raw(io.BytesIO):
    """What botocore reads an HTTP body from (urllib3's response offers `stream`)."""

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt or 65536):
            yield chunk


def _error_body(protocol: str, code: str) -> bytes:
    if protocol in ("json", "rest-json"):
        return json.dumps({"__type": code, "message": "injected by test"}).encode()
    return f"<Error><Code>{code}</Code><Message>injected by test</Message></Error>".encode()


@dataclass
class HttpFaults:
    """Counts every HTTP attempt per operation and answers the ones `plan` picks with its fault."""

    plan: Plan
    # Only requests whose URL contains this count and may fail (e.g. "/journal/": one kind of object).
    url_contains: str = ""
    attempts: Counter[str] = field(default_factory=Counter)
    injected: Counter[str] = field(default_factory=Counter)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def handler(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse | None:
        operation = event_name.rsplit(".", 1)[-1]
        if self.url_contains and self.url_contains not in str(request.url):
            return None
        with self._lock:
            self.attempts[operation] += 1
            fault = self.plan(operation, self.attempts[operation])
            if fault is None:
                return None
            self.injected[operation] += 1
        protocol = _protocol_of(request)
        request.url = _NOWHERE
        if fault.exception is not None:
            raise fault.exception
        body = fault.body if fault.body is not None else _error_body(protocol, fault.code)
        headers = {"Content-Length": str(len(body)), **fault.headers}
        return AWSResponse(_NOWHERE, fault.status, headers, _Raw(body))

    def install(self, client: Any) -> None:
        """On one client (every service): runs before moto's own handler."""
        client.meta.events.register_first("before-send", self.handler)

    def remove(self, client: Any) -> None:
        client.meta.events.unregister("before-send", self.handler)


def _protocol_of(request: Any) -> str:
    """Cognito (JSON protocol) requests say so in their Content-Type; S3's (REST-XML) do not."""
    content_type = str(request.headers.get("Content-Type", b"") or "")
    return "json" if "json" in content_type else "rest-xml"


@contextmanager
def every_new_client(faults: HttpFaults, service_event: str = "before-send") -> Iterator[HttpFaults]:
    """For clients the code under test creates itself (a CLI command): botocore registers its built-in
    handlers on each new session, first ones first."""
    entry = (service_event, faults.handler)
    handlers.BUILTIN_HANDLERS.insert(0, entry)
    try:
        yield faults
    finally:
        handlers.BUILTIN_HANDLERS.remove(entry)
