"""Honest outcomes, decided by the pure planner (issue 8, points 5 and 6): which users come back with
another status, which cannot use forgot-password, which items the target cannot take, which `--only`
names the snapshot lacks, and which custom attribute conflicts refuse the plan."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.plan import PlanOptions, missing_selection, plan
from cognito_backup.errors import PlanRefused
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User

SCHEMA = [
    {"Name": "custom:tier", "AttributeDataType": "String", "Mutable": True},
    {"Name": "custom:score", "AttributeDataType": "Number", "Mutable": True},
    {"Name": "custom:tenant", "AttributeDataType": "String", "Mutable": False},
]
VERIFIED = {"email": "a@example.com", "email_verified": "true"}


def config(schema: list[dict[str, Any]] | None = None, **pool: Any) -> PoolConfig:
    return PoolConfig(user_pool={"Id": "x", "SchemaAttributes": SCHEMA if schema is None else schema, **pool})


def state(
    users: list[User] | None = None,
    groups: list[Group] | None = None,
    members: list[tuple[str, str]] | None = None,
    cfg: PoolConfig | None = None,
) -> PoolState:
    return PoolState.build(cfg or config(), groups or [], users or [], [Membership(g, u) for g, u in members or []])


def user(name: str, status: str = "CONFIRMED", **attrs: str) -> User:
    return User(username=name, attributes={"sub": f"sub-{name}", **attrs}, status=status)


def notes_for(result: Any, name: str) -> list[str]:
    return [n.reason for n in result.notes if n.name == name]


@pytest.mark.parametrize(
    ("was", "mode", "via", "becomes"),
    [
        ("CONFIRMED", "random-permanent", "admin", None),
        ("FORCE_CHANGE_PASSWORD", "random-permanent", "admin", "CONFIRMED"),
        ("UNCONFIRMED", "random-permanent", "admin", "CONFIRMED"),
        ("RESET_REQUIRED", "random-permanent", "admin", "CONFIRMED"),
        ("CONFIRMED", "temporary-file", "admin", "FORCE_CHANGE_PASSWORD"),
        ("FORCE_CHANGE_PASSWORD", "temporary-file", "admin", None),
        ("UNCONFIRMED", "none", "admin", "FORCE_CHANGE_PASSWORD"),
        ("CONFIRMED", "none", "admin", "FORCE_CHANGE_PASSWORD"),
        ("CONFIRMED", "random-permanent", "import-job", "RESET_REQUIRED"),
        ("RESET_REQUIRED", "temporary-file", "import-job", None),
    ],
)
def test_every_created_user_whose_status_changes_is_named(was: str, mode: str, via: str, becomes: str | None) -> None:
    result = plan(state([user("u", status=was, **VERIFIED)]), state(), PlanOptions(password_mode=mode, users_via=via))
    status_notes = [r for r in notes_for(result, "u") if "comes back" in r]
    if becomes is None:
        assert status_notes == []
    else:
        assert len(status_notes) == 1
        assert f"was {was}" in status_notes[0] and f"comes back {becomes}" in status_notes[0]


def test_existing_users_keep_their_status_and_get_no_status_note() -> None:
    desired = state([user("u", status="FORCE_CHANGE_PASSWORD", **VERIFIED)])
    result = plan(desired, state([user("u", **VERIFIED)]))
    assert result.notes == []


@pytest.mark.parametrize(
    ("attrs", "recovery", "mode", "named"),
    [
        (VERIFIED, None, "random-permanent", False),
        ({"email": "a@example.com"}, None, "random-permanent", True),  # unverified email
        ({}, None, "random-permanent", True),
        ({"phone_number": "+15550100", "phone_number_verified": "true"}, None, "random-permanent", False),
        (
            {"phone_number": "+15550100", "phone_number_verified": "true"},
            [{"Name": "verified_email", "Priority": 1}],
            "random-permanent",
            True,  # the pool recovers by email only
        ),
        (VERIFIED, [{"Name": "admin_only", "Priority": 1}], "random-permanent", True),
        ({}, None, "temporary-file", False),  # the administrator hands out the temporary password
        ({}, None, "none", False),  # named by its status note: FORCE_CHANGE_PASSWORD
    ],
)
def test_users_who_cannot_use_forgot_password_are_named_with_what_to_do(
    attrs: dict[str, str], recovery: list[dict[str, Any]] | None, mode: str, named: bool
) -> None:
    extra = {"AccountRecoverySetting": {"RecoveryMechanisms": recovery}} if recovery else {}
    target = state(cfg=config(**extra))
    result = plan(state([user("u", **attrs)], cfg=config(**extra)), target, PlanOptions(password_mode=mode))
    forgot = [r for r in notes_for(result, "u") if "forgot-password" in r]
    assert bool(forgot) is named
    if named:
        assert "AdminSetUserPassword" in forgot[0]  # says what an administrator must do


def test_items_the_target_cannot_take_are_unrestorable_but_selection_skips_are_not() -> None:
    required = [*SCHEMA, {"Name": "given_name", "Required": True, "Mutable": True}]
    desired = state(
        [user("fed", status="EXTERNAL_PROVIDER"), user("plain", **VERIFIED), user("other", **VERIFIED)],
        [Group("g"), Group("h")],
        [("g", "fed"), ("h", "plain")],
    )
    target = state(cfg=config(schema=required))
    result = plan(desired, target)
    assert sorted((n.kind, n.name) for n in result.unrestorable) == [
        ("membership", "g/fed"),
        ("membership", "h/plain"),
        ("user", "fed"),
        ("user", "other"),
        ("user", "plain"),
    ]
    # --only user:plain in a target that requires nothing: the membership of a group not selected is a
    # choice (named in skipped), not something the target cannot take.
    chosen = plan(desired, state(), PlanOptions(only_users=frozenset({"plain"})))
    assert [(n.kind, n.name) for n in chosen.skipped] == [("membership", "h/plain")]
    assert chosen.unrestorable == []


def test_only_names_the_snapshot_lacks_are_listed() -> None:
    desired = state([user("ann", **VERIFIED)], [Group("admins")])
    opts = PlanOptions(only_users=frozenset({"ann", "ghost"}), only_groups=frozenset({"admins", "nope"}))
    assert missing_selection(desired, opts) == ["group:nope", "user:ghost"]
    assert missing_selection(desired, PlanOptions()) == []
    email_pool = config(UsernameAttributes=["email"])
    by_email = state([user("0f1e-uuid", **VERIFIED)], cfg=email_pool)
    assert missing_selection(by_email, PlanOptions(only_users=frozenset({"a@example.com"}))) == []
    assert missing_selection(by_email, PlanOptions(only_users=frozenset({"0f1e-uuid"}))) == []


def test_custom_attribute_type_or_mutability_conflicts_refuse_the_plan_naming_each() -> None:
    desired = state([user("u", **{"custom:score": "3", "custom:tier": "gold"})])
    target_schema = [
        {"Name": "custom:tier", "AttributeDataType": "String", "Mutable": False},  # snapshot: mutable
        {"Name": "custom:score", "AttributeDataType": "String", "Mutable": True},  # snapshot: Number
        {"Name": "custom:tenant", "AttributeDataType": "String", "Mutable": True},  # snapshot: immutable, fine
    ]
    with pytest.raises(PlanRefused) as refused:
        plan(desired, state(cfg=config(schema=target_schema)))
    message = refused.value.message
    assert "custom:score" in message and "Number" in message and "String" in message
    assert "custom:tier" in message and "immutable" in message
    assert "custom:tenant" not in message
    assert "Nothing was written" in message


def test_no_conflict_no_refusal() -> None:
    desired = state([user("u", **{"custom:score": "3"})])
    assert plan(desired, state()).ops[0].kind == "create_user"
