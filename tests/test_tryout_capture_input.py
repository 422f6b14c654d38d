"""`capture --queue` with a queue that is not there, or not a queue URL (session 4 try-out).

moto in-process (SQS answers a missing queue as AWS does: AWS.SimpleQueueService.NonExistentQueue)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli


def capture(repo: Path, queue: str) -> Any:
    return CliRunner().invoke(cli, ["capture", "--repo", str(repo), "--queue", queue, "--json"])


def test_a_queue_that_does_not_exist_is_not_found_and_creates_no_repository(aws: None, tmp_path: Path) -> None:
    """Before: an internal error (exit 70, a traceback of QueueDoesNotExist), after creating a repository
    at --repo."""
    repo = tmp_path / "repo"
    result = capture(repo, "https://sqs.us-east-1.amazonaws.com/123456789012/no-such-queue")
    assert result.exit_code == 7, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "not_found"
    assert "no-such-queue" in error["message"] and "does not exist" in error["message"]
    assert "Traceback" not in result.output
    assert not repo.exists()


@pytest.mark.parametrize("queue", ["capture", "arn:aws:sqs:us-east-1:123456789012:capture", "s3://bucket/q"])
def test_a_queue_name_or_arn_is_a_usage_error_that_says_url(aws: None, tmp_path: Path, queue: str) -> None:
    result = capture(tmp_path / "repo", queue)
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and "queue URL" in error["message"]
    assert not (tmp_path / "repo").exists()


def test_any_aws_error_no_translation_knows_is_exit_9_with_its_code(aws: None, tmp_path: Path) -> None:
    """The net under every command: an AWS error that reaches the top is the documented 'other AWS error'
    (9, its code printed), not a bug (70). Shown with an error code nothing translates, answered to the
    first ReceiveMessage below botocore."""
    import boto3

    from tests.http_faults import Fault, HttpFaults, every_new_client

    url = boto3.client("sqs", region_name="us-east-1").create_queue(QueueName="q")["QueueUrl"]

    def deny_receive(operation: str, attempt: int) -> Fault | None:
        return Fault(400, "KmsAccessDenied.Odd") if operation == "ReceiveMessage" else None

    with every_new_client(HttpFaults(deny_receive)):
        result = capture(tmp_path / "repo", url)
    assert result.exit_code == 9, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "aws_error" and "ReceiveMessage" in error["message"]
    assert "KmsAccessDenied.Odd" in error["message"]
