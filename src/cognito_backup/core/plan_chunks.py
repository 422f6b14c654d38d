"""A stored plan's chunks and position: what a deployed restore's next step runs. Pure.

A deployed restore (serverless/restore.py) plans once, in its first step, and stores the plan's run order
in chunks of CHUNK operations (ops/stored_plan.py writes them). Each later step continues from the
position, a small record:

- `done`: chunks 0 .. done-1 are entirely carried out (their results are stored beside them);
- `started`: chunks 0 .. started-1 may hold operations a step sent and died before recording (stored
  before the first operation of a chunk starts; set back to `done` when a step stops cleanly, every
  operation it sent finished and recorded). An operation of a later chunk was never sent: a create_user
  that finds its user means someone else made it, as in a CLI restore. One of those chunks' unrecorded
  operations may have been sent: its create or password is judged from the user's state, as a CLI
  re-run judges from its read of the target;
- `finished`: per chunk at or past `done`, the operations finished so far, with their outcome;
- `failed`: ids of operations that failed or were blocked (what depends on them is blocked, not run).

What a step killed by the Lambda timeout had in flight is not in the position: those operations run
again. The restore's resume state (ops/checkpoint.py) makes that safe for the two that must not be
repeated blindly: a create_user or set_password it recorded is `settled` here, not sent again.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Iterator, Mapping, Set
from dataclasses import dataclass, field
from typing import Any, TypeVar

from cognito_backup.core.plan import Op

T = TypeVar("T")

CHUNK = 10_000  # operations per stored chunk (the scheduler's window: about one chunk in flight)
FORMAT = 1
DONE = "done"  # aws/writer.py DONE: the status of a settled create or password
EXISTED = "existed"  # aws/writer.py EXISTED
KEPT = "kept"  # set_password skipped: the user's create found it already there, its password is not ours

# One operation's outcome: status, error (failed / blocked), and why its user's password is (re)set when
# an earlier run created the user (the report's new_passwords), if so.
Outcome = tuple[str, str | None, str | None]


@dataclass
class Position:
    chunks: int
    done: int = 0
    started: int = 0
    finished: dict[int, dict[int, Outcome]] = field(default_factory=dict)
    failed: list[str] = field(default_factory=list)

    @property
    def complete(self) -> bool:
        return self.done >= self.chunks


def chunk_size(index: int, ops: int, chunk: int = CHUNK) -> int:
    """How many operations chunk `index` of a plan of `ops` operations holds."""
    return max(0, min(chunk, ops - index * chunk))


def chunk_count(ops: int, chunk: int = CHUNK) -> int:
    return -(-ops // chunk)


def to_run(position: Position, index: int, size: int) -> list[int]:
    """The operations of chunk `index` still to carry out, in order."""
    if index < position.done:
        return []
    finished = position.finished.get(index, {})
    return [i for i in range(size) if i not in finished]


def settled(op: Op, created: Set[str], existed: Set[str], passwords_done: Mapping[str, str]) -> str | None:
    """The outcome the resume state already records for an operation that must not be sent twice (None:
    carry it out). Only a create and a password: every other write sets what it sets again, unharmed."""
    key = op.user or ""
    if op.kind == "create_user":
        if key in created:
            return DONE
        if key in existed:
            return EXISTED
    elif op.kind == "set_password":
        if key in passwords_done:
            return DONE
        if key in existed:
            return KEPT
    return None


def advance(position: Position, ops: int, chunk: int = CHUNK) -> list[int]:
    """Move `done` past the chunks now entirely finished; returns them (their outcomes are to be stored
    and dropped from the position, in that order)."""
    moved = []
    while position.done < position.chunks:
        index = position.done
        if len(position.finished.get(index, {})) < chunk_size(index, ops, chunk):
            break
        moved.append(index)
        position.done += 1
    return moved


def outcomes_in_order(finished: Mapping[int, Outcome], size: int) -> list[Outcome]:
    return [finished[i] for i in range(size)]


# ---- JSON -------------------------------------------------------------------------------------------


def _runs(finished: Mapping[int, Outcome]) -> list[list[Any]]:
    """[first index, count, status, error, reason] per run of consecutive operations of one outcome: a
    chunk's few thousand finished operations are a handful of runs (most are "done")."""
    out: list[list[Any]] = []
    for index in sorted(finished):
        outcome = finished[index]
        last = out[-1] if out else None
        if last is not None and last[0] + last[1] == index and tuple(last[2:]) == outcome:
            last[1] += 1
        else:
            out.append([index, 1, *outcome])
    return out


def position_to_json(position: Position) -> dict[str, Any]:
    return {
        "format": FORMAT,
        "chunks": position.chunks,
        "done": position.done,
        "started": position.started,
        "finished": {str(c): _runs(f) for c, f in sorted(position.finished.items()) if c >= position.done},
        "failed": list(position.failed),
    }


def position_from_json(body: Mapping[str, Any]) -> Position:
    if body.get("format") != FORMAT:
        raise ValueError(f"unknown stored-plan position format {body.get('format')!r}")
    finished: dict[int, dict[int, Outcome]] = {}
    for chunk, runs in dict(body.get("finished") or {}).items():
        into = finished.setdefault(int(chunk), {})
        for first, count, status, error, reason in runs:
            for i in range(int(first), int(first) + int(count)):
                into[i] = (str(status), error, reason)
    return Position(
        chunks=int(body["chunks"]),
        done=int(body.get("done", 0)),
        started=int(body.get("started", 0)),
        finished=finished,
        failed=[str(f) for f in body.get("failed") or []],
    )


def op_to_json(op: Op) -> dict[str, Any]:
    """An operation as stored (attribute values included: the repository holds them as snapshots do)."""
    if type(op) is not Op:
        # Configuration writes carry requests of their own; a deployed restore plans none.
        raise TypeError(f"a stored plan holds user, group and membership operations, not {type(op).__name__}")
    out: dict[str, Any] = {"k": op.kind}
    for name in ("user", "username", "group", "note", "group_fields", "source_sub"):
        value = getattr(op, name)
        if value is not None:
            out[name] = dict(value) if name == "group_fields" else value
    for name in ("attributes", "fallback"):
        if getattr(op, name):
            out[name] = [list(pair) for pair in getattr(op, name)]
    for name in ("names", "after"):
        if getattr(op, name):
            out[name] = list(getattr(op, name))
    if op.schema:
        out["schema"] = [dict(s) for s in op.schema]
    return out


def op_from_json(body: Mapping[str, Any]) -> Op:
    return Op(
        kind=str(body["k"]),
        user=body.get("user"),
        username=body.get("username"),
        group=body.get("group"),
        attributes=tuple((str(n), str(v)) for n, v in body.get("attributes", ())),
        names=tuple(str(n) for n in body.get("names", ())),
        fallback=tuple((str(n), str(v)) for n, v in body.get("fallback", ())),
        schema=tuple(dict(s) for s in body.get("schema", ())),
        group_fields=dict(body["group_fields"]) if body.get("group_fields") is not None else None,
        after=tuple(str(a) for a in body.get("after", ())),
        note=body.get("note"),
        source_sub=body.get("source_sub"),
    )


def chunked(ops: Iterable[T], chunk: int = CHUNK) -> Iterator[list[T]]:
    """The run order (or any stream) in lists of `chunk` items (one in memory at a time)."""
    stream = iter(ops)
    while batch := list(itertools.islice(stream, chunk)):
        yield batch
