"""One Lambda execution environment: imports the handler the template names and serves invocations.

Run by tests/deployed/lambdas.py as `python lambda_child.py SPEC` with only the environment the
template gives the function (plus what the Lambda runtime adds and the emulator's endpoint). Before the
handler creates any client, a botocore hook is installed in every session: each AWS call is mapped to
its IAM authorisations (iam_calls.py) and evaluated (tests/iam_eval.py) against the function's role
and, for S3, the bucket policy; a denied call is answered with the service's AccessDenied error before
it leaves the process, as AWS would answer it. Every decision is appended to the audit file.

Protocol: one JSON invocation per line on stdin, one JSON answer per line on the file descriptor that
was stdout (the handler's own prints and logs go to stderr, like Lambda's log stream).
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(ROOT))

from tests.deployed.iam_calls import CallSite, UnmappedCall, requests_for  # noqa: E402
from tests.iam_eval import evaluate  # noqa: E402

# Error code and HTTP status AWS answers a denied call with, per service.
_DENIED = {"cognito-idp": ("AccessDeniedException", 400), "s3": ("AccessDenied", 403)}


class Authorizer:
    def __init__(self, spec: dict[str, Any]) -> None:
        self.role_arn: str = spec["role_arn"]
        self.statements: list[dict[str, Any]] = spec["role_statements"]
        self.bucket_policies: dict[str, list[dict[str, Any]]] = spec["bucket_policies"]
        self.account: str = spec["account"]
        self.bucket_key: str | None = spec.get("bucket_kms_key_arn")
        self.audit = Path(spec["audit_file"])
        self.function = spec["function"]

    def install(self) -> None:
        import botocore.handlers

        botocore.handlers.BUILTIN_HANDLERS.append(("before-parameter-build", self._remember_params))
        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", self._authorize))

    @staticmethod
    def _remember_params(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        context["harness_api_params"] = dict(params)

    def _authorize(self, model: Any, context: dict[str, Any], **kwargs: Any) -> Any:
        service = model.service_model.endpoint_prefix
        signing = model.service_model.signing_name or service
        params = context.get("harness_api_params", {})
        region = context.get("client_region") or os.environ.get("AWS_REGION", "us-east-1")
        site = CallSite(region=str(region), account=self.account, bucket_kms_key_arn=self.bucket_key)
        try:
            requests = requests_for(signing, model.name, params, site)
        except UnmappedCall as exc:
            self._audit(model.name, str(exc), "", "unmapped")
            return self._deny(service, f"the test harness has no IAM mapping for {exc}", model.name)
        for req in requests:
            bucket_policy: list[dict[str, Any]] = []
            if req.action.startswith("s3:"):
                bucket = req.resource.removeprefix("arn:aws:s3:::").split("/", 1)[0]
                bucket_policy = self.bucket_policies.get(bucket, [])
            decision = evaluate(self.statements, req, resource_policy=bucket_policy)
            self._audit(model.name, req.action, req.resource, decision)
            if decision != "allow":
                why = (
                    "with an explicit deny in a resource-based policy"
                    if decision == "explicit-deny"
                    else f"because no identity-based policy allows the {req.action} action"
                )
                message = (
                    f"User: {self.role_arn} is not authorized to perform: {req.action}"
                    f" on resource: {req.resource} {why}"
                )
                return self._deny(service, message, model.name)
        return None

    def _audit(self, operation: str, action: str, resource: str, decision: str) -> None:
        line = {"function": self.function, "operation": operation, "action": action, "resource": resource}
        line["decision"] = decision
        with self.audit.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(line) + "\n")

    @staticmethod
    def _deny(service: str, message: str, operation: str) -> Any:
        from botocore.awsrequest import AWSResponse
        from botocore.compat import HTTPHeaders

        code, status = _DENIED.get(service, ("AccessDeniedException", 400))
        response = AWSResponse("https://denied.invalid", status, HTTPHeaders(), None)
        parsed = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        return response, parsed


class WorkClock:
    """A function's clock when its spec gives `seconds_per_call`: every AWS call the handler makes costs that
    much, and nothing else passes. A test that needs a step to run out of time after so much work (a loop of
    several steps) then gets the same split on an idle laptop and on a machine loaded ten times over, where
    wall time would leave a step no time for any work at all (docs/deploy.md, "The harness")."""

    def __init__(self, seconds_per_call: float) -> None:
        self.seconds_per_call = seconds_per_call
        self.calls = 0

    def install(self) -> None:
        import botocore.handlers

        botocore.handlers.BUILTIN_HANDLERS.append(("before-call", self._count))

    def _count(self, **_: Any) -> None:
        self.calls += 1

    def __call__(self) -> float:
        return self.calls * self.seconds_per_call


class Context:
    """The Lambda context object's documented fields."""

    def __init__(self, spec: dict[str, Any], deadline: float, clock: Any = time.monotonic) -> None:
        self.function_name = spec["function_name"]
        self.function_version = "$LATEST"
        self.invoked_function_arn = spec["function_arn"]
        self.memory_limit_in_mb = str(spec.get("memory", 128))
        self.aws_request_id = str(uuid.uuid4())
        self.log_group_name = spec.get("log_group", "")
        self.log_stream_name = "harness"
        self._deadline = deadline
        self._clock = clock

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - self._clock()) * 1000))


def main() -> None:
    spec = json.loads(Path(sys.argv[1]).read_text(encoding="utf-8"))
    Authorizer(spec).install()
    clock: Any = time.monotonic
    if spec.get("seconds_per_call") is not None:
        clock = WorkClock(float(spec["seconds_per_call"]))
        clock.install()
    answers = os.fdopen(os.dup(1), "w", encoding="utf-8")
    os.dup2(2, 1)  # the handler's prints go to the log stream
    sys.stdout = sys.stderr
    logging.basicConfig(level=logging.INFO, stream=sys.stderr, format="%(levelname)s %(name)s %(message)s")
    module_name, _, attr = spec["handler"].rpartition(".")
    init_started = time.monotonic()
    import importlib

    handler = getattr(importlib.import_module(module_name), attr)
    init_ms = (time.monotonic() - init_started) * 1000
    for line in sys.stdin:
        request = json.loads(line)
        started = clock()
        context = Context(spec, started + float(spec["timeout"]), clock)
        answer: dict[str, Any] = {"init_ms": init_ms}
        init_ms = 0.0
        try:
            answer["payload"] = handler(request["event"], context)
        except Exception as exc:
            # The Python runtime's error payload (Lambda Developer Guide, "Python Lambda function errors").
            answer["error"] = {
                "errorMessage": str(exc),
                "errorType": type(exc).__name__,
                "requestId": context.aws_request_id,
                "stackTrace": traceback.format_tb(exc.__traceback__),
            }
        answer["duration_ms"] = (clock() - started) * 1000
        answers.write(json.dumps(answer, default=str) + "\n")
        answers.flush()


if __name__ == "__main__":
    main()
