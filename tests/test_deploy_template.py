"""Static checks of deploy/template.yaml: least-privilege IAM, bucket hardening, capture wiring, cfn-lint.

The template is read with a small YAML loader that turns CloudFormation short tags (!Ref, !Sub, ...) into
their long form, so the checks see the same structure CloudFormation does. Every detector is also run on
a deliberately bad input, so a check that can no longer fail is noticed.
"""

from __future__ import annotations

import copy
import fnmatch
import importlib.util
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml

TEMPLATE = Path(__file__).resolve().parent.parent / "deploy" / "template.yaml"

READ_PREFIXES = ("List", "Describe", "Get")

# Change events issue #4 asks the capture path to receive.
ISSUE_4_EVENTS = {
    "AdminCreateUser",
    "AdminUpdateUserAttributes",
    "AdminDeleteUserAttributes",
    "AdminDeleteUser",
    "AdminDisableUser",
    "AdminEnableUser",
    "AdminConfirmSignUp",
    "AdminAddUserToGroup",
    "AdminRemoveUserFromGroup",
    "SignUp",
    "ConfirmSignUp",
    "UpdateUserAttributes",
    "VerifyUserAttribute",
    "DeleteUser",
    "CreateGroup",
    "UpdateGroup",
    "DeleteGroup",
    "UpdateUserPool",
    "AddCustomAttributes",
    "CreateUserPoolClient",
    "UpdateUserPoolClient",
    "DeleteUserPoolClient",
    "CreateIdentityProvider",
    "UpdateIdentityProvider",
    "DeleteIdentityProvider",
    "Signup_POST",
    "Confirm_POST",
}


# --------------------------------------------------------------------------------------------------------
# Loader
# --------------------------------------------------------------------------------------------------------
class CfnLoader(yaml.SafeLoader):
    """SafeLoader that understands CloudFormation's short-form intrinsic functions."""


def _construct(node: yaml.Node, loader: yaml.SafeLoader) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    assert isinstance(node, yaml.MappingNode)
    return loader.construct_mapping(node, deep=True)


def _intrinsic(loader: yaml.SafeLoader, suffix: str, node: yaml.Node) -> dict[str, Any]:
    value = _construct(node, loader)
    if suffix == "Ref":
        return {"Ref": value}
    if suffix == "Condition":
        return {"Condition": value}
    if suffix == "GetAtt" and isinstance(value, str):
        resource, _, attribute = value.partition(".")
        return {"Fn::GetAtt": [resource, attribute]}
    return {f"Fn::{suffix}": value}


CfnLoader.add_multi_constructor("!", lambda loader, suffix, node: _intrinsic(loader, suffix, node))


def load_template(text: str) -> dict[str, Any]:
    data = yaml.load(text, Loader=CfnLoader)
    assert isinstance(data, dict)
    return data


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text(encoding="utf-8"))


# --------------------------------------------------------------------------------------------------------
# Policy helpers
# --------------------------------------------------------------------------------------------------------
def _branches(value: Any) -> Iterator[Any]:
    """Every concrete alternative of a value that may be wrapped in Fn::If (AWS::NoValue dropped)."""
    if isinstance(value, dict) and set(value) == {"Fn::If"}:
        _, when_true, when_false = value["Fn::If"]
        yield from _branches(when_true)
        yield from _branches(when_false)
    elif value == {"Ref": "AWS::NoValue"}:
        return
    else:
        yield value


def iter_statements(node: Any, path: str = "") -> Iterator[tuple[str, dict[str, Any]]]:
    """(path, statement) for every IAM-style policy statement anywhere below `node`."""
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Statement":
                items = value if isinstance(value, list) else [value]
                for index, item in enumerate(items):
                    for stmt in _branches(item):
                        if isinstance(stmt, dict):
                            yield f"{path}/Statement/{index}", stmt
            else:
                yield from iter_statements(value, f"{path}/{key}")
    elif isinstance(node, list):
        for index, item in enumerate(node):
            yield from iter_statements(item, f"{path}/{index}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def actions_of(stmt: dict[str, Any]) -> list[str]:
    return [a for a in as_list(stmt.get("Action", [])) if isinstance(a, str)]


def is_cognito_wildcard(action: str) -> bool:
    """True for `*`, `cognito-idp:*`, `cognito-idp:Admin*`, `cognito-*:X`: anything that can grant more
    Cognito user pool actions than it names."""
    if "*" not in action and "?" not in action:
        return False
    service = action.split(":", 1)[0] if ":" in action else action
    return fnmatch.fnmatchcase("cognito-idp", service.lower())


def cognito_wildcard_findings(node: Any) -> list[str]:
    findings = []
    for path, stmt in iter_statements(node):
        for action in actions_of(stmt):
            if is_cognito_wildcard(action):
                findings.append(f"{path}: {action}")
        # Allow + NotAction grants everything not listed, Cognito included.
        if stmt.get("Effect") == "Allow" and "NotAction" in stmt:
            findings.append(f"{path}: Allow with NotAction")
    return findings


def cognito_actions(stmt: dict[str, Any]) -> list[str]:
    return [a.split(":", 1)[1] for a in actions_of(stmt) if a.lower().startswith("cognito-idp:")]


def is_read_action(action: str) -> bool:
    """List/Describe/Get, also in their Admin form (AdminListGroupsForUser only reads)."""
    return action.removeprefix("Admin").startswith(READ_PREFIXES)


def write_actions_in(statements: list[dict[str, Any]]) -> list[str]:
    return [
        action
        for stmt in statements
        if stmt.get("Effect") == "Allow"
        for action in cognito_actions(stmt)
        if not is_read_action(action)
    ]


def cognito_write_actions(node: Any) -> list[str]:
    return write_actions_in([stmt for _, stmt in iter_statements(node)])


def resources_of(template: dict[str, Any], type_: str) -> dict[str, dict[str, Any]]:
    return {name: res for name, res in template["Resources"].items() if res["Type"] == type_}


def sub_text(value: Any) -> str:
    """The format string of a Fn::Sub (short or list form), else ''."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return sub if isinstance(sub, str) else str(sub[0])
    return ""


# --------------------------------------------------------------------------------------------------------
# Loader tests
# --------------------------------------------------------------------------------------------------------
def test_loader_understands_short_tags() -> None:
    text = """
a: !Ref X
b: !Sub "arn:${AWS::Partition}:s3:::${B}"
c: !GetAtt Res.Arn
d: !If [Cond, !Ref A, !Ref AWS::NoValue]
e: !Equals [!Ref P, ""]
f: !Not [!Equals [!Ref P, ""]]
g: !Select [0, !Split [",", !Ref L]]
h: !Join ["", [a, b]]
i: !And [!Condition C1, !Condition C2]
j: !Sub
  - "${X}"
  - X: !Ref Y
"""
    data = load_template(text)
    assert data["a"] == {"Ref": "X"}
    assert data["b"] == {"Fn::Sub": "arn:${AWS::Partition}:s3:::${B}"}
    assert data["c"] == {"Fn::GetAtt": ["Res", "Arn"]}
    assert data["d"] == {"Fn::If": ["Cond", {"Ref": "A"}, {"Ref": "AWS::NoValue"}]}
    assert data["e"] == {"Fn::Equals": [{"Ref": "P"}, ""]}
    assert data["f"] == {"Fn::Not": [{"Fn::Equals": [{"Ref": "P"}, ""]}]}
    assert data["g"] == {"Fn::Select": [0, {"Fn::Split": [",", {"Ref": "L"}]}]}
    assert data["h"] == {"Fn::Join": ["", ["a", "b"]]}
    assert data["i"] == {"Fn::And": [{"Condition": "C1"}, {"Condition": "C2"}]}
    assert data["j"] == {"Fn::Sub": ["${X}", {"X": {"Ref": "Y"}}]}


def test_template_is_sam_and_loads(template: dict[str, Any]) -> None:
    assert template["Transform"] == "AWS::Serverless-2016-10-31"
    assert len(list(iter_statements(template))) > 20


# --------------------------------------------------------------------------------------------------------
# IAM
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "action",
    ["*", "cognito-idp:*", "cognito-idp:Admin*", "Cognito-IDP:list*", "cognito-*:ListUsers", "cognito-idp:?"],
)
def test_wildcard_detector_flags_bad_actions(action: str) -> None:
    bad = {"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": [action], "Resource": "*"}]}}
    assert cognito_wildcard_findings(bad), action


@pytest.mark.parametrize("action", ["cognito-idp:ListUsers", "s3:GetObject", "kms:*", "sqs:*"])
def test_wildcard_detector_accepts_named_actions(action: str) -> None:
    ok = {"PolicyDocument": {"Statement": [{"Effect": "Allow", "Action": action, "Resource": "*"}]}}
    assert cognito_wildcard_findings(ok) == []


def test_wildcard_detector_sees_statements_inside_if_and_not_action() -> None:
    hidden = {
        "Statement": [
            {"Fn::If": ["C", {"Effect": "Allow", "Action": "cognito-idp:*"}, {"Ref": "AWS::NoValue"}]},
            {"Effect": "Allow", "NotAction": "s3:*", "Resource": "*"},
        ]
    }
    assert len(cognito_wildcard_findings(hidden)) == 2


def test_no_cognito_wildcard_anywhere(template: dict[str, Any]) -> None:
    assert cognito_wildcard_findings(template) == []


def test_detector_catches_wildcard_injected_into_template(template: dict[str, Any]) -> None:
    mutated = copy.deepcopy(template)
    stmt = mutated["Resources"]["BackupRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"][0]
    stmt["Action"].append("cognito-idp:Admin*")
    assert cognito_wildcard_findings(mutated)


def _role_statements(template: dict[str, Any], role: str) -> list[dict[str, Any]]:
    return [stmt for _, stmt in iter_statements(template["Resources"][role]["Properties"]["Policies"])]


# Cognito actions IAM cannot scope to a pool (no resource type in the Service Authorization Reference):
# they may, and must, use Resource "*". Each is a single named read action.
UNSCOPABLE_READS = {"DescribeUserPoolDomain"}


@pytest.mark.parametrize("role", ["BackupRole", "CaptureRole"])
def test_reader_roles_only_read_the_pool(template: dict[str, Any], role: str) -> None:
    statements = _role_statements(template, role)
    assert write_actions_in(statements) == []
    cognito_stmts = [s for s in statements if cognito_actions(s)]
    assert cognito_stmts, f"{role} has no Cognito statement at all"
    for stmt in cognito_stmts:
        if stmt["Resource"] == "*":
            assert set(cognito_actions(stmt)) <= UNSCOPABLE_READS, stmt
        else:
            resource = sub_text(stmt["Resource"])
            assert resource.endswith(":userpool/${UserPoolId}"), resource


def test_trigger_role_has_no_cognito_permission(template: dict[str, Any]) -> None:
    assert not [a for s in _role_statements(template, "TriggerRole") for a in cognito_actions(s)]


def test_backup_role_has_the_whole_read_set(template: dict[str, Any]) -> None:
    granted = {a for s in _role_statements(template, "BackupRole") for a in cognito_actions(s)}
    assert {
        "ListUsers",
        "ListUsersInGroup",
        "ListGroups",
        "DescribeUserPool",
        "GetUserPoolMfaConfig",
        "ListUserPoolClients",
        "DescribeUserPoolClient",
        "ListIdentityProviders",
        "DescribeIdentityProvider",
        "ListResourceServers",
        "DescribeUserPoolDomain",
        "GetUICustomization",
        "DescribeRiskConfiguration",
        "ListTagsForResource",
    } <= granted
    # AdminGetUser bills the user as a monthly active user: the backup path must never need it.
    assert "AdminGetUser" not in granted


def test_write_detector_catches_write_injected_into_backup_role(template: dict[str, Any]) -> None:
    mutated = copy.deepcopy(template)
    statements = mutated["Resources"]["BackupRole"]["Properties"]["Policies"][0]["PolicyDocument"]["Statement"]
    statements[0]["Action"].append("cognito-idp:AdminDeleteUser")
    assert write_actions_in(_role_statements(mutated, "BackupRole")) == ["AdminDeleteUser"]
    assert cognito_write_actions(mutated["Resources"]["BackupRole"]) == ["AdminDeleteUser"]


def test_only_replicate_and_restore_roles_write_each_to_its_one_pool(template: dict[str, Any]) -> None:
    """Replicate writes the standby pool, the deployed restore the RestoreUserPoolId pool; nothing else
    writes to a pool, and neither exists unless its parameter names a pool."""
    writers = {}
    for name, res in template["Resources"].items():
        writes = cognito_write_actions(res.get("Properties", {}))
        if writes:
            writers[name] = writes
    # The user-migration trigger signs users in on pool A (AdminInitiateAuth): it changes no data there.
    assert writers.pop("MigrateTriggerRole", None) in (None, ["AdminInitiateAuth"])
    assert set(writers) == {"ReplicateRole", "RestoreRole"}
    for role, condition, pool in (
        ("ReplicateRole", "HasStandby", "${StandbyUserPoolId}"),
        ("RestoreRole", "HasRestoreTarget", "${RestoreUserPoolId}"),
    ):
        assert any(a.startswith("Admin") for a in writers[role])
        assert template["Resources"][role]["Condition"] == condition
        for stmt in _role_statements(template, role):
            if cognito_actions(stmt):
                if stmt["Resource"] == "*":
                    assert set(cognito_actions(stmt)) <= UNSCOPABLE_READS, stmt
                    continue
                resource = sub_text(stmt["Resource"])
                assert resource.endswith(f":userpool/{pool}"), resource
                assert "${UserPoolId}" not in resource


def test_no_role_can_destroy_object_versions(template: dict[str, Any]) -> None:
    forbidden = {"s3:DeleteObjectVersion", "s3:PutBucketPolicy", "s3:PutLifecycleConfiguration", "s3:*"}
    for path, stmt in iter_statements(template):
        if stmt.get("Effect") == "Allow":
            assert not forbidden & set(actions_of(stmt)), path


# --------------------------------------------------------------------------------------------------------
# Bucket, key, queue, rule
# --------------------------------------------------------------------------------------------------------
def test_bucket_is_private_encrypted_and_versioned(template: dict[str, Any]) -> None:
    bucket = template["Resources"]["BackupBucket"]
    props = bucket["Properties"]
    assert bucket["Condition"] == "CreateBucket"
    assert bucket["DeletionPolicy"] == "Retain"
    pab = props["PublicAccessBlockConfiguration"]
    assert all(
        pab[k] is True for k in ("BlockPublicAcls", "BlockPublicPolicy", "IgnorePublicAcls", "RestrictPublicBuckets")
    )
    rule = props["BucketEncryption"]["ServerSideEncryptionConfiguration"][0]
    assert rule["ServerSideEncryptionByDefault"]["SSEAlgorithm"] == "aws:kms"
    assert rule["BucketKeyEnabled"] is True
    assert props["VersioningConfiguration"]["Status"] == "Enabled"
    lifecycle = props["LifecycleConfiguration"]["Rules"]
    assert any("NoncurrentVersionExpiration" in r for r in lifecycle)
    assert any("AbortIncompleteMultipartUpload" in r for r in lifecycle)
    # Object Lock only when asked for.
    assert props["ObjectLockEnabled"]["Fn::If"][0] == "UseObjectLock"


def test_bucket_policy_denies_insecure_transport_and_non_kms_writes(template: dict[str, Any]) -> None:
    statements = [s for _, s in iter_statements(template["Resources"]["BackupBucketPolicy"])]
    tls = [
        s
        for s in statements
        if s["Effect"] == "Deny" and s.get("Condition", {}).get("Bool", {}).get("aws:SecureTransport") == "false"
    ]
    assert tls and tls[0]["Principal"] == "*"
    sse = [
        s
        for s in statements
        if s["Effect"] == "Deny"
        and s.get("Condition", {}).get("StringNotEquals", {}).get("s3:x-amz-server-side-encryption") == "aws:kms"
    ]
    assert sse and sse[0]["Action"] == "s3:PutObject"
    # Only a header that is present can be wrong: an absent one (every UploadPart) is not refused here.
    assert sse[0]["Condition"]["Null"] == {"s3:x-amz-server-side-encryption": "false"}
    # (tests/test_bucket_policy.py evaluates these statements against the store's requests)


def test_created_key_rotates(template: dict[str, Any]) -> None:
    key = template["Resources"]["BackupKey"]
    assert key["Condition"] == "CreateKmsKey"
    assert key["Properties"]["EnableKeyRotation"] is True


def test_capture_queue_has_dead_letter_queue(template: dict[str, Any]) -> None:
    queue = template["Resources"]["CaptureQueue"]["Properties"]
    redrive = queue["RedrivePolicy"]
    assert redrive["deadLetterTargetArn"] == {"Fn::GetAtt": ["CaptureDeadLetterQueue", "Arn"]}
    assert redrive["maxReceiveCount"] == 5
    assert queue["SqsManagedSseEnabled"] is True


def test_capture_queue_accepts_only_the_rule(template: dict[str, Any]) -> None:
    statements = [s for _, s in iter_statements(template["Resources"]["CaptureQueuePolicy"])]
    allows = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allows) == 1
    assert allows[0]["Principal"] == {"Service": "events.amazonaws.com"}
    assert allows[0]["Condition"]["ArnEquals"]["aws:SourceArn"] == {"Fn::GetAtt": ["CaptureRule", "Arn"]}


def test_event_rule_matches_cognito_cloudtrail_events(template: dict[str, Any]) -> None:
    rule = template["Resources"]["CaptureRule"]
    pattern = rule["Properties"]["EventPattern"]
    assert pattern["source"] == ["aws.cognito-idp"]
    assert "AWS API Call via CloudTrail" in pattern["detail-type"]
    assert set(pattern["detail"]["eventName"]) >= ISSUE_4_EVENTS
    targets = rule["Properties"]["Targets"]
    assert targets[0]["Arn"] == {"Fn::GetAtt": ["CaptureQueue", "Arn"]}


def test_capture_function_reports_partial_batch_failures(template: dict[str, Any]) -> None:
    fn = template["Resources"]["CaptureFunction"]["Properties"]
    event = fn["Events"]["CaptureQueue"]["Properties"]
    assert event["FunctionResponseTypes"] == ["ReportBatchItemFailures"]
    assert event["BatchSize"] <= 10


def test_functions_use_the_documented_handlers(template: dict[str, Any]) -> None:
    handlers = {
        name: res["Properties"]["Handler"] for name, res in resources_of(template, "AWS::Serverless::Function").items()
    }
    assert handlers == {
        "BackupFunction": "cognito_backup.serverless.backup.handler",
        "CaptureFunction": "cognito_backup.serverless.capture.handler",
        "ReplicateFunction": "cognito_backup.serverless.replicate.handler",
        "TriggerFunction": "cognito_backup.serverless.trigger.handler",
        "MigrateTriggerFunction": "cognito_backup.serverless.migrate_trigger.handler",
        "RestoreFunction": "cognito_backup.serverless.restore.handler",
    }
    glob = template["Globals"]["Function"]
    assert glob["Runtime"] == "python3.12"
    assert glob["Architectures"] == ["arm64"]
    assert glob["CodeUri"] == "../dist/lambda.zip"
    assert template["Resources"]["BackupFunction"]["Properties"]["Timeout"] == 900


def test_state_machine_loops_until_done_and_reports_failure(template: dict[str, Any]) -> None:
    definition = template["Resources"]["BackupStateMachine"]["Properties"]["Definition"]
    states = definition["States"]
    step = states["BackupStep"]
    assert step["Next"] == "IsDone"
    assert states["IsDone"]["Default"] == "BackupStep"
    assert any(c.get("BooleanEquals") is True for c in states["IsDone"]["Choices"])
    assert any("Lambda.ServiceException" in r["ErrorEquals"] for r in step["Retry"])
    assert step["Catch"][0]["Next"] == "NotifyFailure"
    assert states["NotifyFailure"]["Resource"] == "arn:aws:states:::sns:publish"
    schedule = template["Resources"]["SnapshotSchedule"]["Properties"]
    assert schedule["Target"]["Arn"] == {"Ref": "BackupStateMachine"}
    assert schedule["ScheduleExpression"] == {"Ref": "BackupSchedule"}


# --------------------------------------------------------------------------------------------------------
# cfn-lint
# --------------------------------------------------------------------------------------------------------
def _cfn_lint(path: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from cfnlint.runner import main; sys.exit(main())"
    return subprocess.run(
        [sys.executable, "-c", code, str(path)], capture_output=True, text=True, timeout=300, check=False
    )


needs_cfn_lint = pytest.mark.skipif(
    importlib.util.find_spec("cfnlint") is None, reason="cfn-lint is not installed (pip install cfn-lint)"
)


@needs_cfn_lint
def test_cfn_lint_passes_without_errors_or_warnings() -> None:
    result = _cfn_lint(TEMPLATE)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == ""


@needs_cfn_lint
def test_cfn_lint_check_can_fail(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("Resources:\n  B:\n    Type: AWS::S3::Bucket\n    Properties:\n      Nope: 1\n")
    assert _cfn_lint(bad).returncode != 0


def test_a_standby_region_stack_can_leave_out_backups_and_the_trigger(template: dict[str, Any]) -> None:
    """`EnableScheduledBackup=false`: only the replicate path (and shared bucket/key/topic) remains."""
    resources = template["Resources"]
    backup_side = {
        "BackupFunction",
        "BackupStateMachine",
        "SnapshotSchedule",
        "BackupRole",
        "StateMachineRole",
        "BackupSchedulerRole",
        "TriggerFunction",
        "TriggerRole",
        "TriggerInvokePermission",
        "SnapshotFailedAlarm",
        "SnapshotMissingAlarm",
    }
    for name in backup_side:
        assert resources[name].get("Condition") == "BackupEnabled", name
    for name in ("ReplicateFunction", "ReplicateRole", "ReplicateSchedule"):
        assert resources[name].get("Condition") == "HasStandby", name
    assert template["Parameters"]["EnableScheduledBackup"]["Default"] == "true"
