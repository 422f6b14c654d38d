"""A local Lambda service for the deployed tier: each function of the template in its own process.

A function's process (lambda_child.py) is started on first invocation and kept warm, as Lambda keeps
an execution environment; an invocation that overruns the function's timeout kills it (the next one
starts cold), and is answered as Lambda answers it ("Task timed out after N seconds").

`Lambdas.middleware` serves the Lambda Invoke API in front of the emulator, so moto's Step Functions
engine, which calls Lambda through boto3, reaches these processes. The caller's own permission is
evaluated too: the engine's calls are checked against the state machine's role.
"""

from __future__ import annotations

import html
import io
import json
import os
import re
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from tests.iam_eval import Request, evaluate

CHILD = Path(__file__).resolve().with_name("lambda_child.py")
_INVOKE = re.compile(r"^/2015-03-31/functions/(?P<name>[^/]+)/invocations$")
# Time Lambda allows an execution environment to initialise (the init phase), outside the timeout.
INIT_SECONDS = 10.0
# With a work clock, how many times its Timeout a step may take in wall time before it counts as hung.
WORK_CLOCK_WALL_FACTOR = 30.0


@dataclass
class Invocation:
    payload: Any = None
    error: dict[str, Any] | None = None
    duration_ms: float = 0.0
    init_ms: float = 0.0
    wall_ms: float = 0.0


@dataclass
class LambdaFunction:
    """One function: its spec (handler, environment, role, timeout) and its warm process."""

    name: str
    arn: str
    handler: str
    environment: dict[str, str]
    timeout: float
    spec_file: Path
    log_file: Path
    # Set: the function's time is a work clock (lambda_child.WorkClock): its Timeout is enforced on the
    # duration that clock measures, and wall time only bounds a hung process, generously.
    seconds_per_call: float | None = None
    invocations: list[Invocation] = field(default_factory=list)
    _proc: subprocess.Popen[str] | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def _start(self) -> subprocess.Popen[str]:
        log = self.log_file.open("a", encoding="utf-8")
        return subprocess.Popen(
            [sys.executable, str(CHILD), str(self.spec_file)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=log,
            env=self.environment,
            text=True,
        )

    def invoke(self, event: Any) -> Invocation:
        # Reserved concurrency aside, one environment serves one invocation at a time.
        with self._lock:
            proc = self._proc
            cold = proc is None or proc.poll() is not None
            if proc is None or cold:
                proc = self._proc = self._start()
            assert proc.stdin is not None and proc.stdout is not None
            started = time.monotonic()
            proc.stdin.write(json.dumps({"event": event}) + "\n")
            proc.stdin.flush()
            # A cold environment first imports the handler (Lambda's init phase, outside the timeout).
            wall_limit = self.timeout * (WORK_CLOCK_WALL_FACTOR if self.seconds_per_call is not None else 1)
            line = _read_line(proc, wall_limit + (INIT_SECONDS if cold else 0.5))
            wall = (time.monotonic() - started) * 1000
            if line is None:
                self.stop()
                result = Invocation(error=self._timed_out(), wall_ms=wall)
            else:
                answer = json.loads(line)
                result = Invocation(
                    payload=answer.get("payload"),
                    error=answer.get("error"),
                    duration_ms=float(answer["duration_ms"]),
                    init_ms=float(answer["init_ms"]),
                    wall_ms=wall,
                )
                if result.duration_ms > self.timeout * 1000:
                    # The handler returned, but after Lambda would have stopped it (and its environment).
                    self.stop()
                    result = Invocation(error=self._timed_out(), duration_ms=result.duration_ms, wall_ms=wall)
            self.invocations.append(result)
            return result

    def kill(self) -> None:
        """What Lambda does to an environment whose invocation overran its Timeout, at this very moment and
        from any thread (a test's proxy, at the worst moment it chose): SIGKILL. The invocation in flight is
        answered as timed out, with no wall-clock race."""
        proc = self._proc
        if proc is not None:
            proc.kill()
            proc.wait()

    def _timed_out(self) -> dict[str, Any]:
        return {"errorType": "Sandbox.Timedout", "errorMessage": f"Task timed out after {self.timeout:.2f} seconds"}

    def stop(self) -> None:
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            for stream in (self._proc.stdin, self._proc.stdout):
                if stream is not None:
                    stream.close()
            self._proc = None


def _read_line(proc: subprocess.Popen[str], timeout: float) -> str | None:
    """One answer line, or None when the process gave none in time (or died)."""
    assert proc.stdout is not None
    box: list[str] = []
    reader = threading.Thread(target=lambda: box.append(proc.stdout.readline() if proc.stdout else ""), daemon=True)
    reader.start()
    reader.join(timeout)
    if not box or not box[0]:
        return None
    return box[0]


@dataclass
class Caller:
    """Who calls the Invoke API (its role's statements), recognised by its access key id."""

    role_arn: str
    statements: list[dict[str, Any]]


class Lambdas:
    """The functions by name and ARN, the callers of the Invoke API by access key, and the denials of
    those callers' calls."""

    def __init__(self) -> None:
        self.functions: dict[str, LambdaFunction] = {}
        self.callers: dict[str, Caller] = {}
        self.denied: list[str] = []

    def add(self, fn: LambdaFunction) -> None:
        self.functions[fn.name] = fn
        self.functions[fn.arn] = fn

    def get(self, name_or_arn: str) -> LambdaFunction:
        key = name_or_arn.removesuffix(":$LATEST")
        return self.functions[key]

    def stop(self) -> None:
        for fn in {id(f): f for f in self.functions.values()}.values():
            fn.stop()

    def middleware(self, app: Callable[..., Iterable[bytes]]) -> Callable[..., Iterable[bytes]]:
        def serve(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            match = _INVOKE.match(environ.get("PATH_INFO", ""))
            if environ.get("REQUEST_METHOD") == "POST" and match is not None:
                return self._invoke(environ, start_response, urllib.parse.unquote(match.group("name")))
            caller = self._caller(environ)
            if caller is not None and environ.get("REQUEST_METHOD") == "POST":
                denied = self._check_sns_publish(environ, caller)
                if denied is not None:
                    return _sns_denied(start_response, denied)
            return app(environ, start_response)

        return serve

    def _invoke(self, environ: dict[str, Any], start_response: Callable[..., Any], name: str) -> Iterable[bytes]:
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        try:
            fn = self.get(name)
        except KeyError:
            return _json(
                start_response,
                404,
                {"Type": "User", "message": f"Function not found: {name}"},
                {"x-amzn-ErrorType": "ResourceNotFoundException"},
            )
        caller = self._caller(environ)
        if caller is not None:
            decision = evaluate(caller.statements, Request("lambda:InvokeFunction", fn.arn))
            if decision != "allow":
                message = (
                    f"User: {caller.role_arn} is not authorized to perform: lambda:InvokeFunction on resource: {fn.arn}"
                )
                self.denied.append(message)
                return _json(
                    start_response,
                    403,
                    {"Type": "User", "Message": message},
                    {"x-amzn-ErrorType": "AccessDeniedException"},
                )
        event = json.loads(body) if body else {}
        result = fn.invoke(event)
        headers = {"X-Amz-Executed-Version": "$LATEST"}
        if result.error is not None:
            headers["X-Amz-Function-Error"] = "Unhandled"
            return _json(start_response, 200, result.error, headers)
        return _json(start_response, 200, result.payload, headers)

    def _check_sns_publish(self, environ: dict[str, Any], caller: Caller) -> str | None:
        """The state machine's sns:Publish (query protocol) against its role; the body is put back for
        moto. Returns the denial message, or None when allowed or not a Publish."""
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        form = urllib.parse.parse_qs(body.decode("utf-8", "replace"))
        if form.get("Action") != ["Publish"] or "TopicArn" not in form:
            return None
        topic = form["TopicArn"][0]
        if evaluate(caller.statements, Request("sns:Publish", topic)) == "allow":
            return None
        message = f"User: {caller.role_arn} is not authorized to perform: SNS:Publish on resource: {topic}"
        self.denied.append(message)
        return message

    def _caller(self, environ: dict[str, Any]) -> Caller | None:
        auth = str(environ.get("HTTP_AUTHORIZATION", ""))
        found = re.search(r"Credential=([^/]+)/", auth)
        return self.callers.get(found.group(1)) if found else None


def _sns_denied(start_response: Callable[..., Any], message: str) -> list[bytes]:
    data = (
        "<ErrorResponse><Error><Type>Sender</Type><Code>AuthorizationError</Code>"
        f"<Message>{html.escape(message)}</Message></Error><RequestId>harness</RequestId></ErrorResponse>"
    ).encode()
    start_response("403 Forbidden", [("Content-Type", "text/xml"), ("Content-Length", str(len(data)))])
    return [data]


def _json(start_response: Callable[..., Any], status: int, value: Any, headers: dict[str, str]) -> list[bytes]:
    data = json.dumps(value).encode()
    headers = {"x-amzn-RequestId": str(uuid.uuid4()), **headers}  # every Lambda API answer has one
    reason = {200: "OK", 403: "Forbidden", 404: "Not Found"}[status]
    start_response(
        f"{status} {reason}",
        [("Content-Type", "application/json"), ("Content-Length", str(len(data))), *headers.items()],
    )
    return [data]


def lambda_environment(
    template_env: dict[str, str],
    *,
    function_name: str,
    region: str,
    endpoint: str,
    memory: int,
    log_group: str,
) -> dict[str, str]:
    """What a function's process sees: the template's variables, what the Lambda runtime defines
    (Lambda Developer Guide, "Defined runtime environment variables"), and the emulator's endpoint.
    Nothing of the test process's own environment leaks in."""
    runtime = {
        "AWS_REGION": region,
        "AWS_DEFAULT_REGION": region,
        "AWS_LAMBDA_FUNCTION_NAME": function_name,
        "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": str(memory),
        "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
        "AWS_LAMBDA_LOG_GROUP_NAME": log_group,
        "AWS_LAMBDA_LOG_STREAM_NAME": "harness",
        "AWS_LAMBDA_LOG_FORMAT": "JSON",
        "AWS_EXECUTION_ENV": "AWS_Lambda_python3.12",
        # The role's temporary credentials (any value: the harness authorises by role, moto by nothing).
        "AWS_ACCESS_KEY_ID": "ASIAHARNESSLAMBDA",
        "AWS_SECRET_ACCESS_KEY": "harness",
        "AWS_SESSION_TOKEN": "harness",
        "LANG": "en_US.UTF-8",
        "TZ": ":UTC",
        "PATH": os.defpath,
        # Never the developer's own AWS configuration.
        "AWS_CONFIG_FILE": os.devnull,
        "AWS_SHARED_CREDENTIALS_FILE": os.devnull,
        "AWS_ENDPOINT_URL": endpoint,
    }
    return {**runtime, **template_env}
