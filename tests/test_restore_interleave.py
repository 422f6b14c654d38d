"""A big restore writes memberships while users are still being created (issue #10, docs/design.md
"The scheduler"): each created user's memberships come right after its own operations in the run order,
so the membership category starts at once instead of when the last window of user operations is in
flight. The dry run's listing (OP_ORDER) does not change."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

from cognito_backup.core.plan import OP_ORDER, Op, OpList, PlanOptions, plan
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User
from cognito_backup.ops.restore import RestoreOptions, RestoreRequest, run_restore
from tests.helpers import add_user, make_pool
from tests.restore_support import backup, content, quiet_pacer, read_state

USERS = 50
WINDOW = 10  # the scheduler's window scaled down with the pool (10,000 in a real restore)


def _pool_with_everyone_in_a_group(client: Any) -> str:
    pool = make_pool(client)
    for g in ("even", "odd"):
        client.create_group(UserPoolId=pool, GroupName=g)
    for i in range(USERS):
        name = f"user-{i:03d}"
        add_user(client, pool, name, {"email": f"{name}@example.com", "email_verified": "true"})
        client.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=("even", "odd")[i % 2])
    return pool


def test_memberships_are_written_while_users_are_still_being_created(cognito: Any, tmp_path: Path) -> None:
    source = _pool_with_everyone_in_a_group(cognito)
    repo = backup(cognito, source, tmp_path / "repo")
    calls: list[tuple[str, str]] = []
    lock = threading.Lock()

    def seen(event_name: str, params: dict[str, Any], **_: Any) -> None:
        # Observed in botocore as each call is made (its API parameters): the order the workers issued them.
        with lock:
            calls.append((event_name.rsplit(".", 1)[-1], str(params.get("Username", ""))))

    for call in ("AdminCreateUser", "AdminAddUserToGroup"):
        cognito.meta.events.register(f"before-parameter-build.cognito-idp.{call}", seen)
    request = RestoreRequest(
        new_pool_name="copy", report_dir=tmp_path / "reports", options=RestoreOptions(window=WINDOW)
    )
    outcome = run_restore(cognito, quiet_pacer(), repo, request)

    assert outcome.summary.counts()["failed"] == 0
    creates = [i for i, (call, _) in enumerate(calls) if call == "AdminCreateUser"]
    adds = [i for i, (call, _) in enumerate(calls) if call == "AdminAddUserToGroup"]
    assert len(creates) == USERS and len(adds) == USERS
    assert adds[0] < creates[-1], "the first membership write waited for the last user's create"
    # Not just the first: most memberships are written before the last create starts (the planner's
    # old order let at most a window of them through before it).
    assert sum(1 for i in adds if i < creates[-1]) >= USERS - 2 * WINDOW
    # Each membership after its own user's create.
    created_at = {username: i for i, (call, username) in enumerate(calls) if call == "AdminCreateUser"}
    assert all(created_at[username] < i for i, (call, username) in enumerate(calls) if call == "AdminAddUserToGroup")
    assert content(read_state(cognito, outcome.summary.user_pool_id or "")) == content(read_state(cognito, source))


def _state(users: list[str], memberships: list[tuple[str, str]], groups: tuple[str, ...] = ("a", "b")) -> PoolState:
    return PoolState.build(
        PoolConfig(),
        [Group(g) for g in groups],
        [User(u, {}, enabled=not u.startswith("off")) for u in users],
        [Membership(g, u) for g, u in memberships],
    )


def _mixed_plan() -> Any:
    """Created users (one disabled), an existing user gaining a group, a group to create, and pruning."""
    desired = _state(
        ["ann", "bob", "kim", "off-zed", "old"],
        [("a", "ann"), ("b", "ann"), ("a", "bob"), ("b", "kim"), ("a", "off-zed"), ("a", "old"), ("c", "kim")],
        groups=("a", "b", "c"),
    )
    actual = _state(["old", "gone"], [("b", "old"), ("a", "gone")])
    return plan(desired, actual, PlanOptions(prune=True))


def test_each_created_users_memberships_follow_its_own_operations() -> None:
    the_plan = _mixed_plan()
    run = list(the_plan.run_order())
    order = [op.id for op in run]
    assert sorted(order) == sorted(op.id for op in the_plan.ops) and len(the_plan.run_order()) == len(run)
    for user in ("ann", "bob", "kim", "off-zed"):
        mine = [i for i, op in enumerate(run) if op.user == user]
        assert mine == list(range(mine[0], mine[-1] + 1)), f"{user}'s operations are not together: {order}"
        assert run[mine[-1]].kind == "add_membership"
    seen: set[str] = set()
    for op in run:
        assert set(op.after) <= seen, f"{op.id} before what it depends on: {order}"
        seen.add(op.id)
    # Pruning still comes after every write that adds.
    first_prune = min(i for i, op in enumerate(run) if op.kind.startswith(("delete", "remove")))
    assert all(op.kind != "add_membership" for op in run[first_prune:])


def test_the_listing_is_unchanged_by_kind_then_as_planned() -> None:
    """What the dry run prints and `--json` lists: by kind (OP_ORDER), memberships by group then user."""
    the_plan = _mixed_plan()
    listed = [op.id for op in the_plan.ops]
    kinds = [op.kind for op in the_plan.ops]
    assert kinds == sorted(kinds, key=OP_ORDER.__getitem__)
    adds = [(op.group, op.user) for op in the_plan.ops if op.kind == "add_membership"]
    assert (
        adds
        == sorted(adds)
        == [("a", "ann"), ("a", "bob"), ("a", "off-zed"), ("a", "old"), ("b", "ann"), ("b", "kim"), ("c", "kim")]
    )
    assert [d["op"] for d in the_plan.to_json()["ops"]] == kinds
    assert listed == [op.id for op in the_plan.ops]  # a second reading gives the same


def _ops_of(n: int) -> list[Op]:
    """A plan-shaped stream: a group, then per user create + password, a membership of each in that group."""
    group = Op("create_group", group="g")
    ops = [group]
    for i in range(n):
        create = Op("create_user", user=f"u{i:05d}", username=f"u{i:05d}", after=())
        ops += [create, Op("set_password", user=create.user, username=create.user, after=(create.id,))]
    ops += [
        Op(
            "add_membership",
            user=f"u{i:05d}",
            username=f"u{i:05d}",
            group="g",
            after=(f"create_user:u{i:05d}:", group.id),
        )
        for i in range(n)
    ]
    return ops


def test_a_plan_on_disk_interleaves_the_same_way() -> None:
    n = 6_000  # past the 5,000 items a list keeps in memory
    ops = OpList(_ops_of(n))
    order = [op.id for op in ops.in_plan_order()]
    assert order[:5] == [
        "create_group::g",
        "create_user:u00000:",
        "set_password:u00000:",
        "add_membership:u00000:g",
        "create_user:u00001:",
    ]
    assert len(order) == 1 + 3 * n
    assert [op.kind for op in ops][-1] == "add_membership"  # the listing: by kind


def test_ops_given_out_of_key_order_keep_memberships_after_every_user() -> None:
    """An OpList built by hand (not by the planner) with users out of key order: interleaving by key
    could put a membership before its user, so the memberships wait for all users instead."""
    group = Op("create_group", group="g")
    late = Op("create_user", user="b", username="b")
    early = Op("create_user", user="z", username="z")
    member = Op("add_membership", user="b", username="b", group="g", after=(late.id, group.id))
    ops = OpList([group, early])
    run = ops.in_plan_order()  # a view: what is appended later counts
    ops.extend([late, member])
    assert [op.id for op in run] == [group.id, early.id, late.id, member.id]
    assert run[::-1] == [member, late, early, group] and run[-1] == member


def test_keyed_spill_reads_by_key_then_as_added_in_memory_and_on_disk() -> None:
    from cognito_backup.core.spill import KeyedSpill

    entries = [("b", 1), ("a", 2), ("b", 3), ("é", 4), ("a", 5), ("Z", 6)]
    for keep in (100, 2):  # in memory; on disk past two items
        spill: KeyedSpill[int] = KeyedSpill(keep=keep)
        for key, item in entries:
            spill.add(key, item)
        assert len(spill) == len(entries)
        # Python's str order (sqlite's BINARY on UTF-8 agrees), stable within a key.
        assert list(spill.in_key_order()) == sorted(entries, key=lambda e: e[0])
