"""Test helpers: realistic pools, and faults injected at botocore's boundary (not in our code)."""

from __future__ import annotations

import datetime as dt
import json
import random
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.awsrequest import AWSResponse

CUSTOM_SCHEMA = [
    {"Name": "tier", "AttributeDataType": "String", "Mutable": True, "StringAttributeConstraints": {"MaxLength": "64"}},
    {"Name": "score", "AttributeDataType": "Number", "Mutable": True, "NumberAttributeConstraints": {"MinValue": "0"}},
    {"Name": "vip", "AttributeDataType": "Boolean", "Mutable": True},
    {"Name": "joined", "AttributeDataType": "DateTime", "Mutable": True},
    {"Name": "tenant", "AttributeDataType": "String", "Mutable": False},
]


def make_pool(client: Any, name: str = "source", *, email_username: bool = False, **extra: Any) -> str:
    kwargs: dict[str, Any] = {"PoolName": name, "Schema": CUSTOM_SCHEMA}
    if email_username:
        kwargs["UsernameAttributes"] = ["email"]
        kwargs["AutoVerifiedAttributes"] = ["email"]
    kwargs.update(extra)
    return str(client.create_user_pool(**kwargs)["UserPool"]["Id"])


def add_user(
    client: Any,
    pool_id: str,
    username: str,
    attrs: dict[str, str] | None = None,
    *,
    enabled: bool = True,
    confirmed: bool = False,
) -> None:
    client.admin_create_user(
        UserPoolId=pool_id,
        Username=username,
        UserAttributes=[{"Name": k, "Value": v} for k, v in (attrs or {}).items()],
        MessageAction="SUPPRESS",
    )
    if confirmed:
        client.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password="Xx1!" + "a" * 12, Permanent=True
        )
    if not enabled:
        client.admin_disable_user(UserPoolId=pool_id, Username=username)


def fill_pool(client: Any, pool_id: str, n_users: int, n_groups: int = 3, big_group: int = 0, seed: int = 1) -> None:
    rng = random.Random(seed)
    for g in range(n_groups):
        client.create_group(
            UserPoolId=pool_id,
            GroupName=f"group-{g:03d}",
            Description=f"Group {g}",
            Precedence=g,
            RoleArn=f"arn:aws:iam::123456789012:role/group-{g}",
        )
    for i in range(n_users):
        add_user(
            client,
            pool_id,
            f"user-{i:05d}",
            {
                "email": f"user{i}@example.com",
                "email_verified": "true",
                "given_name": rng.choice(["Zoë", "José", "Łukasz", "美咲", "Ana"]),
                "custom:tier": rng.choice(["gold", "silver"]),
                "custom:score": str(rng.randint(0, 1000)),
            },
            enabled=i % 17 != 0,
        )
    for i in range(big_group):
        client.admin_add_user_to_group(UserPoolId=pool_id, Username=f"user-{i:05d}", GroupName="group-000")


@dataclass
class FaultInjector:
    """Answers chosen calls with an AWS error before they reach the endpoint (botocore 'before-call'
    hook), as a throttling or failing service would. Our code sees a genuine botocore ClientError."""

    client: Any
    code: str = "TooManyRequestsException"
    status: int = 400
    operations: set[str] | None = None
    probability: float = 0.0
    fail_on_call: int | None = None  # the n-th matching call (1-based) fails...
    repeat: int = 1  # ...and so do the `repeat - 1` matching calls after it (the pacer's retries)
    seed: int = 7
    calls: int = 0
    injected: int = 0
    _rng: random.Random = field(init=False)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    predicate: Callable[[dict[str, Any]], bool] | None = None

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)
        self.client.meta.events.register("before-call.cognito-idp.*", self._hook)

    def remove(self) -> None:
        self.client.meta.events.unregister("before-call.cognito-idp.*", self._hook)

    def _hook(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        if self.operations is not None and model.name not in self.operations:
            return None
        if self.predicate is not None and not self.predicate(_request_params(params)):
            return None
        with self._lock:
            self.calls += 1
            hit = (
                self.fail_on_call is not None and self.fail_on_call <= self.calls < self.fail_on_call + self.repeat
            ) or (self.probability > 0 and self._rng.random() < self.probability)
            if not hit:
                return None
            self.injected += 1
        response = AWSResponse("https://cognito-idp.invalid", self.status, {}, None)
        return response, {"Error": {"Code": self.code, "Message": "injected by test"}, "ResponseMetadata": {}}


def _request_params(params: Any) -> dict[str, Any]:
    """The API parameters of a serialised botocore request (JSON protocol for cognito-idp)."""
    body = params.get("body", b"") if isinstance(params, dict) else b""
    if isinstance(body, bytes | str) and body:
        try:
            value = json.loads(body)
            return value if isinstance(value, dict) else {}
        except ValueError:
            return {}
    return {}


def journal_upsert(pool: str, when: dt.datetime, name: str, tier: str, event_id: str) -> dict[str, Any]:
    """A journal record of user `name` (sub `sub-<name>`, custom:tier `tier`) observed at `when`, as
    capture writes it from CloudTrail."""
    from cognito_backup.model import User
    from cognito_backup.repo.repository import format_time

    after = User(username=name, attributes={"sub": f"sub-{name}", "custom:tier": tier}).to_record()
    return {
        "type": "user_upsert",
        "pool": pool,
        "key": name,
        "sub": f"sub-{name}",
        "observed_at": format_time(when),
        "event_id": event_id,
        "seq": 0,
        "after": after,
        "source": "cloudtrail",
    }
