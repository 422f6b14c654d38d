"""fold(): journal records over a base state, in observed order, whatever order they arrive in."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from cognito_backup.core.fold import fold
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User

T0 = dt.datetime(2026, 11, 21, 10, 0, tzinfo=dt.UTC)


def at(seconds: int) -> str:
    return (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def user(name: str, sub: str, **attrs: str) -> dict[str, Any]:
    return User(username=name, attributes={"sub": sub, **attrs}).to_record()


def rec(
    kind: str, t: int, key: str | None, after: Any = None, sub: str | None = None, eid: str = "e"
) -> dict[str, Any]:
    return {
        "type": kind,
        "pool": "p",
        "key": key,
        "sub": sub,
        "observed_at": at(t),
        "event_id": eid,
        "seq": 0,
        "after": after,
    }


def base() -> PoolState:
    return PoolState.build(
        PoolConfig(user_pool={"Id": "p", "Name": "old"}),
        [Group("g1", created="2026-01-01T00:00:00Z"), Group("g2")],
        [User.from_record(user("alice", "s-a", email="a@x")), User.from_record(user("bob", "s-b"))],
        [Membership("g1", "alice"), Membership("g2", "bob")],
    )


CASES: list[tuple[str, list[dict[str, Any]], int | None, Any]] = [
    (
        "upsert replaces the image",
        [rec("user_upsert", 1, "alice", user("alice", "s-a", email="new@x"))],
        None,
        lambda s: s.users["alice"].attributes["email"] == "new@x" and Membership("g1", "alice") in s.memberships,
    ),
    (
        "latest observation wins",
        [
            rec("user_upsert", 2, "alice", user("alice", "s-a", email="2@x")),
            rec("user_upsert", 1, "alice", user("alice", "s-a", email="1@x")),
        ],
        None,
        lambda s: s.users["alice"].attributes["email"] == "2@x",
    ),
    (
        "until cuts later observations",
        [
            rec("user_upsert", 1, "alice", user("alice", "s-a", email="1@x")),
            rec("user_upsert", 5, "alice", user("alice", "s-a", email="5@x")),
        ],
        3,
        lambda s: s.users["alice"].attributes["email"] == "1@x",
    ),
    (
        "delete by sub only",
        [rec("user_delete", 1, None, sub="s-a")],
        None,
        lambda s: "alice" not in s.users and all(m.username != "alice" for m in s.memberships),
    ),
    ("delete by name", [rec("user_delete", 1, "bob")], None, lambda s: "bob" not in s.users),
    (
        "late delete of an older incarnation spares the recreated user",
        [rec("user_upsert", 1, "alice", user("alice", "s-new")), rec("user_delete", 2, "alice", sub="s-a")],
        None,
        lambda s: s.users["alice"].sub == "s-new",
    ),
    (
        "recreated user loses the old memberships",
        [rec("user_upsert", 1, "alice", user("alice", "s-new"))],
        None,
        lambda s: all(m.username != "alice" for m in s.memberships),
    ),
    (
        "user_groups replaces the set",
        [rec("user_groups", 1, "alice", {"groups": ["g2"]}, sub="s-a")],
        None,
        lambda s: {m.group for m in s.memberships if m.username == "alice"} == {"g2"},
    ),
    (
        "membership add/remove",
        [rec("membership_add", 1, "g2\u0000alice"), rec("membership_remove", 2, "g1\u0000alice")],
        None,
        lambda s: {m.group for m in s.memberships if m.username == "alice"} == {"g2"},
    ),
    (
        "group delete drops its memberships",
        [rec("group_delete", 1, "g1")],
        None,
        lambda s: "g1" not in s.groups and all(m.group != "g1" for m in s.memberships),
    ),
    (
        "membership to a group observed later appears once the group does",
        [
            rec("user_groups", 1, "alice", {"groups": ["g1", "g3"]}),
            rec("group_upsert", 2, "g3", Group("g3").to_record()),
        ],
        None,
        lambda s: Membership("g3", "alice") in s.memberships,
    ),
    (
        "membership to a never-seen group is not in the state",
        [rec("user_groups", 1, "alice", {"groups": ["g9"]})],
        None,
        lambda s: all(m.group != "g9" for m in s.memberships),
    ),
    (
        "recreated group (new creation date) loses its memberships",
        [rec("group_upsert", 1, "g1", Group("g1", created="2026-11-21T10:00:01Z").to_record())],
        None,
        lambda s: all(m.group != "g1" for m in s.memberships),
    ),
    (
        "config change",
        [rec("config_changed", 1, None, PoolConfig(user_pool={"Id": "p", "Name": "new"}).to_record())],
        None,
        lambda s: s.config.user_pool["Name"] == "new",
    ),
    (
        "new user then delete then recreate",
        [
            rec("user_upsert", 1, "carol", user("carol", "s-c1")),
            rec("user_delete", 2, "carol", sub="s-c1"),
            rec("user_upsert", 3, "carol", user("carol", "s-c2")),
        ],
        None,
        lambda s: s.users["carol"].sub == "s-c2",
    ),
]


@pytest.mark.parametrize(("label", "records", "until", "check"), CASES, ids=[c[0] for c in CASES])
def test_fold_table(label: str, records: list[dict[str, Any]], until: int | None, check: Any) -> None:
    limit = T0 + dt.timedelta(seconds=until) if until is not None else None
    assert check(fold(base(), records, limit))


def test_any_arrival_order_and_duplicates_give_the_same_state() -> None:
    records = [
        rec("user_upsert", 1, "carol", user("carol", "s-c")),
        rec("user_groups", 2, "carol", {"groups": ["g1"]}, sub="s-c"),
        rec("user_delete", 3, None, sub="s-b"),
        rec("group_delete", 4, "g2"),
        rec("user_upsert", 5, "carol", user("carol", "s-c", email="c@x")),
    ]
    expected = fold(base(), records)
    for perm in itertools.permutations(records + records[:2]):
        got = fold(base(), list(perm))
        assert (got.users, got.groups, got.memberships) == (expected.users, expected.groups, expected.memberships)


def test_fold_leaves_the_base_untouched() -> None:
    b = base()
    fold(b, [rec("user_delete", 1, "alice"), rec("group_delete", 2, "g1")])
    assert "alice" in b.users and "g1" in b.groups and Membership("g1", "alice") in b.memberships
