"""deploy/template.yaml "deployed" into moto: its resources created, its functions served locally.

`deploy_stack` creates what the template creates (KMS key, bucket with its encryption and versioning,
SNS topic, capture queues, EventBridge rule and targets, and on first use the snapshot state machine with
its definition substitutions) in the emulator; the bucket policy stays with the harness, which evaluates
it (moto would apply its Deny statements without their conditions). It then resolves the template
against them (cfn.py) and registers each function with the local Lambda service (lambdas.py): its
handler, the environment the template gives it, its timeout, and its role's statements for the
in-process IAM check.

What the harness plays itself, and why: Lambda (moto runs functions in Docker; here each handler runs in
its own process), the SQS event source mapping of the capture function (`deliver_capture_batch`, as
Lambda's poller does it), and EventBridge Scheduler (`start_scheduled_snapshot` starts the state machine
with the schedule's Input).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3

from tests.deployed.cfn import Stack
from tests.deployed.lambdas import Caller, LambdaFunction, Lambdas, lambda_environment
from tests.test_deploy_template import TEMPLATE, load_template

REGION = "us-east-1"
ACCOUNT = "123456789012"
# moto's Step Functions engine signs its calls with this access key id (moto's boto_client_for).
SFN_ENGINE_ACCESS_KEY = "ak"

FUNCTIONS = ("BackupFunction", "CaptureFunction", "ReplicateFunction", "TriggerFunction", "RestoreFunction")


@dataclass
class Deployed:
    stack: Stack
    url: str
    lambdas: Lambdas
    workdir: Path
    inbox_url: str  # an SQS queue subscribed to the notification topic (the operator's mailbox)
    state_machine_arn: str = ""
    restore_machine_arn: str = ""
    in_flight: list[str] = field(default_factory=list)  # receipt handles of messages reported failed
    clients: dict[str, Any] = field(default_factory=dict)

    def client(self, service: str) -> Any:
        if service not in self.clients:
            name: Any = service  # any service of the emulator
            self.clients[service] = boto3.client(name, region_name=REGION, endpoint_url=self.url)
        return self.clients[service]

    @property
    def bucket(self) -> str:
        return self.stack.refs["BackupBucket"]

    @property
    def prefix(self) -> str:
        return self.stack.parameters["RepositoryPrefix"]

    @property
    def kms_key_arn(self) -> str:
        return self.stack.attributes["BackupKey.Arn"]

    def function(self, logical_id: str) -> LambdaFunction:
        return self.lambdas.get(self.stack.refs[logical_id])

    def sandbox_of(self, logical_id: str, handler: str, *, timeout: float | None = None) -> LambdaFunction:
        """Another handler run exactly as `logical_id` runs: its environment, timeout (unless given) and role."""
        model = self.function(logical_id)
        spec = json.loads(model.spec_file.read_text(encoding="utf-8"))
        spec["handler"] = handler
        spec["timeout"] = timeout if timeout is not None else model.timeout
        spec_file = self.workdir / f"{logical_id}-{handler.rsplit('.', 1)[-1]}.json"
        spec_file.write_text(json.dumps(spec), encoding="utf-8")
        probe = LambdaFunction(
            name=f"{model.name}-probe",
            arn=f"{model.arn}-probe",
            handler=handler,
            environment=dict(model.environment),
            timeout=float(spec["timeout"]),
            spec_file=spec_file,
            log_file=self.workdir / f"{logical_id}-probe.log",
            seconds_per_call=spec.get("seconds_per_call"),
        )
        self.lambdas.add(probe)
        return probe

    def audit(self) -> list[dict[str, Any]]:
        path = self.workdir / "iam-audit.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]

    def denied(self) -> list[dict[str, Any]]:
        return [a for a in self.audit() if a["decision"] != "allow"]

    # -- EventBridge Scheduler -> state machine -----------------------------------------------------------
    def start_scheduled_snapshot(self) -> str:
        if not self.state_machine_arn:
            # Created on first use: moto's engine parses the definition slowly (seconds), and most
            # scenarios never start it.
            self.state_machine_arn = _create_state_machine(self, "BackupStateMachine", "StateMachineRole")
        schedule = self.stack.resolve(self.stack.resource("SnapshotSchedule")["Properties"])
        sfn = self.client("stepfunctions")
        started = sfn.start_execution(
            stateMachineArn=schedule["Target"]["Arn"],
            name=f"scheduled-{uuid.uuid4().hex[:12]}",
            input=schedule["Target"]["Input"],
        )
        return str(started["executionArn"])

    # -- `restore --deployed` / the console -> restore state machine -------------------------------------
    def restore_state_machine(self) -> str:
        if not self.restore_machine_arn:
            self.restore_machine_arn = _create_state_machine(self, "RestoreStateMachine", "RestoreStateMachineRole")
        return self.restore_machine_arn

    def wait_execution(self, arn: str, timeout: float = 60.0) -> dict[str, Any]:
        sfn = self.client("stepfunctions")
        end = time.monotonic() + timeout
        while True:
            desc: dict[str, Any] = sfn.describe_execution(executionArn=arn)
            if desc["status"] != "RUNNING":
                return desc
            if time.monotonic() > end:
                raise TimeoutError(f"execution still running after {timeout} s")
            time.sleep(0.1)

    # -- SQS event source mapping of the capture function -------------------------------------------------
    def deliver_capture_batch(self, *, wait: float = 5.0) -> tuple[int, dict[str, Any]]:
        """One poll of the capture queue, as Lambda's SQS poller does it with the template's BatchSize and
        ReportBatchItemFailures: invoke with the batch, then delete the messages not reported failed.
        Returns (messages delivered, the function's answer)."""
        props = self.stack.resolve(self.stack.resource("CaptureFunction")["Properties"])
        source = props["Events"]["CaptureQueue"]["Properties"]
        sqs = self.client("sqs")
        url = self.stack.refs["CaptureQueue"]
        got = sqs.receive_message(
            QueueUrl=url,
            MaxNumberOfMessages=int(source["BatchSize"]),
            WaitTimeSeconds=int(wait),
            AttributeNames=["All"],
            MessageAttributeNames=["All"],
        )
        messages = got.get("Messages", [])
        if not messages:
            return 0, {}
        event = {"Records": [_sqs_record(m, source["Queue"]) for m in messages]}
        result = self.function("CaptureFunction").invoke(event)
        if result.error is not None:
            return len(messages), {"error": result.error}  # the whole batch comes back
        failed = {f["itemIdentifier"] for f in (result.payload or {}).get("batchItemFailures", [])}
        for m in messages:
            if m["MessageId"] in failed:
                self.in_flight.append(m["ReceiptHandle"])
            else:
                sqs.delete_message(QueueUrl=url, ReceiptHandle=m["ReceiptHandle"])
        return len(messages), dict(result.payload or {})

    def elapse_visibility_timeout(self) -> None:
        """The capture queue's VisibilityTimeout (720 s) passes for the messages a batch reported failed:
        they become visible again, as they would after that time."""
        sqs = self.client("sqs")
        for handle in self.in_flight:
            sqs.change_message_visibility(
                QueueUrl=self.stack.refs["CaptureQueue"], ReceiptHandle=handle, VisibilityTimeout=0
            )
        self.in_flight.clear()


def _sqs_record(message: dict[str, Any], queue_arn: str) -> dict[str, Any]:
    """An SQS message as Lambda's event source mapping hands it to the function (Lambda Developer
    Guide, "Using Lambda with Amazon SQS", example event)."""
    attrs = message.get("Attributes", {})
    return {
        "messageId": message["MessageId"],
        "receiptHandle": message["ReceiptHandle"],
        "body": message["Body"],
        "attributes": {
            k: attrs[k]
            for k in ("ApproximateReceiveCount", "SentTimestamp", "SenderId", "ApproximateFirstReceiveTimestamp")
            if k in attrs
        },
        "messageAttributes": message.get("MessageAttributes", {}),
        "md5OfBody": message.get("MD5OfBody", ""),
        "eventSource": "aws:sqs",
        "eventSourceARN": queue_arn,
        "awsRegion": REGION,
    }


def deploy_stack(
    url: str,
    lambdas: Lambdas,
    workdir: Path,
    parameters: dict[str, str],
    *,
    timeouts: dict[str, float] | None = None,
    seconds_per_call: dict[str, float] | None = None,
    endpoints: dict[str, dict[str, str]] | None = None,
    edit: Callable[[dict[str, Any]], None] | None = None,
) -> Deployed:
    """Create the template's resources in the emulator at `url` and register its functions.
    `timeouts` overrides a function's Timeout (named in the calling test); `seconds_per_call` gives a
    function a work clock (tests/deployed/lambda_child.py, WorkClock) instead of wall time; `endpoints` adds endpoint
    variables to one function's process (e.g. an unreachable S3 endpoint); `edit` changes the loaded
    template first (a test injecting a defect, to show the harness catches it)."""
    template = load_template(TEMPLATE.read_text(encoding="utf-8"))
    if edit is not None:
        edit(template)
    stack = Stack(
        template,
        dict(parameters),
        region=REGION,
        account=ACCOUNT,
        name=f"cb{uuid.uuid4().hex[:6]}",
    )
    deployed = Deployed(stack=stack, url=url, lambdas=lambdas, workdir=workdir, inbox_url="")
    _names_and_arns(stack)
    _create_key_and_bucket(deployed)
    _create_topic(deployed)
    if stack.condition("CaptureEnabled"):
        _create_capture_path(deployed)
    for logical in FUNCTIONS:
        if stack.exists(logical):
            _register_function(
                deployed,
                logical,
                (timeouts or {}).get(logical),
                (endpoints or {}).get(logical, {}),
                (seconds_per_call or {}).get(logical),
            )
    return deployed


def _names_and_arns(stack: Stack) -> None:
    """Physical names of resources that need no emulator call: roles, functions, log groups."""
    for logical, res in stack.template["Resources"].items():
        if not stack.exists(logical):
            continue
        kind = res["Type"]
        if kind == "AWS::IAM::Role":
            name = f"{stack.name}-{logical}"
            stack.refs[logical] = name
            stack.attributes[f"{logical}.Arn"] = f"arn:aws:iam::{ACCOUNT}:role/{name}"
        elif kind == "AWS::Serverless::Function":
            name = f"{stack.name}-{logical}"
            stack.refs[logical] = name
            stack.attributes[f"{logical}.Arn"] = f"arn:aws:lambda:{REGION}:{ACCOUNT}:function:{name}"
        elif kind == "AWS::Logs::LogGroup":
            name = stack.resolve(res["Properties"]["LogGroupName"])
            stack.refs[logical] = name
            # CloudFormation's Arn attribute of a log group ends with ":*".
            stack.attributes[f"{logical}.Arn"] = f"arn:aws:logs:{REGION}:{ACCOUNT}:log-group:{name}:*"


def _create_key_and_bucket(d: Deployed) -> None:
    stack = d.stack
    key = d.client("kms").create_key(
        Description=stack.resolve(stack.resource("BackupKey")["Properties"]["Description"])
    )
    stack.refs["BackupKey"] = key["KeyMetadata"]["KeyId"]
    stack.attributes["BackupKey.Arn"] = key["KeyMetadata"]["Arn"]
    s3 = d.client("s3")
    bucket = f"{stack.name}-backupbucket-{uuid.uuid4().hex[:8]}"
    s3.create_bucket(Bucket=bucket)
    stack.refs["BackupBucket"] = bucket
    stack.attributes["BackupBucket.Arn"] = f"arn:aws:s3:::{bucket}"
    props = stack.resolve(stack.resource("BackupBucket")["Properties"])
    s3.put_bucket_encryption(
        Bucket=bucket,
        ServerSideEncryptionConfiguration={
            "Rules": [
                {
                    "ApplyServerSideEncryptionByDefault": r["ServerSideEncryptionByDefault"] | {},
                    "BucketKeyEnabled": r["BucketKeyEnabled"],
                }
                for r in props["BucketEncryption"]["ServerSideEncryptionConfiguration"]
            ]
        },
    )
    s3.put_bucket_versioning(Bucket=bucket, VersioningConfiguration=props["VersioningConfiguration"])
    # The bucket policy is NOT given to moto: moto applies a policy's Deny statements to object requests
    # without their conditions (DenyInsecureTransport, `s3:*` when aws:SecureTransport is false, would
    # deny every request). The harness evaluates the policy, conditions included, in each function.


def _create_topic(d: Deployed) -> None:
    stack = d.stack
    topic = d.client("sns").create_topic(Name=f"{stack.name}-NotificationTopic")["TopicArn"]
    stack.refs["NotificationTopic"] = topic
    sqs = d.client("sqs")
    d.inbox_url = sqs.create_queue(QueueName=f"{stack.name}-operator-inbox")["QueueUrl"]
    inbox_arn = sqs.get_queue_attributes(QueueUrl=d.inbox_url, AttributeNames=["QueueArn"])["Attributes"]["QueueArn"]
    d.client("sns").subscribe(TopicArn=topic, Protocol="sqs", Endpoint=inbox_arn)


def _create_capture_path(d: Deployed) -> None:
    stack = d.stack
    sqs = d.client("sqs")
    for logical in ("CaptureDeadLetterQueue", "CaptureQueue"):
        props = stack.resolve(stack.resource(logical)["Properties"])
        attributes = {
            "MessageRetentionPeriod": str(props["MessageRetentionPeriod"]),
            "SqsManagedSseEnabled": str(props["SqsManagedSseEnabled"]).lower(),
        }
        if "VisibilityTimeout" in props:
            attributes["VisibilityTimeout"] = str(props["VisibilityTimeout"])
        if "RedrivePolicy" in props:
            attributes["RedrivePolicy"] = json.dumps(props["RedrivePolicy"])
        name = f"{stack.name}-{logical}"
        url = sqs.create_queue(QueueName=name, Attributes=attributes)["QueueUrl"]
        stack.refs[logical] = url
        stack.attributes[f"{logical}.Arn"] = f"arn:aws:sqs:{REGION}:{ACCOUNT}:{name}"
        stack.attributes[f"{logical}.QueueName"] = name
    events = d.client("events")
    rule = stack.resolve(stack.resource("CaptureRule")["Properties"])
    name = f"{stack.name}-CaptureRule"
    arn = events.put_rule(
        Name=name, EventPattern=json.dumps(rule["EventPattern"]), State=rule["State"], Description=rule["Description"]
    )["RuleArn"]
    stack.refs["CaptureRule"] = name
    stack.attributes["CaptureRule.Arn"] = arn
    events.put_targets(Rule=name, Targets=rule["Targets"])


def _register_function(
    d: Deployed, logical: str, timeout: float | None, endpoints: dict[str, str], seconds_per_call: float | None = None
) -> None:
    stack = d.stack
    glob = stack.template["Globals"]["Function"]
    props = stack.resource(logical)["Properties"]
    name = stack.refs[logical]
    role = stack.function_role(logical)
    log_group = stack.resolve(props["LoggingConfig"]["LogGroup"])
    seconds = float(timeout if timeout is not None else props.get("Timeout", glob.get("Timeout", 3)))
    memory = int(props.get("MemorySize", glob.get("MemorySize", 128)))
    env = lambda_environment(
        stack.function_environment(logical),
        function_name=name,
        region=REGION,
        endpoint=d.url,
        memory=memory,
        log_group=log_group,
    )
    env.update(endpoints)
    bucket_policy = stack.resolve(stack.resource("BackupBucketPolicy")["Properties"])["PolicyDocument"]
    spec = {
        "function": logical,
        "function_name": name,
        "function_arn": stack.attributes[f"{logical}.Arn"],
        "handler": props["Handler"],
        "timeout": seconds,
        "seconds_per_call": seconds_per_call,
        "memory": memory,
        "log_group": log_group,
        "role_arn": f"arn:aws:sts::{ACCOUNT}:assumed-role/{stack.refs[role]}/{name}",
        "role_statements": stack.role_statements(role),
        "bucket_policies": {d.bucket: list(bucket_policy["Statement"])},
        "bucket_kms_key_arn": d.kms_key_arn,
        "account": ACCOUNT,
        "audit_file": str(d.workdir / "iam-audit.jsonl"),
    }
    spec_file = d.workdir / f"{logical}.json"
    spec_file.write_text(json.dumps(spec), encoding="utf-8")
    d.lambdas.add(
        LambdaFunction(
            name=name,
            arn=stack.attributes[f"{logical}.Arn"],
            handler=props["Handler"],
            environment=env,
            timeout=seconds,
            spec_file=spec_file,
            log_file=d.workdir / f"{logical}.log",
            seconds_per_call=seconds_per_call,
        )
    )


def _create_state_machine(d: Deployed, logical: str, role: str) -> str:
    """One of the template's state machines, its engine's calls checked against its role (the engine
    signs them all with one key: one state machine per scenario)."""
    stack = d.stack
    props = stack.resource(logical)["Properties"]
    substitutions = {k: str(v) for k, v in stack.resolve(props["DefinitionSubstitutions"]).items()}
    text = json.dumps(stack.resolve(props["Definition"]))
    # SAM's DefinitionSubstitutions: ${Name} placeholders replaced in the definition's JSON.
    for key, value in substitutions.items():
        text = text.replace("${" + key + "}", value)
    role_arn = stack.attributes[f"{role}.Arn"]
    arn: str = d.client("stepfunctions").create_state_machine(
        name=f"{stack.name}-{logical}",
        definition=text,
        roleArn=role_arn,
        type=props["Type"],
    )["stateMachineArn"]
    stack.refs[logical] = arn
    d.lambdas.callers[SFN_ENGINE_ACCESS_KEY] = Caller(role_arn, stack.role_statements(role))
    return arn
