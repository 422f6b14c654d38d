"""The deployed tier's pure parts: call -> IAM authorisation mapping, and template resolution."""

from __future__ import annotations

from typing import Any

import pytest

from tests.deployed.cfn import Stack
from tests.deployed.iam_calls import CallSite, UnmappedCall, requests_for
from tests.iam_eval import Request
from tests.test_deploy_template import TEMPLATE, load_template

SITE = CallSite(region="eu-west-1", account="111122223333", bucket_kms_key_arn="arn:aws:kms:eu-west-1:1:key/k")
POOL_ARN = "arn:aws:cognito-idp:eu-west-1:111122223333:userpool/eu-west-1_P"


def test_cognito_calls_are_scoped_to_the_pool_they_name() -> None:
    assert requests_for("cognito-idp", "ListUsers", {"UserPoolId": "eu-west-1_P"}, SITE) == [
        Request("cognito-idp:ListUsers", POOL_ARN)
    ]
    assert requests_for("cognito-idp", "ListTagsForResource", {"ResourceArn": POOL_ARN}, SITE) == [
        Request("cognito-idp:ListTagsForResource", POOL_ARN)
    ]
    # No resource-level permission exists for DescribeUserPoolDomain.
    assert requests_for("cognito-idp", "DescribeUserPoolDomain", {"Domain": "d"}, SITE)[0].resource == "*"


def test_s3_list_carries_the_prefix_and_object_writes_their_encryption_headers() -> None:
    (listing,) = requests_for("s3", "ListObjectsV2", {"Bucket": "b", "Prefix": "p/journal/"}, SITE)
    assert (listing.action, listing.resource, listing.context["s3:prefix"]) == (
        "s3:ListBucket",
        "arn:aws:s3:::b",
        "p/journal/",
    )
    put, kms = requests_for(
        "s3", "PutObject", {"Bucket": "b", "Key": "p/k", "ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "K"}, SITE
    )
    assert put.action == "s3:PutObject" and put.resource == "arn:aws:s3:::b/p/k"
    assert put.context["s3:x-amz-server-side-encryption"] == "aws:kms"
    assert put.context["s3:x-amz-server-side-encryption-aws-kms-key-id"] == "K"
    assert kms == Request("kms:GenerateDataKey", "K")


def test_upload_part_is_a_put_object_without_encryption_headers() -> None:
    """What makes the bucket policy's ...IfExists deny a multipart upload (issue 13)."""
    (part, *_) = requests_for("s3", "UploadPart", {"Bucket": "b", "Key": "k", "PartNumber": 1, "UploadId": "u"}, SITE)
    assert part.action == "s3:PutObject"
    assert not any(key.startswith("s3:x-amz-server-side-encryption") for key in part.context)


def test_reading_an_sse_kms_object_needs_decrypt_on_the_bucket_key() -> None:
    get, kms = requests_for("s3", "GetObject", {"Bucket": "b", "Key": "k"}, SITE)
    assert get.action == "s3:GetObject" and kms == Request("kms:Decrypt", "arn:aws:kms:eu-west-1:1:key/k")


def test_an_unknown_call_is_refused_not_guessed() -> None:
    with pytest.raises(UnmappedCall):
        requests_for("s3", "PutBucketPolicy", {"Bucket": "b"}, SITE)
    with pytest.raises(UnmappedCall):
        requests_for("dynamodb", "GetItem", {}, SITE)


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text(encoding="utf-8"))


def _stack(template: dict[str, Any], **params: str) -> Stack:
    stack = Stack(template, {"UserPoolId": "us-east-1_P", **params})
    stack.refs.update({"BackupBucket": "bkt", "BackupKey": "kid", "ReplicateLogGroup": "lg"})
    stack.attributes.update({"BackupKey.Arn": "arn:aws:kms:us-east-1:123456789012:key/kid"})
    stack.attributes["BackupBucket.Arn"] = "arn:aws:s3:::bkt"
    stack.attributes["ReplicateLogGroup.Arn"] = "arn:aws:logs:us-east-1:123456789012:log-group:lg:*"
    return stack


def test_a_function_gets_the_globals_and_its_own_variables_resolved(template: dict[str, Any]) -> None:
    stack = _stack(template, StandbyUserPoolId="us-east-1_S")
    env = stack.function_environment("ReplicateFunction")
    assert env["COGNITO_BACKUP_REPO"] == "s3://bkt/cognito-backup"
    assert env["COGNITO_BACKUP_USER_POOL_REGION"] == "us-east-1"  # !If PoolInStackRegion -> AWS::Region
    assert env["COGNITO_BACKUP_SSE_KMS_KEY_ID"] == "arn:aws:kms:us-east-1:123456789012:key/kid"
    assert env["COGNITO_BACKUP_STANDBY_POOL_ID"] == "us-east-1_S"


def test_conditions_and_role_statements_resolve(template: dict[str, Any]) -> None:
    stack = _stack(template)
    assert stack.condition("CreateBucket") and not stack.condition("HasStandby")
    assert not stack.exists("ReplicateFunction")
    assert (
        _stack(template, UserPoolRegion="eu-west-1").function_environment("BackupFunction")[
            "COGNITO_BACKUP_USER_POOL_REGION"
        ]
        == "eu-west-1"
    )
    with_standby = _stack(template, StandbyUserPoolId="us-east-1_S")
    statements = with_standby.role_statements("ReplicateRole")
    writes = next(s for s in statements if s.get("Sid") == "ReadWriteStandbyPoolOnly")
    assert writes["Resource"] == "arn:aws:cognito-idp:us-east-1:123456789012:userpool/us-east-1_S"
    listing = next(s for s in statements if s.get("Sid") == "ListRepository")
    assert listing["Condition"]["StringLike"]["s3:prefix"] == ["cognito-backup", "cognito-backup/*"]


def test_resolve_turns_intrinsics_into_data() -> None:
    template = {
        "Parameters": {"P": {"Type": "String"}, "Flag": {"Type": "String", "Default": "on"}},
        "Conditions": {"C": {"Fn::Equals": [{"Ref": "Flag"}, "on"]}},
        "Resources": {},
    }
    stack = Stack(template, {"P": "param"}, refs={"X": "arn"}, attributes={"K.Arn": "key"})
    value = {
        "A": {"Fn::If": ["C", {"Fn::GetAtt": ["K", "Arn"]}, {"Ref": "P"}]},
        "B": {"Fn::Sub": "${X}/*"},
        "C": [{"Ref": "AWS::NoValue"}, "kept"],
    }
    assert stack.resolve(value) == {"A": "key", "B": "arn/*", "C": ["kept"]}
    assert Stack(template, {"P": "param", "Flag": "off"}).resolve(value["A"]) == "param"


def test_an_unknown_reference_or_parameter_fails_loudly(template: dict[str, Any]) -> None:
    stack = _stack(template)
    with pytest.raises(KeyError):
        stack.resolve({"Ref": "NoSuchThing"})
    with pytest.raises(KeyError):
        Stack(template, {"UserPoolId": "us-east-1_P", "NotAParameter": "x"})


def _publish_environ(topic: str, access_key: str) -> dict[str, Any]:
    import io
    import urllib.parse

    body = urllib.parse.urlencode({"Action": "Publish", "TopicArn": topic, "Message": "m"}).encode()
    return {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": str(len(body)),
        "HTTP_AUTHORIZATION": f"AWS4-HMAC-SHA256 Credential={access_key}/20260101/us-east-1/sns/aws4_request",
        "wsgi.input": io.BytesIO(body),
    }


def test_the_engine_s_sns_publish_is_checked_against_its_role() -> None:
    from tests.deployed.lambdas import Caller, Lambdas

    topic = "arn:aws:sns:us-east-1:123456789012:t"
    lambdas = Lambdas()
    lambdas.callers["ak"] = Caller(
        "arn:aws:iam::123456789012:role/sm", [{"Effect": "Allow", "Action": "sns:Publish", "Resource": topic}]
    )
    passed: list[bytes] = []

    def moto(environ: dict[str, Any], start_response: Any) -> list[bytes]:
        passed.append(environ["wsgi.input"].read())  # the body is still there for moto
        start_response("200 OK", [])
        return [b""]

    statuses: list[str] = []
    serve = lambdas.middleware(moto)
    serve(_publish_environ(topic, "ak"), lambda status, headers: statuses.append(status))
    serve(_publish_environ(topic + "-other", "ak"), lambda status, headers: statuses.append(status))
    serve(_publish_environ(topic + "-other", "someone-else"), lambda status, headers: statuses.append(status))

    assert statuses == ["200 OK", "403 Forbidden", "200 OK"]  # only the engine's calls are the role's
    assert len(passed) == 2 and b"Action=Publish" in passed[0]
    assert lambdas.denied == [
        f"User: arn:aws:iam::123456789012:role/sm is not authorized to perform: SNS:Publish on resource: {topic}-other"
    ]
