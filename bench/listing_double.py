"""A double of the Cognito reads a backup makes, answered in-process after a fixed latency.

Honest double, for the backup-at-the-bound benchmark only: moto scans the whole pool for every
ListUsers page and serves one request at a time, so at 20,000 users it, not the UserList quota, bounds
a backup on a shared 2-core machine. This double answers from pages prepared in memory, on the calling
thread (as a network round trip holds only its own thread), after `latency` seconds. It follows the
documented behaviour the reader relies on: ListUsers pages of at most `Limit` users with a
PaginationToken while more remain, the `sub ^= "<prefix>"` filter, ListUsersInGroup and ListGroups with
NextToken; the optional configuration reads answer empty. It is installed as a botocore `before-send`
handler (below the pacer), so every call still goes through the tool's own pacing at the default quotas.

For the capture benchmark it also answers the one-user reads a capture makes (AdminGetUser by username
or by sub, as Cognito documents for a pool whose username is not an alias; ListUsers with an exact `sub =`
or `username =` filter; AdminListGroupsForUser), a missing user with UserNotFoundException, and, given a
`quota` (bench/quota_double.py), a call over Cognito's quota with HTTP 400 TooManyRequestsException.
"""

from __future__ import annotations

import io
import json
import random
import time
import uuid
from collections.abc import Iterator
from typing import Any

from botocore.awsrequest import AWSResponse

from quota_double import QuotaDouble

_NOWHERE = "https://listing-double.invalid/"


class _Raw(io.BytesIO):
    def stream(self, amt: int | None = None, decode_content: bool | None = None) -> Iterator[bytes]:
        while chunk := self.read(amt or 65536):
            yield chunk


class ListingDouble:
    def __init__(
        self,
        pool_id: str,
        users: int,
        groups: int,
        members_per_group: int,
        latency: float,
        quota: QuotaDouble | None = None,
    ) -> None:
        rng = random.Random(7)
        self.pool_id = pool_id
        self.latency = latency
        self.quota = quota
        self.users: list[dict[str, Any]] = []
        for i in range(users):
            sub = str(uuid.UUID(int=rng.getrandbits(128), version=4))
            self.users.append(
                {
                    "Username": f"user-{i:07d}",
                    "Attributes": [
                        {"Name": "sub", "Value": sub},
                        {"Name": "email", "Value": f"user{i}@example.com"},
                        {"Name": "email_verified", "Value": "true"},
                    ],
                    "UserCreateDate": 1700000000.0,
                    "UserLastModifiedDate": 1700000000.0,
                    "Enabled": True,
                    "UserStatus": "CONFIRMED",
                }
            )
        self.by_prefix: dict[str, list[dict[str, Any]]] = {}
        for user in self.users:
            self.by_prefix.setdefault(user["Attributes"][0]["Value"][0], []).append(user)
        self.groups = {
            f"group-{g:03d}": [u["Username"] for u in rng.sample(self.users, min(members_per_group, users))]
            for g in range(groups)
        }
        self.by_sub = {u["Attributes"][0]["Value"]: u for u in self.users}
        self.by_name = {u["Username"]: u for u in self.users}

    def install(self, client: Any) -> None:
        client.meta.events.register_first("before-send.cognito-idp", self.handler)

    def handler(self, request: Any, event_name: str = "", **_: Any) -> AWSResponse:
        operation = event_name.rsplit(".", 1)[-1]
        params = json.loads(request.body or b"{}")
        time.sleep(self.latency)
        status = 200
        if self.quota is not None and not self.quota.decide(operation, params.get("UserPoolId")):
            status, answer = 400, {"__type": "TooManyRequestsException", "message": "Rate exceeded"}
        else:
            try:
                answer = self.answer(operation, params)
            except LookupError:
                status, answer = 400, {"__type": "UserNotFoundException", "message": "User does not exist."}
        body = json.dumps(answer).encode()
        return AWSResponse(_NOWHERE, status, {"Content-Length": str(len(body))}, _Raw(body))

    def _one(self, who: str) -> dict[str, Any]:
        user = self.by_name.get(who) or self.by_sub.get(who)
        if user is None:
            raise LookupError(who)
        return user

    def answer(self, operation: str, params: dict[str, Any]) -> dict[str, Any]:
        if operation == "AdminGetUser":
            user = self._one(params["Username"])
            return {**{k: v for k, v in user.items() if k != "Attributes"}, "UserAttributes": user["Attributes"]}
        if operation == "AdminListGroupsForUser":
            name = self._one(params["Username"])["Username"]
            return {"Groups": [{"GroupName": g} for g, members in self.groups.items() if name in members]}
        if operation == "ListUsers" and params.get("Filter", "").startswith(("sub =", "username =")):
            try:
                return {"Users": [self._one(params["Filter"].split('"')[1])]}
            except LookupError:
                return {"Users": []}
        if operation == "DescribeUserPool":
            return {"UserPool": {"Id": self.pool_id, "Name": "bench", "EstimatedNumberOfUsers": len(self.users)}}
        if operation == "ListUsers":
            filt = params.get("Filter", "")
            source = self.by_prefix.get(filt.split('"')[1], []) if filt.startswith("sub ^=") else self.users
            return page(source, params, "PaginationToken", "Users")
        if operation == "ListGroups":
            groups = [{"GroupName": name, "UserPoolId": self.pool_id} for name in self.groups]
            return page(groups, params, "NextToken", "Groups")
        if operation == "ListUsersInGroup":
            members = [{"Username": name} for name in self.groups[params["GroupName"]]]
            return page(members, params, "NextToken", "Users")
        empty: dict[str, dict[str, Any]] = {
            "GetUserPoolMfaConfig": {"MfaConfiguration": "OFF"},
            "ListUserPoolClients": {"UserPoolClients": []},
            "ListIdentityProviders": {"Providers": []},
            "ListResourceServers": {"ResourceServers": []},
            "GetUICustomization": {"UICustomization": {}},
            "DescribeRiskConfiguration": {"RiskConfiguration": {}},
        }
        return empty[operation]


def page(items: list[dict[str, Any]], params: dict[str, Any], token_key: str, items_key: str) -> dict[str, Any]:
    """One page of a prepared list: Limit (or MaxResults) items from the offset the token holds."""
    limit = int(params.get("Limit") or params.get("MaxResults") or 60)
    start = int(params.get(token_key) or 0)
    answer: dict[str, Any] = {items_key: items[start : start + limit]}
    if start + limit < len(items):
        answer[token_key] = str(start + limit)
    return answer
