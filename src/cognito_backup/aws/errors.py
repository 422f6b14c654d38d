"""Translate botocore errors into the tool's own errors (and exit codes), without personal data."""

from __future__ import annotations

from botocore.exceptions import (
    BotoCoreError,
    ClientError,
    ConnectTimeoutError,
    EndpointConnectionError,
    HTTPClientError,
    NoCredentialsError,
    NoRegionError,
    PartialCredentialsError,
    ProfileNotFound,
    ReadTimeoutError,
)
from botocore.exceptions import ConnectionError as BotoConnectionError

from cognito_backup.errors import (
    AccessDenied,
    AwsError,
    CognitoBackupError,
    PoolNotFound,
    Throttled,
    UsageError,
)

THROTTLING_CODES = frozenset(
    {"TooManyRequestsException", "ThrottlingException", "Throttling", "RequestLimitExceeded", "SlowDown"}
)
ACCESS_CODES = frozenset(
    {
        "AccessDeniedException",
        "AccessDenied",
        "UnrecognizedClientException",
        "InvalidClientTokenId",
        "ExpiredTokenException",
        "ExpiredToken",
        "NotAuthorizedException",
        "InvalidAccessKeyId",
        "SignatureDoesNotMatch",
    }
)


def error_code(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        return str(exc.response.get("Error", {}).get("Code", ""))
    return ""


def is_aws_answer(code: str, content_type: str) -> bool:
    """Whether an error came from an AWS-shaped endpoint. botocore uses the bare HTTP status as the code
    when the body carries no AWS error type, as with moto's HTML page for a call it lacks."""
    return not (code.isdigit() and "json" not in content_type.lower())


def is_throttling(exc: BaseException) -> bool:
    return error_code(exc) in THROTTLING_CODES


# A server-side failure that a later attempt may not meet (the codes botocore's standard retry mode
# treats as transient, for the services this tool calls).
TRANSIENT_CODES = frozenset(
    {"InternalErrorException", "InternalFailure", "InternalError", "ServiceUnavailable", "ServiceUnavailableException"}
)


def is_transient(exc: BaseException) -> bool:
    """A connection error, a timeout, or a 5xx answer: worth another attempt, a bounded number of times.

    Throttling is not transient in this sense: the pacer handles it by slowing down (see pacing.py)."""
    if isinstance(exc, BotoConnectionError | HTTPClientError):
        return True
    if not isinstance(exc, ClientError) or is_throttling(exc):
        return False
    status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode", 0)
    return error_code(exc) in TRANSIENT_CODES or int(status or 0) >= 500


def translate_client_error(exc: BaseException, action: str) -> CognitoBackupError:
    """`action` names the call and its target (pool id, bucket), never attribute values.

    The result carries `aws_code` so callers can still tell, say, a vanished group from a vanished pool.
    """
    err = _translate(exc, action)
    err.aws_code = error_code(exc)  # type: ignore[attr-defined]
    return err


def aws_code(err: BaseException) -> str:
    return str(getattr(err, "aws_code", "") or error_code(err))


def _translate(exc: BaseException, action: str) -> CognitoBackupError:
    if isinstance(exc, NoCredentialsError):
        return AccessDenied(
            f"{action}: no AWS credentials found",
            hint="Set AWS_PROFILE / --profile, or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY.",
        )
    if isinstance(exc, NoRegionError):
        return UsageError(f"{action}: no AWS Region given", hint="Pass --region or set AWS_REGION.")
    if isinstance(exc, PartialCredentialsError | ProfileNotFound):
        return AccessDenied(f"{action}: {exc}", hint="Check --profile / AWS_PROFILE and ~/.aws/credentials.")
    if isinstance(exc, EndpointConnectionError | ConnectTimeoutError | ReadTimeoutError):
        return AwsError(
            f"{action}: cannot reach the AWS endpoint ({type(exc).__name__})",
            hint="Check the network, --region and --endpoint-url; nothing was written.",
        )
    if isinstance(exc, BotoCoreError):
        return AwsError(f"{action}: {type(exc).__name__}: {exc}")
    code = error_code(exc)
    if code in ACCESS_CODES:
        return AccessDenied(f"{action}: access denied by AWS ({code})")
    message = str(exc.response.get("Error", {}).get("Message", "")) if isinstance(exc, ClientError) else ""
    # Cognito says "User pool <id> does not exist." for a missing pool; other missing things (a group
    # deleted mid-backup) must not be reported as a missing pool.
    if code == "ResourceNotFoundException" and "pool" in message.lower():
        return PoolNotFound(f"{action}: the user pool does not exist in this account and Region ({code})")
    if code in THROTTLING_CODES:
        return Throttled(f"{action}: still throttled by AWS after every retry ({code})")
    if code in {"NoSuchBucket"}:
        return AwsError(f"{action}: the bucket does not exist ({code})")
    if isinstance(exc, ClientError) and not is_aws_answer(code, _content_type(exc)):
        return AwsError(
            f"{action}: HTTP {code} without an AWS error: the endpoint does not implement this call, or failed "
            "before answering as AWS does",
            hint="The local emulator (moto) lacks some Cognito calls (`recover`, some settings); against AWS, "
            "re-run later.",
        )
    # Cognito error messages can echo request values (usernames, attribute values): keep only the code.
    return AwsError(f"{action}: AWS error {code or type(exc).__name__}")


def _content_type(exc: ClientError) -> str:
    headers = exc.response.get("ResponseMetadata", {}).get("HTTPHeaders", {})
    return str(headers.get("content-type", ""))
