"""A deployed restore's plan made in pieces across steps (core/plan_pieces.py says why and how).

Objects in the stored plan's folder (restores/deployed/<execution>/plan/, beside ops/stored_plan.py's),
written by the first step and the pieces, deleted with the plan:

    pieces.json.gz         the planning position (core/plan_pieces.py Pieces), rewritten after each piece
    target.json.gz         the target as the first step read it: its settings and groups (no users)
    members-NNNNNN.json.gz the desired memberships of block NNNNNN's users, [group, username] lines, in
                           user order (one pass over the snapshot's memberships in the first step: a piece
                           reads only its own blocks')
    tail-NNNNNN.json.gz    piece NNNNNN's last operations that did not fill a chunk (the next piece's
                           first chunk starts with them)
    piece-NNNNNN.json.gz   piece NNNNNN's notices and counts, for the report

Once the last piece is stored, meta.json.gz and position.json.gz are written as for a plan made at
once, and the steps carry it out as any stored plan (ops/stored_plan.py carry_out). Carrying out waits
for the last piece: the chunks' count is then known (the position and carry_out stay those of a plan
made at once), and a refusal can only come from the first piece, before any write. The wait is small
beside the writes: planning ~150 us per user, writing ~33 ms per user (AdminSetUserPassword's 30/s).
"""

from __future__ import annotations

import gzip
import itertools
import json
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, replace
from typing import Any

from cognito_backup.core.plan import (
    PlanOptions,
    identity_key,
    needed_custom_attributes,
    plan,
    username_attributes,
)
from cognito_backup.core.plan_chunks import chunked
from cognito_backup.core.plan_pieces import (
    BLOCK,
    BlockCutter,
    Pieces,
    block_of,
    key_range,
    next_piece,
    pieces_from_json,
    pieces_to_json,
)
from cognito_backup.core.spill import KeyedSpill, SpillSet, UserTable
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.model import Group, Membership, PoolConfig, PoolState, User
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState
from cognito_backup.ops.stored_plan import StoredMeta, StoredPlan, notice_from_json, notice_json

PIECES = "pieces.json.gz"
TARGET = "target.json.gz"


@dataclass(frozen=True)
class PieceBudget:
    """How a step sizes the pieces it plans (serverless/restore.py)."""

    users: Callable[[], int]  # users the next piece may plan, asked once the snapshot is loaded
    block: int = BLOCK  # users per block, fixed by the first step


def _members_name(block: int) -> str:
    return f"members-{block:06d}.json.gz"


def _lines(rows: Iterable[Any]) -> bytes:
    text = "\n".join(json.dumps(row, separators=(",", ":"), ensure_ascii=False) for row in rows)
    return gzip.compress(text.encode("utf-8"), 6)


def load(carry: StoredPlan) -> Pieces | None:
    """The planning position, or None when this plan is not being made in pieces."""
    if not carry.has(PIECES):
        return None
    try:
        return pieces_from_json(carry.get_json(PIECES))
    except (KeyError, TypeError, ValueError) as exc:
        raise RepositoryDamaged(f"The plan pieces record {carry.prefix}{PIECES} is damaged ({exc})") from None


def start(
    carry: StoredPlan,
    desired: PoolState,
    actual: PoolState,
    plan_opts: PlanOptions,
    *,
    intent_at: str,
    budget: PieceBudget,
) -> Pieces | None:
    """The first step: whether the plan is made in pieces, and if so the blocks, the memberships by
    block and the target's settings and groups stored. None (plan at once, as before) when the target
    has users (a piece plans against the target's users of its range: not done yet), the restore is
    selective, users sign in with an email or phone number (their identity key is not the username the
    snapshot is sorted by), the snapshot's users are not sorted, they make one block, or the plan fits
    this step.

    One pass over the desired users (no sqlite) finds the blocks and every custom attribute the
    restore writes, so that the first piece refuses (PlanRefused) what any piece would, before any write."""
    if actual.users or plan_opts.selective or username_attributes(desired.config):
        return None
    cutter = BlockCutter(budget.block)
    attrs = username_attributes(desired.config)

    def users() -> Iterator[User]:
        for user in desired.users.values():
            cutter.add(identity_key(user, attrs))
            yield user

    needed = needed_custom_attributes(desired, users(), plan_opts)
    found = cutter.result()
    if found is None or len(found[0]) < 2 or found[1] <= budget.users():
        return None  # (one block: its one piece would be the plan made at once)
    bounds, count = found
    _store_memberships(carry, desired.memberships, bounds)
    carry.put_json(
        TARGET,
        {"config": actual.config.to_record(), "groups": [g.to_record() for g in actual.groups.values()]},
    )
    policy = (actual.config.user_pool.get("Policies") or {}).get("PasswordPolicy") or {}
    pieces = Pieces(
        bounds=bounds,
        users=count,
        block=budget.block,
        intent_at=intent_at,
        custom_attributes=sorted(needed),
        password_policy=dict(policy),
    )
    carry.put_json(PIECES, pieces_to_json(pieces))
    return pieces


def _store_memberships(carry: StoredPlan, memberships: Iterable[Membership], bounds: list[str]) -> None:
    """The desired memberships re-keyed by user (the username: the identity key here), one object per
    block, each in user order. Through a keyed spill: flat in memory whatever their number."""
    by_user: KeyedSpill[tuple[str, str]] = KeyedSpill()
    for m in memberships:
        by_user.add(m.username, (m.group, m.username))
    rows = iter(by_user.in_key_order())
    held = next(rows, None)
    for block in range(len(bounds)):
        out: list[tuple[str, str]] = []
        while held is not None and block_of(bounds, held[0]) == block:
            out.append(held[1])
            held = next(rows, None)
        carry.store.put_bytes(carry.prefix + _members_name(block), _lines(out))


def _memberships(carry: StoredPlan, first: int, end: int) -> Iterator[Membership]:
    for block in range(first, end):
        key = carry.prefix + _members_name(block)
        try:
            text = gzip.decompress(carry.store.get_bytes(key)).decode("utf-8")
            rows = [json.loads(line) for line in text.splitlines() if line]
        except (OSError, EOFError, ValueError) as exc:
            raise RepositoryDamaged(f"The stored plan object {key} cannot be read ({type(exc).__name__})") from None
        yield from (Membership(str(g), str(u)) for g, u in rows)


def _target(carry: StoredPlan) -> PoolState:
    body = carry.get_json(TARGET)
    groups = [Group.from_record(g) for g in body.get("groups") or []]
    return PoolState(config=PoolConfig.from_record(body["config"]), groups={g.name: g for g in groups})


def _users_between(users: Mapping[str, User], after: str | None, last: str | None) -> Iterator[User]:
    """The desired users of keys in (after, last]: a range of the table's key index (keys are usernames)."""
    if isinstance(users, UserTable):
        yield from users.values_by_key(after, last)
        return
    for key in sorted(users):
        if (after is None or key > after) and (last is None or key <= last):
            yield users[key]


def plan_piece(
    carry: StoredPlan,
    pieces: Pieces,
    desired: PoolState,
    plan_opts: PlanOptions,
    checkpoint: Checkpoint,
    state: CheckpointState,
    *,
    users: int,
) -> None:
    """Plan the next piece (the planner on its key range), store its operations (full chunks, the rest
    as its tail), record its users to create in the resume state, then the position past it. A step
    killed before the last of these plans the piece again and writes the same objects."""
    first, end = next_piece(pieces, users)
    after, last = key_range(pieces.bounds, first, end)
    number = pieces.piece
    want = PoolState(
        config=desired.config,
        groups=desired.groups,
        users=UserTable((u.username, u) for u in _users_between(desired.users, after, last)),
        memberships=SpillSet(_memberships(carry, first, end)),
    )
    opts = replace(plan_opts, setup=first == 0, custom_attributes=frozenset(pieces.custom_attributes))
    made = plan(want, _target(carry), opts)  # PlanRefused from the first piece: nothing stored to write
    if first == 0:
        checkpoint.compact(state)  # as a plan made at once: only once the plan is not refused
    tail = carry.read_ops(f"tail-{number - 1:06d}.json.gz") if pieces.tail else []
    final = end >= pieces.blocks
    index, count, rest = pieces.chunks, pieces.ops, []
    for ops in chunked(itertools.chain(tail, made.run_order()), carry.chunk):
        if len(ops) < carry.chunk and not final:
            rest = ops  # the next piece's first chunk starts with these
            break
        carry.write_chunk(index, ops)
        index, count = index + 1, count + len(ops)
    carry.write_ops(f"tail-{number:06d}.json.gz", rest)
    checkpoint.record_intent(pieces.intent_at, (op.user or "" for op in made.of_kind("create_user")))
    carry.put_json(
        f"piece-{number:06d}.json.gz",
        {
            "skipped": [notice_json(n) for n in made.skipped],
            "notes": [notice_json(n) for n in made.notes],
            "drift": [notice_json(n) for n in made.drift],
            "unchanged": dict(made.unchanged),
            "kept_in_target": dict(made.kept_in_target),
        },
    )
    pieces.next, pieces.piece, pieces.chunks, pieces.ops, pieces.tail = end, number + 1, index, count, len(rest)
    carry.put_json(PIECES, pieces_to_json(pieces))


def finish(carry: StoredPlan, pieces: Pieces, run_key: str) -> StoredMeta:
    """Every piece stored: the plan's meta (the pieces' notices and counts added up) and its position,
    as StoredPlan.write stores a plan made at once. Its presence says the plan is whole."""
    meta = StoredMeta(
        run_key=run_key,
        ops=pieces.ops,
        chunk=carry.chunk,
        unchanged={"users": 0, "groups": 0, "memberships": 0},
        kept_in_target={"users": 0, "groups": 0, "memberships": 0},
        password_policy=dict(pieces.password_policy),
    )
    for number in range(pieces.piece):
        body = carry.get_json(f"piece-{number:06d}.json.gz")
        meta.skipped.extend(notice_from_json(n) for n in body.get("skipped", []))
        meta.notes.extend(notice_from_json(n) for n in body.get("notes", []))
        meta.drift.extend(notice_from_json(n) for n in body.get("drift", []))
        for into, key in ((meta.unchanged, "unchanged"), (meta.kept_in_target, "kept_in_target")):
            for name, value in dict(body.get(key) or {}).items():
                into[str(name)] = into.get(str(name), 0) + int(value)
    carry.write_meta(meta)
    return meta
