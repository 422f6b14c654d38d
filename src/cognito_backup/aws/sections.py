"""Optional configuration reads: which answers mean "this pool or endpoint has no such thing".

A section is "not offered" only when the endpoint says so for that operation (the per-operation table
below, built from the errors each operation documents in the botocore service model and the Cognito API
reference), or when the answer is not an AWS error at all (an emulator that lacks the call answers with
an HTML page). Everything else is a failure to read: transient failures are retried, and a section still
unreadable after that, or denied by IAM, makes the snapshot incomplete. Pure data and pure functions; the
reader (aws/reader.py) carries out the calls.
"""

from __future__ import annotations

from enum import Enum
from types import MappingProxyType

from cognito_backup.aws.endpoint_gaps import NOT_IMPLEMENTED_STATUS
from cognito_backup.aws.errors import ACCESS_CODES, THROTTLING_CODES
from cognito_backup.aws.errors import is_aws_answer as is_aws_answer  # where readers look for it

# Codes by which an endpoint says it does not implement a call at all: cognito-local answers
# `Unsupported` for every call it lacks (ListTagsForResource, ListIdentityProviders, ...), with HTTP 500
# (cognito-local is wrong there: AWS answers an unknown action with a 4xx, and botocore retries every 500,
# so each such call costs botocore's attempts); AWS protocol stacks use the others for an action they do
# not know.
ENDPOINT_LACKS_CALL = frozenset(
    {
        "Unsupported",
        "UnsupportedOperationException",
        "UnknownOperationException",
        "UnknownOperation",
        "InvalidAction",
        "NotImplemented",
        "NotImplementedException",
    }
)

# Per operation: the documented error codes that mean "this pool has no such thing".
NOT_OFFERED: MappingProxyType[str, frozenset[str]] = MappingProxyType(
    {
        # Every pool has an MFA configuration: only an endpoint lacking the call offers none.
        "GetUserPoolMfaConfig": frozenset(),
        # Tags are also in DescribeUserPool's UserPoolTags, which stays the record when this is absent.
        "ListTagsForResource": frozenset(),
        "ListIdentityProviders": frozenset(),
        "ListResourceServers": frozenset(),
        # The domain named in DescribeUserPool was deleted in between: the pool has no domain.
        "DescribeUserPoolDomain": frozenset({"ResourceNotFoundException"}),
        # Cognito refuses hosted UI customisation on a pool without a domain ("A domain must be associated
        # with this user pool", InvalidParameterException); ResourceNotFound: nothing customised.
        "GetUICustomization": frozenset({"InvalidParameterException", "ResourceNotFoundException"}),
        # Threat protection (advanced security) not enabled on the pool, or not in the pool's feature
        # plan (Lite tier).
        "DescribeRiskConfiguration": frozenset(
            {"UserPoolAddOnNotEnabledException", "FeatureUnavailableInTierException", "ResourceNotFoundException"}
        ),
        # The 2024-26 surfaces. OperationNotEnabledException: "not available in the current region or for
        # the current user pool configuration" (a secondary replica's Region, for one).
        "ListUserPoolReplicas": frozenset({"OperationNotEnabledException"}),
        "GetUserPoolSessionConfiguration": frozenset({"OperationNotEnabledException"}),
        "GetUserPoolClientSessionConfiguration": frozenset({"OperationNotEnabledException"}),
        "ListTerms": frozenset({"OperationNotEnabledException"}),
        "DescribeManagedLoginBrandingByClient": frozenset({"OperationNotEnabledException"}),
        # Its documented errors name no "not enabled" answer: only an endpoint lacking the call.
        "GetLogDeliveryConfiguration": frozenset(),
        "ListCIMDPolicies": frozenset(),
    }
)

# Worth asking again: the service's own transient failures (HTTP 5xx with an AWS error body).
TRANSIENT_CODES = frozenset(
    {
        "InternalErrorException",
        "InternalFailure",
        "InternalServerError",
        "ServiceUnavailable",
        "ServiceUnavailableException",
        "RequestTimeout",
        "RequestTimeoutException",
    }
)
# A non-AWS body with these statuses comes from a load balancer or proxy in front of the endpoint: a
# passing outage, not an answer about the call.
_GATEWAY_STATUSES = frozenset({502, 503, 504})


class Verdict(Enum):
    NOT_OFFERED = "not offered"  # the pool or endpoint has no such thing: recorded, snapshot complete
    NONE = "none"  # this one item (an app client's style, ...) has none: nothing to record
    TRANSIENT = "transient"  # ask again (bounded); still failing -> the snapshot is incomplete
    DENIED = "denied"  # IAM refused: the snapshot is incomplete
    POOL_GONE = "pool gone"  # the pool was deleted during the backup: the backup fails
    THROTTLED = "throttled"  # the pacer's own business: the backup fails with exit 5
    UNREADABLE = "unreadable"  # any other error: the snapshot is incomplete


def classify(
    operation: str, code: str, *, status: int, content_type: str, message: str = "", per_item: bool = False
) -> Verdict:
    """What an error answer to the optional read `operation` means for the snapshot. `per_item`: the
    call asked about one item (an app client, a listed terms document or policy), not the pool."""
    if not is_aws_answer(code, content_type):
        if status in _GATEWAY_STATUSES:
            return Verdict.TRANSIENT
        # An emulator's error page for a call it lacks, or HTTP's own "501 Not Implemented" (moto
        # in-process: aws/endpoint_gaps.py).
        if _is_page(content_type, message) or status == NOT_IMPLEMENTED_STATUS:
            return Verdict.NOT_OFFERED
        # No AWS error and no page either (an empty 500): nothing says the call is missing.
        return Verdict.TRANSIENT if status >= 500 else Verdict.UNREADABLE
    if code == "ResourceNotFoundException" and _names_missing_pool(message):
        return Verdict.POOL_GONE
    if per_item and code == "ResourceNotFoundException":
        # One app client's style or session setting, one listed terms document or policy: that item has
        # none, or was deleted since it was listed. Nothing about the call itself.
        return Verdict.NONE
    if code in ENDPOINT_LACKS_CALL or code in NOT_OFFERED.get(operation, frozenset()):
        return Verdict.NOT_OFFERED
    if code in THROTTLING_CODES:
        return Verdict.THROTTLED
    if code in ACCESS_CODES:
        return Verdict.DENIED
    if code in TRANSIENT_CODES or (code.isdigit() and status >= 500):
        return Verdict.TRANSIENT
    return Verdict.UNREADABLE


def _names_missing_pool(message: str) -> bool:
    # Cognito: "User pool us-east-1_AbC does not exist." (a missing domain is worded differently).
    text = message.lower()
    return text.startswith("user pool ") and "does not exist" in text


def _is_page(content_type: str, message: str) -> bool:
    # botocore puts an unparseable body into the error message.
    return "html" in content_type.lower() or message.lstrip().startswith("<")
