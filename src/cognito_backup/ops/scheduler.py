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
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from cognito_backup.aws.quotas import category_of
from cognito_backup.core.plan import Op
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


def run_ops(
    ops: Sequence[Op],
    execute: Callable[[Op], str],
    *,
    workers: Mapping[str, int],
    on_result: Callable[[OpResult], None] = lambda r: None,
    stop: threading.Event | None = None,
    out_of_time: Callable[[], bool] | None = None,
) -> list[OpResult]:
    """Execute `ops`; returns one result per op (in completion order). Raises the first fatal error
    (access denied, pool gone), or Interrupted when `stop` is set; finished work is kept either way.

    `out_of_time()` is asked before each operation starts: once True no operation starts, those running
    finish, and OutOfTime is raised. The first operation always starts, so a loop of steps ends."""
    stop = stop or threading.Event()
    timed_out = threading.Event()
    started = [0]
    by_id = {op.id: op for op in ops}
    waiting: dict[str, int] = {}
    dependents: dict[str, list[str]] = {}
    for op in ops:
        deps = [d for d in set(op.after) if d in by_id and d != op.id]
        waiting[op.id] = len(deps)
        for dep in deps:
            dependents.setdefault(dep, []).append(op.id)
    categories = sorted({category_of(op.operation) for op in ops})
    queues: dict[str, queue.Queue[Op | None]] = {cat: queue.Queue() for cat in categories}
    results: list[OpResult] = []
    lock = threading.Lock()
    all_done = threading.Condition(lock)
    remaining = [len(ops)]
    fatal: list[BaseException] = []

    def finish(result: OpResult) -> None:
        """Record a result and release (or block) its dependents. Called with `lock` held."""
        results.append(result)
        remaining[0] -= 1
        on_result(result)
        for dep_id in dependents.get(result.op.id, []):
            if result.ok:
                waiting[dep_id] -= 1
                if waiting[dep_id] == 0:
                    dep = by_id[dep_id]
                    queues[category_of(dep.operation)].put(dep)
            elif waiting[dep_id] >= 0:
                waiting[dep_id] = -1  # blocked: never queued
                finish(OpResult(by_id[dep_id], BLOCKED, f"not attempted: {result.op.id} did not succeed"))
        if remaining[0] == 0:
            all_done.notify_all()

    def stop_all(exc: BaseException) -> None:
        with lock:
            fatal.append(exc)
            stop.set()
            all_done.notify_all()

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
                        all_done.notify_all()
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

    threads = []
    for cat in categories:
        for i in range(max(1, workers.get(cat, 2))):
            t = threading.Thread(target=worker, args=(cat,), name=f"restore-{cat}-{i}", daemon=True)
            t.start()
            threads.append(t)
    with lock:
        for op in ops:
            if waiting[op.id] == 0:
                queues[category_of(op.operation)].put(op)
    try:
        with lock:
            while remaining[0] > 0 and not stop.is_set():
                all_done.wait(timeout=0.5)
    except KeyboardInterrupt:
        stop.set()
        raise
    finally:
        stop_now = stop.is_set()
        for cat in categories:
            for _ in range(len(threads)):
                queues[cat].put(None)
        for t in threads:
            t.join(timeout=None if not stop_now else 60)
    if fatal:
        raise fatal[0]
    if timed_out.is_set() and remaining[0] > 0:
        raise OutOfTime("This step's time is up; progress is saved and the next step carries on.")
    if remaining[0] > 0:
        raise Interrupted("Restore stopped before every operation ran; progress is saved, re-run to continue.")
    return results
