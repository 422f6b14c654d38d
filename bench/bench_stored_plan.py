"""A deployed restore's stored plan (ops/stored_plan.py) at 100k and 1M users into an EMPTY target: what
the first step spends before its first write, and what every later step spends before its own.

    .venv/bin/python bench/bench_stored_plan.py [--users 100000 1000000] [--dir /tmp/bench-memory]

The snapshot is bench/bench_memory.py's (N users, 10 groups, one membership per user; written once per
size, shared with that bench). Each size runs in a fresh process; rows are cumulative peak RSS, CPU
seconds and wall seconds per phase:

    load     the snapshot loaded and verified (run_restore does it in every step)
    plan     ops/restore.plan_restore against the empty target (its settings only: an empty pool's
             listing is one call per chain), the first step's planning
    intent   the users to create recorded in the resume state (ops/checkpoint.py record_intent)
    store    the run order written as chunk objects (StoredPlan.write) to a local store
    resume   a later step's overhead: the position and one chunk read back
    final    the last step: every chunk's outcomes read back with its operations, and the plan rebuilt
             (the report's counts), outcomes stored first as the steps would have

The first step's planning time (load + plan + intent + store; the target read is extra for a pool that
is not empty: ~9 min per million users at the default UserList quota) bounds the largest restore whose
plan fits one 15-minute step.

With `--pieces USERS` the plan is made in pieces of USERS users (ops/plan_pieces.py), as the steps of a
deployed restore too big for one step make it; the rows are then

    load     as above (every planning step loads the snapshot)
    start    the first step's pass over the desired users (blocks, custom attributes) and the memberships
             stored by block, the target's settings stored
    piece-K  planning piece K on its key range, its chunks, tail and intent stored (one step each)
    finish   the plan's meta and position: the plan is whole, the steps carry it out
    resume / final  as above
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_memory import prepare  # noqa: E402
from cognito_backup.core.plan import PlanOptions  # noqa: E402
from cognito_backup.core.plan_pieces import BLOCK  # noqa: E402
from cognito_backup.model import PoolConfig, PoolState  # noqa: E402
from cognito_backup.ops import plan_pieces  # noqa: E402
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState  # noqa: E402
from cognito_backup.ops.plan_pieces import PieceBudget  # noqa: E402
from cognito_backup.ops.restore import RestoreOptions, RestoreProgress, plan_restore  # noqa: E402
from cognito_backup.ops.stored_plan import StoredMeta, StoredPlan  # noqa: E402
from cognito_backup.repo.repository import Repository  # noqa: E402
from cognito_backup.store.local import LocalStore  # noqa: E402


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def measure(where: str, desired_id: str, piece: int = 0) -> list[dict[str, Any]]:
    """Runs in the child process."""
    rows: list[dict[str, Any]] = []
    last = [time.monotonic(), _usage()[0]]

    def row(phase: str, **extra: Any) -> None:
        cpu, rss = _usage()
        now = time.monotonic()
        rows.append(
            {
                "phase": phase,
                "cpu_seconds": round(cpu - last[1], 1),
                "wall_seconds": round(now - last[0], 1),
                "peak_rss_mib": round(rss, 1),
                **extra,
            }
        )
        last[:] = [now, cpu]

    repo = Repository(LocalStore(where))
    desired = repo.load_state(repo.resolve(desired_id))
    row("load", users=len(desired.users))
    empty = PoolState(config=PoolConfig(user_pool=dict(desired.config.user_pool)))
    with tempfile.TemporaryDirectory(prefix="bench-stored-plan-") as tmp:
        store = LocalStore(tmp)
        stored = StoredPlan(store, "restores/deployed/bench/plan/")
        if piece:
            meta = _in_pieces(store, stored, desired, empty, piece, row)
        else:
            opts = RestoreOptions(plan=PlanOptions(password_mode="random-permanent"))
            planned = plan_restore(
                None,  # type: ignore[arg-type]
                None,  # type: ignore[arg-type]
                "eu-west-1_target",
                desired,
                opts,
                CheckpointState(),
                RestoreProgress(),
                empty,
            )
            the_plan = planned.summary.plan
            row("plan", ops=len(the_plan.ops))
            checkpoint = Checkpoint(store, "eu-west-1_target@snap")
            checkpoint.record_intent(
                checkpoint.intent_time(), (op.user or "" for op in the_plan.of_kind("create_user"))
            )
            checkpoint.close()
            row("intent")
            meta = stored.write(the_plan, run_key="eu-west-1_target@snap", resumed={}, password_policy={})
        size = sum(info.size for info in store.list(stored.prefix))
        row("store", chunks=meta.chunks, mib=round(size / 2**20, 1))
        stored.position()
        stored.ops(meta.chunks // 2)
        row("resume")
        started = time.monotonic()
        for index in range(meta.chunks):
            stored.save_outcomes(index, [("done", None, None)] * len(stored.ops(index)))
        outcomes_seconds = time.monotonic() - started
        last[0] += outcomes_seconds  # the steps store these as they go: not the last step's time
        rebuilt = stored.plan(meta)
        counted = rebuilt.count_by_kind()
        results = sum(1 for _ in stored.results(meta))
        row("final", ops=results, counts=counted)
    return rows


def _in_pieces(
    store: LocalStore, stored: StoredPlan, desired: PoolState, empty: PoolState, piece: int, row: Any
) -> StoredMeta:
    """The plan made in pieces of `piece` users, a row per piece (each a step of its own)."""
    budget = PieceBudget(users=lambda: piece, block=min(BLOCK, piece))
    opts = PlanOptions(password_mode="random-permanent")
    pieces = plan_pieces.start(stored, desired, empty, opts, intent_at="t0", budget=budget)
    if pieces is None:
        raise SystemExit("the snapshot's users are not sorted, or fit one piece: nothing to make in pieces")
    row("start", blocks=pieces.blocks)
    while not pieces.complete:
        checkpoint = Checkpoint(store, "eu-west-1_target@snap")
        number = pieces.piece
        plan_pieces.plan_piece(stored, pieces, desired, opts, checkpoint, checkpoint.load(), users=piece)
        checkpoint.close()
        row(f"piece-{number}", ops=pieces.ops + pieces.tail)
    meta = plan_pieces.finish(stored, pieces, "eu-west-1_target@snap")
    row("finish", ops=meta.ops)
    return meta


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-memory"))
    parser.add_argument("--pieces", type=int, default=0, metavar="USERS", help="plan in pieces of USERS users")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(args.child[0], args.child[1], int(args.child[2]))))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    for n in args.users:
        started = time.monotonic()
        where, desired, _ = prepare(args.dir, n)
        print(f"{n:>9,} users: snapshot ready in {time.monotonic() - started:.0f} s", flush=True)
        out = subprocess.run(
            [sys.executable, __file__, "--child", str(where), desired, str(args.pieces)],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for r in json.loads(out.splitlines()[-1]):
            extra = {k: v for k, v in r.items() if k not in ("phase", "cpu_seconds", "wall_seconds", "peak_rss_mib")}
            print(
                f"{n:>9,} users {r['phase']:<8} CPU {r['cpu_seconds']:>6} s  wall {r['wall_seconds']:>6} s  "
                f"peak RSS {r['peak_rss_mib']:>7} MiB  {extra}",
                flush=True,
            )


if __name__ == "__main__":
    main()
