"""`restore --deployed STACK`: start the stack's restore state machine, and follow an execution.

The stack is found by CloudFormation DescribeStacks: its outputs name the restore state machine
(RestoreStateMachineArn), the repository (RepositoryUrl, KmsKeyArn) and its parameters the one pool the
restore may write (RestoreUserPoolId). The execution's input is `{"request": <document>}`
(core/deployed_restore.py, docs/deploy.md): the same document started from the console works the same.
`status` combines Step Functions DescribeExecution with the restore's progress record and resume state
in the repository.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError

from cognito_backup.aws.errors import translate_client_error
from cognito_backup.core.deployed_restore import (
    FAILED,
    RUNNING,
    SUCCEEDED,
    DeployedRequest,
    execution_input,
    execution_name,
    exit_code_of,
    report_prefix,
)
from cognito_backup.errors import RepositoryNotFound, UsageError
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.repo.layout import DEPLOYED_RESTORES_PREFIX
from cognito_backup.repo.repository import Repository

PROGRESS = "progress.json"


@dataclass(frozen=True)
class DeployedStack:
    name: str
    restore_machine_arn: str
    repository_url: str
    kms_key_arn: str | None
    restore_user_pool_id: str


def describe_stack(cloudformation: Any, stack: str) -> DeployedStack:
    """The stack's restore state machine, repository and allowed target; UsageError when it has none."""
    try:
        found = cloudformation.describe_stacks(StackName=stack)["Stacks"]
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ValidationError":
            raise UsageError(
                f"--deployed {stack}: no such CloudFormation stack in this account and Region",
                hint="Give the stack name you deployed deploy/template.yaml as (and --region if it is elsewhere).",
            ) from None
        raise translate_client_error(exc, "cloudformation:DescribeStacks") from None
    except BotoCoreError as exc:
        raise translate_client_error(exc, "cloudformation:DescribeStacks") from None
    described = found[0]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in described.get("Outputs", [])}
    params = {p["ParameterKey"]: p.get("ParameterValue", "") for p in described.get("Parameters", [])}
    machine = outputs.get("RestoreStateMachineArn")
    if not machine or not outputs.get("RepositoryUrl"):
        raise UsageError(
            f"Stack {stack} has no restore state machine (its RestoreUserPoolId parameter is empty).",
            hint="Update the stack with RestoreUserPoolId set to the pool to restore into (docs/deploy.md, "
            '"Restore without a laptop").',
        )
    return DeployedStack(
        name=stack,
        restore_machine_arn=machine,
        repository_url=outputs["RepositoryUrl"],
        kms_key_arn=outputs.get("KmsKeyArn") or None,
        restore_user_pool_id=params.get("RestoreUserPoolId", ""),
    )


def start_restore(stepfunctions: Any, stack: DeployedStack, request: DeployedRequest) -> dict[str, Any]:
    """Start the execution; refused (exit 2, nothing started) for a target the stack may not write."""
    if request.target_user_pool_id != stack.restore_user_pool_id:
        raise UsageError(
            f"Stack {stack.name} may restore only into user pool {stack.restore_user_pool_id}, not "
            f"{request.target_user_pool_id}. Nothing was started.",
            hint="Update the stack with RestoreUserPoolId set to the target pool, then run this again.",
        )
    text = execution_input(request)
    name = f"restore-{request.target_user_pool_id.split('_', 1)[-1][:20]}-{secrets.token_hex(6)}"
    try:
        started = stepfunctions.start_execution(stateMachineArn=stack.restore_machine_arn, name=name, input=text)
    except (ClientError, BotoCoreError) as exc:
        raise translate_client_error(exc, "states:StartExecution") from None
    return {
        "execution_arn": started["executionArn"],
        "execution": name,
        "state_machine_arn": stack.restore_machine_arn,
        "stack": stack.name,
        "input": json.loads(text),
        "report_prefix": report_prefix(name),
    }


def of_machine(execution_arn: str, machine_arn: str) -> bool:
    """Whether an execution ARN (arn:...:execution:MACHINE:NAME) is of that state machine
    (arn:...:stateMachine:MACHINE). PURE."""
    head, _, _name = execution_arn.rpartition(":")
    return head == machine_arn.replace(":stateMachine:", ":execution:", 1)


def _execution_arn(stepfunctions: Any, repo: Repository, stack: DeployedStack, ident: str) -> str:
    """An execution ARN, an execution name, or a run key (target@source: its latest deployed execution)."""
    if ident.startswith("arn:"):
        if not of_machine(ident, stack.restore_machine_arn):
            # Another machine's execution (the stack's backup, pasted by mistake) is no restore's status.
            raise RepositoryNotFound(
                f"{ident} is not an execution of stack {stack.name}'s restore state machine "
                f"({stack.restore_machine_arn})",
                hint="Give the execution ARN or name that `restore --deployed` printed, or the restore's "
                "run key (target@source).",
            )
        return ident
    if "@" not in ident:
        head, _, machine = stack.restore_machine_arn.rpartition(":stateMachine:")
        return f"{head}:execution:{machine}:{ident}"
    latest: tuple[str, str] | None = None
    for info in repo.store.list(DEPLOYED_RESTORES_PREFIX):
        if not info.key.endswith("/" + PROGRESS):
            continue
        try:
            body = json.loads(repo.store.get_bytes(info.key))
        except ValueError:
            continue
        if isinstance(body, dict) and body.get("run") == ident:
            candidate = (str(body.get("updated_at", "")), str(body.get("execution", "")))
            latest = max(latest, candidate) if latest else candidate
    if latest is None or not latest[1]:
        raise RepositoryNotFound(
            f"No deployed restore of {ident} is recorded in the repository",
            hint="Give the execution ARN that `restore --deployed` printed, or its name.",
        )
    return latest[1]


def restore_status(stepfunctions: Any, repo: Repository, stack: DeployedStack, ident: str) -> dict[str, Any]:
    """running / succeeded / failed with counts so far, and the exit code the CLI restore would have had."""
    arn = _execution_arn(stepfunctions, repo, stack, ident)
    try:
        described = stepfunctions.describe_execution(executionArn=arn)
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") in ("ExecutionDoesNotExist", "InvalidArn"):
            raise RepositoryNotFound(f"No execution {arn} in stack {stack.name}'s restore state machine") from None
        raise translate_client_error(exc, "states:DescribeExecution") from None
    except BotoCoreError as exc:
        raise translate_client_error(exc, "states:DescribeExecution") from None
    sfn_status = str(described["status"])
    state = RUNNING if sfn_status == "RUNNING" else SUCCEEDED if sfn_status == "SUCCEEDED" else FAILED
    progress: dict[str, Any] = {}
    key = report_prefix(execution_name(arn)) + PROGRESS
    if repo.store.exists(key):
        progress = json.loads(repo.store.get_bytes(key))
    request = progress.get("request") or json.loads(described.get("input") or "{}").get("request")
    counts = dict(progress.get("counts") or {})
    run = progress.get("run")
    if run:
        # The resume state is newer than the last step's record while a step runs.
        resume = Checkpoint(repo.store, str(run)).load()
        counts.update(users_created=len(resume.created), passwords_set=len(resume.passwords_done))
    error = described.get("error") or progress.get("error")
    if state == FAILED and not error:
        error = "States." + sfn_status.title().replace("_", "")  # TIMED_OUT / ABORTED without an error name
    return {
        "execution_arn": arn,
        "stack": stack.name,
        "status": state,
        "step_functions_status": sfn_status,
        "started": str(described.get("startDate") or ""),
        "stopped": str(described.get("stopDate") or "") or None,
        "run": run,
        "request": request,
        "steps": progress.get("step", 0),
        "counts": counts,
        "report": progress.get("report"),
        "sub_map": report_prefix(execution_name(arn)) + "sub-map.csv" if progress.get("report") else None,
        "error": error if state == FAILED else None,
        "cause": described.get("cause") if state == FAILED else None,
        "exit_code": exit_code_of(error) if state == FAILED else 0,
    }
