"""A deployed restore's stored plan (ops/stored_plan.py) at 100k and 1M users into an EMPTY target: what
the first step spends before its first write, and what every later step spends before its own.

    .venv/bin/python bench/bench_stored_plan.py [--users 100000 1000000] [--dir /tmp/bench-memory]

The snapshot is bench/bench_memory.py's (N users, 10 groups, one membership per user; written once per
size, shared with that bench). Each size runs in a fresh process; rows are cumulative peak RSS, CPU
seconds and wall seconds per phase:

    load     the snapshot loaded and verified (the first step; later ones load its configuration only)
    plan     ops/restore.plan_restore against the empty target (its settings only: an empty pool's
             listing is one call per chain), the first step's planning
    intent   the users to create recorded in the resume state (ops/checkpoint.py record_intent)
    store    the run order written as chunk objects (StoredPlan.write) to a local store
    resume   a later step's overhead: the snapshot's configuration (not its users), the position and one
             chunk read back
    state    the resume state loaded (every step does, ops/checkpoint.py): here the intent only
    parts    every chunk's outcomes and report part stored, as the steps do when each chunk finishes
             (per_chunk_cpu: what one chunk adds to the step that finishes it)
    final    the last step: the parts joined into the report and the sub map, both files written

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

from bench_memory import peak_rss_mib, prepare  # noqa: E402
from cognito_backup.aws.pacing import Pacer  # noqa: E402
from cognito_backup.aws.reader import PoolReader  # noqa: E402
from cognito_backup.core.plan import Plan, PlanOptions, username_attributes  # noqa: E402
from cognito_backup.core.plan_chunks import Outcome  # noqa: E402
from cognito_backup.core.plan_pieces import BLOCK  # noqa: E402
from cognito_backup.model import PoolConfig, PoolState  # noqa: E402
from cognito_backup.ops import plan_pieces  # noqa: E402
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState  # noqa: E402
from cognito_backup.ops.pitr import select_desired  # noqa: E402
from cognito_backup.ops.plan_pieces import PieceBudget  # noqa: E402
from cognito_backup.ops.restore import (  # noqa: E402
    RestoreOptions,
    RestoreProgress,
    RestoreSummary,
    chunk_summer,
    join_parts,
    plan_restore,
    write_reports,
)
from cognito_backup.ops.stored_plan import StoredMeta, StoredPlan  # noqa: E402
from cognito_backup.repo.repository import Repository  # noqa: E402
from cognito_backup.store.local import LocalStore  # noqa: E402


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, peak_rss_mib()


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
        # A later step's fixed cost: the snapshot's configuration (not its users: the chunks carry what
        # their operations need), the position and the chunk it carries on from.
        later = select_desired(repo, desired_id, users=False)
        stored.position()
        stored.ops(meta.chunks // 2)
        row("resume", users_loaded=len(later.state.users))
        # Not this bench's subject but every step's too: the resume state (here its intent, a record per
        # user to create; the steps add one per user created and per password).
        Checkpoint(store, "eu-west-1_target@snap").load()
        row("state")
        # As each chunk finishes (in whichever step): its outcomes and its report part, every create
        # answered (an empty target). Not the last step's time: reported per chunk.
        attrs = username_attributes(desired.config)
        summed = chunk_summer(lambda key: ("new-" + key, key), attrs)
        for index in range(meta.chunks):
            ops = stored.ops(index)
            outcomes: list[Outcome] = [("done", None, None)] * len(ops)
            stored.save_outcomes(index, outcomes)
            stored.save_part(index, summed(ops, outcomes))
        row("parts", per_chunk_cpu=round((_usage()[0] - last[1]) / max(1, meta.chunks), 3))
        # The last step: the parts joined into the report and the sub map, both files written.
        summary = RestoreSummary(user_pool_id="eu-west-1_target", dry_run=False, plan=Plan())
        reader = PoolReader(None, Pacer(), "eu-west-1_target")
        join_parts(summary, stored, meta, reader, attrs, read_back=True, note=lambda message: None)
        out = write_reports(summary, Path(tmp) / "report", "eu-west-1_target@snap")
        assert out.report_path is not None
        row("final", ops=summary.to_json()["operations"], sub_map_rows=len(summary.sub_map))
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
