"""No silent gaps (issue 9, point 2): an optional configuration read that keeps failing, or is denied by
IAM, marks the snapshot incomplete (exit 11) instead of passing for "not offered". Faults are HTTP
answers injected at botocore's before-send (tests/http_faults.py), against moto's HTTP server."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import OPTIONAL_ATTEMPTS, PoolReader
from cognito_backup.aws.sections import NOT_OFFERED, Verdict, classify, is_aws_answer
from cognito_backup.cli.main import cli
from cognito_backup.errors import PoolNotFound, SnapshotIncomplete
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.backup_steps import run_backup_step
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import add_user, make_pool
from tests.http_faults import HTML_PAGE, Fault, HttpFaults, by_operation, every_new_client, internal_error

REGION = "us-east-1"
JSON = "application/x-amz-json-1.1"


# ---- the table and the classification (pure) ---------------------------------------------------------
def test_every_not_offered_code_is_documented_for_its_operation() -> None:
    model = boto3.client("cognito-idp", region_name=REGION).meta.service_model
    for operation, codes in NOT_OFFERED.items():
        documented = {shape.name for shape in model.operation_model(operation).error_shapes}
        # FeatureUnavailableInTierException is newer than some botocore models: Cognito documents it for
        # features outside the pool's feature plan.
        assert codes - {"FeatureUnavailableInTierException"} <= documented, operation


@pytest.mark.parametrize(
    ("operation", "code", "status", "content_type", "verdict"),
    [
        ("GetUserPoolMfaConfig", "InternalErrorException", 500, JSON, Verdict.TRANSIENT),
        ("GetUserPoolMfaConfig", "InternalFailure", 500, JSON, Verdict.TRANSIENT),
        ("GetUserPoolMfaConfig", "500", 500, "application/json", Verdict.TRANSIENT),
        ("GetUserPoolMfaConfig", "ResourceNotFoundException", 400, JSON, Verdict.UNREADABLE),
        ("GetUserPoolMfaConfig", "AccessDeniedException", 400, JSON, Verdict.DENIED),
        ("GetUserPoolMfaConfig", "NotAuthorizedException", 400, JSON, Verdict.DENIED),
        ("GetUserPoolMfaConfig", "InvalidParameterException", 400, JSON, Verdict.UNREADABLE),
        ("GetUserPoolMfaConfig", "TooManyRequestsException", 400, JSON, Verdict.THROTTLED),
        # an emulator without the call: an HTML page, botocore's code is the bare status
        ("GetUserPoolMfaConfig", "500", 500, "text/html; charset=utf-8", Verdict.NOT_OFFERED),
        ("GetUICustomization", "404", 404, "text/html", Verdict.NOT_OFFERED),
        # a bare 500 without any body says nothing about the call
        ("GetUserPoolMfaConfig", "500", 500, "", Verdict.TRANSIENT),
        # a load balancer's page is an outage, not an answer about the call
        ("GetUserPoolMfaConfig", "503", 503, "text/html", Verdict.TRANSIENT),
        ("ListTagsForResource", "Unsupported", 500, "application/json", Verdict.NOT_OFFERED),  # cognito-local
        ("ListIdentityProviders", "Unsupported", 500, "application/json", Verdict.NOT_OFFERED),
        ("DescribeUserPoolDomain", "ResourceNotFoundException", 400, JSON, Verdict.NOT_OFFERED),
        ("GetUICustomization", "InvalidParameterException", 400, JSON, Verdict.NOT_OFFERED),
        ("DescribeRiskConfiguration", "UserPoolAddOnNotEnabledException", 400, JSON, Verdict.NOT_OFFERED),
        ("DescribeRiskConfiguration", "FeatureUnavailableInTierException", 400, JSON, Verdict.NOT_OFFERED),
        ("DescribeRiskConfiguration", "InternalErrorException", 500, JSON, Verdict.TRANSIENT),
    ],
)
def test_classify(operation: str, code: str, status: int, content_type: str, verdict: Verdict) -> None:
    assert classify(operation, code, status=status, content_type=content_type) is verdict


def test_a_vanished_pool_is_not_a_missing_section() -> None:
    verdict = classify(
        "GetUICustomization",
        "ResourceNotFoundException",
        status=400,
        content_type=JSON,
        message="User pool us-east-1_abc does not exist.",
    )
    assert verdict is Verdict.POOL_GONE
    assert is_aws_answer("InternalErrorException", "text/html")
    assert not is_aws_answer("500", "text/html")


# ---- against a server --------------------------------------------------------------------------------
@pytest.fixture
def pool(server_cognito: Any) -> str:
    pool_id = make_pool(server_cognito)
    add_user(server_cognito, pool_id, "alice", {"email": "alice@example.com"})
    server_cognito.set_user_pool_mfa_config(
        UserPoolId=pool_id, MfaConfiguration="OPTIONAL", SoftwareTokenMfaConfiguration={"Enabled": True}
    )
    return pool_id


def _backup(client: Any, pool_id: str, tmp_path: Path) -> Any:
    repo = Repository(LocalStore(tmp_path / "repo"))
    return run_backup(PoolReader(client, Pacer(sleep=lambda s: None), pool_id), repo, REGION)


def test_mfa_config_failing_every_time_makes_the_snapshot_incomplete(
    server_cognito: Any, pool: str, tmp_path: Path
) -> None:
    faults = HttpFaults(by_operation({"GetUserPoolMfaConfig": internal_error()})).install(server_cognito)
    result = _backup(server_cognito, pool, tmp_path)
    # written, with the users, and marked
    assert result.manifest.counts["users"] == 1
    assert result.manifest.incomplete == {
        "GetUserPoolMfaConfig": f"InternalErrorException after {OPTIONAL_ATTEMPTS} attempts"
    }
    assert "GetUserPoolMfaConfig" not in result.manifest.extra["unavailable"]
    assert result.summary()["incomplete"] == result.manifest.incomplete
    # the tool asked again beyond botocore's own attempts
    assert faults.attempts["GetUserPoolMfaConfig"] > OPTIONAL_ATTEMPTS
    repo = Repository(LocalStore(tmp_path / "repo"))
    config = repo.load_config(repo.resolve("latest"))
    assert config.incomplete == result.manifest.incomplete


def test_mfa_config_failing_once_is_retried_and_complete(server_cognito: Any, pool: str, tmp_path: Path) -> None:
    faults = HttpFaults(by_operation({"GetUserPoolMfaConfig": internal_error()}, times=1)).install(server_cognito)
    result = _backup(server_cognito, pool, tmp_path)
    assert faults.injected["GetUserPoolMfaConfig"] == 1 and faults.attempts["GetUserPoolMfaConfig"] == 2
    assert result.manifest.incomplete == {}
    repo = Repository(LocalStore(tmp_path / "repo"))
    assert repo.load_config(repo.resolve("latest")).mfa_config["MfaConfiguration"] == "OPTIONAL"


@pytest.mark.parametrize("code", ["AccessDeniedException", "NotAuthorizedException"])
def test_denied_section_makes_the_snapshot_incomplete(
    server_cognito: Any, pool: str, tmp_path: Path, code: str
) -> None:
    HttpFaults(by_operation({"GetUserPoolMfaConfig": Fault(400, code)})).install(server_cognito)
    result = _backup(server_cognito, pool, tmp_path)
    assert result.manifest.incomplete == {"GetUserPoolMfaConfig": f"access denied ({code})"}


def test_html_page_means_not_offered_and_a_gateway_page_means_outage(
    server_cognito: Any, pool: str, tmp_path: Path
) -> None:
    pages = {
        "GetUserPoolMfaConfig": Fault(500, body=HTML_PAGE, content_type="text/html"),
        "ListResourceServers": Fault(503, body=b"<html>503</html>", content_type="text/html"),
    }
    HttpFaults(by_operation(pages)).install(server_cognito)
    result = _backup(server_cognito, pool, tmp_path)
    assert result.manifest.extra["unavailable"]["GetUserPoolMfaConfig"] == "HTTP 500 without an AWS error"
    assert result.manifest.incomplete == {"ListResourceServers": f"503 after {OPTIONAL_ATTEMPTS} attempts"}


def test_a_pool_deleted_during_the_read_still_fails_the_backup(server_cognito: Any, pool: str, tmp_path: Path) -> None:
    body = json.dumps({"__type": "ResourceNotFoundException", "message": f"User pool {pool} does not exist."})
    gone = Fault(400, body=body.encode(), content_type=JSON)
    HttpFaults(by_operation({"GetUserPoolMfaConfig": gone})).install(server_cognito)
    with pytest.raises(PoolNotFound):
        _backup(server_cognito, pool, tmp_path)
    assert not list(tmp_path.glob("repo/snapshots/*.json"))


def test_cli_backup_exits_11_and_every_view_says_incomplete(
    server_url: str, server_cognito: Any, pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_ENDPOINT_URL", server_url)
    repo = str(tmp_path / "repo")
    runner = CliRunner()
    with every_new_client(HttpFaults(by_operation({"GetUserPoolMfaConfig": internal_error()}))):
        result = runner.invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo, "--json"])
    assert result.exit_code == SnapshotIncomplete.exit_code == 11, result.output
    body = json.loads(result.stdout)
    assert body["incomplete"] == {"GetUserPoolMfaConfig": f"InternalErrorException after {OPTIONAL_ATTEMPTS} attempts"}
    assert "incomplete" in result.stderr

    with every_new_client(HttpFaults(by_operation({"GetUserPoolMfaConfig": internal_error()}))):
        human = runner.invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo])
    assert human.exit_code == 11
    assert "GetUserPoolMfaConfig" in human.stderr

    snaps = json.loads(runner.invoke(cli, ["snapshots", "--repo", repo, "--json"]).stdout)
    assert all(row["incomplete"] for row in snaps)
    table = runner.invoke(cli, ["snapshots", "--repo", repo])
    assert "INCOMPLETE" in table.stdout and "GetUserPoolMfaConfig" in table.stdout

    shown = json.loads(runner.invoke(cli, ["show", "--repo", repo, "--json"]).stdout)
    assert "GetUserPoolMfaConfig" in shown["incomplete"]
    assert "INCOMPLETE" in runner.invoke(cli, ["show", "--repo", repo]).stdout

    check = runner.invoke(cli, ["check", "--repo", repo, "--json"])
    assert check.exit_code == 0  # intact: incomplete is not damage
    assert len(json.loads(check.stdout)["incomplete"]) == 2
    assert "INCOMPLETE" in runner.invoke(cli, ["check", "--repo", repo]).stdout

    # the same backup without the fault is complete and exits 0
    ok = runner.invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo, "--json"])
    assert ok.exit_code == 0, ok.output
    assert json.loads(ok.stdout)["incomplete"] == {}


def test_step_backup_carries_the_marker(server_cognito: Any, pool: str, tmp_path: Path) -> None:
    HttpFaults(by_operation({"GetUserPoolMfaConfig": Fault(400, "AccessDeniedException")})).install(server_cognito)
    repo = Repository(LocalStore(tmp_path / "repo"))
    reader = PoolReader(server_cognito, Pacer(sleep=lambda s: None), pool)
    result = run_backup_step(reader, repo, REGION, None, deadline=lambda: 1000.0)
    while not result.done:
        result = run_backup_step(reader, repo, REGION, result.checkpoint_id, deadline=lambda: 1000.0)
    expected = {"GetUserPoolMfaConfig": "access denied (AccessDeniedException)"}
    assert result.incomplete == expected
    assert result.summary()["incomplete"] == expected
    assert repo.resolve("latest").incomplete == expected


def test_lambda_result_says_incomplete(
    server_url: str, server_cognito: Any, pool: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from cognito_backup.serverless import backup as backup_lambda

    monkeypatch.setenv("AWS_ENDPOINT_URL", server_url)
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(tmp_path / "lambda-repo"))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", pool)
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_REGION", REGION)
    monkeypatch.delenv("COGNITO_BACKUP_SSE_KMS_KEY_ID", raising=False)
    backup_lambda._runtime.clear()  # a cold container: its clients get the fault
    event: dict[str, Any] = {"checkpoint": None}
    try:
        with every_new_client(HttpFaults(by_operation({"GetUserPoolMfaConfig": Fault(400, "AccessDeniedException")}))):
            for _ in range(20):
                out = backup_lambda.handler(event, None)
                if out["done"]:
                    break
                event = {"checkpoint": out["checkpoint"]}
    finally:
        backup_lambda._runtime.clear()
    assert out["done"] is True
    assert out["incomplete"] == {"GetUserPoolMfaConfig": "access denied (AccessDeniedException)"}


@pytest.mark.parametrize(("times", "incomplete"), [(None, True), (1, False)])
def test_read_timeouts_are_retried_then_mark_the_section(
    server_cognito: Any, pool: str, tmp_path: Path, times: int | None, incomplete: bool
) -> None:
    from botocore.exceptions import ReadTimeoutError

    calls = {"sent": 0}

    def timeout(request: Any, **_: Any) -> None:
        calls["sent"] += 1
        if times is None or calls["sent"] <= times:
            raise ReadTimeoutError(endpoint_url=request.url)

    server_cognito.meta.events.register("before-send.cognito-idp.GetUserPoolMfaConfig", timeout)
    result = _backup(server_cognito, pool, tmp_path)
    expected = {"GetUserPoolMfaConfig": f"ReadTimeoutError after {OPTIONAL_ATTEMPTS} attempts"} if incomplete else {}
    assert result.manifest.incomplete == expected
