"""Which IAM authorisations an AWS API call needs, per the Service Authorization Reference.

`requests_for` maps one botocore call (service, operation, API parameters) to the IAM requests AWS
evaluates for it: action, resource ARN and the condition keys the call carries. S3 calls on an SSE-KMS
bucket also need the KMS key on the caller's behalf (kms:GenerateDataKey to write, kms:Decrypt to
read). A call the table does not know raises: the harness never guesses an authorisation.
Pure: no AWS call here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from tests.iam_eval import Request

# Operations that name no pool, or that IAM cannot scope to one (Service Authorization Reference,
# Amazon Cognito User Pools: "Resource types" column empty).
_COGNITO_UNSCOPED = {"DescribeUserPoolDomain", "ListUserPools"}

# S3 operation -> IAM action (the Service Authorization Reference names actions, not operations).
_S3_OBJECT_ACTIONS = {
    "GetObject": "s3:GetObject",
    "HeadObject": "s3:GetObject",
    "PutObject": "s3:PutObject",
    "CreateMultipartUpload": "s3:PutObject",
    "UploadPart": "s3:PutObject",
    "CompleteMultipartUpload": "s3:PutObject",
    "AbortMultipartUpload": "s3:AbortMultipartUpload",
    "DeleteObject": "s3:DeleteObject",
    "GetObjectTagging": "s3:GetObjectTagging",
    "PutObjectTagging": "s3:PutObjectTagging",
}
_S3_BUCKET_ACTIONS = {
    "ListObjectsV2": "s3:ListBucket",
    "ListObjects": "s3:ListBucket",
    "HeadBucket": "s3:ListBucket",
    "ListObjectVersions": "s3:ListBucketVersions",
    "ListMultipartUploads": "s3:ListBucketMultipartUploads",
    "GetBucketLocation": "s3:GetBucketLocation",
    "GetBucketVersioning": "s3:GetBucketVersioning",
    "GetObjectLockConfiguration": "s3:GetBucketObjectLockConfiguration",
}
# Requests carrying the SSE headers (the bucket policy's condition keys).
_S3_SSE_OPERATIONS = {"PutObject", "CreateMultipartUpload", "CopyObject"}
# Every request reaches AWS over TLS 1.2+: Lambda's SDK endpoints are https.
_TRANSPORT = {"aws:SecureTransport": "true", "s3:TlsVersion": "1.3"}


@dataclass(frozen=True)
class CallSite:
    region: str
    account: str
    bucket_kms_key_arn: str | None = None  # the bucket's default SSE-KMS key


class UnmappedCall(LookupError):
    """The harness does not know the IAM authorisation of this call: add it to the table."""


def requests_for(service: str, operation: str, params: Mapping[str, Any], site: CallSite) -> list[Request]:
    if service == "cognito-idp":
        return [Request(f"cognito-idp:{operation}", _cognito_resource(operation, params, site))]
    if service == "s3":
        return _s3_requests(operation, params, site)
    if service == "kms":
        key = str(params.get("KeyId", "*"))
        return [Request(f"kms:{operation}", key if key.startswith("arn:") else "*")]
    if service == "sqs" and "QueueUrl" in params:
        name = str(params["QueueUrl"]).rstrip("/").rsplit("/", 1)[-1]
        return [Request(f"sqs:{operation}", f"arn:aws:sqs:{site.region}:{site.account}:{name}")]
    if service == "sns" and "TopicArn" in params:
        return [Request(f"sns:{operation}", str(params["TopicArn"]))]
    if service == "sts" and operation == "GetCallerIdentity":
        return []  # needs no permission
    raise UnmappedCall(f"{service}:{operation}")


def _cognito_resource(operation: str, params: Mapping[str, Any], site: CallSite) -> str:
    if operation == "ListTagsForResource" or operation in {"TagResource", "UntagResource"}:
        return str(params["ResourceArn"])
    if operation in _COGNITO_UNSCOPED or "UserPoolId" not in params:
        return "*"
    return f"arn:aws:cognito-idp:{site.region}:{site.account}:userpool/{params['UserPoolId']}"


def _s3_requests(operation: str, params: Mapping[str, Any], site: CallSite) -> list[Request]:
    bucket = str(params.get("Bucket", ""))
    out: list[Request] = []
    if operation in _S3_BUCKET_ACTIONS:
        context: dict[str, str] = dict(_TRANSPORT)
        if params.get("Prefix") is not None:
            context["s3:prefix"] = str(params["Prefix"])
        out.append(Request(_S3_BUCKET_ACTIONS[operation], f"arn:aws:s3:::{bucket}", context))
        return out
    if operation == "DeleteObjects":
        keys = [o["Key"] for o in params.get("Delete", {}).get("Objects", [])]
        return [Request("s3:DeleteObject", f"arn:aws:s3:::{bucket}/{k}", dict(_TRANSPORT)) for k in keys]
    if operation == "CopyObject":
        source = params["CopySource"]
        if isinstance(source, str):
            src_bucket, _, src_key = source.lstrip("/").partition("/")
        else:
            src_bucket, src_key = source["Bucket"], source["Key"]
        out.append(Request("s3:GetObject", f"arn:aws:s3:::{src_bucket}/{src_key}", dict(_TRANSPORT)))
        action = "s3:PutObject"
    elif operation in _S3_OBJECT_ACTIONS:
        action = _S3_OBJECT_ACTIONS[operation]
        if operation in {"GetObject", "HeadObject"} and params.get("VersionId"):
            action = "s3:GetObjectVersion"
    else:
        raise UnmappedCall(f"s3:{operation}")
    resource = f"arn:aws:s3:::{bucket}/{params['Key']}"
    context = dict(_TRANSPORT)
    if operation in _S3_SSE_OPERATIONS:
        if params.get("ServerSideEncryption") is not None:
            context["s3:x-amz-server-side-encryption"] = str(params["ServerSideEncryption"])
        if params.get("SSEKMSKeyId") is not None:
            context["s3:x-amz-server-side-encryption-aws-kms-key-id"] = str(params["SSEKMSKeyId"])
    out.append(Request(action, resource, context))
    out.extend(_kms_on_behalf(operation, params, site))
    return out


def _kms_on_behalf(operation: str, params: Mapping[str, Any], site: CallSite) -> list[Request]:
    """The KMS calls S3 makes with the caller's permissions on an SSE-KMS bucket (S3 User Guide,
    "Using server-side encryption with AWS KMS keys": GenerateDataKey to write, Decrypt to read, both for
    a multipart upload)."""
    key = str(params.get("SSEKMSKeyId") or site.bucket_kms_key_arn or "")
    if not key:
        return []
    if operation in {"PutObject", "CreateMultipartUpload", "CopyObject"}:
        return [Request("kms:GenerateDataKey", key)]
    if operation in {"GetObject", "CompleteMultipartUpload"}:
        return [Request("kms:Decrypt", key)]
    return []
