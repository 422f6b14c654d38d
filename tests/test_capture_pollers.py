"""The deployed capture runs as several concurrent Lambda instances (the SQS event source mapping's
MaximumConcurrency), each with its own Pacer: together they must not take more than one capture's
share of the quotas (half of UserList: a backup running at the same time keeps the other half)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from tests.test_deploy_template import TEMPLATE, load_template

REGION = "us-east-1"


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text(encoding="utf-8"))


def test_each_capture_instance_paces_at_its_share_of_the_capture_quota() -> None:
    from cognito_backup.cli.journal_cmds import reader_factory

    client = boto3.client("cognito-idp", region_name=REGION)
    whole = reader_factory(client, ())("us-east-1_Pool1").pacer.rates
    shared = reader_factory(client, (), instances=10)("us-east-1_Pool1").pacer.rates
    assert shared["UserList"] == pytest.approx(whole["UserList"] / 10)  # 10 instances: 15/s in all, not 150
    assert shared["UserRead"] == pytest.approx(whole["UserRead"] / 10)


def test_the_capture_function_knows_how_many_instances_share_the_quota(template: dict[str, Any]) -> None:
    fn = template["Resources"]["CaptureFunction"]["Properties"]
    pollers = fn["Events"]["CaptureQueue"]["Properties"]["ScalingConfig"]["MaximumConcurrency"]
    assert int(fn["Environment"]["Variables"]["COGNITO_BACKUP_CAPTURE_INSTANCES"]) == pollers
    # The scheduled caught-up check runs beside the pollers (it is not counted by MaximumConcurrency).
    assert "CaughtUpCheck" in fn["Events"]


def test_the_capture_handler_paces_at_its_instance_share(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from cognito_backup.serverless import capture

    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(tmp_path / "repo"))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", "us-east-1_Pool1")
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_REGION", REGION)
    monkeypatch.setenv("COGNITO_BACKUP_CAPTURE_INSTANCES", "4")
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "testing")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "testing")
    monkeypatch.setattr(capture, "_runtime", {})
    capturer, _, _ = capture._components()
    rates = capturer.reader_for("us-east-1_Pool1").pacer.rates
    assert rates["UserList"] == pytest.approx(15 / 4)
    assert rates["UserRead"] == pytest.approx(120 / 4)
