"""A stored plan's chunk summed up for the restore's report once it is carried out, and the parts joined
at the end. Pure.

A deployed restore (ops/stored_plan.py) stores, beside a finished chunk's outcomes, its `Part`: the
operations per kind, the entities per outcome, the report's rows for its operations (failures, deletions,
new and kept passwords) and its sub map rows. The last step joins the parts in chunk order: it reads no
operation and no snapshot data, so its time grows with the report's rows, not with the plan.

Counting each entity once (a user created then disabled is one created user) across parts: a plan runs
an entity's operations one after the other (core/plan.py: a user's operations are planned together, a
membership or a deletion is one operation), so an entity spans at most the end of one chunk and the
start of the next. Each part names its first and last entity with its rank there, and the join counts an
entity cut in two once, at the higher rank.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.core.config_plan import ConfigOp
from cognito_backup.core.plan import Op, lookup_attribute
from cognito_backup.core.spill import sort_key

# An entity counts once, as its highest-ranked outcome.
RANKS = ("updated", "deleted", "created", "failed")
PART_FORMAT = 1
_CREATES = ("create_user", "create_group", "add_membership")
_DELETES = ("delete_user", "delete_group", "remove_membership")

# (status, error, password reason): core/plan_chunks.py Outcome
Outcome = tuple[str, str | None, str | None]
Entity = tuple[str, str, int]  # kind, name, rank


def outcome_name(op: Op, ok: bool, existed: bool) -> str:
    """What an operation did to its entity: created / updated / deleted / failed (a create that found
    its item already there updated it)."""
    if not ok:
        return "failed"
    if op.kind in _CREATES or (isinstance(op, ConfigOp) and op.kind.startswith("create_")):
        return "updated" if existed else "created"
    if op.kind in _DELETES:
        return "deleted"
    return "updated"


def sub_map_row(
    old_sub: str | None, key: str, found_sub: str | None, found_username: str
) -> tuple[str, tuple[str, str, str]] | None:
    """A sub map row (old sub, new sub, username) with its sort key (by username, then identity key),
    or None when either sub is unknown."""
    if not old_sub or not found_sub:
        return None
    return sort_key(found_username, key), (old_sub, found_sub, found_username)


@dataclass
class Part:
    kinds: dict[str, int] = field(default_factory=dict)  # operations per kind
    entities: dict[str, dict[str, int]] = field(default_factory=dict)  # kind -> outcome -> entities
    head: Entity | None = None
    tail: Entity | None = None
    failures: list[tuple[Op, str, str | None]] = field(default_factory=list)  # op, status, error
    pruned: list[Op] = field(default_factory=list)  # deletions that succeeded
    new_passwords: list[dict[str, str]] = field(default_factory=list)
    kept_passwords: list[str] = field(default_factory=list)
    sub_rows: list[tuple[str, tuple[str, str, str]]] = field(default_factory=list)  # (sort key, row)
    # Creates with no answer (found already there, failed): (identity key, lookup attribute, old sub),
    # looked up at the end as a CLI restore does.
    unresolved: list[tuple[str, str, str | None]] = field(default_factory=list)


def chunk_part(
    ops: Sequence[Op],
    outcomes: Sequence[Outcome],
    *,
    ok: Callable[[str], bool],
    existed: str,
    kept: str,
    answered: Callable[[str], tuple[str, str] | None],
    username_attrs: tuple[str, ...],
) -> Part:
    """The part of one chunk: `ok(status)` says whether a status is a success, `existed` / `kept` are
    the statuses of a create that found its user and of a password left alone; `answered(key)` is the
    (new sub, username) a create of the restore got back, if any."""
    part = Part()
    ranks: dict[tuple[str, str], int] = {}
    first: tuple[str, str] | None = None
    last: tuple[str, str] | None = None
    for op, (status, error, reason) in zip(ops, outcomes, strict=True):
        part.kinds[op.kind] = part.kinds.get(op.kind, 0) + 1
        good = ok(status)
        kind, name = op.entity
        if kind != "schema":
            rank = RANKS.index(outcome_name(op, good, status == existed))
            ranks[(kind, name)] = max(rank, ranks.get((kind, name), rank))
            first, last = first or (kind, name), (kind, name)
        if not good:
            part.failures.append((op, status, error))
        elif op.kind in _DELETES:
            part.pruned.append(op)
        if op.kind == "set_password" and good and status != kept and reason is not None:
            key = op.user or ""
            part.new_passwords.append({"user": key, "username": op.username or key, "reason": reason})
        if op.kind == "create_user":
            if status == existed and reason is None:
                part.kept_passwords.append(op.username or op.user or "")
            key = op.user or ""
            answer = answered(key)
            if answer is None:
                part.unresolved.append((key, lookup_attribute(op, username_attrs), op.source_sub))
            elif (row := sub_map_row(op.source_sub, key, answer[0], answer[1])) is not None:
                part.sub_rows.append(row)
    counted: Counter[tuple[str, str]] = Counter((kind, RANKS[rank]) for (kind, _), rank in ranks.items())
    for (kind, outcome), n in counted.items():
        part.entities.setdefault(kind, {})[outcome] = n
    if first is not None and last is not None:
        part.head, part.tail = (*first, ranks[first]), (*last, ranks[last])
    return part


@dataclass
class Joined:
    """What the parts add up to (the rows are the caller's to stream: see `join_counts`)."""

    kinds: dict[str, int] = field(default_factory=dict)
    entities: dict[str, dict[str, int]] = field(default_factory=dict)
    tail: Entity | None = None

    def add(self, part: Part) -> None:
        """Add the next chunk's counts (parts are added in chunk order)."""
        for kind, n in part.kinds.items():
            self.kinds[kind] = self.kinds.get(kind, 0) + n
        for kind, by_outcome in part.entities.items():
            into = self.entities.setdefault(kind, {})
            for outcome, n in by_outcome.items():
                into[outcome] = into.get(outcome, 0) + n
        head, tail = part.head, part.tail
        if head is not None and self.tail is not None and head[:2] == self.tail[:2]:
            # The entity the last chunk ended with goes on here: counted once, at its higher rank.
            merged = max(head[2], self.tail[2])
            into = self.entities[head[0]]
            for rank in (head[2], self.tail[2]):
                into[RANKS[rank]] -= 1
            into[RANKS[merged]] = into.get(RANKS[merged], 0) + 1
            if tail is not None and tail[:2] == head[:2]:
                tail = (*tail[:2], merged)
        if tail is not None:
            self.tail = tail
        for by_outcome in self.entities.values():
            for outcome in [o for o, n in by_outcome.items() if n == 0]:
                del by_outcome[outcome]


def join_counts(parts: Iterable[Part]) -> Joined:
    joined = Joined()
    for part in parts:
        joined.add(part)
    return joined


# ---- JSON -------------------------------------------------------------------------------------------


def part_to_json(part: Part, op_json: Callable[[Op], dict[str, Any]]) -> dict[str, Any]:
    return {
        "format": PART_FORMAT,
        "kinds": part.kinds,
        "entities": part.entities,
        "head": list(part.head) if part.head else None,
        "tail": list(part.tail) if part.tail else None,
        "failures": [[op_json(op), status, error] for op, status, error in part.failures],
        "pruned": [op_json(op) for op in part.pruned],
        "new_passwords": part.new_passwords,
        "kept_passwords": part.kept_passwords,
        "sub_rows": [[k, *row] for k, row in part.sub_rows],
        "unresolved": [list(u) for u in part.unresolved],
    }


def part_from_json(body: Mapping[str, Any], op_of: Callable[[Mapping[str, Any]], Op]) -> Part:
    if body.get("format") != PART_FORMAT:
        raise ValueError(f"unknown report part format {body.get('format')!r}")

    def entity(value: Any) -> Entity | None:
        return (str(value[0]), str(value[1]), int(value[2])) if value else None

    return Part(
        kinds={str(k): int(v) for k, v in dict(body["kinds"]).items()},
        entities={str(k): {str(o): int(n) for o, n in dict(v).items()} for k, v in dict(body["entities"]).items()},
        head=entity(body.get("head")),
        tail=entity(body.get("tail")),
        failures=[(op_of(op), str(status), error) for op, status, error in body.get("failures", [])],
        pruned=[op_of(op) for op in body.get("pruned", [])],
        new_passwords=[{str(k): str(v) for k, v in dict(n).items()} for n in body.get("new_passwords", [])],
        kept_passwords=[str(n) for n in body.get("kept_passwords", [])],
        sub_rows=[(str(k), (str(a), str(b), str(c))) for k, a, b, c in body.get("sub_rows", [])],
        unresolved=[(str(k), str(a), s) for k, a, s in body.get("unresolved", [])],
    )
