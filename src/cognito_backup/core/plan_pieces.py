"""A deployed restore's plan made in pieces, across steps, when it does not fit one step. Pure.

Planning costs ~140 CPU s per million users (bench/bench_stored_plan.py), so one 15-minute step plans
about 5M users at most. A bigger restore into a target with no users (a new pool: the 10M case) is
planned a key range at a time: the desired users, in identity-key order, are cut into BLOCKs of
consecutive keys in the first step (`block_bounds`: the last key of each block); a piece is one or
more blocks (`next_piece`), planned by the same planner (core/plan.py `plan`) on that key range only
(PlanOptions `setup`: the schema and group operations belong to the first piece). The planning
position (`Pieces`) records the next block: a step killed while planning a piece plans it again from
there, and writes the same objects again (the planner is deterministic), never an operation twice.

The plan's run order is stored as chunks of CHUNK operations (core/plan_chunks.py) whatever the
pieces: a piece's last operations that do not fill a chunk (its `tail`) are stored apart and start the
next piece's first chunk, so the chunks a later step carries out are those of a plan made at once.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

FORMAT = 1
BLOCK = 100_000  # users per block: the unit a piece is made of, and of the memberships stored by user
# Planning CPU per user into an empty target, without loading the snapshot (1M users: 138 s, README).
SECONDS_PER_USER = 150e-6
# Of a step's time left once the snapshot is loaded, the share a piece may take: the rest covers the
# memberships and tail read, the chunks written and a slower machine than the bench's.
PIECE_SHARE = 0.6


@dataclass
class Pieces:
    """Where planning in pieces is: stored after each piece (ops/plan_pieces.py)."""

    bounds: list[str]  # the last identity key of each block, increasing
    users: int  # desired users, all blocks
    intent_at: str  # the resume state's intent time, taken before the first step read the target
    custom_attributes: list[str]  # the custom attributes the whole restore writes (the first step's pass)
    password_policy: dict[str, Any] = field(default_factory=dict)
    block: int = BLOCK  # users per block (the first step's choice)
    next: int = 0  # the next block to plan
    piece: int = 0  # the next piece's number
    chunks: int = 0  # chunk objects stored (each full)
    ops: int = 0  # operations in them
    tail: int = 0  # operations of the pieces so far not in a chunk yet (tail-<piece - 1>)

    @property
    def complete(self) -> bool:
        return self.next >= len(self.bounds)

    @property
    def blocks(self) -> int:
        return len(self.bounds)


class BlockCutter:
    """The last key of every `block` keys, fed one key at a time (beside the first step's other pass
    over the desired users); `ordered` turns False for good at the first key not after the one before."""

    def __init__(self, block: int = BLOCK) -> None:
        self.block = block
        self.bounds: list[str] = []
        self.count = 0
        self.ordered = True
        self._last: str | None = None

    def add(self, key: str) -> None:
        if not self.ordered:
            return
        if self._last is not None and key <= self._last:
            self.ordered = False
            return
        self.count += 1
        self._last = key
        if self.count % self.block == 0:
            self.bounds.append(key)

    def result(self) -> tuple[list[str], int] | None:
        """(bounds, keys) when every key came in order, else None (the plan is then made at once)."""
        if not self.ordered:
            return None
        if self._last is not None and (not self.bounds or self.bounds[-1] != self._last):
            return [*self.bounds, self._last], self.count
        return list(self.bounds), self.count


def block_bounds(keys: Iterable[str], block: int = BLOCK) -> tuple[list[str], int] | None:
    """The last key of every `block` keys and of all, and how many keys, when `keys` come strictly
    increasing (a sharded snapshot read in order: users sorted by username); None when they do not."""
    cutter = BlockCutter(block)
    for key in keys:
        cutter.add(key)
    return cutter.result()


def block_of(bounds: Sequence[str], key: str) -> int:
    """The block a key belongs to (keys after the last bound: the last block)."""
    return min(bisect.bisect_left(bounds, key), len(bounds) - 1)


def piece_users(seconds_left: float, seconds_per_user: float = SECONDS_PER_USER, share: float = PIECE_SHARE) -> int:
    """How many users a piece may plan in the time this step has left."""
    return max(0, int(seconds_left * share / seconds_per_user))


def next_piece(pieces: Pieces, users: int) -> tuple[int, int]:
    """The blocks [first, end) the next piece plans: as many as `users` allows, at least one."""
    first = pieces.next
    count = max(1, users // max(1, pieces.block))
    return first, min(pieces.blocks, first + count)


def key_range(bounds: Sequence[str], first: int, end: int) -> tuple[str | None, str | None]:
    """Blocks [first, end) as a key range (after, last]: after the previous block's last key; the
    final block's range is open (last None)."""
    return (bounds[first - 1] if first > 0 else None), (bounds[end - 1] if end < len(bounds) else None)


def pieces_to_json(p: Pieces) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "bounds": list(p.bounds),
        "users": p.users,
        "intent_at": p.intent_at,
        "custom_attributes": list(p.custom_attributes),
        "password_policy": dict(p.password_policy),
        "block": p.block,
        "next": p.next,
        "piece": p.piece,
        "chunks": p.chunks,
        "ops": p.ops,
        "tail": p.tail,
    }


def pieces_from_json(body: Mapping[str, Any]) -> Pieces:
    if body.get("format") != FORMAT:
        raise ValueError(f"unknown plan pieces format {body.get('format')!r}")
    return Pieces(
        bounds=[str(b) for b in body["bounds"]],
        users=int(body["users"]),
        intent_at=str(body["intent_at"]),
        custom_attributes=[str(a) for a in body.get("custom_attributes") or []],
        password_policy=dict(body.get("password_policy") or {}),
        block=int(body["block"]),
        next=int(body["next"]),
        piece=int(body["piece"]),
        chunks=int(body["chunks"]),
        ops=int(body["ops"]),
        tail=int(body["tail"]),
    )
