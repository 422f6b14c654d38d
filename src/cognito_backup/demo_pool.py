"""The demo's sample pool: realistic content for the local emulator (no AWS account involved)."""

from __future__ import annotations

import random
import unicodedata
from dataclasses import dataclass
from typing import Any

FIRST = ["Zoë", "José", "Łukasz", "美咲", "Ana", "Oliver", "Amélie", "Søren", "Priya", "Chidi", "Noa", "Mateo"]
LAST = ["García", "Müller", "O'Brien", "Nakamura", "Kowalski", "Dubois", "Okafor", "Silva", "Ivanova", "Lee"]

SCHEMA = [
    {"Name": "plan", "AttributeDataType": "String", "Mutable": True, "StringAttributeConstraints": {"MaxLength": "32"}},
    {"Name": "seats", "AttributeDataType": "Number", "Mutable": True, "NumberAttributeConstraints": {"MinValue": "0"}},
    {"Name": "beta", "AttributeDataType": "Boolean", "Mutable": True},
    {"Name": "tenant_id", "AttributeDataType": "String", "Mutable": False},
]


@dataclass
class DemoPool:
    user_pool_id: str
    users: int
    groups: int
    memberships: int
    disabled: int
    unconfirmed: int


def create_demo_pool(client: Any, *, users: int = 300, email_username: bool = True, seed: int = 2026) -> DemoPool:
    """A pool like a small SaaS's: email as username, custom attributes, groups with precedence and
    IAM roles, disabled and unconfirmed users, one group larger than a ListUsersInGroup page (60)."""
    rng = random.Random(seed)
    kwargs: dict[str, Any] = {
        "PoolName": "demo-source",
        "Schema": SCHEMA,
        "Policies": {"PasswordPolicy": {"MinimumLength": 10, "RequireNumbers": True, "RequireSymbols": False}},
        "UserPoolTags": {"team": "identity", "env": "demo"},
    }
    if email_username:
        kwargs["UsernameAttributes"] = ["email"]
        kwargs["AutoVerifiedAttributes"] = ["email"]
    pool_id = str(client.create_user_pool(**kwargs)["UserPool"]["Id"])
    app_client = client.create_user_pool_client(
        UserPoolId=pool_id, ClientName="web", ExplicitAuthFlows=["ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"]
    )["UserPoolClient"]["ClientId"]
    client.create_user_pool_client(UserPoolId=pool_id, ClientName="backend", GenerateSecret=True)
    client.create_resource_server(
        UserPoolId=pool_id,
        Identifier="https://api.example.com",
        Name="api",
        Scopes=[{"ScopeName": "read", "ScopeDescription": "read"}, {"ScopeName": "write", "ScopeDescription": "w"}],
    )
    groups = [("admins", 1), ("staff", 5), ("customers", 10), ("beta-testers", 20)]
    for name, precedence in groups:
        client.create_group(
            UserPoolId=pool_id,
            GroupName=name,
            Description=f"{name} of the demo tenant",
            Precedence=precedence,
            RoleArn=f"arn:aws:iam::123456789012:role/demo-{name}",
        )
    memberships = disabled = unconfirmed = 0
    usernames: list[str] = []
    for i in range(users):
        first, last = rng.choice(FIRST), rng.choice(LAST)
        plain = first.translate(str.maketrans("øŁł", "oLl"))
        local = unicodedata.normalize("NFKD", plain).encode("ascii", "ignore").decode().lower() or "user"
        email = f"{local}.{i}@example.com"
        attrs = {
            "email": email,
            "given_name": first,
            "family_name": last,
            "custom:plan": rng.choice(["free", "team", "enterprise"]),
            "custom:seats": str(rng.randint(1, 500)),
            "custom:beta": rng.choice(["true", "false"]),
            "custom:tenant_id": f"t-{i % 7}",
        }
        if i % 25 == 0:
            unconfirmed += 1  # self-service sign-up never confirmed: status UNCONFIRMED
            client.sign_up(
                ClientId=app_client,
                Username=email,
                Password="Demo-pass-" + str(rng.randint(10**6, 10**7)),
                UserAttributes=[{"Name": k, "Value": v} for k, v in attrs.items()],
            )
            username = email
        else:
            attrs["email_verified"] = "true"
            resp = client.admin_create_user(
                UserPoolId=pool_id,
                Username=email,
                UserAttributes=[{"Name": k, "Value": v} for k, v in attrs.items()],
                MessageAction="SUPPRESS",
            )
            username = str(resp["User"]["Username"])
            if i % 3:
                client.admin_set_user_password(
                    UserPoolId=pool_id, Username=username, Password="Demo-pass-" + str(i) + "x", Permanent=True
                )
            if i % 19 == 0:
                client.admin_disable_user(UserPoolId=pool_id, Username=username)
                disabled += 1
        usernames.append(username)
    for idx, username in enumerate(usernames):
        targets = ["customers"] if idx % 4 else ["customers", "beta-testers"]
        if idx < 5:
            targets.append("admins")
        elif idx < 20:
            targets.append("staff")
        if idx % 2 and "beta-testers" not in targets:
            continue  # half the users stay out of customers so counts are not trivial
        for group in targets:
            client.admin_add_user_to_group(UserPoolId=pool_id, Username=username, GroupName=group)
            memberships += 1
    return DemoPool(pool_id, users, len(groups), memberships, disabled, unconfirmed)
