"""Capture at a busy pool's pace: which read re-reads which change (a table), and the calls a batch makes.

Calls are counted with a botocore `before-call` hook on the client the capture uses (real calls to moto,
nothing of ours patched). moto's AdminGetUser finds users by username only, while Cognito also accepts
the user's `sub` ("If username isn't an alias attribute in your user pool, this value must be the sub of a
local user": AdminGetUser API reference); `cognito_sub_lookup` is an honest double of that documented
behaviour, resolving the sub with a separate (uncounted) client before the request is built.
"""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.core.capture_reads import GET, IMAGE, LIST, plan_user_read
from cognito_backup.core.events import ChangeHint, hints_from_event
from cognito_backup.model import User
from cognito_backup.ops.capture import CaptureOptions, Capturer, Message, capture_batch
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for, fast_readers, render
from tests.conftest import REGION
from tests.helpers import add_user, make_pool

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


def hint(
    name: str = "UpdateUserAttributes",
    *,
    kind: str = "user",
    at: str | None = "2026-11-30T11:59:00Z",
    event_id: str = "e1",
    self_made: bool = True,
    deleting: bool = False,
    image: dict[str, Any] | None = None,
) -> ChangeHint:
    return ChangeHint(
        kind=kind,
        pool_id="us-east-1_X",
        event_id=event_id,
        event_name=name,
        changed_at=at,
        source="trigger" if image else "cloudtrail",
        sub="s-1",
        self_made=self_made,
        deleting=deleting,
        image=image,
    )


def admin(**kw: Any) -> ChangeHint:
    return hint("AdminUpdateUserAttributes", self_made=False, **kw)


IMG = {"username": "u", "attributes": {"sub": "s-1"}, "status": "CONFIRMED"}

# (case, hints, expected read, expected groups read, expected representative event id)
TABLE: list[tuple[str, list[ChangeHint], str, bool, str]] = [
    ("own attribute update", [hint()], GET, False, "e1"),
    ("admin update", [admin()], LIST, False, "e1"),
    ("admin then own, one batch", [admin(), hint(event_id="e2", at="2026-11-30T11:59:30Z")], GET, False, "e2"),
    (
        "own change then membership (admin)",
        [hint(), hint("AdminAddUserToGroup", kind="membership", self_made=False, event_id="e2")],
        GET,
        True,
        "e2",
    ),
    ("membership only", [hint("AdminAddUserToGroup", kind="membership", self_made=False)], LIST, True, "e1"),
    ("own change last month", [hint(at="2026-10-31T23:59:59Z")], LIST, False, "e1"),
    ("own change, event time unknown", [hint(at=None)], LIST, False, "e1"),
    ("own deletion", [hint("DeleteUser", deleting=True)], LIST, False, "e1"),
    (
        "own update then admin deletion",
        [hint(), hint("AdminDeleteUser", self_made=False, deleting=True, event_id="e2", at="2026-11-30T11:59:30Z")],
        LIST,
        False,
        "e2",
    ),
    ("trigger image", [hint("PostConfirmation_ConfirmSignUp", self_made=False, image=IMG)], IMAGE, False, "e1"),
    (
        "trigger image and a membership",
        [
            hint(image=IMG, self_made=False),
            hint("AdminAddUserToGroup", kind="membership", self_made=False, event_id="e2"),
        ],
        LIST,
        True,
        "e2",
    ),
]


@pytest.mark.parametrize(("case", "hints", "how", "groups", "rep"), TABLE, ids=[row[0] for row in TABLE])
def test_which_read_for_which_change(case: str, hints: list[ChangeHint], how: str, groups: bool, rep: str) -> None:
    read = plan_user_read(hints, NOW)
    assert (read.how, read.groups, read.rep.event_id) == (how, groups, rep), case


@pytest.mark.parametrize(
    ("name", "self_made"),
    [
        ("SignUp", True),
        ("ConfirmSignUp", True),
        ("UpdateUserAttributes", True),
        ("VerifyUserAttribute", True),
        ("DeleteUser", True),
        ("AdminUpdateUserAttributes", False),
        ("AdminConfirmSignUp", False),
        ("AdminAddUserToGroup", False),
    ],
)
def test_events_the_user_made_themselves(name: str, self_made: bool) -> None:
    (parsed,) = hints_from_event(render(name, pool="us-east-1_X"))
    assert parsed.self_made is self_made


# ---- a batch against moto --------------------------------------------------------------------------------
def count_calls(client: Any) -> Counter[str]:
    calls: Counter[str] = Counter()

    def on_call(model: Any, **_: Any) -> None:
        calls[model.name] += 1

    client.meta.events.register("before-call.cognito-idp", on_call)
    return calls


def cognito_sub_lookup(client: Any, pool: str) -> None:
    """Double of Cognito's AdminGetUser accepting a user's sub as Username (moto looks up usernames only)."""
    lookup = boto3.client("cognito-idp", region_name=REGION)

    def resolve(params: dict[str, Any], **_: Any) -> None:
        value = str(params.get("Username", ""))
        found = lookup.list_users(UserPoolId=pool, Filter=f'sub = "{value}"', Limit=1)["Users"]
        if found:
            params["Username"] = found[0]["Username"]

    client.meta.events.register("before-parameter-build.cognito-idp.AdminGetUser", resolve)


@pytest.fixture
def busy(aws: None, tmp_path: Path) -> dict[str, Any]:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = make_pool(cognito)
    cognito.create_group(UserPoolId=pool, GroupName="staff")
    subs: dict[str, str] = {}
    for i in range(12):
        name = f"user-{i:02d}"
        add_user(cognito, pool, name, {"email": f"{i}@example.com", "custom:tier": "gold"})
        subs[name] = User.from_api(cognito.admin_get_user(UserPoolId=pool, Username=name)).sub or ""
    return {"cognito": cognito, "pool": pool, "subs": subs, "journal": Journal(LocalStore(tmp_path / "repo"))}


def batch(busy: dict[str, Any], names: list[str], users: list[str] | None = None) -> list[Message]:
    """One message per (event name, user): self-made events rendered from the recorded fixtures."""
    now = dt.datetime.now(dt.UTC)
    out = []
    for n, name in enumerate(names):
        for user in users or sorted(busy["subs"]):
            sub, eid = busy["subs"][user], f"{name}-{user}-{n}"
            if name.startswith("Admin"):
                group = "staff" if "Group" in name else None
                event = event_for(name, pool=busy["pool"], event_id=eid, when=now, sub=sub, group=group)
            else:
                event = render(name, pool=busy["pool"], sub=sub, when=now, event_id=eid)
            out.append(Message(id=eid, body=json.dumps(event)))
    return out


def run(busy: dict[str, Any], messages: list[Message]) -> tuple[Counter[str], dict[str, dict[str, Any]]]:
    calls = count_calls(busy["cognito"])
    capturer = Capturer(fast_readers(busy["cognito"]), CaptureOptions(default_pool_id=busy["pool"]))
    result = capture_batch(capturer, busy["journal"], messages)
    assert not result.failed and not result.deferred and len(result.done) == len(messages)
    records = {r["key"]: r for r in busy["journal"].iter_records(busy["pool"]) if r["type"] == "user_upsert"}
    return calls, records


def listed(busy: dict[str, Any], user: str) -> dict[str, Any]:
    resp = boto3.client("cognito-idp", region_name=REGION).list_users(
        UserPoolId=busy["pool"], Filter=f'username = "{user}"'
    )
    return User.from_api(resp["Users"][0]).to_record()


def test_self_made_changes_are_read_with_admin_get_user_once_per_user(busy: dict[str, Any]) -> None:
    cognito_sub_lookup(busy["cognito"], busy["pool"])
    busy["cognito"].admin_update_user_attributes(
        UserPoolId=busy["pool"], Username="user-03", UserAttributes=[{"Name": "custom:tier", "Value": "silver"}]
    )
    calls, records = run(busy, batch(busy, ["UpdateUserAttributes", "VerifyUserAttribute"]))
    assert calls["ListUsers"] == 0  # UserList is left to backups
    assert calls["AdminGetUser"] == 12  # two changes of each user, one read
    assert sorted(records) == sorted(busy["subs"])
    for user in busy["subs"]:  # the same record as the ListUsers read gives
        assert records[user]["after"] == listed(busy, user)
    assert records["user-03"]["after"]["attributes"]["custom:tier"] == "silver"


def test_admin_made_changes_keep_the_non_billing_read(busy: dict[str, Any]) -> None:
    cognito_sub_lookup(busy["cognito"], busy["pool"])
    calls, records = run(busy, batch(busy, ["AdminUpdateUserAttributes", "AdminDisableUser"]))
    assert (calls["ListUsers"], calls["AdminGetUser"]) == (12, 0)
    assert len(records) == 12


def test_a_user_and_a_membership_change_in_one_batch_are_one_user_read(busy: dict[str, Any]) -> None:
    busy["cognito"].admin_add_user_to_group(UserPoolId=busy["pool"], Username="user-01", GroupName="staff")
    calls, _ = run(busy, batch(busy, ["AdminUpdateUserAttributes", "AdminAddUserToGroup"], users=["user-01"]))
    assert (calls["ListUsers"], calls["AdminListGroupsForUser"]) == (1, 1)
    groups = [r for r in busy["journal"].iter_records(busy["pool"]) if r["type"] == "user_groups"]
    assert [g["after"] for g in groups] == [{"groups": ["staff"]}]


def test_a_sub_admin_get_user_does_not_know_is_confirmed_with_list_users(busy: dict[str, Any]) -> None:
    # Without the double (moto as it is, or a pool where the sub is not accepted): UserNotFoundException
    # is not believed on its own; the user is looked up by sub with ListUsers and captured all the same.
    calls, records = run(busy, batch(busy, ["UpdateUserAttributes"], users=["user-05"]))
    assert (calls["AdminGetUser"], calls["ListUsers"]) == (1, 1)
    assert records["user-05"]["after"] == listed(busy, "user-05")
