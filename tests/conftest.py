"""Shared fixtures: moto in-process and moto as a real HTTP server; never our own functions patched."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cognito_backup.emulator import Emulator

REGION = "us-east-1"


@pytest.fixture(autouse=True)
def _aws_env(monkeypatch: pytest.MonkeyPatch) -> None:
    # Tests must never reach a real AWS account, whatever the developer's shell has.
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setenv("AWS_DEFAULT_REGION", REGION)
    monkeypatch.setenv("AWS_REGION", REGION)


@pytest.fixture(autouse=True)
def _cold_lambda_container() -> None:
    # The Lambda handlers keep their clients per container (serverless/warm.py): each test starts cold, so
    # the hooks and endpoints it sets reach the clients its handlers build.
    from cognito_backup.serverless import warm

    warm.forget()


@pytest.fixture(autouse=True)
def _cognito_tagging() -> None:
    # moto lacks Cognito's tagging calls: the emulator's double of them (cognito_backup/emulator_tags.py).
    from cognito_backup import emulator_tags

    emulator_tags.install()


@pytest.fixture
def aws() -> Iterator[None]:
    """moto in-process for the duration of one test."""
    with mock_aws():
        yield


@pytest.fixture
def cognito(aws: None) -> Any:
    return boto3.client("cognito-idp", region_name=REGION)


@pytest.fixture
def s3(aws: None) -> Any:
    return boto3.client("s3", region_name=REGION)


@pytest.fixture(scope="session")
def moto_server() -> Iterator[str]:
    """The project's emulator (moto's server, one request at a time inside moto) on a loopback port,
    shared by the session (reset per test)."""
    with Emulator() as url:
        yield url


@pytest.fixture
def server_url(moto_server: str) -> Iterator[str]:
    import urllib.request

    urllib.request.urlopen(urllib.request.Request(f"{moto_server}/moto-api/reset", method="POST")).read()
    yield moto_server


@pytest.fixture
def server_cognito(server_url: str) -> Any:
    return boto3.client("cognito-idp", region_name=REGION, endpoint_url=server_url)


@pytest.fixture
def tmp_repo(tmp_path: Any) -> str:
    return str(tmp_path / "repo")


def pytest_configure(config: pytest.Config) -> None:
    os.environ.setdefault("COGNITO_BACKUP_TESTING", "1")
