"""The pure planner, table by table: what it asks Cognito to do, and what it refuses to."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.diff import differences
from cognito_backup.core.plan import Op, PlanOptions, plan
from cognito_backup.errors import PlanRefused
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User

SCHEMA = [
    {"Name": "custom:tier", "AttributeDataType": "String", "Mutable": True},
    {"Name": "custom:score", "AttributeDataType": "Number", "Mutable": True},
    {"Name": "custom:tenant", "AttributeDataType": "String", "Mutable": False},
]


def config(schema: list[dict[str, Any]] | None = None, **pool: Any) -> PoolConfig:
    return PoolConfig(user_pool={"Id": "x", "SchemaAttributes": SCHEMA if schema is None else schema, **pool})


def user(name: str, enabled: bool = True, status: str = "CONFIRMED", **attrs: str) -> User:
    attrs.setdefault("sub", f"sub-{name}")
    return User(
        username=name, attributes={k.replace("__", ":"): v for k, v in attrs.items()}, enabled=enabled, status=status
    )


def state(
    users: list[User] = (), groups: list[Group] = (), members: list[tuple[str, str]] = (), cfg: PoolConfig | None = None
) -> PoolState:  # type: ignore[assignment]
    return PoolState.build(cfg or config(), groups, users, [Membership(g, u) for g, u in members])


def kinds(ops: list[Op]) -> list[tuple[str, str | None, str | None]]:
    return [(o.kind, o.user, o.group) for o in ops]


def test_missing_user_is_created_then_password_then_disabled_then_added_to_group() -> None:
    desired = state(
        [user("ann", enabled=False, email="a@x", custom__tenant="t1")],
        [Group("admins", precedence=1)],
        [("admins", "ann")],
    )
    result = plan(desired, state())
    assert kinds(result.ops) == [
        ("create_group", None, "admins"),
        ("create_user", "ann", None),
        ("set_password", "ann", None),
        ("disable_user", "ann", None),
        ("add_membership", "ann", "admins"),
    ]
    create = result.ops[1]
    assert dict(create.attributes) == {"email": "a@x", "custom:tenant": "t1"}  # sub never sent
    assert "custom:tenant" not in dict(create.fallback)  # immutable: creation only
    membership = result.ops[-1]
    assert set(membership.after) == {"create_user:ann:", "create_group::admins"}
    assert set(result.ops[3].after) == {"create_user:ann:", "set_password:ann:"}


def test_attributes_the_target_does_not_declare_are_not_sent() -> None:
    desired = state([user("bob", custom__tier="gold", cognito__mfa_enabled="true", identities="[]")])
    actual = state(cfg=config(schema=[{"Name": "custom:tier", "AttributeDataType": "String"}]))
    desired.config.user_pool["SchemaAttributes"] = [{"Name": "custom:tier", "AttributeDataType": "String"}]
    (create, _pw) = plan(desired, actual).ops
    assert dict(create.attributes) == {"custom:tier": "gold"}


@pytest.mark.parametrize(
    ("have", "want", "expected"),
    [
        ({"email": "a@x"}, {"email": "a@x"}, []),
        ({"email": "a@x", "email_verified": "false"}, {"email": "a@x"}, []),  # absent == false
        (
            {"email": "a@x"},
            {"email": "b@x", "email_verified": "true"},
            [("update_user_attributes", ("email", "email_verified"))],
        ),
        ({"email": "a@x", "custom:tier": "gold"}, {"email": "a@x"}, [("delete_user_attributes", ("custom:tier",))]),
        ({"custom:tier": "a"}, {"custom:tier": "b"}, [("update_user_attributes", ("custom:tier",))]),
        ({"custom:tenant": "a"}, {"custom:tenant": "b"}, []),  # immutable: drift, never updated
    ],
)
def test_update_sends_only_changed_mutable_attributes(
    have: dict[str, str], want: dict[str, str], expected: list[tuple[str, tuple[str, ...]]]
) -> None:
    result = plan(state([User("u", want)]), state([User("u", have)]))
    assert [(o.kind, o.names) for o in result.ops] == expected


def test_immutable_difference_is_named_as_drift_and_in_diff() -> None:
    desired, actual = state([User("u", {"custom:tenant": "a"})]), state([User("u", {"custom:tenant": "b"})])
    assert [n.name for n in plan(desired, actual).drift] == ["u"]
    assert [d.kind for d in differences(desired, actual)] == ["user"]


def test_changed_email_carries_its_verified_flag_so_cognito_sends_no_code() -> None:
    desired = state([User("u", {"email": "new@x", "email_verified": "true"})])
    actual = state([User("u", {"email": "old@x", "email_verified": "true"})])
    (op,) = plan(desired, actual).ops
    assert dict(op.attributes) == {"email": "new@x", "email_verified": "true"}


@pytest.mark.parametrize(("want", "have", "kind"), [(False, True, "disable_user"), (True, False, "enable_user")])
def test_enabled_state_follows_the_snapshot(want: bool, have: bool, kind: str) -> None:
    result = plan(state([User("u", {}, enabled=want)]), state([User("u", {}, enabled=have)]))
    assert kinds(result.ops) == [(kind, "u", None)]


@pytest.mark.parametrize(
    ("mode", "has_password_op"), [("random-permanent", True), ("temporary-file", True), ("none", False)]
)
def test_password_mode(mode: str, has_password_op: bool) -> None:
    result = plan(state([user("u")]), state(), PlanOptions(password_mode=mode))
    assert ("set_password" in [o.kind for o in result.ops]) is has_password_op


def test_existing_users_never_get_a_password_unless_this_restore_created_them() -> None:
    desired = state([user("u"), user("v")])
    actual = state([user("u"), user("v")])
    assert plan(desired, actual).empty
    resumed = plan(desired, actual, PlanOptions(owned_users=frozenset({"u", "v"}), passwords_done=frozenset({"v"})))
    assert kinds(resumed.ops) == [("set_password", "u", None)]


def test_unconfirmed_and_federated_users_are_named_never_dropped_silently() -> None:
    desired = state(
        [user("new", status="UNCONFIRMED"), user("Google_1", status="EXTERNAL_PROVIDER")],
        [Group("g")],
        [("g", "Google_1")],
    )
    result = plan(desired, state(groups=[Group("g")]))
    assert kinds(result.ops) == [("create_user", "new", None), ("set_password", "new", None)]
    assert [(n.kind, n.name) for n in result.skipped] == [("user", "Google_1"), ("membership", "g/Google_1")]
    assert "UNCONFIRMED" in result.notes[0].reason and result.notes[0].name == "new"


def test_missing_custom_attributes_are_added_first_or_refused() -> None:
    desired = state([user("u", custom__tier="gold")])
    bare = state(cfg=config(schema=[]))
    result = plan(desired, bare)
    assert result.ops[0].kind == "add_custom_attributes"
    assert {s["Name"] for s in result.ops[0].schema} == {"tier", "score", "tenant"}
    assert all(result.ops[0].id in o.after for o in result.ops[1:2])
    with pytest.raises(PlanRefused, match="custom:score, custom:tenant, custom:tier"):
        plan(desired, bare, PlanOptions(add_missing_attributes=False))


def test_undeclared_attribute_type_is_refused() -> None:
    desired = state([user("u", custom__mystery="1")], cfg=config(schema=[]))
    with pytest.raises(PlanRefused, match="custom:mystery"):
        plan(desired, state(cfg=config(schema=[])))


def test_sign_in_mismatch_is_refused() -> None:
    desired = state(cfg=config(UsernameAttributes=["email"]))
    with pytest.raises(PlanRefused, match="signs users in"):
        plan(desired, state())


def test_email_username_pools_match_users_by_email() -> None:
    cfg = config(UsernameAttributes=["email"])
    desired = state([User("old-uuid", {"email": "a@x", "sub": "old-uuid"})], [Group("g")], [("g", "old-uuid")], cfg=cfg)
    actual = state([User("new-uuid", {"email": "a@x", "sub": "new-uuid"})], [Group("g")], cfg=cfg)
    result = plan(desired, actual)
    assert [(o.kind, o.user, o.username) for o in result.ops] == [("add_membership", "a@x", "new-uuid")]
    fresh = plan(desired, state(groups=[Group("g")], cfg=cfg))
    assert fresh.ops[0].kind == "create_user" and fresh.ops[0].username == "a@x"


def test_groups_created_updated_and_role_arns_mapped() -> None:
    desired = state(groups=[Group("a", "A", 1, "arn:old"), Group("b", "B", 2)])
    actual = state(groups=[Group("b", "B", 5)])
    result = plan(desired, actual, PlanOptions(arn_map={"arn:old": "arn:new"}))
    assert kinds(result.ops) == [("create_group", None, "a"), ("update_group", None, "b")]
    assert result.ops[0].group_fields == {"Description": "A", "Precedence": 1, "RoleArn": "arn:new"}
    assert result.ops[1].names == ("Precedence",)


def test_prune_deletes_only_with_the_flag_and_never_twice() -> None:
    desired = state([user("keep")], [Group("g")], [("g", "keep")])
    actual = state(
        [user("keep"), user("gone")],
        [Group("g"), Group("old")],
        [("g", "keep"), ("g", "gone"), ("old", "keep")],
    )
    assert plan(desired, actual).empty
    pruned = plan(desired, actual, PlanOptions(prune=True))
    # The deleted user's and the deleted group's memberships go with them: no separate removal.
    assert kinds(pruned.ops) == [("delete_user", "gone", None), ("delete_group", None, "old")]


def test_only_user_touches_that_user_and_its_memberships() -> None:
    desired = state([user("a"), user("b")], [Group("g"), Group("h")], [("g", "a"), ("g", "b"), ("h", "a")])
    actual = state(groups=[Group("g")])
    result = plan(desired, actual, PlanOptions(only_users=frozenset({"a"})))
    assert kinds(result.ops) == [("create_user", "a", None), ("set_password", "a", None), ("add_membership", "a", "g")]
    assert [n.name for n in result.skipped] == ["h/a"]  # group h missing: named, not created


def test_only_group_restores_the_group_and_its_memberships() -> None:
    desired = state([user("a"), user("b")], [Group("g", "G"), Group("h")], [("g", "a"), ("g", "b"), ("h", "a")])
    actual = state([user("a")], [Group("h")])
    result = plan(desired, actual, PlanOptions(only_groups=frozenset({"g"})))
    assert kinds(result.ops) == [("create_group", None, "g"), ("add_membership", "a", "g")]
    assert [n.name for n in result.skipped] == ["g/b"]  # b is not in the target: named


def test_keep_sub_in_writes_the_old_sub_and_declares_the_attribute() -> None:
    desired = state([user("u")])
    result = plan(desired, state(), PlanOptions(keep_sub_in="custom:old_sub"))
    assert result.ops[0].kind == "add_custom_attributes"
    assert result.ops[0].schema[0]["Name"] == "old_sub"
    create = next(o for o in result.ops if o.kind == "create_user")
    assert dict(create.attributes)["custom:old_sub"] == "sub-u"


def test_equal_pools_give_an_empty_plan_and_no_differences() -> None:
    users = [user("a", email="a@x", custom__tier="g"), user("b", enabled=False)]
    desired = state(users, [Group("g", "d", 3)], [("g", "a")])
    actual = state(
        [User(u.username, dict(u.attributes, sub="other"), u.enabled, "FORCE_CHANGE_PASSWORD", "2020") for u in users],
        [Group("g", "d", 3, created="2021")],
        [("g", "a")],
    )
    assert plan(desired, actual, PlanOptions(prune=True)).empty
    assert differences(desired, actual) == []


def test_plan_json_never_carries_attribute_values() -> None:
    result = plan(state([user("u", email="secret@x")]), state())
    assert "secret@x" not in repr(result.to_json())
