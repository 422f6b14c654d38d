"""Replication rounds after the first read only the standby users the new journal records name."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.quotas import DEFAULT_RATES
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.model import User
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.capture import CaptureOptions, Capturer, Message, capture_batch
from cognito_backup.ops.replicate import replicate_once
from cognito_backup.ops.restore import RestoreOptions
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for, fast_readers
from tests.helpers import add_user, make_pool


def journal(cognito: Any, repo: Repository, pool: str, *events: dict[str, Any]) -> None:
    capturer = Capturer(fast_readers(cognito), CaptureOptions(default_pool_id=pool, consistency_window=0))
    done = capture_batch(
        capturer, Journal(repo.store), [Message(id=e["detail"]["eventID"], body=json.dumps(e)) for e in events]
    )
    assert not done.not_done_ids


def sub_of(cognito: Any, pool: str, username: str) -> str:
    return str(User.from_api(cognito.admin_get_user(UserPoolId=pool, Username=username)).sub)


def remaining(cognito: Any, source: str, standby: str) -> list[str]:
    pacer = Pacer(sleep=lambda s: None)
    desired = PoolReader(cognito, pacer, source, chains=1).read_state()
    actual = PoolReader(cognito, pacer, standby, chains=1).read_state()
    return [op.kind for op in plan(desired, actual, PlanOptions(prune=True)).ops if op.kind != "set_password"]


# moto's in-process backend is not thread-safe for concurrent user creation in one pool (it raises
# RuntimeError from inside moto); the real service is. One writer per category keeps these tests exact.
ONE_WRITER = RestoreOptions(workers={category: 1 for category in DEFAULT_RATES})


@pytest.mark.parametrize(
    ("email_username", "n_groups", "incremental"),
    [(False, 10, True), (True, 10, True), (False, 1, False)],
)
def test_second_round_is_incremental_when_cheaper_and_always_exact(
    cognito: Any, tmp_path: Path, email_username: bool, n_groups: int, incremental: bool
) -> None:
    """A few changed users are looked up one by one when that takes fewer UserList calls than listing
    the standby (one page per 60 users and at least one per group); otherwise the round lists it."""
    n_users = 40
    source = make_pool(cognito, "source", email_username=email_username)
    standby = make_pool(cognito, "standby", email_username=email_username)
    cognito.create_group(UserPoolId=source, GroupName="admins", Precedence=1)
    for g in range(n_groups - 1):
        cognito.create_group(UserPoolId=source, GroupName=f"team-{g}")
    names = []
    for i in range(n_users):
        email = f"u{i}@example.com"
        add_user(cognito, source, email if email_username else f"user-{i}", {"email": email, "custom:tier": "gold"})
    for i in (1, 2, 3):  # the users the changes below touch, by their actual username
        email = f"u{i}@example.com"
        names.append(cognito.list_users(UserPoolId=source, Filter=f'email = "{email}"')["Users"][0]["Username"])
    repo = Repository(LocalStore(tmp_path / "repo"))
    pacer = Pacer(sleep=lambda s: None)
    run_backup(PoolReader(cognito, pacer, source), repo, "us-east-1")
    first = replicate_once(repo, cognito, pacer, source, standby, options=ONE_WRITER)
    assert first.failed == 0 and remaining(cognito, source, standby) == []

    now = dt.datetime.now(dt.UTC)
    changed, gone, member = names
    cognito.admin_update_user_attributes(
        UserPoolId=source, Username=changed, UserAttributes=[{"Name": "custom:tier", "Value": "platinum"}]
    )
    gone_sub = sub_of(cognito, source, gone)
    cognito.admin_delete_user(UserPoolId=source, Username=gone)
    cognito.admin_add_user_to_group(UserPoolId=source, Username=member, GroupName="admins")
    add_user(cognito, source, "new@example.com" if email_username else "newcomer", {"email": "new@example.com"})
    new_name = cognito.list_users(UserPoolId=source, Filter='email = "new@example.com"')["Users"][0]["Username"]
    changed_sub = sub_of(cognito, source, changed)
    journal(
        cognito,
        repo,
        source,
        event_for("AdminUpdateUserAttributes", pool=source, event_id="e1", when=now, sub=changed_sub),
        event_for("AdminDeleteUser", pool=source, event_id="e2", when=now, username=gone, sub=gone_sub),
        event_for("AdminAddUserToGroup", pool=source, event_id="e3", when=now, username=member, group="admins"),
        event_for("AdminCreateUser", pool=source, event_id="e4", when=now, sub=sub_of(cognito, source, new_name)),
    )

    filters: list[str] = []

    def record(params: dict[str, Any], **_: Any) -> None:
        filters.append(str(params.get("Filter", "(none: a full listing)")))

    cognito.meta.events.register("provide-client-params.cognito-idp.ListUsers", record)
    second = replicate_once(repo, cognito, pacer, source, standby, options=ONE_WRITER)
    cognito.meta.events.unregister("provide-client-params.cognito-idp.ListUsers", record)
    assert second.failed == 0 and second.operations > 0
    targeted = bool(filters) and all(" = " in f for f in filters)
    assert targeted is incremental, filters
    assert remaining(cognito, source, standby) == []
    third = replicate_once(repo, cognito, pacer, source, standby, options=ONE_WRITER)
    assert third.applied is False  # nothing new: one journal listing, no Cognito call
