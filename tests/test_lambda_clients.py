"""A Lambda container builds each AWS client once (serverless/warm.py): two deployed restore steps in one
process build one Cognito client and one S3 client, not two of each (~0.45 s each on a cold Lambda).

Client builds are counted at botocore's boundary: a `creating-client-class` handler added to botocore's
built-in handlers, which every new session registers (as moto's mock_aws installs its own)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterator
from typing import Any

import boto3
import botocore.handlers
import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.serverless import restore as restore_lambda
from cognito_backup.serverless import warm
from tests.deployed_paths import REGION, LambdaContext, make_stack
from tests.helpers import make_pool

EXECUTION = f"arn:aws:states:{REGION}:1:execution:m:e"


@pytest.fixture
def builds() -> Iterator[Counter[str]]:
    """Clients built from now on, by service (botocore's service id)."""
    counts: Counter[str] = Counter()

    def on_create(event_name: str, **_: Any) -> None:
        counts[event_name.rsplit(".", 1)[-1]] += 1

    entry = ("creating-client-class", on_create)
    botocore.handlers.BUILTIN_HANDLERS.append(entry)
    saved_default = boto3.DEFAULT_SESSION
    boto3.DEFAULT_SESSION = None  # built before the hook: make the next boto3.client build anew
    try:
        yield counts
    finally:
        botocore.handlers.BUILTIN_HANDLERS.remove(entry)
        boto3.DEFAULT_SESSION = saved_default


def _step(event: dict[str, Any], n: int) -> dict[str, Any]:
    out: dict[str, Any] = restore_lambda.handler(event, LambdaContext(f"restore-{n}", pages=3))
    return out


def test_two_restore_steps_in_one_container_build_each_client_once(
    aws: None, monkeypatch: pytest.MonkeyPatch, builds: Counter[str]
) -> None:
    stack = make_stack(monkeypatch)
    backed = CliRunner().invoke(cli, ["backup", "--repo", stack.repo_url, "--user-pool-id", stack.source, "--json"])
    assert backed.exit_code == 0, backed.output
    target = make_pool(stack.cognito, "target")
    monkeypatch.setenv(restore_lambda.TARGET_VAR, target)
    warm.forget()  # a cold container
    builds.clear()
    request = {"target_user_pool_id": target, "source_user_pool_id": stack.source}
    first = _step({"request": request, "step": 0, "execution": EXECUTION}, 0)
    assert first["done"] is False
    after_first = dict(builds)
    assert after_first == {"cognito-identity-provider": 1, "s3": 1}, after_first
    second = _step({k: first[k] for k in ("request", "step")} | {"execution": EXECUTION}, 1)
    assert second["step"] == 2
    assert dict(builds) == after_first  # the warm container built nothing


def test_another_region_or_other_credentials_get_their_own_client(
    aws: None, monkeypatch: pytest.MonkeyPatch, builds: Counter[str]
) -> None:
    warm.forget()
    first = warm.client("cognito-idp", "us-east-1")
    assert warm.client("cognito-idp", "us-east-1") is first
    assert warm.client("cognito-idp", "eu-west-1") is not first
    # Lambda sets the role's credentials in the environment once per execution environment; were they
    # ever different, a client signed with the old ones would not be reused.
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "another-role")
    other = warm.client("cognito-idp", "us-east-1")
    assert other is not first
    # A service's own endpoint variable (botocore reads it when it builds the client) counts too.
    monkeypatch.setenv("AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER", "http://127.0.0.1:9")
    assert warm.client("cognito-idp", "us-east-1") is not other
    assert builds["cognito-identity-provider"] == 4
