"""Every AWS operation a piece of code calls, seen at botocore's boundary (never by patching our code).

`recording()` hooks botocore's `before-sign` event on every client created while it is active: the
Lambda handlers build their own clients (boto3.client / boto3.Session), so the hook is added to
botocore's built-in handlers, which every new session registers, exactly as moto's mock_aws installs its
own. `before-sign` fires once per HTTP attempt, after the request is built, so a recorded call carries the
operation name, the target service and the headers that a bucket policy's conditions see.
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import boto3
import botocore.handlers


@dataclass(frozen=True)
class Call:
    service: str  # the endpoint prefix: cognito-idp, s3, sqs, sns...
    operation: str  # botocore's operation name: ListUsers, PutObject, UploadPart...
    headers: dict[str, str]
    url: str
    params: dict[str, Any]

    @property
    def name(self) -> str:
        return f"{self.service}:{self.operation}"


@dataclass
class Recording:
    calls: list[Call] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def names(self) -> set[str]:
        with self._lock:
            return {c.name for c in self.calls}

    def of(self, service: str) -> list[Call]:
        with self._lock:
            return [c for c in self.calls if c.service == service]

    def clear(self) -> None:
        with self._lock:
            self.calls.clear()


@contextmanager
def recording() -> Iterator[Recording]:
    rec = Recording()

    def on_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["_op_recorder_params"] = dict(params)

    def on_sign(request: Any, operation_name: str, signing_name: str, **_: Any) -> None:
        service = str(signing_name)
        headers = {str(k).lower(): (v.decode() if isinstance(v, bytes) else str(v)) for k, v in request.headers.items()}
        params = dict(getattr(request, "context", {}).get("_op_recorder_params", {}))
        with rec._lock:
            rec.calls.append(Call(service, str(operation_name), headers, str(request.url), params))

    entries = [("before-parameter-build", on_params), ("before-sign", on_sign)]
    for entry in entries:
        botocore.handlers.BUILTIN_HANDLERS.append(entry)
    # boto3's default session was built before the hook existed: make the next boto3.client build anew.
    saved_default = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None
    try:
        yield rec
    finally:
        for entry in entries:
            botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        boto3.DEFAULT_SESSION = saved_default
