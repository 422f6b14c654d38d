"""Cognito's request-rate quota categories (per account per Region), from the AWS quota table.

Pure data. Accounts can buy more capacity for adjustable categories, so every rate is overridable
(`--rate CATEGORY=RPS`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from cognito_backup.errors import UsageError

DEFAULT_RATES: dict[str, float] = {
    "UserList": 30,
    "UserCreation": 50,
    "UserUpdate": 25,
    "UserRead": 120,
    "UserResourceRead": 50,
    "UserResourceUpdate": 25,
    "UserAccountRecovery": 30,
    "UserPoolRead": 15,
    "UserPoolUpdate": 15,
    "UserPoolResourceRead": 20,
    "UserPoolResourceUpdate": 15,
    "UserPoolClientRead": 15,
    "UserPoolClientUpdate": 15,
}

_CATEGORY_OPS: dict[str, tuple[str, ...]] = {
    "UserList": ("ListUsers", "ListUsersInGroup"),
    "UserCreation": ("AdminCreateUser", "SignUp", "ConfirmSignUp", "AdminConfirmSignUp"),
    "UserUpdate": (
        "AdminAddUserToGroup",
        "AdminRemoveUserFromGroup",
        "AdminUpdateUserAttributes",
        "AdminDeleteUserAttributes",
        "AdminDeleteUser",
        "AdminDisableUser",
        "AdminEnableUser",
        "AdminLinkProviderForUser",
    ),
    "UserRead": ("AdminGetUser",),
    "UserResourceRead": ("AdminListGroupsForUser", "AdminListDevices"),
    "UserResourceUpdate": ("AdminSetUserMFAPreference", "AdminSetUserSettings"),
    "UserAccountRecovery": ("AdminSetUserPassword", "AdminResetUserPassword"),
    "UserPoolRead": (
        "DescribeUserPool",
        "ListUserPools",
        "ListTagsForResource",
        # The recovery calls: AWS's category table names none of them (late 2026); pool-level reads and
        # writes are the closest, and `recover` makes a few calls a minute.
        "DescribePointInTimeRecovery",
        "ListPointInTimeRecoveries",
        # Nor the 2024-26 configuration calls: pool-level ones here, per-item ones with the resources.
        "ListUserPoolReplicas",
        "GetUserPoolSessionConfiguration",
        "GetLogDeliveryConfiguration",
    ),
    "UserPoolUpdate": (
        "CreateUserPool",
        "UpdateUserPool",
        "DeleteUserPool",
        "TagResource",
        "InitiatePointInTimeRecovery",
        "StartPointInTimeRecovery",
        "CancelPointInTimeRecovery",
        "SetUserPoolSessionConfiguration",
        "SetLogDeliveryConfiguration",
    ),
    "UserPoolResourceRead": (
        "ListGroups",
        "GetGroup",
        "GetCSVHeader",
        "DescribeUserImportJob",
        "ListUserImportJobs",
        "DescribeIdentityProvider",
        "ListIdentityProviders",
        "DescribeResourceServer",
        "ListResourceServers",
        "DescribeUserPoolDomain",
        "GetUserPoolMfaConfig",
        "GetUICustomization",
        "DescribeRiskConfiguration",
        "ListTerms",
        "DescribeTerms",
        "DescribeManagedLoginBrandingByClient",
        "ListCIMDPolicies",
        "DescribeCIMDPolicy",
    ),
    "UserPoolResourceUpdate": (
        "CreateGroup",
        "UpdateGroup",
        "DeleteGroup",
        "CreateUserImportJob",
        "StartUserImportJob",
        "StopUserImportJob",
        "AddCustomAttributes",
        "CreateIdentityProvider",
        "UpdateIdentityProvider",
        "DeleteIdentityProvider",
        "CreateResourceServer",
        "UpdateResourceServer",
        "DeleteResourceServer",
        "CreateUserPoolDomain",
        "UpdateUserPoolDomain",
        "DeleteUserPoolDomain",
        "SetUserPoolMfaConfig",
        "SetUICustomization",
        "SetRiskConfiguration",
        "CreateTerms",
        "CreateManagedLoginBranding",
        "CreateCIMDPolicy",
        "UpdateTerms",
        "UpdateManagedLoginBranding",
        "UpdateCIMDPolicy",
    ),
    "UserPoolClientRead": ("DescribeUserPoolClient", "ListUserPoolClients", "GetUserPoolClientSessionConfiguration"),
    "UserPoolClientUpdate": (
        "CreateUserPoolClient",
        "UpdateUserPoolClient",
        "DeleteUserPoolClient",
        "SetUserPoolClientSessionConfiguration",
    ),
}

OPERATION_CATEGORY: dict[str, str] = {op: cat for cat, ops in _CATEGORY_OPS.items() for op in ops}

# The UserPoolResource categories also allow at most 5 RPS for one operation on one pool.
PER_OPERATION_RATE = 5.0
PER_OPERATION_CATEGORIES = frozenset({"UserPoolResourceRead", "UserPoolResourceUpdate"})


def category_of(operation: str) -> str:
    try:
        return OPERATION_CATEGORY[operation]
    except KeyError:
        raise KeyError(f"no quota category known for {operation}") from None


def parse_rates(specs: Iterable[str], base: Mapping[str, float] | None = None) -> dict[str, float]:
    """`["UserCreation=100", ...]` on top of the defaults. Unknown categories are a usage error."""
    rates = dict(base or DEFAULT_RATES)
    for spec in specs:
        name, sep, value = spec.partition("=")
        name = name.strip()
        if not sep or name not in DEFAULT_RATES:
            raise UsageError(
                f"--rate {spec!r}: expected CATEGORY=RPS",
                hint="Categories: " + ", ".join(sorted(DEFAULT_RATES)),
            )
        try:
            rps = float(value)
        except ValueError:
            raise UsageError(f"--rate {spec!r}: {value!r} is not a number") from None
        if rps <= 0:
            raise UsageError(f"--rate {spec!r}: the rate must be positive")
        rates[name] = rps
    return rates
