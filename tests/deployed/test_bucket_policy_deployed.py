"""The repository bucket's policy met by the functions' real requests (evaluated by the harness, since
moto does not apply bucket policy conditions): snapshot objects of any size are writable, and a write
that does not use the repository key is refused."""

from __future__ import annotations

from pathlib import Path

import boto3
import pytest

from tests.deployed.harness import REGION, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.helpers import make_pool

# boto3's default multipart_threshold is 8 MB: this object goes up in parts.
LARGE = 9 * (1 << 20)


def test_the_backup_function_writes_an_object_above_the_multipart_threshold(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    probe = d.sandbox_of("BackupFunction", "tests.deployed.probes.put_large_object")

    result = probe.invoke({"key": "snapshots/large-object-probe", "size": LARGE})

    assert d.denied() == [], d.denied()
    assert result.error is None, result.error
    head = d.client("s3").head_object(Bucket=d.bucket, Key=f"{d.prefix}/snapshots/large-object-probe")
    assert head["ContentLength"] == LARGE
    assert {a["operation"] for a in d.audit()} >= {"CreateMultipartUpload", "UploadPart", "CompleteMultipartUpload"}


@pytest.mark.parametrize(
    "args",
    [
        {"ServerSideEncryption": "AES256"},
        {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": "arn:aws:kms:us-east-1:123456789012:key/other"},
    ],
    ids=["s3-managed-key", "another-kms-key"],
)
def test_a_write_without_the_repository_key_is_refused(
    deployed_env: tuple[str, Lambdas, Path], args: dict[str, str]
) -> None:
    url, lambdas, work = deployed_env
    pool = make_pool(boto3.client("cognito-idp", region_name=REGION, endpoint_url=url))
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool})
    probe = d.sandbox_of("BackupFunction", "tests.deployed.probes.put_object_with")

    result = probe.invoke({"key": "snapshots/probe", "args": args})

    assert result.error is not None
    assert "An error occurred (AccessDenied) when calling the PutObject operation" in result.error["errorMessage"]
    assert [(a["action"], a["decision"]) for a in d.denied()] == [("s3:PutObject", "explicit-deny")]
