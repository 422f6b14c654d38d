"""The user-migration trigger's decisions, as pure functions (docs/migrate.md "The trigger's answers").

Cognito invokes the trigger of pool B when a user that B does not hold signs in with a password
(`UserMigration_Authentication`) or asks for a password reset (`UserMigration_ForgotPassword`). The handler
(serverless/migrate_trigger.py) reads the user in pool A, verifies the password against A, and asks these
functions what to answer. An answer either fills the event's `response` (Cognito then creates the user in B)
or refuses: the handler raises, Cognito fails the sign-in, nothing is created in B.

Refusal messages reach the app's user through Cognito's error: they never say whether the username exists
(no user enumeration) and never carry an attribute value.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

AUTHENTICATION = "UserMigration_Authentication"
FORGOT_PASSWORD = "UserMigration_ForgotPassword"
TRIGGER_SOURCES = (AUTHENTICATION, FORGOT_PASSWORD)
# The deployed trigger's environment names the pool it reads (deploy/template.yaml); `migrate start`
# finds the function by it.
TRIGGER_POOL_VAR = "COGNITO_BACKUP_MIGRATE_FROM_POOL_ID"

# Cognito assigns these itself in B (sub: a new one; identities: federated links cannot move) and refuses
# them in a migration answer.
NOT_MOVABLE = frozenset({"sub", "identities"})
NOT_MOVABLE_PREFIXES = ("cognito:",)

# What the app's user reads. One sentence for "no such user" and "wrong password", as Cognito itself says.
BAD_CREDENTIALS = "Incorrect username or password."
TRY_AGAIN = "The sign-in service is busy; please try again in a moment."
RESET_FIRST = "Your password must be reset: use 'Forgot password'."


@dataclass(frozen=True)
class SourceUser:
    """The user as pool A holds it (AdminGetUser)."""

    username: str
    enabled: bool
    status: str
    attributes: Mapping[str, str]


@dataclass(frozen=True)
class AuthResult:
    """What AdminInitiateAuth (ADMIN_USER_PASSWORD_AUTH) on A answered: tokens (`ok`), a challenge (the
    password was right; `name` says which), or an error (`code`)."""

    kind: str  # "ok" | "challenge" | "error"
    name: str = ""  # the challenge's name, or the error's code


OK = AuthResult("ok")


@dataclass(frozen=True)
class Migrate:
    """Fill the response: Cognito creates the user in B with these attributes and this status."""

    attributes: dict[str, str]
    final_status: str | None  # None on ForgotPassword: Cognito sets RESET_REQUIRED and sends the code
    reason: str  # for the log: why (e.g. "password_verified", "totp_reenrol")
    message_action: str = "SUPPRESS"  # no welcome message: the user already knows their account
    force_alias_creation: bool = False  # never take an alias another user of B holds
    enable_sms_mfa: bool = False
    desired_delivery_mediums: tuple[str, ...] = field(default=())

    def response(self) -> dict[str, object]:
        out: dict[str, object] = {
            "userAttributes": dict(self.attributes),
            "messageAction": self.message_action,
            "forceAliasCreation": self.force_alias_creation,
        }
        if self.final_status:
            out["finalUserStatus"] = self.final_status
        if self.enable_sms_mfa:
            out["enableSMSMFA"] = True
        if self.desired_delivery_mediums:
            out["desiredDeliveryMediums"] = list(self.desired_delivery_mediums)
        return out


@dataclass(frozen=True)
class Refuse:
    """Fail the sign-in: Cognito creates nothing in B. `reason` is for the log, `message` for the user."""

    reason: str
    message: str


Decision = Migrate | Refuse

# Challenges AdminInitiateAuth only asks for after the password was verified.
MFA_CHALLENGES = frozenset({"SMS_MFA", "SOFTWARE_TOKEN_MFA", "EMAIL_OTP", "SELECT_MFA_TYPE", "MFA_SETUP"})
TOTP_CHALLENGES = frozenset({"SOFTWARE_TOKEN_MFA", "MFA_SETUP"})
THROTTLING = frozenset({"TooManyRequestsException", "ThrottlingException", "LimitExceededException"})


def movable_attributes(attributes: Mapping[str, str]) -> dict[str, str]:
    """The attributes B may be given: all but those Cognito assigns itself."""
    return {
        name: value
        for name, value in attributes.items()
        if name not in NOT_MOVABLE and not name.startswith(NOT_MOVABLE_PREFIXES)
    }


def decide_lookup(source: str, user: SourceUser | None) -> Refuse | None:
    """Before the password is tried: refuse users A would not let sign in either."""
    if source not in TRIGGER_SOURCES:
        return Refuse("unknown_trigger_source", BAD_CREDENTIALS)
    if user is None:
        return Refuse("not_in_source", BAD_CREDENTIALS)
    if not user.enabled:
        # A would refuse the sign-in; moving the user would enable them in B.
        return Refuse("disabled_in_source", BAD_CREDENTIALS)
    if user.status == "UNCONFIRMED":
        # Never confirmed their sign-up in A: the password was never proven theirs. `migrate finish`
        # restores them; they confirm in B.
        return Refuse("unconfirmed_in_source", BAD_CREDENTIALS)
    if user.status == "EXTERNAL_PROVIDER":
        return Refuse("federated_in_source", BAD_CREDENTIALS)
    if source == AUTHENTICATION and user.status == "RESET_REQUIRED":
        # A has no usable password for them: the reset happens in B (ForgotPassword migrates them).
        return Refuse("reset_required_in_source", RESET_FIRST)
    return None


def decide_lookup_error(code: str) -> Refuse:
    """A could not be read (AdminGetUser failed other than "no such user")."""
    if code in THROTTLING:
        return Refuse("source_throttled", TRY_AGAIN)
    return Refuse(f"source_error:{code}", TRY_AGAIN)


def decide(source: str, user: SourceUser, auth: AuthResult | None) -> Decision:
    """After the lookup passed (`decide_lookup` returned None) and, for a sign-in, the password was tried."""
    attributes = movable_attributes(user.attributes)
    if source == FORGOT_PASSWORD:
        if not _can_receive_code(attributes):
            # Cognito sends the reset code to a verified email or phone; without one the user would be
            # created in B and stuck.
            return Refuse("no_verified_contact", BAD_CREDENTIALS)
        return Migrate(attributes, None, "forgot_password")
    if auth is None:
        raise ValueError("a sign-in needs the result of the password check")
    if auth.kind == "ok":
        return Migrate(attributes, "CONFIRMED", "password_verified")
    if auth.kind == "challenge":
        if auth.name == "NEW_PASSWORD_REQUIRED":
            # The temporary password an admin gave in A: verified, but not a password the user chose.
            return Migrate(attributes, "RESET_REQUIRED", "temporary_password")
        if auth.name in TOTP_CHALLENGES:
            # The password is right; the authenticator app secret cannot leave A: the user re-enrols in B.
            return Migrate(attributes, "CONFIRMED", "totp_reenrol")
        if auth.name in MFA_CHALLENGES:
            sms = auth.name == "SMS_MFA" and attributes.get("phone_number_verified") == "true"
            return Migrate(attributes, "CONFIRMED", "mfa_verified_password", enable_sms_mfa=sms)
        # Any other challenge (custom auth, device) comes after the password check too.
        return Migrate(attributes, "CONFIRMED", f"challenge:{auth.name}")
    if auth.name in THROTTLING:
        return Refuse("source_throttled", TRY_AGAIN)
    if auth.name == "PasswordResetRequiredException":
        return Refuse("reset_required_in_source", RESET_FIRST)
    if auth.name in ("NotAuthorizedException", "UserNotFoundException", "UserNotConfirmedException"):
        return Refuse("wrong_password", BAD_CREDENTIALS)
    return Refuse(f"source_error:{auth.name}", TRY_AGAIN)


def _can_receive_code(attributes: Mapping[str, str]) -> bool:
    return (bool(attributes.get("email")) and attributes.get("email_verified") == "true") or (
        bool(attributes.get("phone_number")) and attributes.get("phone_number_verified") == "true"
    )
