"""The scheduled snapshot as deployed: EventBridge Scheduler's input -> the template's state machine in
moto's Step Functions engine -> the backup Lambda (its own process, its own environment, its role's
permissions) in a checkpoint loop -> the repository; and a failing step reaching the SNS topic."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store.s3 import S3Store
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.helpers import fill_pool, make_pool
from tests.test_serverless_backup import content, new_repo, reader_for


def _snapshot_in(d: Deployed) -> tuple[Repository, Any]:
    repo = Repository(S3Store(d.client("s3"), d.bucket, d.prefix, kms_key_id=d.kms_key_arn))
    snapshots = repo.list_snapshots()
    assert len(snapshots) == 1
    return repo, snapshots[0]


def test_scheduled_snapshot_over_several_steps_equals_the_pool(
    deployed_env: tuple[str, Lambdas, Path], tmp_path: Path
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=25, n_groups=2, big_group=20)
    # A Timeout equal to the step's safety margin (60 s): every step does its one guaranteed unit of work
    # (a page) and returns its checkpoint, so the loop runs many times over a small pool.
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool}, timeouts={"BackupFunction": 60})

    execution = d.wait_execution(d.start_scheduled_snapshot(), timeout=120)

    assert execution["status"] == "SUCCEEDED", execution
    output = json.loads(execution["output"])
    steps = d.function("BackupFunction").invocations
    assert len(steps) >= 4, f"expected a loop of several steps, got {len(steps)}"
    print(f"snapshot in {len(steps)} steps: {[round(s.wall_ms) for s in steps]} ms")
    assert all(s.error is None for s in steps)
    assert output["users"] == 25
    repo, manifest = _snapshot_in(d)
    assert output["snapshot"] == manifest.id
    # The same content as a one-shot backup of the pool by the library itself.
    reference = new_repo(tmp_path, "reference")
    reference.init_if_needed()
    run_backup(reader_for(cognito, pool), reference, REGION)
    assert content(repo, manifest) == content(reference, reference.list_snapshots()[0])
    assert d.denied() == [] and lambdas.denied == []  # the functions' calls, and the engine's
    # Every object went through the bucket policy with the repository key.
    puts = [a for a in d.audit() if a["action"] == "s3:PutObject"]
    assert puts and all(a["resource"].startswith(f"arn:aws:s3:::{d.bucket}/{d.prefix}/") for a in puts)


def test_a_failing_step_reaches_the_sns_topic(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool = make_pool(cognito)
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    cognito.delete_user_pool(UserPoolId=pool)  # the pool is gone: a step error no Retry covers

    execution = d.wait_execution(d.start_scheduled_snapshot(), timeout=60)

    assert execution["status"] == "FAILED", execution
    error = execution.get("error")
    sqs = d.client("sqs")
    got = sqs.receive_message(QueueUrl=d.inbox_url, WaitTimeSeconds=2, MaxNumberOfMessages=10)["Messages"]
    assert len(got) == 1
    note = json.loads(got[0]["Body"])
    assert note["Subject"] == "cognito-backup: scheduled snapshot FAILED"
    assert pool in note["Message"] and execution["executionArn"] in note["Message"]
    assert error and error in note["Message"]
    assert len(d.function("BackupFunction").invocations) == 1  # not retried: a missing pool stays missing
    assert lambdas.denied == []  # the engine's lambda:InvokeFunction and sns:Publish, under its role


def _drop_statement(role: str, sid: str) -> Any:
    def edit(template: dict[str, Any]) -> None:
        doc = template["Resources"][role]["Properties"]["Policies"][0]["PolicyDocument"]
        doc["Statement"] = [s for s in doc["Statement"] if s.get("Sid") != sid]

    return edit


def test_the_engine_calls_are_checked_against_the_state_machine_role(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    """The harness's own check of the engine's calls, on a role with a defect injected: without
    InvokeBackupStep the engine cannot run a step, and the operator hears of it."""
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    edit = _drop_statement("StateMachineRole", "InvokeBackupStep")
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool}, edit=edit)

    execution = d.wait_execution(d.start_scheduled_snapshot(), timeout=60)

    assert execution["status"] == "FAILED"
    assert d.function("BackupFunction").invocations == []
    assert lambdas.denied and all("lambda:InvokeFunction" in m for m in lambdas.denied)
    (note,) = d.client("sqs").receive_message(QueueUrl=d.inbox_url, WaitTimeSeconds=2)["Messages"]
    assert "Error: Lambda.AccessDeniedException" in json.loads(note["Body"])["Message"]
