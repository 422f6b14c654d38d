"""`restore --deployed STACK --status ID` with an ID that is not one of the stack's restores (session 7
try-out).

Seen: `--status <ARN>` with the ARN of another state machine's execution (the stack's backup execution,
pasted from the console by mistake) answered that execution's status as the restore's: "Restore into ?
(...): succeeded", exit 0, while no restore had run. An execution ARN must be of the stack's restore state
machine; otherwise exit 7 naming both. moto in-process (CloudFormation, Step Functions); the stack is an
honest double of the deployed one as in tests/deployed/test_restore_cli_deployed.py: a stack of the same
name whose outputs carry the values the template's Outputs have."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import make_pool
from tests.restore_support import backup

PASS = json.dumps({"StartAt": "Done", "States": {"Done": {"Type": "Pass", "End": True}}})
ROLE = "arn:aws:iam::123456789012:role/machine"


def stack(cognito: Any, tmp_path: Path) -> tuple[str, str, str]:
    """The stack (its restore machine and repository), and an execution of its backup machine."""
    repo = tmp_path / "repo"
    backup(cognito, make_pool(cognito, "source"), repo)
    sfn = boto3.client("stepfunctions", region_name="us-east-1")
    restore = sfn.create_state_machine(name="stack-Restore", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    other = sfn.create_state_machine(name="stack-Backup", definition=PASS, roleArn=ROLE)["stateMachineArn"]
    execution = sfn.start_execution(stateMachineArn=other, name="backup-1")["executionArn"]
    template = {
        "Parameters": {"RestoreUserPoolId": {"Type": "String"}},
        "Resources": {"Marker": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {"RestoreStateMachineArn": {"Value": restore}, "RepositoryUrl": {"Value": str(repo)}},
    }
    boto3.client("cloudformation", region_name="us-east-1").create_stack(
        StackName="stack",
        TemplateBody=json.dumps(template),
        Parameters=[{"ParameterKey": "RestoreUserPoolId", "ParameterValue": "us-east-1_Target"}],
    )
    return "stack", restore, execution


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["--region", "us-east-1", "restore", *args])


def test_an_execution_of_another_state_machine_is_not_the_restore(cognito: Any, tmp_path: Path) -> None:
    name, restore, execution = stack(cognito, tmp_path)
    result = run("--deployed", name, "--status", execution, "--json")
    assert result.exit_code == 7, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "not_found"
    assert execution in error["message"] and restore in error["message"]
    assert "error:" in result.stderr


def test_a_name_the_restore_machine_never_ran_is_not_found(cognito: Any, tmp_path: Path) -> None:
    name, _, _ = stack(cognito, tmp_path)
    result = run("--deployed", name, "--status", "restore-nothing-like-it", "--json")
    assert result.exit_code == 7, result.output
    assert "restore-nothing-like-it" in json.loads(result.stdout)["error"]["message"]


def test_a_stack_that_does_not_exist_is_a_usage_error_naming_the_region(cognito: Any, tmp_path: Path) -> None:
    stack(cognito, tmp_path)
    result = CliRunner().invoke(cli, ["--region", "us-west-2", "restore", "--deployed", "stack", "--status", "x"])
    assert result.exit_code == 2, result.output
    assert "no such CloudFormation stack" in result.stderr and "--region" in result.stderr


def test_of_machine() -> None:
    from cognito_backup.ops.deployed_restore import of_machine

    machine = "arn:aws:states:us-east-1:123456789012:stateMachine:stack-Restore"
    assert of_machine("arn:aws:states:us-east-1:123456789012:execution:stack-Restore:run-1", machine)
    assert not of_machine("arn:aws:states:us-east-1:123456789012:execution:stack-Backup:run-1", machine)
    assert not of_machine("arn:aws:states:us-west-2:123456789012:execution:stack-Restore:run-1", machine)
    assert not of_machine("arn:aws:states:us-east-1:123456789012:execution:stack-Restore-2:run-1", machine)
