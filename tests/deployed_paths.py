"""Every code path of the four Lambda handlers, run against moto in-process as deployed: each handler
called through its entry point with only the environment the template gives it, an s3:// repository
encrypted with a KMS key, and every AWS call recorded at botocore's boundary (tests/op_recorder.py).

`run_all_paths` returns, per handler, the set of `service:Operation` it called; the permission tests
compare that with the operation table (cognito_backup.serverless.permissions).
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.standby import STANDBY_TAG
from cognito_backup.model import User
from cognito_backup.serverless import backup as backup_lambda
from cognito_backup.serverless import capture as capture_lambda
from cognito_backup.serverless import migrate_trigger as migrate_lambda
from cognito_backup.serverless import replicate as replicate_lambda
from cognito_backup.serverless import restore as restore_lambda
from cognito_backup.serverless import trigger as trigger_lambda
from cognito_backup.serverless import warm
from cognito_backup.serverless._env import KMS_VAR, POOL_REGION_VAR, POOL_VAR, REPO_VAR
from cognito_backup.serverless.permissions import BACKUP, CAPTURE, MIGRATE, REPLICATE, RESTORE, TRIGGER
from tests.capture_helpers import event_for, render
from tests.helpers import CUSTOM_SCHEMA, add_user
from tests.op_recorder import Recording, recording
from tests.restore_support import rich_pool

REGION = "us-east-1"
BUCKET = "cognito-backup-repo"
PREFIX = "cognito-backup"
FIXTURES = Path(__file__).parent / "fixtures" / "events"


class LambdaContext:
    """An honest double of the Lambda context object: a request id, and a remaining time that allows
    `pages` page starts per invocation (then reports less than the handler's safety margin)."""

    def __init__(self, request_id: str, pages: int = 1_000_000) -> None:
        self.aws_request_id = request_id
        self._left = pages

    def get_remaining_time_in_millis(self) -> int:
        self._left -= 1
        return 900_000 if self._left >= 0 else 1_000


@dataclass
class Stack:
    cognito: Any
    s3: Any
    kms_key_arn: str
    source: str
    repo_url: str
    monkeypatch: pytest.MonkeyPatch
    calls: dict[str, set[str]] = field(default_factory=dict)
    # handler -> the pool ids its Cognito calls named (UserPoolId, or the pool in a ResourceArn; a call
    # that names no pool, such as DescribeUserPoolDomain, adds nothing)
    pools: dict[str, set[str]] = field(default_factory=dict)
    last: Recording | None = None

    @contextmanager
    def invoke(self, handler: str) -> Iterator[Recording]:
        """Record one invocation of `handler`, from a cold container (no client kept from before)."""
        module = {BACKUP: backup_lambda, CAPTURE: capture_lambda, REPLICATE: replicate_lambda}.get(handler)
        if module is not None:
            self.monkeypatch.setattr(module, "_runtime", {})
        self.monkeypatch.setattr(migrate_lambda, "_cached", None)
        warm.forget()
        with recording() as rec:
            yield rec
        self.calls.setdefault(handler, set()).update(rec.names())
        self.pools.setdefault(handler, set()).update(p for c in rec.of("cognito-idp") if (p := pool_named(c.params)))
        self.last = rec


def pool_named(params: dict[str, Any]) -> str | None:
    if params.get("UserPoolId"):
        return str(params["UserPoolId"])
    arn = str(params.get("ResourceArn") or "")
    return arn.rpartition(":userpool/")[2] or None if ":userpool/" in arn else None


def make_stack(monkeypatch: pytest.MonkeyPatch) -> Stack:
    """Inside mock_aws: the repository bucket (versioned, SSE-KMS), its key, a source pool with every
    configuration section moto can hold, and the environment Globals.Function gives every function."""
    s3 = boto3.client("s3", region_name=REGION)
    s3.create_bucket(Bucket=BUCKET)
    s3.put_bucket_versioning(Bucket=BUCKET, VersioningConfiguration={"Status": "Enabled"})
    key = boto3.client("kms", region_name=REGION).create_key(Description="repository")["KeyMetadata"]["Arn"]
    s3.put_bucket_encryption(
        Bucket=BUCKET,
        ServerSideEncryptionConfiguration={
            "Rules": [{"ApplyServerSideEncryptionByDefault": {"SSEAlgorithm": "aws:kms", "KMSMasterKeyID": key}}]
        },
    )
    cognito = boto3.client("cognito-idp", region_name=REGION)
    source = rich_pool(cognito)
    add_config_sections(cognito, source, "source")
    repo_url = f"s3://{BUCKET}/{PREFIX}"
    monkeypatch.setenv(REPO_VAR, repo_url)
    monkeypatch.setenv(POOL_VAR, source)
    monkeypatch.setenv(POOL_REGION_VAR, REGION)
    monkeypatch.setenv(KMS_VAR, key)
    return Stack(cognito, s3, key, source, repo_url, monkeypatch)


def add_config_sections(cognito: Any, pool: str, name: str) -> None:
    """An app client, an OIDC identity provider, a resource server, a hosted UI domain and MFA
    settings: the sections whose reads are Describe* calls beyond the List* ones. (moto has no
    TagResource; ListTagsForResource is called all the same, as the pool has an ARN.)"""
    cognito.create_user_pool_client(UserPoolId=pool, ClientName="web", GenerateSecret=False)
    cognito.create_identity_provider(
        UserPoolId=pool,
        ProviderName="corp",
        ProviderType="OIDC",
        ProviderDetails={
            "client_id": "corp-client",
            "client_secret": "not-a-secret",
            "authorize_scopes": "openid email",
            "oidc_issuer": "https://idp.example.com",
            "attributes_request_method": "GET",
        },
        AttributeMapping={"email": "email"},
    )
    cognito.create_resource_server(
        UserPoolId=pool,
        Identifier="https://api.example.com",
        Name="api",
        Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}],
    )
    cognito.create_user_pool_domain(UserPoolId=pool, Domain=f"{name}-domain-{pool[-6:].lower()}")
    cognito.set_user_pool_mfa_config(
        UserPoolId=pool, SoftwareTokenMfaConfiguration={"Enabled": True}, MfaConfiguration="OPTIONAL"
    )


# ----------------------------------------------------------------------------------------------------
# One function per handler path
# ----------------------------------------------------------------------------------------------------
def snapshot_in_steps(stack: Stack, pages_per_step: int = 2) -> dict[str, Any]:
    """The state machine's loop: backup steps from a null checkpoint until done (several steps)."""
    payload: dict[str, Any] = {"checkpoint": None}
    for step in range(100):
        with stack.invoke(BACKUP):
            out = backup_lambda.handler(payload, LambdaContext(f"backup-{step}", pages=pages_per_step))
        if out["done"]:
            return out
        payload = {"checkpoint": out["checkpoint"]}
    raise AssertionError("the snapshot never finished")


def sqs_event(*events: dict[str, Any]) -> dict[str, Any]:
    """The SQS event Lambda's event source mapping hands the capture function."""
    sent = int((dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)).timestamp() * 1000)
    return {
        "Records": [
            {
                "messageId": f"m-{i}-{e['detail']['eventID']}",
                "receiptHandle": f"rh-{i}",
                "body": json.dumps(e),
                "attributes": {"ApproximateReceiveCount": "1", "SentTimestamp": str(sent)},
                "eventSource": "aws:sqs",
            }
            for i, e in enumerate(events)
        ]
    }


def capture(stack: Stack, *events: dict[str, Any]) -> dict[str, Any]:
    with stack.invoke(CAPTURE):
        out: dict[str, Any] = capture_lambda.handler(sqs_event(*events), LambdaContext("capture"))
    assert out == {"batchItemFailures": []}, out
    return out


def sub_of(stack: Stack, username: str) -> str:
    return str(User.from_api(stack.cognito.admin_get_user(UserPoolId=stack.source, Username=username)).sub)


def user_change(stack: Stack, tag: str) -> dict[str, Any]:
    when = recent()
    stack.cognito.admin_update_user_attributes(
        UserPoolId=stack.source, Username="alice", UserAttributes=[{"Name": "custom:tier", "Value": tag}]
    )
    return event_for(
        "AdminUpdateUserAttributes", pool=stack.source, event_id=f"user-{tag}", when=when, sub=sub_of(stack, "alice")
    )


def group_change(stack: Stack, tag: str) -> dict[str, Any]:
    when = recent()
    stack.cognito.update_group(UserPoolId=stack.source, GroupName="staff", Description=f"staff {tag}")
    return event_for("UpdateGroup", pool=stack.source, event_id=f"group-{tag}", when=when, group="staff")


def recent() -> dt.datetime:
    """Two minutes ago, but never last month: a user's own change of last month is re-read with ListUsers
    (AdminGetUser would bill them for this month: core/capture_reads.py), so the recorded calls would
    depend on the time of day (the suite ran into it at 00:07 on the 1st)."""
    now = dt.datetime.now(dt.UTC)
    return max(now - dt.timedelta(minutes=2), now.replace(day=1, hour=0, minute=0, second=0, microsecond=0))


def fixture_event(stack: Stack, name: str, tag: str, **kw: Any) -> dict[str, Any]:
    when = recent()
    return render(name, pool=stack.source, when=when, event_id=f"{name}-{tag}", **kw)


def all_capture_kinds(stack: Stack, tag: str) -> list[dict[str, Any]]:
    """A user change, a group change, a pool configuration change and a user-side call that names the
    pool only by its app client id."""
    client_id = stack.cognito.list_user_pool_clients(UserPoolId=stack.source, MaxResults=10)["UserPoolClients"][0]
    when = recent()
    erin = sub_of(stack, "erin")
    stack.cognito.admin_add_user_to_group(UserPoolId=stack.source, Username="erin", GroupName="admins")
    gone = sub_of(stack, "dave")
    stack.cognito.admin_delete_user(UserPoolId=stack.source, Username="dave")
    return [
        user_change(stack, tag),
        event_for("AdminAddUserToGroup", pool=stack.source, event_id=f"m-{tag}", when=when, sub=erin, group="admins"),
        event_for("AdminDeleteUser", pool=stack.source, event_id=f"d-{tag}", when=when, sub=gone),
        group_change(stack, tag),
        fixture_event(stack, "UpdateUserPool", tag),
        fixture_event(stack, "UpdateUserAttributes", tag, sub=sub_of(stack, "carol"), client=client_id["ClientId"]),
        fixture_event(stack, "hosted_ui_Signup_POST", tag, client=client_id["ClientId"]),
    ]


def replicate_round(stack: Stack) -> dict[str, Any]:
    with stack.invoke(REPLICATE):
        out: dict[str, Any] = replicate_lambda.handler({}, LambdaContext("replicate"))
    return out


def restore_new_pool(stack: Stack, name: str, report_dir: Path) -> str:
    """`cognito-backup restore --new-pool` from the repository (the operator's path to a standby)."""
    result = CliRunner().invoke(
        cli,
        [
            "restore",
            "--repo",
            stack.repo_url,
            "--new-pool",
            name,
            "--domain-prefix",
            f"{name}-domain",
            "--json",
            "--report-dir",
            str(report_dir),
        ],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    return str(json.loads(result.output)["user_pool_id"])


def restore_in_steps(stack: Stack, target: str, request: dict[str, Any], ops_per_step: int = 6) -> list[dict[str, Any]]:
    """A deployed restore as its state machine runs it: steps of a few operations each, each step's
    output the next one's input, until done."""
    stack.monkeypatch.setenv(restore_lambda.TARGET_VAR, target)
    event: dict[str, Any] = {"request": request, "step": 0, "execution": f"arn:aws:states:{REGION}:1:execution:m:e"}
    outputs = []
    for n in range(200):
        with stack.invoke(RESTORE):
            out: dict[str, Any] = restore_lambda.handler(event, LambdaContext(f"restore-{n}", pages=ops_per_step))
        outputs.append(out)
        if out["done"]:
            return outputs
        event = {k: out[k] for k in ("request", "step")} | {"execution": event["execution"]}
    raise AssertionError("the restore did not end")


def restore_paths(stack: Stack) -> None:
    """Into a pool that differs from the snapshot in every way (with prune: every write kind), three
    operations per step, and a point-in-time restore (the journal's reads). Three, not one: the calls
    recorded are the same set (compared in session 5), in 9 steps instead of 25 (24 s instead of 67 s on a
    loaded machine; each step re-reads the target and the snapshot)."""
    target = divergent_standby(stack.cognito, stack.source)
    restore_in_steps(
        stack,
        target,
        {"target_user_pool_id": target, "source_user_pool_id": stack.source, "prune": True},
        ops_per_step=3,
    )
    at = dt.datetime.now(dt.UTC).isoformat()
    restore_in_steps(
        stack,
        target,
        {"target_user_pool_id": target, "at": at, "source_user_pool_id": stack.source, "allow_after_coverage": True},
    )


def trigger(stack: Stack) -> Any:
    event = json.loads((FIXTURES / "trigger_PostConfirmation_ConfirmSignUp.json").read_text())
    event["userPoolId"] = stack.source
    # What is recorded here is which calls the trigger makes, not how fast: on a loaded machine its cold
    # S3 client alone can take its whole 3 s budget, and the journal write would then finish after this
    # recording (the table test failed for [trigger]). The budget itself: tests/test_trigger_handler.py.
    budget = trigger_lambda.BUDGET_SECONDS
    stack.monkeypatch.setattr(trigger_lambda, "BUDGET_SECONDS", 300.0)
    try:
        with stack.invoke(TRIGGER):
            return trigger_lambda.handler(event, SimpleNamespace(aws_request_id="trigger-1"))
    finally:
        stack.monkeypatch.setattr(trigger_lambda, "BUDGET_SECONDS", budget)


def migrate_paths(stack: Stack) -> None:
    """The user-migration trigger (of a pool B; its calls go to the source as pool A): a sign-in with the
    right password, one with a name A does not know (the alias lookup), and one through a role in A's
    account (MigrateSourceRoleArn)."""
    password = "Xx1!" + "a" * 12  # tests/helpers.add_user's
    add_user(stack.cognito, stack.source, "migrating", {"email": "migrating@example.com"}, confirmed=True)
    stack.cognito.create_user_pool_client(
        UserPoolId=stack.source,
        ClientName=migrate_lambda.CLIENT_NAME,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
    )
    stack.monkeypatch.setenv(migrate_lambda.FROM_POOL_VAR, stack.source)
    stack.monkeypatch.setenv(migrate_lambda.FROM_REGION_VAR, REGION)

    def event(name: str) -> dict[str, Any]:
        return {
            "version": "1",
            "triggerSource": "UserMigration_Authentication",
            "region": REGION,
            "userPoolId": "us-east-1_target",
            "userName": name,
            "callerContext": {"awsSdkVersion": "aws-sdk-js-3", "clientId": "app"},
            "request": {"password": password},
            "response": {},
        }

    context = LambdaContext("migrate-1")
    with stack.invoke(MIGRATE):
        migrate_lambda.handler(event("migrating"), context)
    with stack.invoke(MIGRATE), pytest.raises(migrate_lambda.MigrationRefused):
        migrate_lambda.handler(event("nobody@example.com"), context)
    stack.monkeypatch.setenv(migrate_lambda.ROLE_VAR, "arn:aws:iam::123456789012:role/cognito-backup-migrate-source")
    with stack.invoke(MIGRATE):
        migrate_lambda.handler(event("migrating"), context)
    stack.monkeypatch.delenv(migrate_lambda.ROLE_VAR)


def standby_paths(stack: Stack, standby: str, tag: str) -> list[dict[str, Any]]:
    """First (full) round, an incremental round after a user change, a full round after a group and a
    configuration change, and an idle round."""
    stack.monkeypatch.setenv(replicate_lambda.STANDBY_POOL_VAR, standby)
    stack.monkeypatch.setenv(replicate_lambda.STANDBY_REGION_VAR, REGION)
    rounds = [replicate_round(stack)]
    capture(stack, user_change(stack, f"{tag}-a"))
    rounds.append(replicate_round(stack))
    capture(stack, group_change(stack, f"{tag}-b"), fixture_event(stack, "UpdateUserPool", f"{tag}-b"))
    rounds.append(replicate_round(stack))
    rounds.append(replicate_round(stack))
    return rounds


def divergent_standby(cognito: Any, source: str) -> str:
    """A standby made by hand that differs from the source in every way a round repairs: a custom
    attribute missing, a group to update, one to create and one to delete, a user to enable, to update,
    to strip of an attribute, to take out of a group, one to delete, and users to create. It carries the
    standby tag, as after the operator's one `replicate --yes` (a round deletes only from a standby)."""
    schema = [a for a in CUSTOM_SCHEMA if a["Name"] != "vip"]
    tags = {STANDBY_TAG: source}
    pool = str(cognito.create_user_pool(PoolName="plain-standby", Schema=schema, UserPoolTags=tags)["UserPool"]["Id"])
    cognito.create_group(UserPoolId=pool, GroupName="admins", Description="stale", Precedence=1)
    cognito.create_group(UserPoolId=pool, GroupName="legacy")
    alice = {"email": "alice@example.com", "email_verified": "true", "family_name": "Stale", "custom:tier": "old"}
    add_user(cognito, pool, "alice", alice, enabled=False)
    add_user(cognito, pool, "erin", {"email": "erin@example.com", "email_verified": "true"})
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="erin", GroupName="legacy")
    cognito.create_group(UserPoolId=pool, GroupName="readers", Description="the readers", Precedence=10)
    add_user(cognito, pool, "bob", {"email": "bob@example.com", "email_verified": "true"})
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="bob", GroupName="readers")
    add_user(cognito, pool, "zed", {"email": "zed@example.com"})
    return pool


def run_all_paths(
    stack: Stack, tmp_path: Path, on_round: Callable[[str, dict[str, Any]], None] | None = None
) -> dict[str, set[str]]:
    snapshot_in_steps(stack)
    capture(stack, *all_capture_kinds(stack, "t1"))
    trigger(stack)
    migrate_paths(stack)
    # A standby made by hand (an empty pool of the same schema) and one made by `restore --new-pool`,
    # which has the source's app clients, identity providers and domain to describe.
    plain = divergent_standby(stack.cognito, stack.source)
    for r in standby_paths(stack, plain, "plain"):
        if on_round:
            on_round("plain", r)
    restore_paths(stack)
    restored = restore_new_pool(stack, "restored-standby", tmp_path / "reports")
    # A deployed restore into a pool with app clients, identity providers and a domain to describe.
    restore_in_steps(stack, restored, {"target_user_pool_id": restored, "source_user_pool_id": stack.source})
    for r in standby_paths(stack, restored, "restored"):
        if on_round:
            on_round("restored", r)
    return stack.calls
