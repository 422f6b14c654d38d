"""Which AWS operations each Lambda handler calls, and the IAM actions its role needs for them.

Pure data, the one source for deploy/template.yaml's function roles. `OPERATIONS` is derived from the
code: tests/test_deploy_permissions.py runs every path of every handler against moto with each AWS call
recorded at botocore's boundary and requires the recorded set to equal this table, then requires each
role in the template to grant exactly `iam_actions(handler)`. A new call without its permission (or a
permission nothing calls any more) fails those tests.

Operations are named as botocore names them (`service:Operation`); `IAM_ACTIONS` maps those whose IAM
action differs or which need more than one (S3 checks SSE-KMS writes and reads against the key).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

BACKUP = "backup"
CAPTURE = "capture"
REPLICATE = "replicate"
TRIGGER = "trigger"
HANDLERS = (BACKUP, CAPTURE, REPLICATE, TRIGGER)

# The template's role for each handler (deploy/template.yaml).
ROLE_OF_HANDLER: Mapping[str, str] = MappingProxyType(
    {BACKUP: "BackupRole", CAPTURE: "CaptureRole", REPLICATE: "ReplicateRole", TRIGGER: "TriggerRole"}
)

_READERS = frozenset({BACKUP, CAPTURE, REPLICATE})  # read a pool's configuration
_ALL = frozenset(HANDLERS)

# operation -> the handlers whose code path calls it. Backup and capture call Cognito on the source pool
# only; replicate calls it on the standby pool only (it reads the source from the repository).
OPERATIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # pool configuration (PoolReader.read_config): every section, every path
        "cognito-idp:DescribeUserPool": _READERS,
        "cognito-idp:GetUserPoolMfaConfig": _READERS,
        "cognito-idp:ListTagsForResource": _READERS,
        "cognito-idp:ListUserPoolClients": _READERS,
        "cognito-idp:DescribeUserPoolClient": _READERS,
        "cognito-idp:ListIdentityProviders": _READERS,
        "cognito-idp:DescribeIdentityProvider": _READERS,
        "cognito-idp:ListResourceServers": _READERS,
        "cognito-idp:DescribeUserPoolDomain": _READERS,
        "cognito-idp:GetUICustomization": _READERS,
        "cognito-idp:DescribeRiskConfiguration": _READERS,
        # users and groups (capture re-reads one user, one group or one user's groups; it never lists
        # groups or their members)
        "cognito-idp:ListUsers": _READERS,
        "cognito-idp:ListGroups": frozenset({BACKUP, REPLICATE}),
        "cognito-idp:ListUsersInGroup": frozenset({BACKUP, REPLICATE}),
        "cognito-idp:GetGroup": frozenset({CAPTURE}),
        # capture re-reads a user who made the change themselves (already a monthly active user) with
        # AdminGetUser, leaving the UserList quota to backups (core/capture_reads.py)
        "cognito-idp:AdminGetUser": frozenset({CAPTURE}),
        "cognito-idp:AdminListGroupsForUser": frozenset({CAPTURE, REPLICATE}),
        # standby writes (the restore engine)
        "cognito-idp:AdminCreateUser": frozenset({REPLICATE}),
        "cognito-idp:AdminUpdateUserAttributes": frozenset({REPLICATE}),
        "cognito-idp:AdminDeleteUserAttributes": frozenset({REPLICATE}),
        "cognito-idp:AdminDeleteUser": frozenset({REPLICATE}),
        "cognito-idp:AdminDisableUser": frozenset({REPLICATE}),
        "cognito-idp:AdminEnableUser": frozenset({REPLICATE}),
        "cognito-idp:AdminAddUserToGroup": frozenset({REPLICATE}),
        "cognito-idp:AdminRemoveUserFromGroup": frozenset({REPLICATE}),
        "cognito-idp:AdminSetUserPassword": frozenset({REPLICATE}),
        "cognito-idp:CreateGroup": frozenset({REPLICATE}),
        "cognito-idp:UpdateGroup": frozenset({REPLICATE}),
        "cognito-idp:DeleteGroup": frozenset({REPLICATE}),
        "cognito-idp:AddCustomAttributes": frozenset({REPLICATE}),
        # the standby's tag (#8.2): read by read_config above, written by replicate
        "cognito-idp:TagResource": frozenset({REPLICATE}),
        # the repository: content-addressed objects are checked (HeadObject) before they are written;
        # replicate lists the journal and keeps its cursor; backup drops its lock and temporary objects and
        # lists the location once to tell a new repository from a non-empty location that is not one
        # capture lists, reads, saves and deletes its pending rescan jobs (repo/rescan_jobs.py)
        "s3:ListObjectsV2": frozenset({BACKUP, CAPTURE, REPLICATE}),
        "s3:GetObject": frozenset({BACKUP, CAPTURE, REPLICATE}),
        "s3:HeadObject": frozenset({BACKUP, CAPTURE, TRIGGER}),
        "s3:PutObject": _ALL,
        "s3:DeleteObject": frozenset({BACKUP, CAPTURE}),
        # snapshot objects above boto3's 8 MB threshold (a users object can be ~50 MB)
        "s3:CreateMultipartUpload": frozenset({BACKUP}),
        "s3:UploadPart": frozenset({BACKUP}),
        "s3:CompleteMultipartUpload": frozenset({BACKUP}),
        "s3:AbortMultipartUpload": frozenset({BACKUP}),
    }
)

# Operations in the table that the recorded paths cannot reach, each with the reason. The permission
# test fails when one of them IS recorded (then it belongs to the table without an excuse).
NOT_EXERCISED: Mapping[tuple[str, str], str] = MappingProxyType(
    {
        (BACKUP, "s3:CreateMultipartUpload"): "objects above boto3's 8 MB multipart threshold "
        "(tests/test_bucket_policy.py uploads one through the store)",
        (BACKUP, "s3:UploadPart"): "as CreateMultipartUpload",
        (BACKUP, "s3:CompleteMultipartUpload"): "as CreateMultipartUpload",
        (BACKUP, "s3:AbortMultipartUpload"): "boto3's transfer manager after a failed part",
        (REPLICATE, "cognito-idp:TagResource"): "the standby tag (#8.2) is written by replicate",
    }
)

_KMS_WRITE = ("kms:GenerateDataKey",)
# SSE-KMS multipart uploads also need kms:Decrypt: S3 reads the encrypted parts to complete the object.
_KMS_MULTIPART = ("kms:GenerateDataKey", "kms:Decrypt")

# operation -> IAM actions, where not simply the same name. S3 answers a read of a missing key with 404
# only to a caller allowed s3:ListBucket on the bucket, and with 403 AccessDenied to anyone else: the
# store tells "absent" (a new object, no cursor or checkpoint yet) from a failure by that 404. S3 checks
# that grant with the object's key as s3:prefix, which the roles' prefix condition admits.
_READ_MISSING = ("s3:ListBucket",)
IAM_ACTIONS: Mapping[str, tuple[str, ...]] = MappingProxyType(
    {
        "s3:ListObjectsV2": ("s3:ListBucket",),
        "s3:HeadObject": ("s3:GetObject", *_READ_MISSING),
        "s3:GetObject": ("s3:GetObject", "kms:Decrypt", *_READ_MISSING),
        "s3:PutObject": ("s3:PutObject", *_KMS_WRITE),
        "s3:CreateMultipartUpload": ("s3:PutObject", *_KMS_MULTIPART),
        "s3:UploadPart": ("s3:PutObject", *_KMS_MULTIPART),
        "s3:CompleteMultipartUpload": ("s3:PutObject", *_KMS_MULTIPART),
    }
)

# What the Lambda service itself does with the function's role, not the handler's code: write the
# function's logs, and (capture) poll the queue for the event source mapping (the actions of the
# AWSLambdaSQSQueueExecutionRole managed policy).
SERVICE_ACTIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        BACKUP: frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
        CAPTURE: frozenset(
            {
                "logs:CreateLogStream",
                "logs:PutLogEvents",
                "sqs:ReceiveMessage",
                "sqs:DeleteMessage",
                "sqs:GetQueueAttributes",
            }
        ),
        REPLICATE: frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
        TRIGGER: frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
    }
)

# Cognito actions with no resource-level permission (only a domain name in the request): IAM needs "*".
UNSCOPED_ACTIONS = frozenset({"cognito-idp:DescribeUserPoolDomain"})


def operations_of(handler: str) -> frozenset[str]:
    return frozenset(op for op, handlers in OPERATIONS.items() if handler in handlers)


def iam_actions_of(operation: str) -> tuple[str, ...]:
    return IAM_ACTIONS.get(operation, (operation,))


def iam_actions(handler: str) -> frozenset[str]:
    """Every IAM action the handler's role must grant: its operations' and the Lambda service's."""
    actions = {action for op in operations_of(handler) for action in iam_actions_of(op)}
    return frozenset(actions | SERVICE_ACTIONS[handler])
