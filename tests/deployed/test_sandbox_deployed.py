"""The harness's Lambda sandbox itself: a function sees only what the template and the Lambda runtime
give it, and an invocation that overruns its timeout is stopped as Lambda stops it."""

from __future__ import annotations

from pathlib import Path

import boto3

from tests.deployed.harness import REGION, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.helpers import make_pool


def test_a_function_sees_only_its_template_environment(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    probe = d.sandbox_of("CaptureFunction", "tests.deployed.probes.environment")

    result = probe.invoke({})

    assert result.error is None
    seen = result.payload["environ"]
    template = d.stack.function_environment("CaptureFunction")
    assert {k: seen[k] for k in template} == template
    assert seen["COGNITO_BACKUP_REPO"] == f"s3://{d.bucket}/cognito-backup"
    assert seen["COGNITO_BACKUP_USER_POOL_ID"] == pool
    assert seen["AWS_LAMBDA_FUNCTION_NAME"] == d.stack.refs["CaptureFunction"]
    # Nothing of the test process: no developer credentials, no pytest, no testing switches.
    assert not any(k.startswith(("PYTEST", "COGNITO_BACKUP_TESTING", "VIRTUAL_ENV", "AWS_PROFILE")) for k in seen)
    assert seen["AWS_ACCESS_KEY_ID"] != "testing"
    # The context counts down from the template's Timeout (120 s for capture).
    assert 110_000 < result.payload["remaining_ms"] <= 120_000


def test_an_invocation_over_its_timeout_is_stopped(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    probe = d.sandbox_of("TriggerFunction", "tests.deployed.probes.sleep", timeout=1.0)

    probe.invoke({"seconds": 0})  # warm
    late = probe.invoke({"seconds": 3})  # killed after 1 s (+0.5 s of slack), not waited for
    again = probe.invoke({"seconds": 0})  # a fresh environment serves the next invocation

    assert late.error == {"errorType": "Sandbox.Timedout", "errorMessage": "Task timed out after 1.00 seconds"}
    assert late.wall_ms < 2500
    assert again.error is None and again.init_ms > 0
