"""A DOUBLE of Cognito's user-migration behaviour for pool B (moto invokes no Lambda trigger).

What it reproduces, from the Cognito developer guide ("Migrate user Lambda trigger", "Importing users with a
user migration Lambda trigger"):
- a sign-in with a password (or a forgot-password request) for a username B does not hold invokes the
  trigger with an event of the documented shape (version, triggerSource, region, userPoolId, userName,
  callerContext, request.password on sign-in only, response);
- if the function raises, the sign-in fails and nothing is created in B;
- otherwise B creates the user with the returned attributes (without sending a message when messageAction is
  SUPPRESS), refuses the creation when an alias it would take belongs to another user and forceAliasCreation
  is false (AliasExistsException), and gives it the entered password with finalUserStatus CONFIRMED, or
  RESET_REQUIRED (forgot-password flow, or finalUserStatus RESET_REQUIRED);
- a user B already holds signs in against B directly: the trigger is not invoked.
B itself is moto; the user is created with moto's admin calls.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

Handler = Callable[[dict[str, Any]], dict[str, Any]]


def _error(code: str, message: str, operation: str) -> ClientError:
    return ClientError({"Error": {"Code": code, "Message": message}}, operation)


@dataclass
class CognitoMigrationDouble:
    client: Any  # pool B's client (moto)
    pool_id: str
    client_id: str  # an app client of B
    trigger: Handler
    invocations: list[dict[str, Any]] = field(default_factory=list)

    def _holds(self, username: str) -> bool:
        try:
            self.client.admin_get_user(UserPoolId=self.pool_id, Username=username)
            return True
        except ClientError as exc:
            if exc.response["Error"]["Code"] == "UserNotFoundException":
                return False
            raise

    def _event(self, source: str, username: str, password: str | None) -> dict[str, Any]:
        request: dict[str, Any] = {"validationData": None, "clientMetadata": None}
        if password is not None:
            request["password"] = password
        return {
            "version": "1",
            "triggerSource": source,
            "region": self.pool_id.split("_", 1)[0],
            "userPoolId": self.pool_id,
            "userName": username,
            "callerContext": {"awsSdkVersion": "aws-sdk-unknown-unknown", "clientId": self.client_id},
            "request": request,
            "response": {
                "userAttributes": None,
                "forceAliasCreation": None,
                "enableSMSMFA": None,
                "finalUserStatus": None,
                "messageAction": None,
                "desiredDeliveryMediums": None,
            },
        }

    def _invoke(self, source: str, username: str, password: str | None, operation: str) -> dict[str, Any]:
        event = self._event(source, username, password)
        self.invocations.append({"triggerSource": source, "userName": username})
        try:
            return self.trigger(event)["response"]  # type: ignore[no-any-return]
        except Exception as exc:
            # Cognito fails the call with the function's error message.
            raise _error("UserNotFoundException", f"UserMigration failed with error {exc}.", operation) from None

    def _alias_taken(self, attributes: dict[str, str]) -> bool:
        pool = self.client.describe_user_pool(UserPoolId=self.pool_id)["UserPool"]
        names = set(pool.get("AliasAttributes", [])) | set(pool.get("UsernameAttributes", []))
        for name in names & set(attributes):
            found = self.client.list_users(UserPoolId=self.pool_id, Filter=f'{name} = "{attributes[name]}"')
            if found.get("Users"):
                return True
        return False

    def _create(self, username: str, response: dict[str, Any], password: str | None, operation: str) -> None:
        attributes = dict(response.get("userAttributes") or {})
        if not response.get("forceAliasCreation") and self._alias_taken(attributes):
            raise _error("AliasExistsException", "An account with the given email already exists.", operation)
        self.client.admin_create_user(
            UserPoolId=self.pool_id,
            Username=username,
            UserAttributes=[{"Name": k, "Value": v} for k, v in attributes.items()],
            MessageAction="SUPPRESS",
        )
        status = response.get("finalUserStatus")
        if password is not None and status == "CONFIRMED":
            self.client.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password=password, Permanent=True
            )
        else:
            # RESET_REQUIRED: no usable password until the user completes the reset in B.
            self.client.admin_set_user_password(
                UserPoolId=self.pool_id, Username=username, Password="Rr1!" + secrets.token_hex(12), Permanent=True
            )
            self.client.admin_reset_user_password(UserPoolId=self.pool_id, Username=username)

    def sign_in(self, username: str, password: str) -> dict[str, Any]:
        """AdminInitiateAuth on B as an app would; migrates the user first when B does not hold them."""
        if not self._holds(username):
            response = self._invoke("UserMigration_Authentication", username, password, "AdminInitiateAuth")
            self._create(username, response, password, "AdminInitiateAuth")
        return self.client.admin_initiate_auth(  # type: ignore[no-any-return]
            UserPoolId=self.pool_id,
            ClientId=self.client_id,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )

    def forgot_password(self, username: str) -> None:
        """ForgotPassword on B: migrates the user in RESET_REQUIRED (B then sends the code)."""
        if not self._holds(username):
            response = self._invoke("UserMigration_ForgotPassword", username, None, "ForgotPassword")
            self._create(username, response, None, "ForgotPassword")
