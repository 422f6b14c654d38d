"""A deployed restore's plan made in pieces (ops/plan_pieces.py): stored chunk by chunk across steps,
it is the plan made at once (same operations, same run order, same notices and counts), a piece planned
again after a step was killed writes the same objects, and a refusal any piece would meet is found in
the first step, before a piece is stored. Local store; the planner runs for real."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.errors import PlanRefused
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User
from cognito_backup.ops import plan_pieces
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.plan_pieces import PieceBudget
from cognito_backup.ops.stored_plan import StoredPlan
from cognito_backup.store.local import LocalStore
from tests.test_restore_resume import Killed

SCHEMA = [{"Name": "custom:tier", "AttributeDataType": "String", "Mutable": True}]
RUN = "us-east-1_target@snap"


def _desired(n: int, *, stray: str | None = None) -> PoolState:
    users = [
        User(
            username=f"user{i:03d}",
            attributes={"sub": f"s{i}", "email": f"u{i}@example.com", "custom:tier": "gold"}
            | ({stray: "x"} if stray and i == n - 1 else {}),
            status="UNCONFIRMED" if i % 7 == 0 else "CONFIRMED",
            enabled=i % 5 != 0,
        )
        for i in range(n)
    ]
    members = [Membership("admins" if i % 2 else "staff", f"user{i:03d}") for i in range(0, n, 3)]
    members.append(Membership("staff", "zz-gone"))  # a member the snapshot has no user for: skipped
    groups = [Group("admins", precedence=1), Group("staff", description="Staff")]
    config = PoolConfig(user_pool={"Id": "src", "SchemaAttributes": SCHEMA})
    return PoolState.build(config, groups, users, members)


def _target() -> PoolState:
    # A new pool: no users, one group of its own, no custom attribute yet (the plan adds custom:tier).
    return PoolState(config=PoolConfig(user_pool={"Id": "tgt"}), groups={"old": Group("old")})


def _stored(store: LocalStore, name: str, chunk: int) -> StoredPlan:
    return StoredPlan(store, f"restores/deployed/{name}/plan/", chunk)


def _everything(stored: StoredPlan) -> tuple[list[Any], dict[str, Any]]:
    meta = stored.meta()
    ops = [op for index in range(meta.chunks) for op in stored.ops(index)]
    body = {
        "ops": meta.ops,
        "chunks": meta.chunks,
        "skipped": Counter(meta.skipped),
        "notes": Counter(meta.notes),
        "drift": Counter(meta.drift),
        "unchanged": meta.unchanged,
        "kept_in_target": meta.kept_in_target,
        "password_policy": meta.password_policy,
    }
    return ops, body


class _DiesBeforePosition:
    """Test double of the store for a step killed once its piece's objects are stored and before the
    planning position moved past it (the worst moment): armed, its next write of the position dies."""

    def __init__(self, inner: LocalStore) -> None:
        self.inner = inner
        self.armed = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.armed and key.endswith(plan_pieces.PIECES):
            self.armed = False
            raise Killed
        self.inner.put_bytes(key, data)


def _in_pieces(
    store: LocalStore, desired: PoolState, *, block: int, users: int, chunk: int, kill_at: int | None = None
) -> int:
    """Plan as the steps do, one piece a step; `kill_at`: that piece's step dies after storing its
    chunks, tail and intent (before the position), and the next step plans it again. Returns the steps
    that stored a piece."""
    dying = _DiesBeforePosition(store)
    stored = StoredPlan(dying, "restores/deployed/pieces/plan/", chunk)  # type: ignore[arg-type]
    budget = PieceBudget(users=lambda: users, block=block)
    pieces = plan_pieces.start(stored, desired, _target(), PlanOptions(), intent_at="t0", budget=budget)
    assert pieces is not None
    steps = 0
    while not pieces.complete:
        checkpoint = Checkpoint(store, RUN)
        state = checkpoint.load()
        pieces = plan_pieces.load(stored)
        assert pieces is not None
        before = pieces.next
        dying.armed = pieces.piece == kill_at
        if dying.armed:
            kill_at = None
            with pytest.raises(Killed):
                plan_pieces.plan_piece(stored, pieces, desired, PlanOptions(), checkpoint, state, users=users)
            pieces = plan_pieces.load(stored)
            assert pieces is not None and pieces.next == before  # the position still names the piece
            continue
        plan_pieces.plan_piece(stored, pieces, desired, PlanOptions(), checkpoint, state, users=users)
        assert pieces.next > before
        steps += 1
        checkpoint.close()
    assert kill_at is None  # the step asked to die did
    plan_pieces.finish(stored, pieces, RUN)
    return steps


@pytest.mark.parametrize(("block", "users", "chunk"), [(10, 10, 7), (10, 25, 16), (3, 3, 1000), (20, 20, 4)])
def test_a_plan_made_in_pieces_is_the_plan_made_at_once(tmp_path: Path, block: int, users: int, chunk: int) -> None:
    desired = _desired(41)
    store = LocalStore(tmp_path)
    whole = _stored(store, "whole", chunk)
    whole.write(plan(desired, _target()), run_key=RUN, resumed={}, password_policy={})
    steps = _in_pieces(store, desired, block=block, users=users, chunk=chunk)
    assert steps == -(-41 // max(block, users // block * block))  # no step planned it all (but one piece)
    pieces_ops, pieces_meta = _everything(_stored(store, "pieces", chunk))
    whole_ops, whole_meta = _everything(whole)
    assert pieces_ops == whole_ops  # same operations, same run order, same dependencies
    assert pieces_meta == whole_meta
    # Every chunk but the last is full: the stored plan is the one carry_out knows.
    assert [len(_stored(store, "pieces", chunk).ops(i)) for i in range(pieces_meta["chunks"] - 1)] == [chunk] * (
        pieces_meta["chunks"] - 1
    )
    # The users to create were recorded in the resume state, piece by piece, before any write.
    assert set(Checkpoint(store, RUN).load().intents) == {f"user{i:03d}" for i in range(41)}


def test_a_step_killed_while_planning_a_piece_plans_it_again_and_duplicates_nothing(tmp_path: Path) -> None:
    desired = _desired(41)
    store = LocalStore(tmp_path)
    whole = _stored(store, "whole", 6)
    whole.write(plan(desired, _target()), run_key=RUN, resumed={}, password_policy={})
    _in_pieces(store, desired, block=10, users=10, chunk=6, kill_at=2)
    assert _everything(_stored(store, "pieces", 6)) == _everything(whole)


def test_a_refusal_of_a_late_piece_is_found_in_the_first_step(tmp_path: Path) -> None:
    # The last user holds a custom attribute the snapshot does not declare: the target cannot take it.
    desired = _desired(41, stray="custom:undeclared")
    store = LocalStore(tmp_path)
    stored = _stored(store, "pieces", 10)
    budget = PieceBudget(users=lambda: 10, block=10)
    pieces = plan_pieces.start(stored, desired, _target(), PlanOptions(), intent_at="t0", budget=budget)
    assert pieces is not None and "custom:undeclared" in pieces.custom_attributes
    checkpoint = Checkpoint(store, RUN)
    with pytest.raises(PlanRefused, match="custom:undeclared"):
        plan_pieces.plan_piece(stored, pieces, desired, PlanOptions(), checkpoint, checkpoint.load(), users=10)
    assert not stored.has("ops-000000.json.gz") and len(Checkpoint(store, RUN).load().intents) == 0


def test_a_plan_that_fits_the_step_or_a_target_with_users_is_made_at_once(tmp_path: Path) -> None:
    desired = _desired(41)
    stored = _stored(LocalStore(tmp_path), "pieces", 10)
    fits = PieceBudget(users=lambda: 41, block=10)
    assert plan_pieces.start(stored, desired, _target(), PlanOptions(), intent_at="t", budget=fits) is None
    small = PieceBudget(users=lambda: 10, block=10)
    busy = PoolState(config=_target().config, users={"x": User(username="x", attributes={})})
    assert plan_pieces.start(stored, desired, busy, PlanOptions(), intent_at="t", budget=small) is None
    only = PlanOptions(only_users=frozenset({"user001"}))
    assert plan_pieces.start(stored, desired, _target(), only, intent_at="t", budget=small) is None
    one_block = PieceBudget(users=lambda: 1, block=100)  # one piece would be the whole plan anyway
    assert plan_pieces.start(stored, desired, _target(), PlanOptions(), intent_at="t", budget=one_block) is None
    assert not stored.has(plan_pieces.PIECES)
