"""The repository bucket policy (issue 13.1): still refuses unencrypted and wrong-key writes, and lets
the store write an object above boto3's multipart threshold.

The policy is the template's, resolved to plain data (tests/deployed/cfn.py) and evaluated by
tests/iam_eval.py against the requests the project's S3 store really makes (recorded at botocore's
before-sign against moto, which does not evaluate bucket policies itself): each request's IAM action and
the encryption headers present.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.serverless.permissions import iam_actions_of
from cognito_backup.store.s3 import S3Store
from tests.deployed.cfn import Stack
from tests.iam_eval import Request, condition_holds, conditions_hold, denying_statements, evaluate
from tests.op_recorder import Call, recording
from tests.test_deploy_template import TEMPLATE, load_template

BUCKET = "repo-bucket"
KEY_ARN = "arn:aws:kms:us-east-1:123456789012:key/11111111-2222-3333-4444-555555555555"
OTHER_KEY = "arn:aws:kms:us-east-1:123456789012:key/99999999-9999-9999-9999-999999999999"
SSE = "s3:x-amz-server-side-encryption"
SSE_KEY = "s3:x-amz-server-side-encryption-aws-kms-key-id"
TLS = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.2"}
MULTIPART_THRESHOLD = 8 * 1024 * 1024  # boto3 TransferConfig's default

# The statements the template had before this fix: StringNotEqualsIfExists holds when the header is
# absent, so they refused every UploadPart and CompleteMultipartUpload (neither carries the headers).
OLD_STATEMENTS: list[dict[str, Any]] = [
    {
        "Sid": "DenyNonKmsPutObject",
        "Effect": "Deny",
        "Action": "s3:PutObject",
        "Condition": {"StringNotEqualsIfExists": {SSE: "aws:kms"}},
    },
    {
        "Sid": "DenyOtherKmsKey",
        "Effect": "Deny",
        "Action": "s3:PutObject",
        "Condition": {"StringNotEqualsIfExists": {SSE_KEY: KEY_ARN}},
    },
]


def template_stack(create_key: bool = True) -> Stack:
    """The template with the repository key either created by the stack or passed in (KmsKeyArn)."""
    template = load_template(TEMPLATE.read_text(encoding="utf-8"))
    stack = Stack(template, {"KmsKeyArn": "" if create_key else KEY_ARN})
    stack.refs["BackupBucket"] = BUCKET
    stack.attributes.update({"BackupBucket.Arn": f"arn:aws:s3:::{BUCKET}", "BackupKey.Arn": KEY_ARN})
    return stack


def template_statements(create_key: bool = True) -> list[dict[str, Any]]:
    stack = template_stack(create_key)
    assert stack.condition("CreateKmsKey") is create_key
    doc = stack.resolve(stack.resource("BackupBucketPolicy")["Properties"]["PolicyDocument"])
    statements: list[dict[str, Any]] = doc["Statement"]
    return statements


def request_of(call: Call) -> Request:
    """What the bucket policy sees of a recorded S3 call: its (first) IAM action and context keys."""
    context = dict(TLS) if call.url.startswith("https://") else {"aws:SecureTransport": "false"}
    for header, key in (
        ("x-amz-server-side-encryption", SSE),
        ("x-amz-server-side-encryption-aws-kms-key-id", SSE_KEY),
    ):
        if header in call.headers:
            context[key] = call.headers[header]
    return Request(iam_actions_of(f"s3:{call.operation}")[0], context=context, operation=call.operation)


def put(context: dict[str, str], operation: str = "PutObject") -> Request:
    return Request("s3:PutObject", context={**TLS, **context}, operation=operation)


# --------------------------------------------------------------------------------------------------------
# the evaluator (pure)
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("operator", "wanted", "context", "holds"),
    [
        ("StringEquals", "a", {"k": "a"}, True),
        ("StringEquals", "a", {}, False),  # absent: a positive operator is false
        ("StringNotEquals", "a", {"k": "b"}, True),
        ("StringNotEquals", "a", {}, True),  # absent: a negated operator is TRUE
        ("StringNotEquals", ["a", "b"], {"k": "b"}, False),  # negated with several values: AND
        ("StringNotEqualsIfExists", "a", {}, True),  # absent: IfExists holds
        ("StringNotEqualsIfExists", "a", {"k": "a"}, False),
        ("StringEqualsIfExists", "a", {}, True),
        ("Null", "true", {}, True),
        ("Null", "true", {"k": "x"}, False),
        ("Null", "false", {"k": "x"}, True),
        ("Null", "false", {}, False),
        ("Bool", "false", {"k": "false"}, True),
        ("Bool", "false", {}, False),
        ("NumericLessThan", "1.2", {"k": "1.1"}, True),
        ("NumericLessThan", "1.2", {"k": "1.3"}, False),
        ("StringLike", ["p", "p/*"], {"k": "p/x"}, True),
    ],
)
def test_operator_semantics(operator: str, wanted: Any, context: dict[str, str], holds: bool) -> None:
    assert condition_holds(operator, "k", wanted, context) is holds


def test_a_condition_block_is_an_and_of_everything() -> None:
    block = {"StringNotEquals": {"a": "x"}, "Null": {"a": "false"}}
    assert conditions_hold(block, {"a": "y"})
    assert not conditions_hold(block, {"a": "x"})
    assert not conditions_hold(block, {})


def test_evaluate_explicit_deny_allow_and_implicit_deny() -> None:
    statements: list[dict[str, Any]] = [
        {"Effect": "Allow", "Action": ["s3:GetObject", "s3:PutObject"], "Resource": "arn:aws:s3:::b/p/*"},
        {
            "Effect": "Deny",
            "Action": "s3:PutObject",
            "Condition": {"Null": {SSE: "false"}, "StringNotEquals": {SSE: "aws:kms"}},
        },
    ]
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::b/p/k")) == "allow"
    assert evaluate(statements, Request("s3:GetObject", "arn:aws:s3:::b/other/k")) == "implicit-deny"
    assert evaluate(statements, Request("s3:PutObject", "arn:aws:s3:::b/p/k", {SSE: "AES256"})) == "explicit-deny"
    assert evaluate(statements, Request("s3:DeleteObject", "arn:aws:s3:::b/p/k")) == "implicit-deny"


def test_unknown_operators_are_refused_not_guessed() -> None:
    with pytest.raises(NotImplementedError, match="DateLessThan"):
        condition_holds("DateLessThan", "k", "2020-01-01", {"k": "x"})


# --------------------------------------------------------------------------------------------------------
# the policy
# --------------------------------------------------------------------------------------------------------
def test_the_old_statements_refused_multipart_parts() -> None:
    """The bug, shown by the same evaluator: an UploadPart carries no encryption header."""
    assert denying_statements(OLD_STATEMENTS, put({}, "UploadPart")) == ["DenyNonKmsPutObject", "DenyOtherKmsKey"]


@pytest.mark.parametrize(
    ("context", "operation"),
    [
        ({SSE: "AES256"}, "PutObject"),
        ({SSE: "AES256"}, "CreateMultipartUpload"),
        ({SSE: "aws:kms", SSE_KEY: OTHER_KEY}, "PutObject"),
        ({SSE: "aws:kms", SSE_KEY: OTHER_KEY}, "CreateMultipartUpload"),
        ({SSE_KEY: OTHER_KEY}, "PutObject"),
        # aws:kms without a key id means the AWS managed key aws/s3, not the repository key
        ({SSE: "aws:kms"}, "PutObject"),
        ({SSE: "aws:kms:dsse", SSE_KEY: KEY_ARN}, "PutObject"),
    ],
)
def test_policy_refuses_other_encryption_and_other_keys(context: dict[str, str], operation: str) -> None:
    assert denying_statements(template_statements(), put(context, operation)), (context, operation)


@pytest.mark.parametrize("create_key", [True, False])
def test_policy_allows_the_repository_key_and_headerless_parts(create_key: bool) -> None:
    statements = template_statements(create_key)
    good = {SSE: "aws:kms", SSE_KEY: KEY_ARN}
    for request in (
        put(good, "PutObject"),
        put(good, "CreateMultipartUpload"),
        put({}, "UploadPart"),
        put({}, "CompleteMultipartUpload"),
    ):
        assert denying_statements(statements, request) == [], request


def test_a_write_without_headers_gets_the_repository_key_from_the_bucket_default() -> None:
    """IAM has no condition key that tells PutObject from UploadPart (one action, s3:PutObject, covers
    both), so a headerless PutObject cannot be refused without refusing every part. It is allowed, and
    the bucket's default encryption gives it the very key the policy pins: SSE-KMS, repository key."""
    template = load_template(TEMPLATE.read_text(encoding="utf-8"))
    rule = template["Resources"]["BackupBucket"]["Properties"]["BucketEncryption"]["ServerSideEncryptionConfiguration"][
        0
    ]
    default = rule["ServerSideEncryptionByDefault"]
    assert default["SSEAlgorithm"] == "aws:kms"
    pinned = next(s for s in template_statements() if s["Sid"] == "DenyOtherKmsKey")
    assert template_stack().resolve(default["KMSMasterKeyID"]) == pinned["Condition"]["StringNotEquals"][SSE_KEY]
    assert denying_statements(template_statements(), put({}, "PutObject")) == []


def test_policy_refuses_plain_http() -> None:
    assert "DenyInsecureTransport" in denying_statements(
        template_statements(), Request("s3:GetObject", context={"aws:SecureTransport": "false"})
    )


# --------------------------------------------------------------------------------------------------------
# the store, through the policy
# --------------------------------------------------------------------------------------------------------
def store_requests(tmp_path: Path, size: int) -> list[Request]:
    """Every S3 request the store makes to write an object of `size` bytes and read it back."""
    path = tmp_path / "big.bin"
    with path.open("wb") as fh:
        fh.truncate(size)
    with recording() as rec:
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket=BUCKET)
        rec.clear()
        store = S3Store(client, BUCKET, "cognito-backup", kms_key_id=KEY_ARN)
        store.put_file("objects/big", path)
        assert store.exists("objects/big")
        store.put_bytes("small", b"x")
    return [request_of(c) for c in rec.of("s3")]


def test_an_object_above_the_multipart_threshold_passes_the_policy(aws: None, tmp_path: Path) -> None:
    requests = store_requests(tmp_path, MULTIPART_THRESHOLD + 1024 * 1024)
    operations = [r.operation for r in requests]
    assert {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"} <= set(operations)
    assert operations.count("UploadPart") >= 2
    refused = {r.operation: denying_statements(template_statements(), r) for r in requests}
    assert {op: sids for op, sids in refused.items() if sids} == {}
    # ... and the same uploads met the old statements' refusal on every part.
    assert {r.operation for r in requests if denying_statements(OLD_STATEMENTS, r)} >= {
        "UploadPart",
        "CompleteMultipartUpload",
    }
