"""A DOUBLE of Cognito's newer configuration calls, which moto 5 lacks: installed into moto's own Cognito
request handling (in-process `mock_aws` and moto's server alike), so tests make their real boto3 calls.

Written from the botocore 1.44 service model and the Cognito API reference, not from observed behaviour:
- ListUserPoolReplicas: the pool's replicas (PRIMARY and SECONDARY); `seed_replicas` stands in for
  CreateUserPoolReplica, whose KMS and eligibility checks have no emulator.
- Get/SetUserPoolSessionConfiguration: defaults UserSessionTracking DISABLED, TokenSession.MaxPerUser 20
  ("If you have never called SetUserPoolSessionConfiguration ... returns the default values").
- Get/SetUserPoolClientSessionConfiguration: per app client; nothing set answers without SSOSession.
- Get/SetLogDeliveryConfiguration: LogConfigurations, replaced whole by Set.
- CreateTerms / ListTerms / DescribeTerms: per app client, TermsSource LINK, Enforcement NONE; a second
  terms document of the same name for the client is TermsExistsException.
- CreateManagedLoginBranding / DescribeManagedLoginBrandingByClient: one style per app client
  (ManagedLoginBrandingExistsException for a second); a client without one is ResourceNotFoundException.
  Asset bytes travel base64-encoded in the JSON body, as blobs do on the wire.
- CreateCIMDPolicy / ListCIMDPolicies / DescribeCIMDPolicy / UpdateCIMDPolicy (every field replaced).
- UpdateTerms (the fields given replaced), UpdateManagedLoginBranding ("preserves existing style settings
  that you don't specify": Settings replaced when given, assets replaced per category and colour mode).
- Get/SetUICustomization and Describe/SetRiskConfiguration, pool-wide (ClientId ALL) and per app client: a
  client without its own answers the pool-wide one, with ClientId "ALL" (API reference: "If nothing is set
  for the particular client, but there is an existing pool level customization (the app clientId is ALL),
  then the ALL customization is returned"). UI customization needs a domain (InvalidParameterException
  "A domain must be associated with this user pool"); the logo's bytes give an ImageUrl, under
  IMAGE_BASE (Cognito's is a CloudFront URL; a test points it at its own local server serving IMAGES).
- Get/SetUserPoolMfaConfig's WebAuthnConfiguration, which moto's own calls drop: moto's calls run
  unchanged and the double keeps and adds that one member.
An unknown pool is ResourceNotFoundException "User pool ID does not exist.", an unknown client
ResourceNotFoundException too, as Cognito answers.
"""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

DEFAULT_MAX_SESSIONS = 20
# Where the double's ImageUrls point, and the logos it was given by path (what a local server serves).
IMAGE_BASE = "https://d111111abcdef8.cloudfront.net"
IMAGES: dict[str, bytes] = {}


def _pool_state(pool: Any) -> dict[str, Any]:
    """The double's state for a moto pool, kept on moto's pool object so that it resets with moto."""
    if not hasattr(pool, "config_double"):
        pool.config_double = {
            "replicas": [],
            "session": None,
            "client_sessions": {},
            "log": [],
            "terms": {},
            "branding": {},
            "cimd": {},
            "ui": {},
            "risk": {},
        }
    state: dict[str, Any] = pool.config_double
    return state


def _state(response: Any) -> tuple[str, dict[str, Any]]:
    """(pool id, the double's state); an unknown pool is moto's ResourceNotFoundError."""
    pool_id = str(response._get_param("UserPoolId"))
    return pool_id, _pool_state(response.backend.describe_user_pool(pool_id))


def _client_id(response: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    pool = response.backend.describe_user_pool(response._get_param("UserPoolId"))
    client_id = str(response._get_param("ClientId"))
    if client_id not in pool.clients:
        raise ResourceNotFoundError(f"Client {client_id} does not exist.")
    return client_id


def _now() -> float:
    import time

    return time.time()


def seed_replicas(backend: Any, pool_id: str, replicas: list[dict[str, str]]) -> None:
    """What CreateUserPoolReplica would leave behind (the double has no KMS key or eligibility to check)."""
    _pool_state(backend.describe_user_pool(pool_id))["replicas"] = list(replicas)


def list_user_pool_replicas(self: Any) -> str:
    _, state = _state(self)
    return json.dumps({"UserPoolReplicas": state["replicas"]})


def get_user_pool_session_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    session = state["session"] or {
        "UserSessionTracking": "DISABLED",
        "TokenSession": {"MaxPerUser": DEFAULT_MAX_SESSIONS},
    }
    return json.dumps({"UserPoolId": pool_id, **session})


def set_user_pool_session_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    state["session"] = {
        "UserSessionTracking": self._get_param("UserSessionTracking"),
        "TokenSession": self._get_param("TokenSession"),
    }
    return json.dumps({"UserPoolId": pool_id, **state["session"]})


def get_user_pool_client_session_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    client_id = _client_id(self)
    body: dict[str, Any] = {"UserPoolId": pool_id, "ClientId": client_id}
    if client_id in state["client_sessions"]:
        body["SSOSession"] = state["client_sessions"][client_id]
    return json.dumps(body)


def set_user_pool_client_session_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    client_id = _client_id(self)
    state["client_sessions"][client_id] = self._get_param("SSOSession")
    return json.dumps({"UserPoolId": pool_id, "ClientId": client_id, "SSOSession": state["client_sessions"][client_id]})


def get_log_delivery_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    return json.dumps({"LogDeliveryConfiguration": {"UserPoolId": pool_id, "LogConfigurations": state["log"]}})


def set_log_delivery_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    state["log"] = list(self._get_param("LogConfigurations") or [])
    return json.dumps({"LogDeliveryConfiguration": {"UserPoolId": pool_id, "LogConfigurations": state["log"]}})


def create_terms(self: Any) -> str:
    from moto.core.exceptions import JsonRESTError

    pool_id, state = _state(self)
    client_id = _client_id(self)
    name = self._get_param("TermsName")
    if any(t["ClientId"] == client_id and t["TermsName"] == name for t in state["terms"].values()):
        raise JsonRESTError("TermsExistsException", f"Terms {name} already exist for client {client_id}.")
    terms = {
        "TermsId": uuid.uuid4().hex,
        "UserPoolId": pool_id,
        "ClientId": client_id,
        "TermsName": name,
        "TermsSource": self._get_param("TermsSource"),
        "Enforcement": self._get_param("Enforcement"),
        "Links": self._get_param("Links") or {},
        "CreationDate": _now(),
        "LastModifiedDate": _now(),
    }
    state["terms"][terms["TermsId"]] = terms
    return json.dumps({"Terms": terms})


def list_terms(self: Any) -> str:
    _, state = _state(self)
    keys = ("TermsId", "TermsName", "Enforcement", "CreationDate", "LastModifiedDate")
    return json.dumps({"Terms": [{k: t[k] for k in keys} for t in state["terms"].values()]})


def describe_terms(self: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    _, state = _state(self)
    terms = state["terms"].get(self._get_param("TermsId"))
    if terms is None:
        raise ResourceNotFoundError("Terms not found.")
    return json.dumps({"Terms": terms})


def create_managed_login_branding(self: Any) -> str:
    from moto.core.exceptions import JsonRESTError

    pool_id, state = _state(self)
    client_id = _client_id(self)
    if client_id in state["branding"]:
        raise JsonRESTError("ManagedLoginBrandingExistsException", "This app client already has a style.")
    branding = {
        "ManagedLoginBrandingId": uuid.uuid4().hex,
        "UserPoolId": pool_id,
        "UseCognitoProvidedValues": bool(self._get_param("UseCognitoProvidedValues")),
        "Settings": self._get_param("Settings") or {},
        "Assets": self._get_param("Assets") or [],  # Bytes stay base64, as on the wire
        "CreationDate": _now(),
        "LastModifiedDate": _now(),
    }
    state["branding"][client_id] = branding
    return json.dumps({"ManagedLoginBranding": branding})


def describe_managed_login_branding_by_client(self: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    _, state = _state(self)
    client_id = _client_id(self)
    if client_id not in state["branding"]:
        raise ResourceNotFoundError(f"No managed login branding for client {client_id}.")
    return json.dumps({"ManagedLoginBranding": state["branding"][client_id]})


def create_cimd_policy(self: Any) -> str:
    pool_id, state = _state(self)
    client_id = _client_id(self)
    policy = {
        "UserPoolId": pool_id,
        "CIMDPolicyId": uuid.uuid4().hex,
        "ClientId": client_id,
        "PolicyName": self._get_param("PolicyName"),
        "URLPatterns": self._get_param("URLPatterns") or [],
        "CreationDate": _now(),
        "LastModifiedDate": _now(),
    }
    if self._get_param("CacheDuration") is not None:
        policy["CacheDuration"] = self._get_param("CacheDuration")
    state["cimd"][policy["CIMDPolicyId"]] = policy
    return json.dumps({"CIMDPolicy": policy})


def list_cimd_policies(self: Any) -> str:
    _, state = _state(self)
    return json.dumps(
        {
            "CIMDPolicies": [
                {k: v for k, v in p.items() if k not in ("URLPatterns", "UserPoolId")} for p in state["cimd"].values()
            ]
        }
    )


def describe_cimd_policy(self: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    _, state = _state(self)
    policy = state["cimd"].get(self._get_param("CIMDPolicyId"))
    if policy is None:
        raise ResourceNotFoundError("CIMD policy not found.")
    return json.dumps({"CIMDPolicy": policy})


def update_terms(self: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    _, state = _state(self)
    terms = state["terms"].get(self._get_param("TermsId"))
    if terms is None:
        raise ResourceNotFoundError("Terms not found.")
    for key in ("TermsName", "TermsSource", "Enforcement", "Links"):
        if self._get_param(key) is not None:
            terms[key] = self._get_param(key)
    terms["LastModifiedDate"] = _now()
    return json.dumps({"Terms": terms})


def update_managed_login_branding(self: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    _, state = _state(self)
    wanted = self._get_param("ManagedLoginBrandingId")
    branding = next((b for b in state["branding"].values() if b["ManagedLoginBrandingId"] == wanted), None)
    if branding is None:
        raise ResourceNotFoundError("Managed login branding not found.")
    if self._get_param("UseCognitoProvidedValues") is not None:
        branding["UseCognitoProvidedValues"] = bool(self._get_param("UseCognitoProvidedValues"))
    if self._get_param("Settings") is not None:
        branding["Settings"] = self._get_param("Settings")
    assets = {(a["Category"], a["ColorMode"]): a for a in branding["Assets"]}
    assets.update({(a["Category"], a["ColorMode"]): a for a in self._get_param("Assets") or []})
    branding["Assets"] = list(assets.values())
    branding["LastModifiedDate"] = _now()
    return json.dumps({"ManagedLoginBranding": branding})


def update_cimd_policy(self: Any) -> str:
    from moto.cognitoidp.exceptions import ResourceNotFoundError

    _, state = _state(self)
    _client_id(self)
    policy = state["cimd"].get(self._get_param("CIMDPolicyId"))
    if policy is None:
        raise ResourceNotFoundError("CIMD policy not found.")
    policy.pop("CacheDuration", None)  # every field is replaced: one not given is back to its default
    for key in ("ClientId", "PolicyName", "URLPatterns", "CacheDuration"):
        if self._get_param(key) is not None:
            policy[key] = self._get_param(key)
    policy["LastModifiedDate"] = _now()
    return json.dumps({"CIMDPolicy": policy})


def _per_client_key(response: Any) -> str:
    return _client_id(response) if response._get_param("ClientId") not in (None, "ALL") else "ALL"


def set_ui_customization(self: Any) -> str:
    from moto.cognitoidp.exceptions import InvalidParameterException

    pool_id, state = _state(self)
    if not any(d.user_pool_id == pool_id for d in self.backend.user_pool_domains.values()):
        raise InvalidParameterException("A domain must be associated with this user pool")
    key = _per_client_key(self)
    ui: dict[str, Any] = {"UserPoolId": pool_id, "ClientId": key, "CreationDate": _now(), "LastModifiedDate": _now()}
    if self._get_param("CSS") is not None:
        ui["CSS"] = self._get_param("CSS")
    if self._get_param("ImageFile"):
        path = f"/{pool_id}/{key}/{uuid.uuid4().hex}.png"
        IMAGES[path] = base64.b64decode(self._get_param("ImageFile"))
        ui["ImageUrl"] = IMAGE_BASE + path
    state["ui"][key] = ui
    return json.dumps({"UICustomization": ui})


def get_ui_customization(self: Any) -> str:
    from moto.cognitoidp.exceptions import InvalidParameterException

    pool_id, state = _state(self)
    if not any(d.user_pool_id == pool_id for d in self.backend.user_pool_domains.values()):
        raise InvalidParameterException("A domain must be associated with this user pool")
    key = _per_client_key(self)
    ui = state["ui"].get(key) or state["ui"].get("ALL") or {"UserPoolId": pool_id, "ClientId": "ALL"}
    return json.dumps({"UICustomization": ui})


_RISK_PARTS = (
    "CompromisedCredentialsRiskConfiguration",
    "AccountTakeoverRiskConfiguration",
    "RiskExceptionConfiguration",
)


def set_risk_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    key = _per_client_key(self)
    risk: dict[str, Any] = {"UserPoolId": pool_id, "ClientId": key, "LastModifiedDate": _now()}
    risk.update({k: self._get_param(k) for k in _RISK_PARTS if self._get_param(k) is not None})
    state["risk"][key] = risk
    return json.dumps({"RiskConfiguration": risk})


def describe_risk_configuration(self: Any) -> str:
    pool_id, state = _state(self)
    key = _per_client_key(self)
    risk = state["risk"].get(key) or state["risk"].get("ALL") or {"UserPoolId": pool_id, "ClientId": "ALL"}
    return json.dumps({"RiskConfiguration": risk})


def _webauthn_set(original: Any) -> Any:
    def set_user_pool_mfa_config(self: Any) -> Any:
        result = original(self)
        _, state = _state(self)
        state["webauthn"] = self._get_param("WebAuthnConfiguration")
        return result

    return set_user_pool_mfa_config


def _webauthn_get(original: Any) -> Any:
    def get_user_pool_mfa_config(self: Any) -> Any:
        _, state = _state(self)
        answer = self.backend.get_user_pool_mfa_config(self._get_param("UserPoolId"))
        body = {k: v for k, v in answer.items() if v is not None}
        if state.get("webauthn"):
            body["WebAuthnConfiguration"] = state["webauthn"]
        return json.dumps(body)

    return get_user_pool_mfa_config


_WRAPPED: dict[str, Any] = {}

CALLS = (
    list_user_pool_replicas,
    get_user_pool_session_configuration,
    set_user_pool_session_configuration,
    get_user_pool_client_session_configuration,
    set_user_pool_client_session_configuration,
    get_log_delivery_configuration,
    set_log_delivery_configuration,
    create_terms,
    list_terms,
    describe_terms,
    create_managed_login_branding,
    describe_managed_login_branding_by_client,
    create_cimd_policy,
    list_cimd_policies,
    describe_cimd_policy,
    update_terms,
    update_managed_login_branding,
    update_cimd_policy,
    set_ui_customization,
    get_ui_customization,
    set_risk_configuration,
    describe_risk_configuration,
)


def install() -> None:
    """Add the calls to moto's Cognito handler (idempotent; a call moto has itself is left alone)."""
    from moto.cognitoidp.responses import CognitoIdpResponse

    for fn in CALLS:
        if fn.__name__ not in vars(CognitoIdpResponse) or getattr(CognitoIdpResponse, fn.__name__) is fn:
            setattr(CognitoIdpResponse, fn.__name__, fn)
    for name, wrap in (("set_user_pool_mfa_config", _webauthn_set), ("get_user_pool_mfa_config", _webauthn_get)):
        if name not in _WRAPPED:
            _WRAPPED[name] = vars(CognitoIdpResponse)[name]
            setattr(CognitoIdpResponse, name, wrap(_WRAPPED[name]))


def uninstall() -> None:
    """Take the calls out again, so that other tests see moto as it is (a call it lacks)."""
    from moto.cognitoidp.responses import CognitoIdpResponse

    for fn in CALLS:
        if vars(CognitoIdpResponse).get(fn.__name__) is fn:
            delattr(CognitoIdpResponse, fn.__name__)
    for name, original in list(_WRAPPED.items()):
        setattr(CognitoIdpResponse, name, original)
        del _WRAPPED[name]
