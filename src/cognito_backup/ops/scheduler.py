"""Run planned operations with one worker pool per quota category, dependencies respected.

Each category (UserCreation, UserUpdate, UserAccountRecovery, ...) has its own rate in Cognito, so each
gets its own workers: user creation, password sets and membership writes proceed at the same time and
the restore takes about as long as its slowest category needs, not the sum. An operation is queued only
when every operation it depends on has succeeded (a membership after its user and its group exist); when
one fails, everything that depends on it is reported as blocked, never attempted.
"""

from __future__ import annotations

import math
import queue
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass

from cognito_backup.aws.quotas import category_of
from cognito_backup.core.plan import Op
from cognito_backup.core.spill import SpillList
from cognito_backup.errors import AccessDenied, CognitoBackupError, Interrupted, OutOfTime, PoolNotFound

FAILED = "failed"
BLOCKED = "blocked"
# Errors that will hit every operation alike: stop at once instead of failing thousands of times.
FATAL = (AccessDenied, PoolNotFound)


@dataclass
class OpResult:
    op: Op
    status: str  # writer.DONE / EXISTED / ALREADY, or FAILED / BLOCKED
    error: str | None = None

    @property
    def ok(self) -> bool:
        return self.status not in (FAILED, BLOCKED)


def default_workers(rates: Mapping[str, float]) -> dict[str, int]:
    """Enough threads per category to keep its rate busy at ~100-250 ms per call."""
    return {cat: max(2, min(16, math.ceil(rate / 4))) for cat, rate in rates.items()}


WINDOW = 10_000  # operations admitted and not yet finished, at most: what the scheduler holds in memory


def run_ops(
    ops: Iterable[Op],
    execute: Callable[[Op], str],
    *,
    workers: Mapping[str, int],
    on_result: Callable[[OpResult], None] = lambda r: None,
    stop: threading.Event | None = None,
    window: int = WINDOW,
    out_of_time: Callable[[], bool] | None = None,
    failed_before: Iterable[str] = (),
) -> SpillList[OpResult]:
    """Execute `ops`; returns one result per op (in completion order, on disk past a few thousand).
    Raises the first fatal error (access denied, pool gone), or Interrupted when `stop` is set; finished
    work is kept either way.

    `ops` is read as a stream (flat memory, docs/design.md "Memory"): at most `window` operations are
    admitted and unfinished at a time. Every operation must come after those it depends on (a plan's
    order does); a dependency neither pending nor failed has succeeded, or is not part of this run.

    `out_of_time()` is asked before each operation starts: once True no operation starts, those running
    finish, and OutOfTime is raised. The first operation always starts, so a loop of steps ends.

    `failed_before`: ids of operations that failed in an earlier step of the same plan (a deployed
    restore's, ops/stored_plan.py): what depends on them is blocked, as in one run."""
    stop = stop or threading.Event()
    timed_out = threading.Event()
    started = [0]
    lock = threading.Lock()
    changed = threading.Condition(lock)
    pending: dict[str, Op] = {}  # admitted, not finished
    waiting: dict[str, int] = {}  # pending op id -> unfinished dependencies (absent: blocked)
    dependents: dict[str, list[str]] = {}
    failed: set[str] = set(failed_before)  # failed or blocked: what a later op that depends on them needs to know
    results: SpillList[OpResult] = SpillList()
    queues: dict[str, queue.Queue[Op | None]] = {}
    threads: list[threading.Thread] = []
    closing = [False]  # set once run_ops is ending: no new operation is queued
    fatal: list[BaseException] = []

    def finish(result: OpResult) -> None:
        """Record a result and release (or block) its dependents. Called with `lock` held."""
        op_id = result.op.id
        results.append(result)
        pending.pop(op_id, None)
        waiting.pop(op_id, None)
        if not result.ok:
            failed.add(op_id)
        on_result(result)
        for dep_id in dependents.pop(op_id, []):
            if dep_id not in waiting:
                continue  # already blocked by another dependency
            if result.ok:
                waiting[dep_id] -= 1
                if waiting[dep_id] == 0:
                    enqueue(pending[dep_id])
            else:
                del waiting[dep_id]
                finish(OpResult(pending[dep_id], BLOCKED, f"not attempted: {op_id} did not succeed"))
        changed.notify_all()

    def stop_all(exc: BaseException) -> None:
        with lock:
            fatal.append(exc)
            stop.set()
            changed.notify_all()

    def worker(category: str) -> None:
        q = queues[category]
        while True:
            op = q.get()
            if op is None:
                return
            if stop.is_set():
                continue
            if out_of_time is not None:
                with lock:
                    if started[0] > 0 and out_of_time():
                        timed_out.set()
                        stop.set()
                        changed.notify_all()
                        continue
                    started[0] += 1
            try:
                status = execute(op)
                result = OpResult(op, status)
            except CognitoBackupError as exc:
                if isinstance(exc, FATAL):
                    stop_all(exc)
                    continue
                result = OpResult(op, FAILED, exc.message)
            except Exception as exc:  # a bug or an unexpected response: named in the report, others go on
                result = OpResult(op, FAILED, f"internal error {type(exc).__name__}")
            except BaseException as exc:  # interpreter shutdown, an interrupt delivered here: stop everything
                stop_all(exc)
                continue
            with lock:
                finish(result)

    def enqueue(op: Op) -> None:
        """Called with `lock` held."""
        if closing[0]:
            # Shutting down (time up, interrupted, a fatal error): a dependent released by an operation
            # that finished meanwhile stays pending. Starting it could start a category's workers after
            # their queues were sent their stop marks, and the join below would wait for them.
            return
        category = category_of(op.operation)
        if category not in queues:  # a category's workers start with its first operation
            queues[category] = queue.Queue()
            for i in range(max(1, workers.get(category, 2))):
                t = threading.Thread(target=worker, args=(category,), name=f"restore-{category}-{i}", daemon=True)
                t.start()
                threads.append(t)
        queues[category].put(op)

    def admit(op: Op) -> None:
        """Called with `lock` held."""
        deps = [d for d in dict.fromkeys(op.after) if d != op.id]
        broken = next((d for d in deps if d in failed), None)
        if broken is not None:
            failed.add(op.id)
            results.append(OpResult(op, BLOCKED, f"not attempted: {broken} did not succeed"))
            on_result(results[-1])
            return
        live = [d for d in deps if d in pending]
        pending[op.id] = op
        waiting[op.id] = len(live)
        for dep in live:
            dependents.setdefault(dep, []).append(op.id)
        if not live:
            enqueue(op)

    exhausted = False
    try:
        for op in ops:
            with lock:
                while len(pending) >= window and not stop.is_set():
                    changed.wait(timeout=0.5)
                if stop.is_set():
                    break
                admit(op)
        else:
            exhausted = True
        with lock:
            while pending and not stop.is_set():
                changed.wait(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        stop_now = stop.is_set()
        with lock:
            closing[0] = True
            categories = list(queues)
            running = list(threads)
        for cat in categories:
            for _ in range(len(running)):
                queues[cat].put(None)
        for t in running:
            t.join(timeout=None if not stop_now else 60)
    if fatal:
        raise fatal[0]
    if timed_out.is_set() and (pending or not exhausted):
        raise OutOfTime("This step's time is up; progress is saved and the next step carries on.")
    if pending or not exhausted:
        raise Interrupted("Restore stopped before every operation ran; progress is saved, re-run to continue.")
    return results
