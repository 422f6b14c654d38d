"""A stand-in Cognito endpoint for benchmarks at scale: its own process, pools pre-filled with N users.

Honest double, for benchmarks only. moto scans the whole pool for every ListUsers page and serves one
request at a time, so it cannot serve a pool of 1,000,000 users. This server speaks the protocol botocore
uses for cognito-idp (awsJson1_1: POST, `X-Amz-Target: AWSCognitoIdentityProviderService.<Operation>`,
JSON body; errors as HTTP 400 `{"__type": code, "message": ...}`) and answers from indexes, so a page
costs the same at any pool size. It follows Cognito's documented behaviour as far as the tool relies on
it:

- ListUsers: at most 60 users per page (`Limit` above 60 is InvalidParameterException), a
  PaginationToken while more remain, `AttributesToGet`, and the filters the tool uses: `sub ^= "x"`,
  `sub = "x"`, `username = "x"` and `email = "x"` from indexes; the other filterable standard attributes
  by a scan (slow, correct); custom attributes refused as Cognito refuses them.
- ListGroups, ListUsersInGroup (NextToken; at most 60), AdminListGroupsForUser, AdminGetUser,
  AdminCreateUser (Cognito assigns a new `sub`; status FORCE_CHANGE_PASSWORD), AdminUpdateUserAttributes
  (`sub` is not writable; custom attributes must be in the schema), AdminDeleteUserAttributes,
  AdminDeleteUser (also leaves its groups), AdminSetUserPassword, AdminDisableUser/EnableUser,
  AdminConfirmSignUp, AdminAddUserToGroup / AdminRemoveUserFromGroup (idempotent),
  Create/Get/Update/DeleteGroup, and the pool calls Create/Describe/Update/Delete/ListUserPools,
  AddCustomAttributes, ListTagsForResource/TagResource, GetCSVHeader.
- Error codes as Cognito names them: UserNotFoundException, UsernameExistsException,
  ResourceNotFoundException (pool or group), GroupExistsException, InvalidParameterException.
- A pool without clients, identity providers, resource servers, domain or threat protection answers
  those reads empty or with the documented errors; any call not listed here answers
  UnknownOperationException (HTTP 400), what AWS answers for an action it does not know, which the tool
  records as "not offered".

What it does not do: authentication flows, passwords' policy, attribute validation beyond the schema,
quotas (wrap it with bench/quota_double.py for those: it is a WSGI application) and latency.

Pre-filled pools are generated deterministically without going through the API, and held compactly:
a generated user is computed from its index when read (only users created or changed through the API
are stored), so 1,000,000 users with 1,000,000 memberships fit in a few hundred MB.

    python bench/standin.py --users 1000000 --groups 20 --members 1000000 [--copy-differ 100]

Prints one JSON line {"endpoint", "user_pool_id", "copy_pool_id", "users", "memberships"} when ready,
then serves until its stdin closes. `--copy-differ K` also makes a second pool, "bench-copy": the same
users, groups and memberships with their own subs (as in a pool restored earlier), where every K-th
user's `custom:tier` differs.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import re
import sys
import threading
import time
import uuid
from array import array
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.model import STANDARD_ATTRIBUTE_ORDER
from listing_double import page  # bench/ is on the path: this file runs as a script

REGION = "us-east-1"
ACCOUNT = "123456789012"
TARGET_PREFIX = "AWSCognitoIdentityProviderService."
MAX_PAGE = 60
HEX = "0123456789abcdef"
BUCKETS = [a + b for a in HEX for b in HEX]  # users are indexed by the first two hex digits of their sub
GIVEN_NAMES = ("Zoë", "José", "美咲", "Ana")
TIERS = ("gold", "silver", "bronze")
CREATED = 1700000000.0
STANDARD_ATTRIBUTES = ("sub", *STANDARD_ATTRIBUTE_ORDER)
# The standard attributes ListUsers may filter on (Cognito's ListUsers reference); custom ones are refused.
FILTERABLE = frozenset(
    {
        "username",
        "email",
        "phone_number",
        "name",
        "given_name",
        "family_name",
        "preferred_username",
        "cognito:user_status",
        "status",
        "sub",
    }
)
_FILTER = re.compile(r'^\s*([\w:]+)\s*(\^?=)\s*"((?:[^"\\]|\\.)*)"\s*$')
_GENERATED_NAME = re.compile(r"user-(\d{7})")
_GENERATED_EMAIL = re.compile(r"user(\d+)@example\.com")


class CognitoError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def make_sub(seed: str, index: int) -> str:
    """A deterministic version-4 UUID for user `index` of a pool generated with `seed`."""
    digest = hashlib.md5(f"{seed}:{index}".encode()).digest()  # an id, not security
    return str(uuid.UUID(bytes=digest, version=4))


def token(*parts: int) -> str:
    return base64.urlsafe_b64encode(",".join(map(str, parts)).encode()).decode()


def untoken(text: str, size: int) -> list[int]:
    try:
        parts = [int(p) for p in base64.urlsafe_b64decode(text.encode()).decode().split(",")]
    except (ValueError, UnicodeDecodeError):
        raise CognitoError("InvalidParameterException", "Invalid pagination token.") from None
    if len(parts) != size or min(parts) < 0:
        raise CognitoError("InvalidParameterException", "Invalid pagination token.")
    return parts


@dataclass
class GroupState:
    record: dict[str, Any]
    order: array = field(default_factory=lambda: array("i"))  # every index ever added, in order
    ever: set[int] = field(default_factory=set)
    members: set[int] = field(default_factory=set)

    def add(self, index: int) -> None:
        if index not in self.ever:
            self.ever.add(index)
            self.order.append(index)
        self.members.add(index)


@dataclass
class Pool:
    """One user pool. Users are numbered: 0..generated-1 are computed from their number (until changed
    through the API), later numbers are users created through the API, held in `stored`."""

    id: str
    description: dict[str, Any]
    seed: str
    generated: int = 0
    differ_every: int = 0
    stored: dict[int, dict[str, Any]] = field(default_factory=dict)
    deleted: set[int] = field(default_factory=set)
    names: dict[str, int] = field(default_factory=dict)  # users created through the API
    emails: dict[str, int] = field(default_factory=dict)  # emails of stored users
    by_bucket: dict[str, array] = field(default_factory=lambda: {b: array("i") for b in BUCKETS})
    groups: dict[str, GroupState] = field(default_factory=dict)
    next_index: int = 0

    # ---- users ------------------------------------------------------------------------------------
    def generate(self, users: int) -> None:
        for i in range(users):
            self.by_bucket[make_sub(self.seed, i)[:2]].append(i)
        self.generated = self.next_index = users

    def user(self, index: int) -> dict[str, Any]:
        """The API item (ListUsers shape) of a live user."""
        stored = self.stored.get(index)
        if stored is not None:
            return stored
        tier = TIERS[(index // 4) % 3]
        if self.differ_every and index % self.differ_every == 0:
            tier = TIERS[(index // 4 + 1) % 3]
        return {
            "Username": f"user-{index:07d}",
            "Attributes": [
                {"Name": "sub", "Value": make_sub(self.seed, index)},
                {"Name": "email", "Value": f"user{index}@example.com"},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "given_name", "Value": GIVEN_NAMES[index % 4]},
                {"Name": "custom:tier", "Value": tier},
            ],
            "UserCreateDate": CREATED,
            "UserLastModifiedDate": CREATED,
            "Enabled": index % 23 != 0,
            "UserStatus": "CONFIRMED",
        }

    def live(self, index: int) -> bool:
        return index < self.next_index and index not in self.deleted

    def find(self, username: str) -> int:
        index = self.names.get(username)
        if index is None:
            match = _GENERATED_NAME.fullmatch(username)
            if match and int(match.group(1)) < self.generated:
                index = int(match.group(1))
        if index is None or not self.live(index):
            raise CognitoError("UserNotFoundException", "User does not exist.")
        return index

    def store(self, index: int, item: dict[str, Any]) -> None:
        old = self.stored.get(index)
        if old is not None and self.emails.get(_attr(old, "email") or "") == index:
            del self.emails[_attr(old, "email") or ""]
        self.stored[index] = item
        email = _attr(item, "email")
        if email is not None:
            self.emails[email] = index

    def by_email(self, email: str) -> list[int]:
        index = self.emails.get(email)
        if index is None:
            match = _GENERATED_EMAIL.fullmatch(email)
            index = int(match.group(1)) if match and int(match.group(1)) < self.generated else None
        if index is None or not self.live(index) or _attr(self.user(index), "email") != email:
            return []
        return [index]

    def schema_names(self) -> set[str]:
        return {a["Name"] for a in self.description["SchemaAttributes"]}


def _attr(item: dict[str, Any], name: str) -> str | None:
    for a in item.get("Attributes", ()):
        if a["Name"] == name:
            return str(a["Value"])
    return None


def _page_limit(params: dict[str, Any], key: str = "Limit") -> int:
    limit = int(params.get(key) or MAX_PAGE)
    if not 0 <= limit <= MAX_PAGE:
        raise CognitoError(
            "InvalidParameterException",
            f"1 validation error detected: Value '{limit}' at '{key[0].lower() + key[1:]}' failed to satisfy "
            f"constraint: Member must have value less than or equal to {MAX_PAGE}",
        )
    return limit


def _schema(extra: Iterable[dict[str, Any]]) -> list[dict[str, Any]]:
    base = [
        {"Name": name, "AttributeDataType": "Boolean" if name.endswith("_verified") else "String", "Mutable": True}
        for name in STANDARD_ATTRIBUTES
    ]
    base[0]["Mutable"] = False
    custom = [{**a, "Name": "custom:" + a["Name"].removeprefix("custom:")} for a in extra]
    return base + custom


class Standin:
    """The endpoint's state and the operations on it. Every operation runs under one lock."""

    def __init__(self, clock: Callable[[], float] = time.time) -> None:
        self.pools: dict[str, Pool] = {}
        self.clock = clock
        self.lock = threading.Lock()
        self._pool_counter = 0

    # ---- set-up without the API -------------------------------------------------------------------
    def prefill(self, name: str, users: int, groups: int, memberships: int, differ_every: int = 0) -> str:
        """A pool of `users` generated users, `groups` groups and `memberships` memberships: membership j
        puts user j % users into group (j % users + j // users) % groups, so no user joins a group twice
        (up to users x groups memberships)."""
        pool_id = self.create_pool({"PoolName": name, "Schema": [{"Name": "tier", "AttributeDataType": "String"}]})
        pool = self.pools[pool_id]
        pool.differ_every = differ_every
        pool.generate(users)
        for g in range(groups):
            self.create_group(pool, {"GroupName": f"group-{g:03d}", "Description": f"group {g}", "Precedence": g})
        names = list(pool.groups)
        for j in range(memberships if users and groups else 0):
            pool.groups[names[(j % users + j // users) % groups]].add(j % users)
        return pool_id

    def create_pool(self, params: dict[str, Any]) -> str:
        self._pool_counter += 1
        pool_id = f"{REGION}_bench{self._pool_counter:04d}"
        now = self.clock()
        description = {k: v for k, v in params.items() if k not in ("PoolName", "Schema", "UserPoolTags")}
        description.update(
            {
                "Id": pool_id,
                "Name": params["PoolName"],
                "Arn": f"arn:aws:cognito-idp:{REGION}:{ACCOUNT}:userpool/{pool_id}",
                "SchemaAttributes": _schema(
                    a for a in params.get("Schema", []) if a["Name"] not in STANDARD_ATTRIBUTES
                ),
                "UserPoolTags": dict(params.get("UserPoolTags") or {}),
                "CreationDate": now,
                "LastModifiedDate": now,
                "MfaConfiguration": params.get("MfaConfiguration", "OFF"),
            }
        )
        self.pools[pool_id] = Pool(pool_id, description, seed=pool_id)
        return pool_id

    def create_group(self, pool: Pool, params: dict[str, Any]) -> dict[str, Any]:
        name = params["GroupName"]
        if name in pool.groups:
            raise CognitoError("GroupExistsException", "A group with the name already exists.")
        now = self.clock()
        record = {k: params[k] for k in ("GroupName", "Description", "RoleArn", "Precedence") if k in params}
        record.update({"UserPoolId": pool.id, "CreationDate": now, "LastModifiedDate": now})
        pool.groups[name] = GroupState(record)
        return record

    # ---- the API ----------------------------------------------------------------------------------
    def handle(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        method = getattr(self, "op_" + operation, None)
        if method is None:
            raise CognitoError("UnknownOperationException", f"Unknown operation {operation}")
        with self.lock:
            result: dict[str, Any] = method(params)
            return result

    def _pool(self, params: dict[str, Any]) -> Pool:
        pool_id = params.get("UserPoolId")
        if pool_id is None:
            arn = str(params.get("ResourceArn", ""))
            pool_id = arn.rsplit("/", 1)[-1]
        pool = self.pools.get(str(pool_id))
        if pool is None:
            raise CognitoError("ResourceNotFoundException", f"User pool {pool_id} does not exist.")
        return pool

    def _group(self, pool: Pool, name: str) -> GroupState:
        group = pool.groups.get(name)
        if group is None:
            raise CognitoError("ResourceNotFoundException", "Group not found.")
        return group

    def op_CreateUserPool(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"UserPool": self._describe(self.pools[self.create_pool(params)])}

    def _describe(self, pool: Pool) -> dict[str, Any]:
        live = pool.next_index - len(pool.deleted)
        return {**pool.description, "EstimatedNumberOfUsers": live}

    def op_DescribeUserPool(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"UserPool": self._describe(self._pool(params))}

    def op_UpdateUserPool(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        pool.description.update({k: v for k, v in params.items() if k != "UserPoolId"})
        pool.description["LastModifiedDate"] = self.clock()
        return {}

    def op_DeleteUserPool(self, params: dict[str, Any]) -> dict[str, Any]:
        del self.pools[self._pool(params).id]
        return {}

    def op_ListUserPools(self, params: dict[str, Any]) -> dict[str, Any]:
        pools = [
            {"Id": p.id, "Name": p.description["Name"], "CreationDate": p.description["CreationDate"]}
            for p in self.pools.values()
        ]
        return page(pools, params, "NextToken", "UserPools")

    def op_AddCustomAttributes(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        for attr in params.get("CustomAttributes", []):
            name = "custom:" + attr["Name"]
            if name in pool.schema_names():
                raise CognitoError("InvalidParameterException", f"{name}: Existing attribute already has name {name}.")
            pool.description["SchemaAttributes"].append({**attr, "Name": name})
        return {}

    def op_ListTagsForResource(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Tags": dict(self._pool(params).description["UserPoolTags"])}

    def op_TagResource(self, params: dict[str, Any]) -> dict[str, Any]:
        self._pool(params).description["UserPoolTags"].update(params.get("Tags", {}))
        return {}

    def op_GetUserPoolMfaConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"MfaConfiguration": self._pool(params).description.get("MfaConfiguration", "OFF")}

    def op_SetUserPoolMfaConfig(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        pool.description["MfaConfiguration"] = params.get("MfaConfiguration", "OFF")
        return {k: v for k, v in params.items() if k != "UserPoolId"}

    def op_ListUserPoolClients(self, params: dict[str, Any]) -> dict[str, Any]:
        self._pool(params)
        return {"UserPoolClients": []}

    def op_ListIdentityProviders(self, params: dict[str, Any]) -> dict[str, Any]:
        self._pool(params)
        return {"Providers": []}

    def op_ListResourceServers(self, params: dict[str, Any]) -> dict[str, Any]:
        self._pool(params)
        return {"ResourceServers": []}

    def op_GetUICustomization(self, params: dict[str, Any]) -> dict[str, Any]:
        self._pool(params)
        # Cognito's answer for a pool without a domain (the tool records it as "not offered").
        raise CognitoError("InvalidParameterException", "A domain must be associated with this user pool.")

    def op_DescribeRiskConfiguration(self, params: dict[str, Any]) -> dict[str, Any]:
        self._pool(params)
        raise CognitoError("UserPoolAddOnNotEnabledException", "Advanced security features are not enabled.")

    def op_GetCSVHeader(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        names = [a["Name"] for a in pool.description["SchemaAttributes"] if a["Name"] != "sub"]
        return {"UserPoolId": pool.id, "CSVHeader": [*names, "cognito:mfa_enabled", "cognito:username"]}

    # ---- users ------------------------------------------------------------------------------------
    def op_ListUsers(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        limit = _page_limit(params)
        wanted = params.get("AttributesToGet")
        items, next_token = self._list_users(
            pool, str(params.get("Filter") or ""), limit, params.get("PaginationToken")
        )
        if wanted is not None:
            keep = set(wanted)
            items = [{**u, "Attributes": [a for a in u["Attributes"] if a["Name"] in keep]} for u in items]
        answer: dict[str, Any] = {"Users": items}
        if next_token:
            answer["PaginationToken"] = next_token
        return answer

    def _list_users(
        self, pool: Pool, filt: str, limit: int, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        if not filt:
            start = untoken(page_token, 1)[0] if page_token else 0
            return self._scan(pool, start, limit, lambda item: True)
        match = _FILTER.match(filt)
        if not match:
            raise CognitoError("InvalidParameterException", "Error while parsing filter.")
        name, op, value = match.groups()
        value = value.replace('\\"', '"')
        if name not in FILTERABLE:
            raise CognitoError("InvalidParameterException", f"Invalid search attribute: {name}")
        if name == "sub":
            return self._by_sub(pool, value, op == "^=", limit, page_token)
        if op == "=" and name in ("username", "email"):
            indexes = (
                ([pool.find(value)] if _exists(pool, value) else []) if name == "username" else pool.by_email(value)
            )
            return [pool.user(i) for i in indexes], None

        def matches(item: dict[str, Any]) -> bool:
            if name == "username":
                got: str | None = item["Username"]
            elif name in ("status", "cognito:user_status"):
                got = (
                    item["UserStatus"]
                    if name == "cognito:user_status"
                    else ("Enabled" if item["Enabled"] else "Disabled")
                )
            else:
                got = _attr(item, name)
            return got is not None and (got.startswith(value) if op == "^=" else got == value)

        start = untoken(page_token, 1)[0] if page_token else 0
        return self._scan(pool, start, limit, matches)

    def _scan(
        self, pool: Pool, start: int, limit: int, keep: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[dict[str, Any]], str | None]:
        items: list[dict[str, Any]] = []
        i = start
        while i < pool.next_index and len(items) < limit:
            if pool.live(i):
                item = pool.user(i)
                if keep(item):
                    items.append(item)
            i += 1
        # Like Cognito, a token may lead to an empty last page.
        return items, (token(i) if i < pool.next_index else None)

    def _by_sub(
        self, pool: Pool, value: str, prefix: bool, limit: int, page_token: str | None
    ) -> tuple[list[dict[str, Any]], str | None]:
        value = value.lower()
        buckets = [b for b in BUCKETS if b.startswith(value[:2])] if len(value) < 2 else [value[:2]]
        b, offset = untoken(page_token, 2) if page_token else (0, 0)
        items: list[dict[str, Any]] = []
        while b < len(buckets) and len(items) < limit:
            indexes = pool.by_bucket.get(buckets[b], array("i"))
            while offset < len(indexes) and len(items) < limit:
                i = indexes[offset]
                offset += 1
                if pool.live(i):
                    item = pool.user(i)
                    sub = _attr(item, "sub") or ""
                    if sub.startswith(value) if prefix else sub == value:
                        items.append(item)
            if offset >= len(indexes):
                b, offset = b + 1, 0
        return items, (token(b, offset) if b < len(buckets) else None)

    def op_AdminGetUser(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        item = pool.user(pool.find(params["Username"]))
        answer = {k: v for k, v in item.items() if k != "Attributes"}
        answer["UserAttributes"] = item["Attributes"]
        return answer

    def _check_attributes(self, pool: Pool, attributes: Iterable[dict[str, Any]]) -> None:
        schema = pool.schema_names()
        for a in attributes:
            if a["Name"] == "sub":
                raise CognitoError("InvalidParameterException", "Cannot modify an immutable attribute: sub")
            if a["Name"] not in schema:
                raise CognitoError("InvalidParameterException", f"Attribute does not exist in the schema: {a['Name']}")

    def op_AdminCreateUser(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        username = params["Username"]
        if _exists(pool, username):
            raise CognitoError("UsernameExistsException", "User account already exists")
        attributes = [dict(a) for a in params.get("UserAttributes", [])]
        self._check_attributes(pool, attributes)
        index = pool.next_index
        pool.next_index += 1
        sub = make_sub(pool.seed + "/created", index)
        now = self.clock()
        item = {
            "Username": username,
            "Attributes": [{"Name": "sub", "Value": sub}, *attributes],
            "UserCreateDate": now,
            "UserLastModifiedDate": now,
            "Enabled": True,
            "UserStatus": "FORCE_CHANGE_PASSWORD",
        }
        pool.names[username] = index
        pool.by_bucket[sub[:2]].append(index)
        pool.store(index, item)
        return {"User": {**{k: v for k, v in item.items() if k != "Attributes"}, "Attributes": item["Attributes"]}}

    def _change(self, params: dict[str, Any], change: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
        pool = self._pool(params)
        index = pool.find(params["Username"])
        item = json.loads(json.dumps(pool.user(index)))  # a copy: generated items are built per call
        change(item)
        item["UserLastModifiedDate"] = self.clock()
        pool.store(index, item)
        return {}

    def op_AdminUpdateUserAttributes(self, params: dict[str, Any]) -> dict[str, Any]:
        updates = {a["Name"]: a.get("Value", "") for a in params.get("UserAttributes", [])}
        self._check_attributes(self._pool(params), params.get("UserAttributes", []))

        def change(item: dict[str, Any]) -> None:
            kept = [a for a in item["Attributes"] if a["Name"] not in updates]
            item["Attributes"] = kept + [{"Name": k, "Value": v} for k, v in updates.items()]

        return self._change(params, change)

    def op_AdminDeleteUserAttributes(self, params: dict[str, Any]) -> dict[str, Any]:
        names = set(params.get("UserAttributeNames", []))

        def change(item: dict[str, Any]) -> None:
            item["Attributes"] = [a for a in item["Attributes"] if a["Name"] not in names]

        return self._change(params, change)

    def op_AdminSetUserPassword(self, params: dict[str, Any]) -> dict[str, Any]:
        status = "CONFIRMED" if params.get("Permanent") else "FORCE_CHANGE_PASSWORD"
        return self._change(params, lambda item: item.update(UserStatus=status))

    def op_AdminConfirmSignUp(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(params, lambda item: item.update(UserStatus="CONFIRMED"))

    def op_AdminDisableUser(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(params, lambda item: item.update(Enabled=False))

    def op_AdminEnableUser(self, params: dict[str, Any]) -> dict[str, Any]:
        return self._change(params, lambda item: item.update(Enabled=True))

    def op_AdminDeleteUser(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        index = pool.find(params["Username"])
        pool.deleted.add(index)
        pool.names.pop(params["Username"], None)
        item = pool.stored.pop(index, None)
        if item is not None and pool.emails.get(_attr(item, "email") or "") == index:
            del pool.emails[_attr(item, "email") or ""]
        for group in pool.groups.values():
            group.members.discard(index)
        return {}

    # ---- groups -----------------------------------------------------------------------------------
    def op_CreateGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        return {"Group": self.create_group(self._pool(params), params)}

    def op_GetGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        return {"Group": self._group(pool, params["GroupName"]).record}

    def op_UpdateGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        group = self._group(pool, params["GroupName"])
        group.record.update({k: params[k] for k in ("Description", "RoleArn", "Precedence") if k in params})
        group.record["LastModifiedDate"] = self.clock()
        return {"Group": group.record}

    def op_DeleteGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        self._group(pool, params["GroupName"])
        del pool.groups[params["GroupName"]]
        return {}

    def op_ListGroups(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        limit = _page_limit(params)
        groups = [g.record for g in pool.groups.values()]
        return page(groups, {**params, "Limit": limit}, "NextToken", "Groups")

    def op_ListUsersInGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        group = self._group(pool, params["GroupName"])
        limit = _page_limit(params)
        offset = untoken(params["NextToken"], 1)[0] if params.get("NextToken") else 0
        items: list[dict[str, Any]] = []
        while offset < len(group.order) and len(items) < limit:
            index = group.order[offset]
            offset += 1
            if index in group.members and pool.live(index):
                items.append(pool.user(index))
        answer: dict[str, Any] = {"Users": items}
        if offset < len(group.order):
            answer["NextToken"] = token(offset)
        return answer

    def op_AdminListGroupsForUser(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        index = pool.find(params["Username"])
        limit = _page_limit(params)
        groups = [g.record for g in pool.groups.values() if index in g.members]
        return page(groups, {**params, "Limit": limit}, "NextToken", "Groups")

    def op_AdminAddUserToGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        group = self._group(pool, params["GroupName"])
        group.add(pool.find(params["Username"]))
        return {}

    def op_AdminRemoveUserFromGroup(self, params: dict[str, Any]) -> dict[str, Any]:
        pool = self._pool(params)
        group = self._group(pool, params["GroupName"])
        group.members.discard(pool.find(params["Username"]))
        return {}

    # ---- HTTP -------------------------------------------------------------------------------------
    def wsgi(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterator[bytes]:
        target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
        length = int(environ.get("CONTENT_LENGTH") or 0)
        body = environ["wsgi.input"].read(length) if length else b""
        status = "200 OK"
        try:
            if not target.startswith(TARGET_PREFIX):
                raise CognitoError("UnknownOperationException", f"Unknown target {target!r}")
            answer = self.handle(target[len(TARGET_PREFIX) :], json.loads(body or b"{}"))
        except CognitoError as exc:
            status, answer = "400 Bad Request", {"__type": exc.code, "message": exc.message}
        except (KeyError, TypeError, ValueError) as exc:
            status, answer = "400 Bad Request", {"__type": "InvalidParameterException", "message": repr(exc)}
        data = json.dumps(answer).encode()
        start_response(
            status,
            [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))],
        )
        yield data


def _exists(pool: Pool, username: str) -> bool:
    try:
        pool.find(username)
    except CognitoError:
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=1000)
    parser.add_argument("--groups", type=int, default=20)
    parser.add_argument("--members", type=int, default=None, help="memberships in all (default: as many as users)")
    parser.add_argument("--copy-differ", type=int, default=0, help="also make bench-copy, every K-th user differing")
    parser.add_argument("--port", type=int, default=0)
    args = parser.parse_args()
    from werkzeug.serving import make_server

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # a line per request would cost more than the answer
    standin = Standin()
    members = args.users if args.members is None else args.members
    started = time.monotonic()
    pool_id = standin.prefill("bench", args.users, args.groups, members)
    copy_id = (
        standin.prefill("bench-copy", args.users, args.groups, members, args.copy_differ) if args.copy_differ else None
    )
    server = make_server("127.0.0.1", args.port, standin.wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    ready = {
        "endpoint": f"http://127.0.0.1:{server.server_port}",
        "user_pool_id": pool_id,
        "copy_pool_id": copy_id,
        "users": args.users,
        "memberships": members,
        "fill_s": round(time.monotonic() - started, 1),
    }
    print(json.dumps(ready), flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin
    server.shutdown()


if __name__ == "__main__":
    main()
