"""The Post Confirmation trigger as deployed: Cognito waits at most the function's Timeout (5 s in the
template) for it, and a sign-up must never fail because of the backup. Invoked the way Cognito invokes
it (synchronously, with the trigger event), in its own process with its own role."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.repo.journal import Journal
from cognito_backup.store.s3 import S3Store
from tests.capture_helpers import render
from tests.deployed.harness import REGION, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.helpers import make_pool


@pytest.fixture
def unanswering_endpoint() -> Iterator[str]:
    """An S3 endpoint that accepts connections and never answers: the worst unreachable repository
    (a refused connection fails fast; this one uses every timeout in full)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(64)  # the kernel completes the handshakes; nobody ever reads or writes
        yield f"http://127.0.0.1:{sock.getsockname()[1]}"


def _trigger_event(pool: str) -> dict[str, Any]:
    return render("trigger_PostConfirmation_ConfirmSignUp", pool=pool)


def test_the_trigger_answers_within_its_timeout_when_the_repository_is_unreachable(
    deployed_env: tuple[str, Lambdas, Path], unanswering_endpoint: str
) -> None:
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    d = deploy_stack(
        url,
        lambdas,
        work,
        {"UserPoolId": pool},
        endpoints={"TriggerFunction": {"AWS_ENDPOINT_URL_S3": unanswering_endpoint}},
    )
    fn = d.function("TriggerFunction")
    assert fn.timeout == 5.0  # the template's, unchanged
    event = _trigger_event(pool)

    started = time.monotonic()
    result = fn.invoke(event)
    waited = time.monotonic() - started

    # The handler waits for the journal write at most trigger.BUDGET_SECONDS (3 s), whatever the store does;
    # the rest of the 5 s is the handler's lazy imports and client creation (slow on a loaded machine).
    assert result.error is None, f"{result.error} after {waited:.1f} s"  # the sign-up goes on
    assert result.payload == event  # Cognito gets its event back unchanged
    assert result.duration_ms < fn.timeout * 1000
    log = fn.log_file.read_text(encoding="utf-8")
    assert "COGNITO-BACKUP TRIGGER FAILED" in log and pool in log
    assert "jane@example.com" not in log and "Jane" not in log  # no attribute value in the log
    print(f"trigger with an unreachable repository: {result.duration_ms:.0f} ms in the handler, {waited:.1f} s in all")


def test_the_trigger_journals_the_confirmed_user(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    fn = d.function("TriggerFunction")

    result = fn.invoke(_trigger_event(pool))

    assert result.error is None and result.duration_ms < fn.timeout * 1000
    journal = Journal(S3Store(d.client("s3"), d.bucket, d.prefix, kms_key_id=d.kms_key_arn))
    records = list(journal.iter_records(pool))
    assert [(r["key"], r["event_name"]) for r in records] == [("jane.doe", "PostConfirmation_ConfirmSignUp")]
    assert d.denied() == []
    assert not any(a["action"].startswith("cognito-idp:") for a in d.audit())  # its role has none
