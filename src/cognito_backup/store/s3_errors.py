"""What an S3 failure means for the repository: one pure decision per error, with an exit code and a
hint (docs/exit-codes.md, "Storage failures").

By the time an error reaches here, botocore's standard retry mode has already retried what a retry can
help (SlowDown, 500/503, connection errors): what is left is reported, never turned into exit 70.
"""

from __future__ import annotations

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    HTTPClientError,
    IncompleteReadError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from cognito_backup.aws.errors import ACCESS_CODES, error_code, translate_client_error
from cognito_backup.errors import AccessDenied, CognitoBackupError, RepositoryNotFound, StoreUnavailable
from cognito_backup.store.base import ObjectNotFound

MISSING_KEY_CODES = frozenset({"NoSuchKey", "404", "NotFound"})
UNAVAILABLE_CODES = frozenset({"SlowDown", "ServiceUnavailable", "503", "InternalError", "500", "RequestTimeout"})

RETRY_LATER = "S3 kept failing after every retry; nothing was lost: re-run the same command later."


def underlying(exc: BaseException) -> BaseException:
    """boto3's upload_file wraps the ClientError of PutObject/UploadPart in S3UploadFailedError (without
    `from`): the ClientError is what says why."""
    if isinstance(exc, S3UploadFailedError) and isinstance(exc.__context__, ClientError):
        return exc.__context__
    return exc


def s3_store_error(exc: BaseException, action: str, key: str, url: str) -> ObjectNotFound | CognitoBackupError:
    """`action` is the S3 call, `key` the store key, `url` the object's s3:// address (no personal data:
    keys are content hashes, snapshot ids and pool ids)."""
    exc = underlying(exc)
    code = error_code(exc)
    where = f"S3 {action} {url}"
    if code in MISSING_KEY_CODES:
        return ObjectNotFound(key)
    if code == "NoSuchBucket":
        return RepositoryNotFound(
            f"{where}: the bucket does not exist ({code})",
            hint="Check the bucket name in --repo and --region; create the bucket before the first backup.",
        )
    if code.startswith("KMS"):  # KMS.DisabledException, KMS.NotFoundException, ...:
        return AccessDenied(
            f"{where}: the KMS key cannot be used ({code})",
            hint="The key must exist, be enabled, and allow kms:GenerateDataKey and kms:Decrypt to these "
            "credentials (--sse-kms-key-id, the key policy).",
        )
    if code in ACCESS_CODES or code in {"AllAccessDisabled", "InvalidToken", "AccountProblem"}:
        return AccessDenied(
            f"{where}: access denied by S3 ({code})",
            hint="The credentials need s3:GetObject, s3:PutObject, s3:DeleteObject and s3:ListBucket on the "
            "repository prefix (and kms:GenerateDataKey / kms:Decrypt on an SSE-KMS key).",
        )
    if code == "RequestTimeTooSkewed":
        return StoreUnavailable(
            f"{where}: S3 refused the request's time ({code})",
            hint="This machine's clock is off by more than 15 minutes: synchronise it (NTP) and re-run.",
        )
    if code in UNAVAILABLE_CODES or _status(exc) >= 500:
        return StoreUnavailable(f"{where}: S3 unavailable ({code or _status(exc)})", hint=RETRY_LATER)
    if isinstance(exc, IncompleteReadError | BotoConnectionError | HTTPClientError):
        # HTTPClientError covers read timeouts and a response stream that broke mid-way.
        return StoreUnavailable(f"{where}: the connection to S3 failed ({type(exc).__name__})", hint=RETRY_LATER)
    if isinstance(exc, NoCredentialsError | NoRegionError | PartialCredentialsError | ProfileNotFound):
        return translate_client_error(exc, where)
    if isinstance(exc, ClientError | BotoCoreError | S3UploadFailedError):
        return StoreUnavailable(f"{where}: S3 error {code or type(exc).__name__}", hint=RETRY_LATER)
    raise TypeError(f"not an S3 error: {type(exc).__name__}")


def _status(exc: BaseException) -> int:
    if isinstance(exc, ClientError):
        return int(exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0) or 0)
    return 0
