"""Shared by the restore tests: a rich source pool, a backup of it, and a recorder of write calls."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.session import AwsContext
from cognito_backup.core.plan import identity_key, username_attributes
from cognito_backup.model import PoolState
from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store import open_store
from tests.helpers import add_user, make_pool

READ_PREFIXES = ("List", "Describe", "Get", "AdminGet", "AdminList")


def quiet_pacer() -> Pacer:
    """Real pacing logic, no real waiting (tests never sleep)."""
    return Pacer(sleep=lambda s: None)


def rich_pool(client: Any, name: str = "source", *, email_username: bool = False) -> str:
    """Custom attributes of every type (one immutable), disabled users, groups with precedence and
    roles, users in several groups."""
    pool = make_pool(client, name, email_username=email_username)
    for g, prec in (("admins", 1), ("staff", 5), ("readers", 10)):
        client.create_group(
            UserPoolId=pool,
            GroupName=g,
            Description=f"the {g}",
            Precedence=prec,
            RoleArn=f"arn:aws:iam::123456789012:role/{g}",
        )
    people = [
        ("alice", {"custom:tier": "gold", "custom:score": "42", "custom:vip": "true"}, True, ["admins", "staff"]),
        ("bob", {"custom:joined": "2024-01-02T03:04:05Z", "custom:tenant": "acme"}, False, ["staff"]),
        ("carol", {"given_name": "Zoë", "custom:tenant": "globex"}, True, ["staff", "readers", "admins"]),
        ("dave", {"custom:vip": "false"}, False, []),
        ("erin", {}, True, ["readers"]),
    ]
    for name_, extra, enabled, groups in people:
        attrs = {"email": f"{name_}@example.com", "email_verified": "true", **extra}
        username = attrs["email"] if email_username else name_
        add_user(client, pool, username, attrs, enabled=enabled, confirmed=name_ != "erin")
        for g in groups:
            client.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=g)
    return pool


def backup(client: Any, pool_id: str, repo_path: str | Path) -> Repository:
    repo = Repository(open_store(str(repo_path), AwsContext()))
    run_backup(PoolReader(client, quiet_pacer(), pool_id), repo, "us-east-1")
    return repo


def read_state(client: Any, pool_id: str) -> PoolState:
    return PoolReader(client, quiet_pacer(), pool_id).read_state()


def content(state: PoolState) -> dict[str, Any]:
    """A pool's restorable content, without sub, dates, password state or the generated usernames."""
    attrs = username_attributes(state.config)
    key_of = {u.username: identity_key(u, attrs) for u in state.users.values()}
    return {
        "users": {
            key_of[u.username]: (
                {k: v for k, v in u.attributes.items() if k != "sub"},
                u.enabled,
            )
            for u in state.users.values()
        },
        "groups": {g.name: (g.description, g.precedence, g.role_arn) for g in state.groups.values()},
        "memberships": sorted((m.group, key_of.get(m.username, m.username)) for m in state.memberships),
    }


@dataclass
class CallRecorder:
    """Every Cognito call a client makes (name and parameters), seen at botocore's before-parameter-build hook."""

    client: Any
    calls: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client.meta.events.register("before-parameter-build.cognito-idp.*", self._hook)

    def _hook(self, model: Any, params: dict[str, Any], **_: Any) -> None:
        with self._lock:
            self.calls.append((model.name, dict(params)))

    def writes(self) -> list[tuple[str, dict[str, Any]]]:
        return [(n, p) for n, p in self.calls if not n.startswith(READ_PREFIXES)]

    def named(self, name: str) -> list[dict[str, Any]]:
        return [p for n, p in self.calls if n == name]
