"""A deployed restore's plan, stored once and carried out over bounded steps (docs/format.md "Stored plan").

The first step plans as the CLI restore does (ops/restore.py), then stores the plan here, in the
execution's folder (restores/deployed/<execution>/plan/):

    meta.json.gz         what the report needs besides the operations (skipped / notes / drift /
                         unchanged / kept_in_target), the users whose password this restore (re)sets
                         because an earlier run created them, the target's password policy
    ops-NNNNNN.json.gz   the run order, CHUNK operations per object, written as a stream
    position.json.gz     where the restore is (core/plan_chunks.py Position)
    out-NNNNNN.json.gz   the outcomes of a chunk entirely carried out, one per operation, in order
    part-NNNNNN.json.gz  that chunk summed up for the report (core/report_parts.py Part), stored with them
    base-NNNNNN.json.gz  the sub map rows of the desired users the target held when the first step read
                         it (their new sub is the target's: only that read knows it), CHUNK rows each

A plan too big for one step is stored piece by piece across steps instead (ops/plan_pieces.py), in the
same chunks, meta and position once whole. Every later step reads the position and carries on from the
chunks: it neither lists the target nor plans again, and reads no snapshot data (a chunk's creates carry
their user's old sub). The last one joins the parts and the base rows into the same report and sub map a
CLI restore writes. The folder is deleted when the restore ends.
"""

from __future__ import annotations

import gzip
import json
import threading
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.core.plan import Notice, Op, Plan
from cognito_backup.core.plan_chunks import (
    CHUNK,
    FORMAT,
    Outcome,
    Position,
    advance,
    chunk_count,
    chunk_size,
    chunked,
    op_from_json,
    op_to_json,
    outcomes_in_order,
    position_from_json,
    position_to_json,
    settled,
    to_run,
)
from cognito_backup.core.report_parts import Part, part_from_json, part_to_json
from cognito_backup.core.spill import SpillList
from cognito_backup.errors import OutOfTime, RepositoryDamaged
from cognito_backup.ops.checkpoint import CheckpointState
from cognito_backup.ops.scheduler import BLOCKED, FAILED, OpResult, run_ops
from cognito_backup.store.base import ObjectInfo, Store

PLAN_FOLDER = "/plan/"  # restores/deployed/<execution>/plan/ (serverless/restore.py)
META = "meta.json.gz"
POSITION = "position.json.gz"
BASE = "base-"


@dataclass
class StoredMeta:
    run_key: str
    ops: int
    chunk: int = CHUNK
    skipped: list[Notice] = field(default_factory=list)
    notes: list[Notice] = field(default_factory=list)
    drift: list[Notice] = field(default_factory=list)
    unchanged: dict[str, int] = field(default_factory=dict)
    kept_in_target: dict[str, int] = field(default_factory=dict)
    resumed: dict[str, str] = field(default_factory=dict)  # identity key -> why its password is (re)set
    password_policy: dict[str, Any] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def chunks(self) -> int:
        return chunk_count(self.ops, self.chunk)


def notice_json(n: Notice) -> dict[str, Any]:
    return {**n.to_json(), "by_choice": n.by_choice}


def notice_from_json(body: Mapping[str, Any]) -> Notice:
    return Notice(str(body["kind"]), str(body["name"]), str(body["reason"]), bool(body.get("by_choice", False)))


def _pack(body: Any) -> bytes:
    return gzip.compress(json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8"), 6)


class StoredPlan:
    """One execution's stored plan in the repository (`prefix` ends with /)."""

    def __init__(self, store: Store, prefix: str, chunk: int = CHUNK) -> None:
        self.store = store
        self.prefix = prefix
        self.chunk = chunk  # operations per chunk object, when this one writes the plan

    def _get(self, name: str) -> Any:
        key = self.prefix + name
        try:
            return json.loads(gzip.decompress(self.store.get_bytes(key)))
        except (OSError, EOFError, ValueError) as exc:
            raise RepositoryDamaged(f"The stored plan object {key} cannot be read ({type(exc).__name__})") from None

    def exists(self) -> bool:
        """Stored whole: the position is written last."""
        return self.store.exists(self.prefix + POSITION)

    def write(
        self,
        plan: Plan,
        *,
        run_key: str,
        resumed: Mapping[str, str],
        password_policy: Mapping[str, Any],
        warnings: Iterable[str] = (),
    ) -> StoredMeta:
        """Store the plan's run order as a stream (one chunk in memory), then what else the report needs,
        then the position (its presence says the plan is whole)."""
        count = 0
        for index, ops in enumerate(chunked(plan.run_order(), self.chunk)):
            self.write_chunk(index, ops)
            count += len(ops)
        meta = StoredMeta(
            run_key=run_key,
            ops=count,
            chunk=self.chunk,
            skipped=list(plan.skipped),
            notes=list(plan.notes),
            drift=list(plan.drift),
            unchanged=dict(plan.unchanged),
            kept_in_target=dict(plan.kept_in_target),
            resumed=dict(resumed),
            password_policy=dict(password_policy),
            warnings=list(warnings),
        )
        self.write_meta(meta)
        return meta

    def write_chunk(self, index: int, ops: Sequence[Op]) -> None:
        """One chunk of the run order (rewritten whole by a step that plans its piece again: same bytes)."""
        self.write_ops(f"ops-{index:06d}.json.gz", ops)

    def write_ops(self, name: str, ops: Iterable[Op]) -> None:
        """Operations as JSON lines in object `name` (a chunk, or a piece's tail: ops/plan_pieces.py)."""
        lines = "\n".join(json.dumps(op_to_json(op), separators=(",", ":"), ensure_ascii=False) for op in ops)
        self.store.put_bytes(self.prefix + name, gzip.compress(lines.encode("utf-8"), 6))

    def read_ops(self, name: str) -> list[Op]:
        key = self.prefix + name
        try:
            text = gzip.decompress(self.store.get_bytes(key)).decode("utf-8")
            return [op_from_json(json.loads(line)) for line in text.splitlines() if line]
        except (OSError, EOFError, ValueError, KeyError) as exc:
            raise RepositoryDamaged(f"The stored plan object {key} cannot be read ({type(exc).__name__})") from None

    def get_json(self, name: str) -> Any:
        """A JSON object of this plan's folder (RepositoryDamaged when unreadable)."""
        return self._get(name)

    def put_json(self, name: str, body: Any) -> None:
        self.store.put_bytes(self.prefix + name, _pack(body))

    def has(self, name: str) -> bool:
        return self.store.exists(self.prefix + name)

    def write_meta(self, meta: StoredMeta) -> None:
        """What the report needs besides the operations, then the position: the plan is whole."""
        body = {
            "format": FORMAT,
            "run": meta.run_key,
            "ops": meta.ops,
            "chunk": meta.chunk,
            "skipped": [notice_json(n) for n in meta.skipped],
            "notes": [notice_json(n) for n in meta.notes],
            "drift": [notice_json(n) for n in meta.drift],
            "unchanged": meta.unchanged,
            "kept_in_target": meta.kept_in_target,
            "resumed": meta.resumed,
            "password_policy": meta.password_policy,
            "warnings": meta.warnings,
        }
        self.store.put_bytes(self.prefix + META, _pack(body))
        self.save_position(Position(chunks=meta.chunks))

    def meta(self) -> StoredMeta:
        body = self._get(META)
        if body.get("format") != FORMAT:
            raise RepositoryDamaged(f"The stored plan {self.prefix} has an unknown format {body.get('format')!r}")
        return StoredMeta(
            run_key=str(body["run"]),
            ops=int(body["ops"]),
            chunk=int(body["chunk"]),
            skipped=[notice_from_json(n) for n in body.get("skipped", [])],
            notes=[notice_from_json(n) for n in body.get("notes", [])],
            drift=[notice_from_json(n) for n in body.get("drift", [])],
            unchanged={str(k): int(v) for k, v in dict(body.get("unchanged") or {}).items()},
            kept_in_target={str(k): int(v) for k, v in dict(body.get("kept_in_target") or {}).items()},
            resumed={str(k): str(v) for k, v in dict(body.get("resumed") or {}).items()},
            password_policy=dict(body.get("password_policy") or {}),
            warnings=[str(w) for w in body.get("warnings", [])],
        )

    def ops(self, index: int) -> list[Op]:
        return self.read_ops(f"ops-{index:06d}.json.gz")

    def position(self) -> Position:
        try:
            return position_from_json(self._get(POSITION))
        except (KeyError, TypeError, ValueError) as exc:
            raise RepositoryDamaged(f"The stored plan position {self.prefix}{POSITION} is damaged ({exc})") from None

    def save_position(self, position: Position) -> None:
        self.store.put_bytes(self.prefix + POSITION, _pack(position_to_json(position)))

    def save_outcomes(self, index: int, outcomes: Sequence[Outcome]) -> None:
        self.store.put_bytes(f"{self.prefix}out-{index:06d}.json.gz", _pack([list(o) for o in outcomes]))

    def outcomes(self, index: int) -> list[Outcome]:
        return [(str(s), e, r) for s, e, r in self._get(f"out-{index:06d}.json.gz")]

    def save_part(self, index: int, part: Part) -> None:
        self.store.put_bytes(f"{self.prefix}part-{index:06d}.json.gz", _pack(part_to_json(part, op_to_json)))

    def part(self, index: int) -> Part:
        try:
            return part_from_json(self._get(f"part-{index:06d}.json.gz"), op_from_json)
        except (KeyError, TypeError, ValueError) as exc:
            raise RepositoryDamaged(f"The stored plan part {self.prefix}part-{index:06d} is damaged ({exc})") from None

    def parts(self, meta: StoredMeta) -> Iterator[Part]:
        """Every chunk's part, in chunk order (one in memory at a time)."""
        return (self.part(index) for index in range(meta.chunks))

    def write_base_rows(self, rows: Iterable[tuple[str, tuple[str, str, str]]]) -> int:
        """The sub map rows the first step knows from its read of the target (sort key, row), CHUNK per
        object, as a stream. Returns how many."""
        count = 0
        for index, batch in enumerate(chunked(rows, self.chunk)):
            self.store.put_bytes(f"{self.prefix}{BASE}{index:06d}.json.gz", _pack([[k, *row] for k, row in batch]))
            count += len(batch)
        # A first step killed after storing more of them (its read of the target then) leaves none behind.
        for info in list(self.store.list(self.prefix + BASE)):
            if int(info.key[len(self.prefix) + len(BASE) :].partition(".")[0]) >= -(-count // self.chunk):
                self.store.delete(info.key)
        return count

    def base_rows(self) -> Iterator[tuple[str, tuple[str, str, str]]]:
        for info in sorted(self.store.list(self.prefix + BASE), key=lambda i: i.key):
            for k, a, b, c in self._get(info.key[len(self.prefix) :]):
                yield str(k), (str(a), str(b), str(c))

    def notices(self, meta: StoredMeta) -> Plan:
        """The plan as the first step made it, but its operations: its notices and counts of what needs no
        write (the report's rows for the operations come from the chunks' parts)."""
        return Plan(
            skipped=SpillList(meta.skipped),
            notes=SpillList(meta.notes),
            drift=SpillList(meta.drift),
            unchanged=dict(meta.unchanged),
            kept_in_target=dict(meta.kept_in_target),
        )

    def delete(self) -> None:
        """The restore ended: its plan goes (position first: a half-deleted plan is not taken for whole)."""
        self.store.delete(self.prefix + POSITION)
        for info in list(self.store.list(self.prefix)):
            self.store.delete(info.key)


def abandoned(objects: Iterable[ObjectInfo], now: float, stale_seconds: float) -> list[str]:
    """The stored plans (their folders, `.../plan/`) untouched for `stale_seconds`: a running execution
    rewrites its position at least once a step (15 minutes), so such a plan's execution was stopped
    (StopExecution, its 14-day timeout) without a last step to delete it. Pure."""
    newest: dict[str, float] = {}
    for info in objects:
        head, sep, _ = info.key.rpartition(PLAN_FOLDER)
        if sep:
            folder = head + sep
            newest[folder] = max(newest.get(folder, 0.0), info.modified)
    return sorted(folder for folder, modified in newest.items() if now - modified > stale_seconds)


Execute = Callable[[Op], str]


def carry_out(
    stored: StoredPlan,
    meta: StoredMeta,
    state: CheckpointState,
    make_execute: Callable[[Callable[[Op], bool], Callable[[Op], bool]], Execute],
    reason_of: Callable[[Op], str | None],
    *,
    fresh: bool,
    workers: Mapping[str, int],
    window: int,
    out_of_time: Callable[[], bool] | None,
    on_result: Callable[[OpResult], None] = lambda r: None,
    summed: Callable[[Sequence[Op], Sequence[Outcome]], Part] | None = None,
) -> int:
    """Carry out the stored plan from its position, storing progress as chunks finish and at the end.
    Returns once every chunk is done, with how many operations this step carried out or settled (0: the
    plan was done already); raises OutOfTime (progress stored) when the step's time is up.

    `make_execute(planned_before, sent_before)` gives the operation runner (ops/restore.py). `sent_before(op)`:
    an earlier step may have sent the operation and died before recording it (its password is then set
    only if the user still waits for one). `planned_before(op)`: an earlier run may have sent this create,
    so a create that finds its user judges from the user's state whether that run created it (as the CLI
    restore's re-run does). `summed(ops, outcomes)`: a finished chunk's report part, stored with its
    outcomes (before the position counts the chunk done). `fresh`: the plan was made by this step, from
    `state` as it was before (the CLI restore's case): `state` then says what earlier runs planned, and
    records nothing of this plan yet. Otherwise `state` holds the records of the earlier steps: an
    operation they recorded is settled from them, and only a chunk an earlier step started may hold
    creates it sent."""
    position = stored.position()
    lock = threading.Lock()
    where: dict[str, tuple[int, int]] = {}  # op id -> (chunk, index), for the operations admitted
    loaded: dict[int, list[Op]] = {}  # the chunks being carried out (about one: the scheduler's window)

    recorded = [0]

    def record(chunk: int, index: int, outcome: Outcome) -> None:
        with lock:
            recorded[0] += 1
            position.finished.setdefault(chunk, {})[index] = outcome
            if outcome[0] in (FAILED, BLOCKED):
                position.failed.append(f"{chunk}:{index}")

    def store_progress(clean: bool = False) -> None:
        """Outcomes of the chunks now whole into their own objects, then the position (the order matters:
        a chunk counted done has its outcomes stored). `clean`: every operation sent has finished and is
        recorded (a step that ran out of time, not one that died): what is left was never sent."""
        with lock:
            moved = advance(position, meta.ops, meta.chunk)
            whole = [
                (i, outcomes_in_order(position.finished.pop(i), chunk_size(i, meta.ops, meta.chunk))) for i in moved
            ]
            if clean:
                position.started = position.done
            snapshot = position_to_json(position)
        for index, outcomes in whole:
            stored.save_outcomes(index, outcomes)
            if summed is not None:
                with lock:
                    ops = loaded.pop(index, None)
                stored.save_part(index, summed(ops if ops is not None else stored.ops(index), outcomes))
        stored.store.put_bytes(stored.prefix + POSITION, _pack(snapshot))

    failed_ids = _failed_ids(stored, position)
    started_before = position.started  # chunks an earlier step started

    def feed() -> Iterator[Op]:
        for chunk in range(position.done, meta.chunks):
            pending = to_run(position, chunk, chunk_size(chunk, meta.ops, meta.chunk))
            if not pending:
                continue
            ops = stored.ops(chunk)
            with lock:
                loaded[chunk] = ops
            if chunk >= position.started:
                with lock:
                    position.started = chunk + 1
                store_progress()  # before its first operation starts: a later step knows it may have
            elif chunk > position.done:
                store_progress()
            for index in pending:
                op = ops[index]
                outcome = None if fresh else settled(op, state.created, state.existed, state.passwords_done)
                if outcome is not None:
                    record(chunk, index, (outcome, None, reason_of(op)))
                    continue
                with lock:
                    where[op.id] = (chunk, index)
                yield op

    def sent_before(op: Op) -> bool:
        """An earlier step may have sent it: it was not recorded, in a chunk a step started then died in."""
        with lock:
            chunk = where.get(op.id, (meta.chunks, 0))[0]
        return not fresh and chunk < started_before

    def planned_before(op: Op) -> bool:
        return (fresh or sent_before(op)) and state.planned(op.user or "")

    def finished(result: OpResult) -> None:
        with lock:
            chunk, index = where.pop(result.op.id)
        record(chunk, index, (result.status, result.error, reason_of(result.op)))
        on_result(result)

    try:
        run_ops(
            feed(),
            make_execute(planned_before, sent_before),
            workers=workers,
            on_result=finished,
            window=window,
            out_of_time=out_of_time,
            failed_before=failed_ids,
        )
    except OutOfTime:
        store_progress(clean=True)
        raise
    except BaseException:
        store_progress()  # what finished is kept; what was in flight runs again (settled where it must)
        raise
    store_progress(clean=True)
    if not position.complete:
        # Every operation admitted finished but the feed stopped early: time ran out between chunks.
        raise OutOfTime("This step's time is up; progress is saved and the next step carries on.")
    return recorded[0]


def _failed_ids(stored: StoredPlan, position: Position) -> set[str]:
    """The ids of the operations that failed or were blocked in earlier steps (their dependents are
    blocked as in one run): read from their chunks, usually none."""
    out: set[str] = set()
    by_chunk: dict[int, list[int]] = {}
    for ref in position.failed:
        head, _, tail = ref.partition(":")
        by_chunk.setdefault(int(head), []).append(int(tail))
    for chunk, indexes in by_chunk.items():
        ops = stored.ops(chunk)
        out.update(ops[i].id for i in indexes if i < len(ops))
    return out
