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
MIGRATE = "migrate"  # the user-migration trigger of pool B; its Cognito calls go to pool A
RESTORE = "restore"
HANDLERS = (BACKUP, CAPTURE, REPLICATE, TRIGGER, MIGRATE, RESTORE)

# The template's role for each handler (deploy/template.yaml).
ROLE_OF_HANDLER: Mapping[str, str] = MappingProxyType(
    {
        BACKUP: "BackupRole",
        CAPTURE: "CaptureRole",
        REPLICATE: "ReplicateRole",
        TRIGGER: "TriggerRole",
        MIGRATE: "MigrateTriggerRole",
        RESTORE: "RestoreRole",
    }
)

_READERS = frozenset({BACKUP, CAPTURE, REPLICATE, RESTORE})  # read a pool's configuration
_ALL = frozenset({BACKUP, CAPTURE, REPLICATE, TRIGGER, RESTORE})  # every handler that writes the repository
_WRITERS = frozenset({REPLICATE, RESTORE})  # the restore engine: replicate on the standby, restore on its target

# operation -> the handlers whose code path calls it. Backup and capture call Cognito on the source pool
# only; replicate calls it on the standby pool only (it reads the source from the repository), restore on
# its target (RestoreUserPoolId) only.
OPERATIONS: Mapping[str, frozenset[str]] = MappingProxyType(
    {
        # pool configuration (PoolReader.read_config): every section, every path
        "cognito-idp:DescribeUserPool": _READERS,
        "cognito-idp:GetUserPoolMfaConfig": _READERS,
        "cognito-idp:ListTagsForResource": _READERS,
        # migrate: finds the admin-auth client `migrate start` created on A (once per container)
        "cognito-idp:ListUserPoolClients": _READERS | {MIGRATE},
        "cognito-idp:DescribeUserPoolClient": _READERS,
        "cognito-idp:ListIdentityProviders": _READERS,
        "cognito-idp:DescribeIdentityProvider": _READERS,
        "cognito-idp:ListResourceServers": _READERS,
        "cognito-idp:DescribeUserPoolDomain": _READERS,
        "cognito-idp:GetUICustomization": _READERS,
        "cognito-idp:DescribeRiskConfiguration": _READERS,
        "cognito-idp:ListUserPoolReplicas": _READERS,
        "cognito-idp:GetUserPoolSessionConfiguration": _READERS,
        "cognito-idp:GetLogDeliveryConfiguration": _READERS,
        "cognito-idp:ListTerms": _READERS,
        "cognito-idp:DescribeTerms": _READERS,
        "cognito-idp:ListCIMDPolicies": _READERS,
        "cognito-idp:DescribeCIMDPolicy": _READERS,
        # per app client (no listing of them exists)
        "cognito-idp:DescribeManagedLoginBrandingByClient": _READERS,
        "cognito-idp:GetUserPoolClientSessionConfiguration": _READERS,
        # users and groups (capture re-reads one user, one group or one user's groups; it never lists
        # groups or their members)
        "cognito-idp:ListUsers": _READERS | {MIGRATE},  # migrate: a sign-in name that is an alias
        "cognito-idp:ListGroups": frozenset({BACKUP, REPLICATE, RESTORE}),
        "cognito-idp:ListUsersInGroup": frozenset({BACKUP, REPLICATE, RESTORE}),
        "cognito-idp:GetGroup": frozenset({CAPTURE}),
        # capture re-reads a user who made the change themselves (already a monthly active user) with
        # AdminGetUser, leaving the UserList quota to backups (core/capture_reads.py)
        "cognito-idp:AdminGetUser": frozenset({CAPTURE, MIGRATE}),
        # migrate: the password check against A (the user is signing in: a monthly active user anyway)
        "cognito-idp:AdminInitiateAuth": frozenset({MIGRATE}),
        # migrate, when A is in another account: the role there (MigrateSourceRoleArn) it acts through
        "sts:AssumeRole": frozenset({MIGRATE}),
        "cognito-idp:AdminListGroupsForUser": frozenset({CAPTURE, REPLICATE}),
        # standby and restore writes (the restore engine)
        "cognito-idp:AdminCreateUser": _WRITERS,
        "cognito-idp:AdminUpdateUserAttributes": _WRITERS,
        "cognito-idp:AdminDeleteUserAttributes": _WRITERS,
        "cognito-idp:AdminDeleteUser": _WRITERS,
        "cognito-idp:AdminDisableUser": _WRITERS,
        "cognito-idp:AdminEnableUser": _WRITERS,
        "cognito-idp:AdminAddUserToGroup": _WRITERS,
        "cognito-idp:AdminRemoveUserFromGroup": _WRITERS,
        "cognito-idp:AdminSetUserPassword": _WRITERS,
        "cognito-idp:CreateGroup": _WRITERS,
        "cognito-idp:UpdateGroup": _WRITERS,
        "cognito-idp:DeleteGroup": _WRITERS,
        "cognito-idp:AddCustomAttributes": _WRITERS,
        # the standby follows the source's configuration (core/config_plan.py STANDBY_SECTIONS: never its domain)
        "cognito-idp:SetUserPoolMfaConfig": frozenset({REPLICATE}),
        "cognito-idp:UpdateUserPool": frozenset({REPLICATE}),
        "cognito-idp:CreateResourceServer": frozenset({REPLICATE}),
        "cognito-idp:UpdateResourceServer": frozenset({REPLICATE}),
        "cognito-idp:CreateIdentityProvider": frozenset({REPLICATE}),
        "cognito-idp:UpdateIdentityProvider": frozenset({REPLICATE}),
        "cognito-idp:CreateUserPoolClient": frozenset({REPLICATE}),
        "cognito-idp:UpdateUserPoolClient": frozenset({REPLICATE}),
        "cognito-idp:SetUICustomization": frozenset({REPLICATE}),
        "cognito-idp:SetRiskConfiguration": frozenset({REPLICATE}),
        "cognito-idp:SetUserPoolSessionConfiguration": frozenset({REPLICATE}),
        "cognito-idp:SetUserPoolClientSessionConfiguration": frozenset({REPLICATE}),
        "cognito-idp:CreateTerms": frozenset({REPLICATE}),
        "cognito-idp:UpdateTerms": frozenset({REPLICATE}),
        "cognito-idp:CreateManagedLoginBranding": frozenset({REPLICATE}),
        "cognito-idp:UpdateManagedLoginBranding": frozenset({REPLICATE}),
        "cognito-idp:CreateCIMDPolicy": frozenset({REPLICATE}),
        "cognito-idp:UpdateCIMDPolicy": frozenset({REPLICATE}),
        # the standby's tag (#8.2): read by read_config above, written by replicate
        "cognito-idp:TagResource": frozenset({REPLICATE}),
        # the repository: content-addressed snapshot objects are checked (HeadObject) before they are
        # written (journal segments are not: their bytes are new, so capture and the trigger never HEAD);
        # replicate lists the journal and keeps its cursor; backup drops its lock and temporary objects and
        # lists the location once to tell a new repository from a non-empty location that is not one
        # capture lists, reads, saves and deletes its pending rescan jobs (repo/rescan_jobs.py)
        "s3:ListObjectsV2": frozenset({BACKUP, CAPTURE, REPLICATE, RESTORE}),
        "s3:GetObject": frozenset({BACKUP, CAPTURE, REPLICATE, RESTORE}),
        # replicate stores its fold as a compacted state, and a full comparison's listing of the standby
        # (ops/standby_listing.py), as snapshots: content-addressed objects; restore looks for its
        # execution's stored plan and progress record (ops/stored_plan.py), and so does replicate for a
        # full comparison's stored plan
        "s3:HeadObject": frozenset({BACKUP, REPLICATE, RESTORE}),
        "s3:PutObject": _ALL,
        # restore: its resume state's small objects folded into one (ops/checkpoint.py compact), and the
        # older generations of a target's lease it took over (repo/leases.py); replicate: a whole round's
        # resume state, the compacted state the next one replaces, and a stored plan once carried out
        "s3:DeleteObject": frozenset({BACKUP, CAPTURE, RESTORE, REPLICATE}),
        # snapshot objects above boto3's 8 MB threshold (a users object can be ~50 MB)
        "s3:CreateMultipartUpload": frozenset({BACKUP, REPLICATE}),
        "s3:UploadPart": frozenset({BACKUP, REPLICATE}),
        "s3:CompleteMultipartUpload": frozenset({BACKUP, REPLICATE}),
        "s3:AbortMultipartUpload": frozenset({BACKUP, REPLICATE}),
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
        **{
            (REPLICATE, op): "objects above boto3's 8 MB multipart threshold: a compacted state or a standby "
            "listing of a big pool (tests/test_bucket_policy.py uploads one through the store)"
            for op in (
                "s3:CreateMultipartUpload",
                "s3:UploadPart",
                "s3:CompleteMultipartUpload",
                "s3:AbortMultipartUpload",
            )
        },
        # The recorded standbys lack the source's clients, providers, resource servers and MFA (created);
        # settings that differ in place are updated by the same code (tests/test_config_restore.py).
        (REPLICATE, "cognito-idp:UpdateUserPool"): "a standby whose pool settings differ from the source's",
        (REPLICATE, "cognito-idp:UpdateResourceServer"): "a resource server that differs (moto lacks the call)",
        (REPLICATE, "cognito-idp:UpdateIdentityProvider"): "an identity provider that differs",
        (REPLICATE, "cognito-idp:UpdateUserPoolClient"): "an app client whose settings differ",
        (REPLICATE, "cognito-idp:SetUICustomization"): "hosted UI CSS on a standby with its own domain",
        (REPLICATE, "cognito-idp:SetRiskConfiguration"): "threat protection (moto lacks the call)",
        # The newer surfaces' writes (moto lacks the calls; tests/test_config_sections.py runs the standby
        # against tests/config_double.py); log delivery is the standby's own (never written).
        (REPLICATE, "cognito-idp:SetUserPoolSessionConfiguration"): "moto lacks the call",
        (REPLICATE, "cognito-idp:SetUserPoolClientSessionConfiguration"): "moto lacks the call",
        (REPLICATE, "cognito-idp:CreateTerms"): "moto lacks the call",
        (REPLICATE, "cognito-idp:UpdateTerms"): "moto lacks the call",
        (REPLICATE, "cognito-idp:CreateManagedLoginBranding"): "moto lacks the call",
        (REPLICATE, "cognito-idp:UpdateManagedLoginBranding"): "moto lacks the call",
        (REPLICATE, "cognito-idp:CreateCIMDPolicy"): "moto lacks the call",
        (REPLICATE, "cognito-idp:UpdateCIMDPolicy"): "moto lacks the call",
        **{
            (handler, f"cognito-idp:{op}"): f"asked for each item {listing} lists; moto lacks {listing} "
            "(tests/test_config_surfaces.py reads them through a double)"
            for handler in sorted(_READERS)
            for op, listing in (("DescribeTerms", "ListTerms"), ("DescribeCIMDPolicy", "ListCIMDPolicies"))
        },
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
        MIGRATE: frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
        RESTORE: frozenset({"logs:CreateLogStream", "logs:PutLogEvents"}),
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
