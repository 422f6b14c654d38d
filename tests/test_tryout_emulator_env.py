"""The variables the emulator and the README tell a new user to export must work for boto3 too (session 4
try-out): the README says "aws cognito-idp create-user-pool ... # or boto3", and boto3 reads the Region
from AWS_DEFAULT_REGION only (the AWS CLI and this tool also read AWS_REGION). Before, a boto3 script
written after the README failed with NoRegionError."""

from __future__ import annotations

import shlex
import subprocess
import sys
from pathlib import Path

import boto3
import pytest

README = Path(__file__).resolve().parents[1] / "README.md"


def exported(line: str) -> dict[str, str]:
    words = shlex.split(line[line.index("export ") + len("export ") :], comments=True)
    return dict(word.split("=", 1) for word in words if "=" in word)


def region_boto3_sees(variables: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> str | None:
    for name in ("AWS_REGION", "AWS_DEFAULT_REGION", "AWS_CONFIG_FILE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/nonexistent")  # no profile's Region either
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    return boto3.session.Session().region_name


def test_the_readme_exports_give_boto3_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    [line] = [line for line in README.read_text().splitlines() if line.startswith("export AWS_ENDPOINT_URL=")]
    assert region_boto3_sees(exported(line), monkeypatch) == "us-east-1"


def test_the_emulators_exports_give_boto3_a_region(monkeypatch: pytest.MonkeyPatch) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-c", "from cognito_backup.cli.main import main; main()", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
    finally:
        proc.terminate()
        proc.wait(timeout=60)
    [credentials] = [line for line in lines if "AWS_SECRET_ACCESS_KEY" in line]
    assert region_boto3_sees(exported(credentials), monkeypatch) == "us-east-1"
