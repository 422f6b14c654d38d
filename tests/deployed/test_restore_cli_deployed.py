"""`cognito-backup restore --deployed STACK` and `--status` against moto: CloudFormation DescribeStacks
finds the stack, Step Functions runs the template's restore state machine (its Lambda steps in their
own processes), and the status combines DescribeExecution with the repository's restore state.

The harness creates the template's resources itself (tests/deployed/harness.py), not through moto's
CloudFormation; the stack CloudFormation describes is an honest double of the deployed one: a stack in
moto of the same name whose outputs and parameter carry the values the template's Outputs
(RestoreStateMachineArn, RepositoryUrl, KmsKeyArn) and RestoreUserPoolId have in the deployed stack.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner, Result

from cognito_backup.cli.main import cli
from cognito_backup.repo.leases import Lease
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.deployed.test_restore_deployed import backed_up_source, repository
from tests.helpers import make_pool


def describable(d: Deployed) -> str:
    """The deployed stack as CloudFormation describes it (outputs and the parameter the CLI reads)."""
    outputs = {
        "RestoreStateMachineArn": d.restore_state_machine(),
        "RepositoryUrl": f"s3://{d.bucket}/{d.prefix}",
        "KmsKeyArn": d.kms_key_arn,
    }
    template = {
        "Parameters": {"RestoreUserPoolId": {"Type": "String"}},
        # A stack needs one resource; this one stands for the many the real stack has.
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {k: {"Value": v} for k, v in outputs.items()},
    }
    target = d.stack.parameters["RestoreUserPoolId"]
    d.client("cloudformation").create_stack(
        StackName=d.stack.name,
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "RestoreUserPoolId", "ParameterValue": target}],
    )
    return d.stack.name


def run(url: str, *args: str) -> Result:
    return CliRunner().invoke(cli, ["--endpoint-url", url, "--region", REGION, "restore", *args])


@pytest.fixture
def deployed(deployed_env: tuple[str, Lambdas, Path]) -> tuple[str, Any, Deployed, str, str]:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target = make_pool(cognito, "A"), make_pool(cognito, "B")
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool, "RestoreUserPoolId": target})
    return url, cognito, d, describable(d), target


def test_deployed_starts_the_state_machine_and_status_follows_it_to_the_end(
    deployed: tuple[str, Any, Deployed, str, str],
) -> None:
    url, cognito, d, stack, target = deployed
    source, desired = backed_up_source(cognito, d, users=6)

    started = run(url, "--deployed", stack, "--user-pool-id", target, "--source-user-pool-id", source, "--json")

    assert started.exit_code == 0, started.output
    body = json.loads(started.output)
    arn = body["execution_arn"]
    assert arn.startswith(d.restore_state_machine().replace(":stateMachine:", ":execution:"))
    # The input document the console would take (docs/deploy.md).
    assert body["input"] == {"request": {"target_user_pool_id": target, "source_user_pool_id": source}}
    assert d.wait_execution(arn, timeout=120)["status"] == "SUCCEEDED"

    status = run(url, "--deployed", stack, "--status", arn, "--json")

    assert status.exit_code == 0, status.output
    got = json.loads(status.output)
    assert got["status"] == "succeeded" and got["exit_code"] == 0 and got["error"] is None
    assert got["counts"]["users_created"] == len(desired.users) == 6
    assert got["counts"]["passwords_set"] == 6
    assert got["report"].endswith("/report.json") and got["steps"] >= 1
    # By the run key (target@snapshot), and in words.
    by_run = run(url, "--deployed", stack, "--status", got["run"])
    assert by_run.exit_code == 0, by_run.output
    assert "succeeded" in by_run.output and arn in by_run.output.replace("\n", "")


def test_a_failed_deployed_restore_exits_as_the_cli_restore_would(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool = make_pool(cognito, "A")
    target = str(cognito.create_user_pool(PoolName="no-custom-attributes")["UserPool"]["Id"])
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool, "RestoreUserPoolId": target})
    stack = describable(d)
    source, _ = backed_up_source(cognito, d, users=2)
    args = ("--deployed", stack, "--user-pool-id", target, "--source-user-pool-id", source)

    started = run(url, *args, "--no-add-attributes", "--json")
    assert started.exit_code == 0, started.output
    arn = json.loads(started.output)["execution_arn"]
    d.wait_execution(arn, timeout=120)
    status = run(url, "--deployed", stack, "--status", arn.rsplit(":", 1)[-1], "--json")

    assert status.exit_code == 8, status.output  # PlanRefused, as `restore` without --deployed
    got = json.loads(status.output)
    assert got["status"] == "failed" and got["error"] == "PlanRefused"


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--new-pool", "fresh"], "does not create"),
        (["--password-mode", "temporary-file"], "temporary passwords"),
        (["--prune"], "--yes"),
        (["--dry-run"], "without --deployed"),
        (["--users-via", "import-job", "--import-role-arn", "arn:aws:iam::123456789012:role/x"], "import jobs"),
    ],
)
def test_what_a_deployed_restore_cannot_do_is_refused_with_exit_2(
    deployed: tuple[str, Any, Deployed, str, str], extra: list[str], says: str
) -> None:
    url, _, d, stack, target = deployed
    where = [] if "--new-pool" in extra else ["--user-pool-id", target]

    result = run(url, "--deployed", stack, *where, *extra)

    assert result.exit_code == 2, result.output
    assert says in result.output.replace("\n", " ")
    assert d.client("stepfunctions").list_executions(stateMachineArn=d.restore_state_machine())["executions"] == []


def test_a_target_the_stack_may_not_write_and_an_unknown_stack_are_refused(
    deployed: tuple[str, Any, Deployed, str, str],
) -> None:
    url, cognito, d, stack, target = deployed
    other = make_pool(cognito, "C")

    wrong_pool = run(url, "--deployed", stack, "--user-pool-id", other)
    no_stack = run(url, "--deployed", "no-such-stack", "--user-pool-id", target)

    assert wrong_pool.exit_code == 2 and target in wrong_pool.output and "RestoreUserPoolId" in wrong_pool.output
    assert no_stack.exit_code == 2 and "no such CloudFormation stack" in no_stack.output
    assert d.client("stepfunctions").list_executions(stateMachineArn=d.restore_state_machine())["executions"] == []


def test_a_target_another_restore_holds_is_refused_before_an_execution_starts(
    deployed: tuple[str, Any, Deployed, str, str],
) -> None:
    """A CLI restore into the stack's target runs (it holds `restore/<target>`): starting the deployed
    one would only make its first step fail and the topic mail FAILED. Refused here, exit 13, nothing
    started."""
    url, cognito, d, stack, target = deployed
    source, _ = backed_up_source(cognito, d, users=2)
    held = Lease.acquire(
        repository(d).store, f"restore/{target}", what=f"The restore target {target}", purpose="restore"
    )
    try:
        refused = run(url, "--deployed", stack, "--user-pool-id", target, "--source-user-pool-id", source, "--json")
        assert refused.exit_code == 13, refused.output
        error = json.loads(refused.stdout)["error"]
        assert error["kind"] == "repository_busy" and target in error["message"]
        machine = d.restore_state_machine()
        assert d.client("stepfunctions").list_executions(stateMachineArn=machine)["executions"] == []
    finally:
        held.release()
