"""Faults injected BELOW botocore's retry layer, on every HTTP attempt (botocore's 'before-send' event).

botocore emits 'before-send' once per HTTP attempt, inside its retry loop, where a real request would
leave for the endpoint: an answer given here is parsed, classified and retried by botocore exactly as
the same answer from AWS would be. So a test sees every retry layer at work (botocore's and the tool's)
and counts true HTTP attempts, i.e. quota hits.

A plan picks the fault per (operation, attempt): any function, or `by_operation` for fixed answers to
named operations. `HttpFaults.install` puts it on one client, `every_new_client` on every client created
meanwhile (a CLI command or a Lambda handler builds its own).

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
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import botocore.session
import pytest
from botocore.awsrequest import AWSResponse

# (operation name, 1-based attempt number of that operation) -> a fault to answer with, or None.
Plan = Callable[[str, int], "Fault | None"]

_NOWHERE = "https://fault-injected.invalid/"


@dataclass(frozen=True)
class Fault:
    status: int
    code: str = ""
    body: bytes | None = None  # the raw answer (e.g. an HTML page); default: an AWS error document for `code`
    # The answer's Content-Type; default: the protocol's for the error document, none for a raw `body`.
    content_type: str | None = None
    headers: dict[str, str] = field(default_factory=dict)
    # A connection that breaks instead of answering (botocore raises as for a dead socket).
    exception: Exception | None = None


def throttle() -> Fault:
    return Fault(400, "TooManyRequestsException")


def internal_error() -> Fault:
    return Fault(500, "InternalErrorException")


# An emulator's answer to a call it does not implement (no AWS error document).
HTML_PAGE = b"<!DOCTYPE html><html><body><h1>500 Internal Server Error</h1></body></html>"


def by_operation(faults: Mapping[str, Fault], *, times: int | None = None) -> Plan:
    """A plan answering each named operation with its fault: on every attempt, or on its first `times`."""

    def plan(operation: str, attempt: int) -> Fault | None:
        if times is not None and attempt > times:
            return None
        return faults.get(operation)

    return plan


class _Raw(io.BytesIO):
    """What botocore reads an HTTP body from (urllib3's response offers `stream`)."""

    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt or 65536):
            yield chunk


def _error_document(protocol: str, code: str) -> tuple[bytes, str]:
    """An AWS error document for `code` and its Content-Type."""
    if protocol == "json":
        return json.dumps({"__type": code, "message": "injected by test"}).encode(), "application/x-amz-json-1.1"
    return f"<Error><Code>{code}</Code><Message>injected by test</Message></Error>".encode(), "application/xml"


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
        if fault.body is not None:
            body, content_type = fault.body, fault.content_type
        else:
            body, default_type = _error_document(protocol, fault.code)
            content_type = fault.content_type or default_type
        headers = {"Content-Length": str(len(body))}
        if content_type:
            headers["Content-Type"] = content_type
        return AWSResponse(_NOWHERE, fault.status, {**headers, **fault.headers}, _Raw(body))

    def install(self, client: Any) -> HttpFaults:
        """On one client (of any service): runs before moto's own handler."""
        client.meta.events.register_first("before-send", self.handler)
        return self

    def remove(self, client: Any) -> None:
        client.meta.events.unregister("before-send", self.handler)


def _protocol_of(request: Any) -> str:
    """Cognito (JSON protocol) requests say so in their Content-Type; S3's (REST-XML) do not."""
    content_type = str(request.headers.get("Content-Type", b"") or "")
    return "json" if "json" in content_type else "rest-xml"


@contextmanager
def every_new_client(faults: HttpFaults) -> Iterator[HttpFaults]:
    """`faults` installed on every client created meanwhile, by any botocore session (new or not): for
    clients the code under test creates itself (a CLI command, a Lambda handler's cold start)."""
    original = botocore.session.Session.create_client

    def create_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        faults.install(client)
        return client

    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(botocore.session.Session, "create_client", create_client)
        yield faults
