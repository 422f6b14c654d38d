"""`migrate sync` reads only the users who moved since the last sync (unless --all), and who counts as moved."""

from __future__ import annotations

import datetime as dt
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.migrate_plan import moved_since, moved_users
from cognito_backup.model import PoolConfig, User
from cognito_backup.ops.migrate import Pools, StartRequest, run_start, run_sync
from cognito_backup.repo.repository import Repository
from cognito_backup.serverless.migrate_trigger import Settings, handle
from cognito_backup.store.local import LocalStore
from tests.helpers import add_user, make_pool
from tests.migrate_double import CognitoMigrationDouble

PASSWORD = "Xx1!" + "a" * 12
ARN = "arn:aws:lambda:us-east-1:123456789012:function:migrate"


def test_sync_reads_only_users_moved_since_the_last_sync(cognito: Any, tmp_repo: str) -> None:
    pool_a = make_pool(cognito, "A")
    cognito.create_group(UserPoolId=pool_a, GroupName="staff")
    for name in ("alice", "bob"):
        add_user(cognito, pool_a, name, {"email": f"{name}@example.com"}, confirmed=True)
    pools = Pools(source=cognito, target=cognito, pacer=Pacer())
    repo = Repository(LocalStore(tmp_repo))
    state = run_start(pools, repo, StartRequest(pool_a, ARN, new_pool_name="B")).state
    assert state is not None
    b_client = cognito.create_user_pool_client(UserPoolId=state.to_user_pool_id, ClientName="app")["UserPoolClient"]
    settings = Settings(from_pool_id=pool_a, client_id=state.client_id)
    double = CognitoMigrationDouble(
        cognito, state.to_user_pool_id, b_client["ClientId"], lambda e: handle(e, cognito, settings)
    )
    double.sign_in("alice", PASSWORD)
    first = run_sync(pools, repo, pool_a)
    assert first.failed_results == []
    double.sign_in("bob", PASSWORD)
    later = dt.datetime.now(dt.UTC) + dt.timedelta(hours=1)
    run_sync(pools, repo, pool_a, clock=lambda: later)  # bob, who moved since the first sync
    # Then alice is put in a group in A. The next sync re-reads only users B created since `later`
    # (less the overlap): nobody.
    cognito.admin_add_user_to_group(UserPoolId=pool_a, Username="alice", GroupName="staff")
    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-idp.AdminListGroupsForUser", lambda **_: calls.append("x"))
    run_sync(pools, repo, pool_a)
    assert calls == []

    def groups(name: str) -> set[str]:
        found = cognito.admin_list_groups_for_user(UserPoolId=state.to_user_pool_id, Username=name)["Groups"]
        return {g["GroupName"] for g in found}

    assert groups("alice") == set()
    # ...while --all re-reads everyone who moved, and alice gets her new group.
    run_sync(pools, repo, pool_a, everyone=True)
    assert groups("alice") == {"staff"}


def _user(name: str, created: str | None = None, **attrs: str) -> User:
    return User(username=name, attributes=attrs, created=created)


def test_moved_users_by_username_username_attribute_or_alias() -> None:
    aliases = PoolConfig(user_pool={"AliasAttributes": ["email", "preferred_username"]})
    a = [_user("alice", email="a@x"), _user("bob", preferred_username="bobby"), _user("carol")]
    b = [_user("a@x", email="a@x"), _user("bobby", preferred_username="bobby")]
    assert {k: pair[1].username for k, pair in moved_users(a, b, aliases).items()} == {"alice": "a@x", "bob": "bobby"}
    by_email = PoolConfig(user_pool={"UsernameAttributes": ["email"]})
    a = [_user("uuid-1", email="d@x")]
    b = [_user("uuid-9", email="d@x")]
    assert list(moved_users(a, b, by_email)) == ["d@x"]


def test_moved_since_keeps_the_overlap() -> None:
    since = dt.datetime(2026, 11, 30, 12, tzinfo=dt.UTC)
    old = _user("old", "2026-11-30T11:00:00Z")
    edge = _user("edge", "2026-11-30T11:55:00.5Z")
    new = _user("new", "2026-11-30T12:30:00Z")
    moved = {u.username: (u, u) for u in (old, edge, new)}
    assert set(moved_since(moved, since)) == {"edge", "new"}
    assert set(moved_since(moved, None)) == {"old", "edge", "new"}
