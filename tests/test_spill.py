"""The collections that move to disk (core/spill.py), and the planner on them: same answers as in memory."""

from __future__ import annotations

import random
import threading

import pytest

from cognito_backup.core import spill
from cognito_backup.core.diff import differences
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.core.spill import SpillList, SpillSet, UserTable
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User


def test_spill_list_keeps_order_and_indexing_past_the_memory_limit() -> None:
    items = SpillList(range(10), keep=3)
    assert items.on_disk
    items.append(10)
    assert list(items) == list(range(11)) and len(items) == 11
    assert items[0] == 0 and items[-1] == 10 and items[2:5] == [2, 3, 4]
    assert items == list(range(11))
    with pytest.raises(IndexError):
        items[11]


def test_spill_list_takes_appends_from_many_threads() -> None:
    items: SpillList[int] = SpillList(keep=10)
    threads = [threading.Thread(target=lambda b=b: items.extend(range(b, b + 100))) for b in range(0, 800, 100)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(items) == list(range(800))


def test_user_table_behaves_like_a_dict_on_disk() -> None:
    table: UserTable[int] = UserTable(keep=2)
    model: dict[str, int] = {}
    for key, value in [("b", 1), ("a", 2), ("c", 3), ("b", 4), ("d", 5)]:
        table.put(key, value)
        model[key] = value
    assert dict(table) == model and list(table) == list(model)  # insertion order, overwrite keeps place
    assert list(table.values()) == list(model.values()) and len(table) == 4
    assert "c" in table and "z" not in table and table.get("z") is None
    assert table == model


def test_spill_set_is_a_set() -> None:
    members = SpillSet([Membership("g", "a"), Membership("g", "b"), Membership("g", "a")], keep=1)
    assert len(members) == 2 and Membership("g", "b") in members and Membership("h", "a") not in members
    assert members == {Membership("g", "a"), Membership("g", "b")}


def _random_pool(rng: random.Random, n: int, groups: list[str]) -> PoolState:
    users = []
    for i in rng.sample(range(n * 2), n):
        users.append(
            User(
                username=f"u{i:03d}",
                attributes={"email": f"u{i}@x", "custom:tier": rng.choice(["a", "b"])},
                enabled=rng.random() > 0.2,
                status=rng.choice(["CONFIRMED", "UNCONFIRMED", "EXTERNAL_PROVIDER"]),
            )
        )
    members = [Membership(g, u.username) for u in users for g in groups if rng.random() < 0.3]
    config = PoolConfig(user_pool={"SchemaAttributes": [{"Name": "custom:tier", "AttributeDataType": "String"}]})
    return PoolState.build(config, [Group(g, precedence=rng.randint(0, 2)) for g in groups], users, members)


def _summary(desired: PoolState, actual: PoolState, opts: PlanOptions) -> tuple[object, ...]:
    p = plan(desired, actual, opts)
    return (list(p.ops), list(p.skipped), list(p.notes), list(p.drift), p.unchanged, differences(desired, actual))


@pytest.mark.parametrize("seed", range(6))
def test_planning_on_disk_gives_the_plan_planning_in_memory_gives(monkeypatch: pytest.MonkeyPatch, seed: int) -> None:
    rng = random.Random(seed)
    desired = _random_pool(rng, 40, ["g1", "g2", "g3"])
    actual = _random_pool(rng, 40, ["g2", "g3", "g4"])
    opts = PlanOptions(prune=seed % 2 == 0, only_users=frozenset({"u001", "u010"}) if seed == 5 else frozenset())
    in_memory = _summary(desired, actual, opts)
    monkeypatch.setattr(spill, "MEMORY_ITEMS", 3)
    # Rebuilt with the small limit: every collection, the states' and the plan's, is on disk now.
    desired = PoolState.build(desired.config, desired.groups.values(), desired.users.values(), desired.memberships)
    actual = PoolState.build(actual.config, actual.groups.values(), actual.users.values(), actual.memberships)
    assert isinstance(desired.users, UserTable) and repr(desired.users).startswith("UserTable")
    on_disk = _summary(desired, actual, opts)
    assert on_disk == in_memory
    ops = in_memory[0]
    assert isinstance(ops, list) and ops
    # Within a kind, users in identity-key order (Python's str order).
    for kind in ("create_user", "delete_user", "update_user_attributes"):
        keys = [op.user for op in ops if op.kind == kind]
        assert keys == sorted(keys)
