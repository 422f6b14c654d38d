"""Translate a snapshot's PoolConfig into the calls that recreate the pool (cognito-facts.md section 8).

Pure: no boto3 client, no I/O. The botocore *service model* (data shipped with botocore) is the only
outside input: every request is conformed to the operation's input shape, recursively, so a field that a
newer DescribeX returns but CreateX does not accept is never sent.

Region- and account-bound ARNs (Lambda triggers, SES identity, SNS role, KMS keys, Pinpoint, ACM
certificate) are rewritten through an `ArnMapper` built from `--map-arn OLD=NEW` (exact) or
`--map-arn OLD*=NEW*` (prefix). An ARN whose Region or account differs from the target's and that no
mapping covers is left out, with a warning naming where it was used; the setting that needs it is then
turned off rather than sent broken.

Order matters and is encoded in `PoolPlan`: the pool is created with MFA OFF (Cognito refuses ON/OPTIONAL
until a factor is configured), then SetUserPoolMfaConfig, resource servers and identity providers (app
clients reference their scopes and names), app clients, the domain, and the hosted-UI CSS (needs a domain).
"""

from __future__ import annotations

import base64
import copy
import functools
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import botocore.session

from cognito_backup.core.standby import KEEP_SUB_TAG
from cognito_backup.errors import PlanRefused, UsageError
from cognito_backup.model import STANDARD_ATTRIBUTES, PoolConfig

SERVICE = "cognito-idp"

NEVER_DECLARED = frozenset({"sub", "identities"})
MAX_CUSTOM_ATTRIBUTES = 50
CUSTOM_NAME_RE = re.compile(r"^[\w.:-]{1,20}$")  # CustomAttributeNameType: [\p{L}\p{M}\p{S}\p{N}\p{P}]+, <= 20
DOMAIN_PREFIX_RE = re.compile(r"^[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?$")
KEEP_SUB_MAX_LENGTH = "64"  # a sub is a 36-char UUID; room to spare, nothing more

# CreateIdentityProvider accepts these ProviderDetails keys per type (API reference, "Create or update
# request"); DescribeIdentityProvider adds read-only ones (attributes_url_add_attributes,
# ActiveEncryptionCertificate, SLO/SSORedirectBindingURI, the social providers' fixed endpoints).
IDP_WRITABLE_DETAILS: dict[str, frozenset[str]] = {
    "OIDC": frozenset(
        {
            "client_id",
            "client_secret",
            "attributes_request_method",
            "oidc_issuer",
            "authorize_scopes",
            "authorize_url",
            "token_url",
            "attributes_url",
            "jwks_uri",
        }
    ),
    "SAML": frozenset(
        {"MetadataURL", "MetadataFile", "IDPSignout", "IDPInit", "EncryptedResponses", "RequestSigningAlgorithm"}
    ),
    "Google": frozenset({"client_id", "client_secret", "authorize_scopes"}),
    "LoginWithAmazon": frozenset({"client_id", "client_secret", "authorize_scopes"}),
    "Facebook": frozenset({"client_id", "client_secret", "authorize_scopes", "api_version"}),
    "SignInWithApple": frozenset({"client_id", "team_id", "key_id", "private_key", "authorize_scopes"}),
}
IDP_REQUIRED_DETAILS: dict[str, frozenset[str]] = {
    "SignInWithApple": frozenset({"private_key"}),  # never returned by DescribeIdentityProvider
}


# ---- the service model ---------------------------------------------------------------------------------
@functools.cache
def _service_model() -> Any:
    return botocore.session.get_session().get_service_model(SERVICE)


def input_members(operation: str) -> frozenset[str]:
    """Top-level parameter names `operation` accepts, from botocore's service model."""
    return frozenset(_service_model().operation_model(operation).input_shape.members)


def conform(operation: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """`kwargs` with every key the operation's input shape does not know removed, at every depth, and
    None values dropped: the request can never carry an unknown parameter."""
    shape = _service_model().operation_model(operation).input_shape
    result = _conform(dict(kwargs), shape)
    return dict(result) if isinstance(result, dict) else {}


def _conform(value: Any, shape: Any) -> Any:
    kind = shape.type_name
    if getattr(shape, "is_document_type", False):
        return value  # a free-form JSON document (a managed login style's Settings): no members to check
    if kind == "structure" and isinstance(value, Mapping):
        return {k: _conform(v, shape.members[k]) for k, v in value.items() if k in shape.members and v is not None}
    if kind == "list" and isinstance(value, list):
        return [_conform(v, shape.member) for v in value]
    if kind == "map" and isinstance(value, Mapping):
        return {k: _conform(v, shape.value) for k, v in value.items() if v is not None}
    return value


# ---- ARNs -----------------------------------------------------------------------------------------------
def parse_arn_maps(specs: Iterable[str]) -> dict[str, str]:
    """`["OLD=NEW", "OLDPREFIX*=NEWPREFIX*", ...]` (from repeated `--map-arn`) -> {old: new}.

    Prefix entries keep their trailing `*` in the dict. IAM names may contain '=', so the split is at the
    '=' that starts the new ARN ("=arn:").
    """
    result: dict[str, str] = {}
    for spec in specs:
        spec = spec.strip()
        pos = spec.find("=arn:")
        if pos <= 0:
            raise UsageError(
                f"--map-arn {spec!r}: expected OLD_ARN=NEW_ARN",
                hint="For example --map-arn arn:aws:lambda:us-east-1:111122223333:function:pre="
                "arn:aws:lambda:eu-west-1:111122223333:function:pre, or a prefix: OLD*=NEW*",
            )
        old, new = spec[:pos].strip(), spec[pos + 1 :].strip()
        if not old.startswith("arn:"):
            raise UsageError(f"--map-arn {spec!r}: {old!r} is not an ARN (it must start with 'arn:')")
        if old.endswith("*") != new.endswith("*"):
            raise UsageError(f"--map-arn {spec!r}: a prefix mapping needs a trailing '*' on both sides")
        if not old.endswith("*") and (len(old.split(":", 5)) < 6 or len(new.split(":", 5)) < 6):
            raise UsageError(f"--map-arn {spec!r}: an ARN has the form arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE")
        if old in result and result[old] != new:
            raise UsageError(f"--map-arn: {old!r} is mapped twice, to {result[old]!r} and {new!r}")
        result[old] = new
    return result


def arn_region_account(arn: str) -> tuple[str, str]:
    parts = arn.split(":", 5)
    if len(parts) < 6:
        return "", ""
    return parts[3], parts[4]


def region_of_pool(config: PoolConfig) -> str | None:
    pool_id = config.pool_id or ""
    if "_" in pool_id:
        return pool_id.split("_", 1)[0]
    region, _ = arn_region_account(str(config.user_pool.get("Arn", "")))
    return region or None


@dataclass
class ArnMapper:
    """Rewrites ARNs for the target Region/account and collects a warning for every ARN it leaves out."""

    arn_map: Mapping[str, str]
    target_region: str | None = None
    target_account: str | None = None
    warnings: list[str] = field(default_factory=list)
    mapped: dict[str, str] = field(default_factory=dict)

    def map(self, arn: str | None, where: str, *, regional: bool = True) -> str | None:
        """The ARN to use in the target for the setting `where`, or None (with a warning) to leave it out.

        `regional=False` for resources whose Region does not follow the pool (the ACM certificate of a
        custom domain always lives in us-east-1)."""
        if not arn:
            return None
        new = self._lookup(arn)
        if new is not None:
            self.mapped[arn] = new
            return new
        region, account = arn_region_account(arn)
        wrong_region = regional and bool(region) and self.target_region is not None and region != self.target_region
        wrong_account = bool(account) and self.target_account is not None and account != self.target_account
        if not (wrong_region or wrong_account):
            return arn
        place = []
        if wrong_region:
            place.append(f"Region {region}, target is {self.target_region}")
        if wrong_account:
            place.append(f"account {account}, target is {self.target_account}")
        self.warnings.append(
            f"{where}: left out, {arn} is in another {' and '.join(place)}; "
            f"give --map-arn {arn}=NEW_ARN to carry it across"
        )
        return None

    def _lookup(self, arn: str) -> str | None:
        if arn in self.arn_map:
            return self.arn_map[arn]
        best = ""
        for old in self.arn_map:
            if old.endswith("*") and arn.startswith(old[:-1]) and len(old) > len(best):
                best = old
        if best:
            return self.arn_map[best][:-1] + arn[len(best) - 1 :]
        return None


# ---- the plan -------------------------------------------------------------------------------------------
@dataclass
class ClientPlan:
    old_client_id: str
    client_name: str
    kwargs: dict[str, Any]  # CreateUserPoolClient without UserPoolId
    secret_kept: bool = False


@dataclass
class ClientCall:
    """A call that configures one app client once it exists: its new id is known only then."""

    operation: str
    old_client_id: str
    kwargs: dict[str, Any]  # without UserPoolId and ClientId
    what: str


@dataclass
class PoolPlan:
    """Every call that recreates the pool's configuration, in order; none includes UserPoolId."""

    create_pool: dict[str, Any]
    mfa: dict[str, Any] | None = None
    resource_servers: list[dict[str, Any]] = field(default_factory=list)
    identity_providers: list[dict[str, Any]] = field(default_factory=list)
    clients: list[ClientPlan] = field(default_factory=list)
    domain: dict[str, Any] | None = None
    ui_customization: dict[str, Any] | None = None
    # Pool-wide settings of their own calls (SetUserPoolSessionConfiguration, SetLogDeliveryConfiguration).
    pool_settings: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    client_calls: list[ClientCall] = field(default_factory=list)
    keep_sub_attribute: str | None = None  # full name, "custom:x"
    warnings: list[str] = field(default_factory=list)


def translate_pool_config(
    config: PoolConfig,
    pool_name: str,
    *,
    arn_map: Mapping[str, str] | None = None,
    domain_prefix: str | None = None,
    keep_sub_attribute: str | None = None,
    target_region: str | None = None,
    target_account: str | None = None,
) -> PoolPlan:
    """The whole recreation plan. `target_region` None means the snapshot's own Region (same-Region
    restore); `target_account` None means "unknown": account-bound ARNs are then kept as they are."""
    mapper = ArnMapper(arn_map or {}, target_region or region_of_pool(config), target_account)
    create, keep_sub = translate_user_pool(config, pool_name, mapper, keep_sub_attribute=keep_sub_attribute)
    plan = PoolPlan(create_pool=create, keep_sub_attribute=keep_sub)
    plan.mfa = translate_mfa_config(config, mapper, email_from_ses="SourceArn" in create.get("EmailConfiguration", {}))
    plan.resource_servers = [
        rs for rs in (translate_resource_server(r, mapper) for r in config.resource_servers) if rs is not None
    ]
    plan.identity_providers = [
        idp for idp in (translate_identity_provider(i, mapper) for i in config.identity_providers) if idp is not None
    ]
    available_idps = {"COGNITO"} | {str(i["ProviderName"]) for i in plan.identity_providers}
    plan.clients = [translate_client(c, mapper, available_idps=available_idps) for c in config.clients]
    plan.domain = translate_domain(
        config.domain, mapper, domain_prefix=domain_prefix, branding_carried=bool(config.managed_login_branding)
    )
    plan.ui_customization = translate_ui_customization(config.ui_customization, mapper, has_domain=bool(plan.domain))
    plan.pool_settings = translate_pool_settings(config, mapper)
    plan.client_calls = translate_client_settings(config, mapper, has_domain=bool(plan.domain))
    if any(r.get("Role") == "SECONDARY" for r in config.replicas):
        regions = ", ".join(str(r.get("RegionName")) for r in config.replicas if r.get("Role") == "SECONDARY")
        mapper.warnings.append(
            f"replica in {regions}: not created; a replica is made with CreateUserPoolReplica (it needs the "
            "Essentials or Plus plan and a multi-Region KMS key)"
        )
    plan.warnings = mapper.warnings
    return plan


# ---- the pool -------------------------------------------------------------------------------------------
_DROP_FROM_POOL = frozenset(
    {
        "Id",
        "Arn",
        "Name",
        "Status",
        "CreationDate",
        "LastModifiedDate",
        "EstimatedNumberOfUsers",
        "Domain",
        "CustomDomain",
        "SchemaAttributes",
        "SmsConfigurationFailure",
        "EmailConfigurationFailure",
    }
)


def translate_user_pool(
    config: PoolConfig,
    pool_name: str,
    mapper: ArnMapper,
    *,
    keep_sub_attribute: str | None = None,
) -> tuple[dict[str, Any], str | None]:
    """CreateUserPool kwargs, and the full name of the keep-sub attribute if one is declared."""
    if not pool_name or not pool_name.strip():
        raise UsageError("the new pool needs a name (--new-pool NAME)")
    src = copy.deepcopy(config.user_pool)
    out: dict[str, Any] = {k: v for k, v in src.items() if k not in _DROP_FROM_POOL and not k.endswith("Failure")}
    out["PoolName"] = pool_name
    schema = translate_schema(src.get("SchemaAttributes", []) or [])
    keep_full = None
    if keep_sub_attribute:
        keep_full, schema = add_keep_sub_attribute(schema, keep_sub_attribute)
    if schema:
        out["Schema"] = schema
    # The snapshot pool's own keep-sub record is not the new pool's: inherited, it would make the new
    # pool's standby rounds overwrite that attribute (user data there) with the new pool's subs.
    tags = {k: v for k, v in (config.tags or src.get("UserPoolTags") or {}).items() if k != KEEP_SUB_TAG}
    if tags:
        out["UserPoolTags"] = tags
    # Cognito refuses MFA ON/OPTIONAL at creation until a factor is configured: SetUserPoolMfaConfig
    # switches it on afterwards (PoolPlan.mfa).
    out["MfaConfiguration"] = "OFF"
    # The legacy message fields duplicate VerificationMessageTemplate; sending both risks a conflict.
    if out.get("VerificationMessageTemplate"):
        for legacy in ("EmailVerificationMessage", "EmailVerificationSubject", "SmsVerificationMessage"):
            out.pop(legacy, None)
    _fix_admin_create_user_config(out)
    _map_lambda_config(out, mapper)
    _map_email_configuration(out, mapper)
    _map_sms_configuration(out, mapper, "SmsConfiguration")
    _map_key_configuration(out, mapper)
    return conform("CreateUserPool", out), keep_full


def translate_schema(schema_attributes: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """DescribeUserPool SchemaAttributes -> CreateUserPool Schema.

    Custom attributes are declared by their bare name (Cognito adds `custom:`); developer-only ones
    (`dev:custom:x`) keep DeveloperOnlyAttribute. Standard attributes are declared only where they differ
    from Cognito's defaults in what CreateUserPool lets you choose (Required true, Mutable false); their
    constraints are Cognito's and are not sent. `sub` and `identities` are never declared.
    """
    out: list[dict[str, Any]] = []
    for attr in schema_attributes:
        name = str(attr.get("Name", ""))
        dev_only = name.startswith("dev:")
        bare = name.removeprefix("dev:")
        if bare.startswith("custom:"):
            entry: dict[str, Any] = {
                "Name": bare.removeprefix("custom:"),
                "AttributeDataType": attr.get("AttributeDataType", "String"),
                "Mutable": bool(attr.get("Mutable", True)),
            }
            if dev_only or attr.get("DeveloperOnlyAttribute"):
                entry["DeveloperOnlyAttribute"] = True
            for key in ("StringAttributeConstraints", "NumberAttributeConstraints"):
                if attr.get(key):
                    entry[key] = dict(attr[key])
            out.append(entry)
        elif bare in STANDARD_ATTRIBUTES and not dev_only:
            required = bool(attr.get("Required", False))
            mutable = bool(attr.get("Mutable", True))
            if required or not mutable:
                out.append(
                    {
                        "Name": bare,
                        "AttributeDataType": attr.get("AttributeDataType", "String"),
                        "Required": required,
                        "Mutable": mutable,
                    }
                )
        # sub, identities, and names Cognito does not document are left to Cognito.
    return out


def keep_sub_name(spec: str) -> str:
    """`custom:NAME` (or `NAME`) -> the bare custom attribute name, validated."""
    bare = spec.strip().removeprefix("custom:")
    if not bare or not CUSTOM_NAME_RE.match(bare):
        raise UsageError(
            f"--keep-sub-in {spec!r}: expected custom:NAME with NAME 1-20 letters, digits, '_', '-', '.' or ':'"
        )
    return bare


def add_keep_sub_attribute(schema: list[dict[str, Any]], spec: str) -> tuple[str, list[dict[str, Any]]]:
    """Declare the attribute that keeps each user's old sub: a String, immutable.

    Immutable because it is an identity link: a user (through an app client's WriteAttributes) or a
    later admin update must never be able to rewrite it. Cognito writes immutable attributes only at
    creation, which is exactly when a restore writes it (AdminCreateUser or an import-job row)."""
    bare = keep_sub_name(spec)
    schema = list(schema)
    for attr in schema:
        if attr.get("Name") == bare:
            if attr.get("AttributeDataType", "String") != "String":
                raise PlanRefused(
                    f"--keep-sub-in custom:{bare}: the snapshot already declares custom:{bare} as "
                    f"{attr.get('AttributeDataType')}, and a sub needs a String attribute",
                    hint="Choose another name.",
                )
            return f"custom:{bare}", schema
    customs = sum(1 for a in schema if a.get("Name") not in STANDARD_ATTRIBUTES)
    if customs >= MAX_CUSTOM_ATTRIBUTES:
        raise PlanRefused(
            f"--keep-sub-in custom:{bare}: the pool already has {customs} custom attributes, Cognito's maximum"
        )
    schema.append(
        {
            "Name": bare,
            "AttributeDataType": "String",
            "Mutable": False,
            "StringAttributeConstraints": {"MinLength": "0", "MaxLength": KEEP_SUB_MAX_LENGTH},
        }
    )
    return f"custom:{bare}", schema


def _fix_admin_create_user_config(out: dict[str, Any]) -> None:
    acu = out.get("AdminCreateUserConfig")
    temp_days = (out.get("Policies") or {}).get("PasswordPolicy", {}).get("TemporaryPasswordValidityDays")
    # Cognito refuses the deprecated UnusedAccountValidityDays beside TemporaryPasswordValidityDays.
    if isinstance(acu, dict) and temp_days is not None:
        acu.pop("UnusedAccountValidityDays", None)


def _map_lambda_config(out: dict[str, Any], mapper: ArnMapper) -> None:
    lam = out.get("LambdaConfig")
    if not isinstance(lam, dict):
        return
    for key in list(lam):
        value = lam[key]
        if isinstance(value, str):
            new = mapper.map(value, f"LambdaConfig.{key}")
            if new is None:
                del lam[key]
            else:
                lam[key] = new
        elif isinstance(value, dict) and "LambdaArn" in value:
            new = mapper.map(value.get("LambdaArn"), f"LambdaConfig.{key}")
            if new is None:
                del lam[key]
            else:
                value["LambdaArn"] = new
    senders = [k for k in ("CustomSMSSender", "CustomEmailSender") if k in lam]
    if senders and "KMSKeyID" not in lam:
        # Custom sender triggers need the KMS key that encrypts the codes they receive.
        for key in senders:
            del lam[key]
        mapper.warnings.append(
            f"LambdaConfig.{', '.join(senders)}: left out, because their KMS key (KMSKeyID) was left out"
        )
    if not lam:
        del out["LambdaConfig"]


def _map_email_configuration(out: dict[str, Any], mapper: ArnMapper) -> None:
    email = out.get("EmailConfiguration")
    if not isinstance(email, dict) or not email.get("SourceArn"):
        return
    new = mapper.map(email["SourceArn"], "EmailConfiguration.SourceArn (SES identity)")
    if new is not None:
        email["SourceArn"] = new
        return
    # Without an SES identity Cognito can only send through its own default sender.
    kept = {"EmailSendingAccount": "COGNITO_DEFAULT"}
    if email.get("ReplyToEmailAddress"):
        kept["ReplyToEmailAddress"] = email["ReplyToEmailAddress"]
    out["EmailConfiguration"] = kept
    mapper.warnings.append(
        "EmailConfiguration: the new pool sends email with Cognito's default sender (low daily quota) "
        "until an SES identity is configured"
    )


def _map_sms_configuration(holder: dict[str, Any], mapper: ArnMapper, key: str, where: str = "") -> None:
    sms = holder.get(key)
    if not isinstance(sms, dict):
        return
    label = where or key
    if sms.get("SnsCallerArn"):
        new = mapper.map(sms["SnsCallerArn"], f"{label}.SnsCallerArn (SNS role)")
        if new is None:
            del holder[key]
            return
        sms["SnsCallerArn"] = new
    eums = sms.get("EumsSms")
    if isinstance(eums, dict) and eums.get("CallerArn"):
        new = mapper.map(eums["CallerArn"], f"{label}.EumsSms.CallerArn")
        if new is None:
            del sms["EumsSms"]
        else:
            eums["CallerArn"] = new
    if not sms.get("SnsCallerArn") and not sms.get("EumsSms"):
        del holder[key]


def _map_key_configuration(out: dict[str, Any], mapper: ArnMapper) -> None:
    key_conf = out.get("KeyConfiguration")
    if not isinstance(key_conf, dict) or not key_conf.get("KmsKeyArn"):
        return
    new = mapper.map(key_conf["KmsKeyArn"], "KeyConfiguration.KmsKeyArn (pool encryption key)")
    if new is None:
        del out["KeyConfiguration"]  # falls back to an AWS owned key
    else:
        key_conf["KmsKeyArn"] = new


# ---- MFA ------------------------------------------------------------------------------------------------
def translate_mfa_config(
    config: PoolConfig, mapper: ArnMapper, *, email_from_ses: bool = True
) -> dict[str, Any] | None:
    """SetUserPoolMfaConfig kwargs (without UserPoolId), or None when the pool has MFA off and nothing else.

    Refuses (PlanRefused) to create a pool whose required MFA (ON) would be left without any factor:
    that would silently weaken sign-in. OPTIONAL without any factor left becomes OFF, with a warning."""
    src = copy.deepcopy(config.mfa_config) if config.mfa_config else {}
    pool = config.user_pool
    mode = str(src.get("MfaConfiguration") or pool.get("MfaConfiguration") or "OFF")
    if not config.mfa_config and mode != "OFF" and pool.get("SmsConfiguration"):
        # GetUserPoolMfaConfig was unavailable: the pool's own SMS settings are the best evidence.
        src["SmsMfaConfiguration"] = {
            "SmsConfiguration": copy.deepcopy(pool["SmsConfiguration"]),
            "SmsAuthenticationMessage": pool.get("SmsAuthenticationMessage"),
        }
    sms_mfa = src.get("SmsMfaConfiguration")
    if isinstance(sms_mfa, dict):
        _map_sms_configuration(sms_mfa, mapper, "SmsConfiguration", "SmsMfaConfiguration.SmsConfiguration")
        if "SmsConfiguration" not in sms_mfa:
            del src["SmsMfaConfiguration"]
    if src.get("EmailMfaConfiguration") and not email_from_ses:
        del src["EmailMfaConfiguration"]
        mapper.warnings.append("EmailMfaConfiguration: left out, email MFA needs an SES identity (EmailConfiguration)")
    factors = bool(src.get("SmsMfaConfiguration")) or bool(
        (src.get("SoftwareTokenMfaConfiguration") or {}).get("Enabled")
    )
    factors = factors or bool(src.get("EmailMfaConfiguration"))
    if mode != "OFF" and not factors:
        if mode == "ON":
            raise PlanRefused(
                "MFA is required (ON) in the snapshot, but no MFA factor can be configured in the new pool "
                "(its SMS role or SES identity was left out)",
                hint="Map the ARNs with --map-arn OLD=NEW so that the SMS or email factor can be configured.",
            )
        mapper.warnings.append("MfaConfiguration: OPTIONAL in the snapshot, OFF in the new pool (no factor left)")
        mode = "OFF"
    src["MfaConfiguration"] = mode
    result = conform("SetUserPoolMfaConfig", src)
    result.pop("UserPoolId", None)
    if mode == "OFF" and set(result) <= {"MfaConfiguration", "SoftwareTokenMfaConfiguration"}:
        return None
    return result


# ---- resource servers, identity providers, app clients ----------------------------------------------------
def translate_resource_server(rs: Mapping[str, Any], mapper: ArnMapper) -> dict[str, Any] | None:
    if rs.get("ManagedBy"):
        mapper.warnings.append(
            f"resource server {rs.get('Identifier')}: managed by {rs.get('ManagedBy')}, not created by hand"
        )
        return None
    out = conform("CreateResourceServer", {k: rs.get(k) for k in ("Identifier", "Name", "Scopes")})
    out.pop("UserPoolId", None)
    return out


def translate_identity_provider(idp: Mapping[str, Any], mapper: ArnMapper) -> dict[str, Any] | None:
    """CreateIdentityProvider kwargs (without UserPoolId), or None with a warning if it cannot be made."""
    name = str(idp.get("ProviderName", ""))
    ptype = str(idp.get("ProviderType", ""))
    details = dict(idp.get("ProviderDetails") or {})
    writable = IDP_WRITABLE_DETAILS.get(ptype)
    if writable is not None:
        details = {k: v for k, v in details.items() if k in writable}
    if ptype == "SAML" and details.get("MetadataURL"):
        details.pop("MetadataFile", None)  # Cognito takes one or the other
    missing = sorted(IDP_REQUIRED_DETAILS.get(ptype, frozenset()) - set(details))
    if missing:
        mapper.warnings.append(
            f"identity provider {name} ({ptype}): not created, DescribeIdentityProvider does not return "
            f"{', '.join(missing)}; create it by hand, then add it to the app clients"
        )
        return None
    out = conform(
        "CreateIdentityProvider",
        {
            "ProviderName": name,
            "ProviderType": ptype,
            "ProviderDetails": details,
            "AttributeMapping": idp.get("AttributeMapping") or None,
            "IdpIdentifiers": idp.get("IdpIdentifiers") or None,
            "AcrMapping": idp.get("AcrMapping") or None,
        },
    )
    out.pop("UserPoolId", None)
    return out


_DROP_FROM_CLIENT = frozenset({"ClientId", "UserPoolId", "CreationDate", "LastModifiedDate", "ClientSecret"})


def translate_client(
    client: Mapping[str, Any], mapper: ArnMapper, *, available_idps: set[str] | None = None
) -> ClientPlan:
    """CreateUserPoolClient kwargs (without UserPoolId). A confidential client keeps its secret when this
    botocore knows CreateUserPoolClient's ClientSecret; otherwise a new secret is generated (warned)."""
    src = copy.deepcopy(dict(client))
    name = str(src.get("ClientName", ""))
    old_id = str(src.get("ClientId", ""))
    out = {k: v for k, v in src.items() if k not in _DROP_FROM_CLIENT}
    secret = src.get("ClientSecret")
    kept = False
    if secret:
        if "ClientSecret" in input_members("CreateUserPoolClient"):
            out["ClientSecret"] = secret
            kept = True
        else:
            out["GenerateSecret"] = True
            mapper.warnings.append(
                f"app client {name} ({old_id}): a NEW client secret was generated (this botocore cannot send "
                "ClientSecret); update the applications that use it"
            )
    analytics = out.get("AnalyticsConfiguration")
    if isinstance(analytics, dict):
        for key in ("ApplicationArn", "RoleArn"):
            if analytics.get(key):
                new = mapper.map(analytics[key], f"app client {name}: AnalyticsConfiguration.{key}")
                if new is None:
                    out.pop("AnalyticsConfiguration", None)
                    break
                analytics[key] = new
    if available_idps is not None and out.get("SupportedIdentityProviders"):
        providers = list(out["SupportedIdentityProviders"])
        gone = [p for p in providers if p not in available_idps]
        if gone:
            out["SupportedIdentityProviders"] = [p for p in providers if p in available_idps]
            mapper.warnings.append(
                f"app client {name}: identity provider(s) {', '.join(gone)} not offered (not created)"
            )
    kwargs = conform("CreateUserPoolClient", out)
    kwargs.pop("UserPoolId", None)
    return ClientPlan(old_client_id=old_id, client_name=name, kwargs=kwargs, secret_kept=kept)


# ---- domain and hosted UI -------------------------------------------------------------------------------
def validate_domain_prefix(prefix: str) -> str:
    if not DOMAIN_PREFIX_RE.match(prefix) or "aws" in prefix or "amazon" in prefix or "cognito" in prefix:
        raise UsageError(
            f"--domain-prefix {prefix!r}: use 1-63 lowercase letters, digits and hyphens "
            "(not starting or ending with a hyphen, and without 'aws', 'amazon' or 'cognito')"
        )
    return prefix


def translate_domain(
    domain: Mapping[str, Any] | None,
    mapper: ArnMapper,
    *,
    domain_prefix: str | None = None,
    branding_carried: bool = False,
) -> dict[str, Any] | None:
    """CreateUserPoolDomain kwargs (without UserPoolId), or None.

    A prefix domain keeps its prefix unless `domain_prefix` overrides it (prefixes are unique per Region,
    so a same-Region copy usually needs a new one). A custom domain needs its ACM certificate (us-east-1,
    same account, or mapped); without one, or when `domain_prefix` is given, a prefix domain is made instead
    if a prefix is known."""
    if domain_prefix:
        validate_domain_prefix(domain_prefix)
    if not domain or not domain.get("Domain"):
        return {"Domain": domain_prefix} if domain_prefix else None
    name = str(domain["Domain"])
    custom = dict(domain.get("CustomDomainConfig") or {})
    extra: dict[str, Any] = {}
    if domain.get("ManagedLoginVersion"):
        extra["ManagedLoginVersion"] = domain["ManagedLoginVersion"]
        if int(domain["ManagedLoginVersion"]) >= 2 and not branding_carried:
            # A snapshot from before styles were recorded, or a pool whose clients have none.
            mapper.warnings.append("managed login branding: the snapshot records no style; set one if needed")
    if domain.get("Routing"):
        mapper.warnings.append(f"domain {name}: failover routing is not carried across")
    if custom.get("CertificateArn") and not domain_prefix:
        cert = mapper.map(custom["CertificateArn"], f"custom domain {name}: ACM certificate", regional=False)
        if cert is not None:
            custom["CertificateArn"] = cert
            mapper.warnings.append(
                f"custom domain {name}: after creation, point its DNS alias at the new CloudFront distribution "
                "(a custom domain serves one pool at a time: release it from the old pool first)"
            )
            return _domain_kwargs({"Domain": name, "CustomDomainConfig": custom, **extra})
        mapper.warnings.append(f"custom domain {name}: not created; give --domain-prefix for a prefix domain")
        return None
    if custom.get("CertificateArn") and domain_prefix:
        mapper.warnings.append(f"custom domain {name}: not created, prefix domain {domain_prefix} instead")
    return _domain_kwargs({"Domain": domain_prefix or name, **extra})


def _domain_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    out = conform("CreateUserPoolDomain", kwargs)
    out.pop("UserPoolId", None)
    return out


def translate_ui_customization(
    ui: Mapping[str, Any] | None, mapper: ArnMapper, *, has_domain: bool
) -> dict[str, Any] | None:
    """SetUICustomization kwargs: the CSS and the logo's bytes (the backup fetched them from ImageUrl and
    kept them base64 as `ImageFile`, aws/logo.py). A snapshot from before that has only the URL: warned."""
    if not ui:
        return None
    css = ui.get("CSS")
    image = logo_bytes(ui)
    if ui.get("ImageUrl") and image is None:
        mapper.warnings.append(
            f"hosted UI logo: not carried across (the snapshot has its URL only); download it from "
            f"{ui['ImageUrl']} and upload it again"
        )
    if not css and image is None:
        return None
    if not has_domain:
        mapper.warnings.append("hosted UI customization: not set, the new pool has no domain")
        return None
    out = conform("SetUICustomization", {"CSS": css, "ImageFile": image})
    out.pop("UserPoolId", None)
    return out


def logo_bytes(ui: Mapping[str, Any] | None) -> bytes | None:
    """The logo a UI customization record keeps (`ImageFile`, base64 in the JSON record), or None."""
    value = (ui or {}).get("ImageFile")
    return base64.b64decode(value) if isinstance(value, str) and value else None


# ---- changing one setting of an existing pool ------------------------------------------------------------


def update_pool_request(config: PoolConfig, mapper: ArnMapper, name: str) -> dict[str, Any]:
    """UpdateUserPool's whole request (without UserPoolId) for `config`'s pool settings, named `name`: the
    CreateUserPool translation conformed to UpdateUserPool, with the pool's own MFA mode. UpdateUserPool
    resets to its default every setting it is not given (a trigger, the email configuration, the password
    policy...), so changing one setting means sending them all: `restore --config pool` and `migrate`
    both build that request here."""
    created, _ = translate_user_pool(config, name, mapper)
    request = conform("UpdateUserPool", created)
    request.pop("UserPoolId", None)
    request["MfaConfiguration"] = str(config.user_pool.get("MfaConfiguration") or "OFF")
    return request


def update_user_pool_kwargs(user_pool: Mapping[str, Any], **changes: Any) -> dict[str, Any]:
    """UpdateUserPool kwargs keeping every setting `user_pool` (a DescribeUserPool body) shows, with `changes`
    applied (nothing mapped: the same pool)."""
    config = PoolConfig(user_pool=dict(user_pool), tags=dict(user_pool.get("UserPoolTags") or {}))
    out = update_pool_request(config, ArnMapper({}), str(user_pool.get("Name") or user_pool.get("Id") or "pool"))
    out.update(changes)
    out["UserPoolId"] = user_pool.get("Id")
    return conform("UpdateUserPool", out)


# ---- session configuration, log delivery, per-client settings ------------------------------------------
DEFAULT_SESSION = {"UserSessionTracking": "DISABLED", "TokenSession": {"MaxPerUser": 20}}  # a new pool's own
_LOG_ARNS = (
    ("CloudWatchLogsConfiguration", "LogGroupArn", True),
    ("FirehoseConfiguration", "StreamArn", True),
    ("S3Configuration", "BucketArn", False),  # bucket ARNs name no Region
)


def translate_pool_settings(config: PoolConfig, mapper: ArnMapper) -> list[tuple[str, dict[str, Any]]]:
    """(operation, kwargs without UserPoolId) for the pool-wide settings with calls of their own. A new
    pool already has the default session configuration: it is set only when it differs."""
    calls: list[tuple[str, dict[str, Any]]] = []
    session = config.session_configuration
    if session and session != DEFAULT_SESSION:
        calls.append(("SetUserPoolSessionConfiguration", without_pool("SetUserPoolSessionConfiguration", session)))
    risk = translate_risk_configuration(config.risk_configuration, mapper, "threat protection")
    if risk:
        calls.append(("SetRiskConfiguration", risk))
    logs = [entry for entry in (map_log_configuration(e, mapper) for e in config.log_delivery) if entry]
    if logs:
        calls.append(
            ("SetLogDeliveryConfiguration", without_pool("SetLogDeliveryConfiguration", {"LogConfigurations": logs}))
        )
    return calls


def map_log_configuration(entry: Mapping[str, Any], mapper: ArnMapper) -> dict[str, Any] | None:
    out = copy.deepcopy(dict(entry))
    for holder, key, regional in _LOG_ARNS:
        dest = out.get(holder)
        if isinstance(dest, dict) and dest.get(key):
            where = f"log delivery {entry.get('EventSource')} {entry.get('LogLevel')}: {holder}.{key}"
            new = mapper.map(str(dest[key]), where, regional=regional)
            if new is None:
                return None
            dest[key] = new
    return out


def translate_client_settings(config: PoolConfig, mapper: ArnMapper, *, has_domain: bool) -> list[ClientCall]:
    """The calls that give each new app client its session configuration, terms documents, managed login
    style (with its asset bytes), CIMD policies, hosted UI CSS and risk configuration, keyed by the old
    client id."""
    calls: list[ClientCall] = []
    for old_id, ui in sorted(config.client_ui_customization.items()):
        css = translate_ui_customization(ui, mapper, has_domain=has_domain)
        if css:
            calls.append(_client_call("SetUICustomization", old_id, css, "hosted UI CSS"))
    for old_id, risk in sorted(config.client_risk_configuration.items()):
        kwargs = translate_risk_configuration(risk, mapper, f"app client {old_id}: threat protection")
        if kwargs:
            calls.append(_client_call("SetRiskConfiguration", old_id, kwargs, "risk configuration"))
    for old_id, sso in sorted(config.client_session_configuration.items()):
        calls.append(
            _client_call("SetUserPoolClientSessionConfiguration", old_id, {"SSOSession": sso}, "session configuration")
        )
    for terms in config.terms:
        kwargs = {k: terms.get(k) for k in ("TermsName", "TermsSource", "Enforcement", "Links")}
        calls.append(_client_call("CreateTerms", str(terms["ClientId"]), kwargs, f"terms {terms.get('TermsName')!r}"))
    for old_id, style in sorted(config.managed_login_branding.items()):
        calls.append(_client_call("CreateManagedLoginBranding", old_id, branding_kwargs(style), "managed login style"))
    for policy in config.cimd_policies:
        if not policy.get("ClientId"):
            continue  # CreateCIMDPolicy needs an app client; the API reads back none for this one
        kwargs = {k: policy.get(k) for k in ("PolicyName", "CacheDuration", "URLPatterns")}
        calls.append(
            _client_call(
                "CreateCIMDPolicy", str(policy["ClientId"]), kwargs, f"CIMD policy {policy.get('PolicyName')!r}"
            )
        )
    return calls


def branding_kwargs(style: Mapping[str, Any]) -> dict[str, Any]:
    """CreateManagedLoginBranding's style from a recorded one: asset bytes decoded from base64. A style of
    Cognito's own values is asked for as such (its settings and assets are Cognito's, not to be sent)."""
    if style.get("UseCognitoProvidedValues"):
        return {"UseCognitoProvidedValues": True}
    assets = [
        {**asset, "Bytes": base64.b64decode(asset["Bytes"])} if isinstance(asset.get("Bytes"), str) else dict(asset)
        for asset in style.get("Assets") or []
    ]
    return {"UseCognitoProvidedValues": False, "Settings": style.get("Settings"), "Assets": assets or None}


def _client_call(operation: str, old_id: str, kwargs: Mapping[str, Any], what: str) -> ClientCall:
    out = conform(operation, kwargs)
    out.pop("UserPoolId", None)
    out.pop("ClientId", None)
    return ClientCall(operation=operation, old_client_id=old_id, kwargs=out, what=what)


def without_pool(operation: str, kwargs: Mapping[str, Any]) -> dict[str, Any]:
    """`kwargs` as `operation` accepts them, without the UserPoolId the caller adds for its own pool."""
    out = conform(operation, kwargs)
    out.pop("UserPoolId", None)
    return out


_RISK_PARTS = (
    "CompromisedCredentialsRiskConfiguration",
    "AccountTakeoverRiskConfiguration",
    "RiskExceptionConfiguration",
)


def translate_risk_configuration(
    risk: Mapping[str, Any] | None, mapper: ArnMapper, where: str
) -> dict[str, Any] | None:
    """SetRiskConfiguration kwargs (without UserPoolId and ClientId), or None when nothing is set. The
    notification email's SES identity is mapped; without it the notifications are left out (Cognito
    cannot send them) and the actions stay."""
    if not risk or not any(risk.get(k) for k in _RISK_PARTS):
        return None
    out = {k: copy.deepcopy(risk[k]) for k in _RISK_PARTS if risk.get(k)}
    takeover = out.get("AccountTakeoverRiskConfiguration")
    notify = takeover.get("NotifyConfiguration") if isinstance(takeover, dict) else None
    if isinstance(takeover, dict) and isinstance(notify, dict) and notify.get("SourceArn"):
        new = mapper.map(str(notify["SourceArn"]), f"{where}: NotifyConfiguration.SourceArn (SES identity)")
        if new is None:
            del takeover["NotifyConfiguration"]
            for action in (takeover.get("Actions") or {}).values():
                if isinstance(action, dict):
                    action["Notify"] = False
        else:
            notify["SourceArn"] = new
    result = conform("SetRiskConfiguration", out)
    result.pop("UserPoolId", None)
    result.pop("ClientId", None)
    return result
