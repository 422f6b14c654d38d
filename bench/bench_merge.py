"""Peak memory of a backup's shard stage with many sorted runs (issue #10 part 1: a bounded merge).

    .venv/bin/python bench/bench_merge.py [--runs 200] [--run-users 2000] [--fan-in 64 100000]

A snapshot's users are staged as `--runs` sorted runs of `--run-users` each (bench_memory.synthetic_user,
through the backup's own writer, as the listing stage stages them), once. Then, per `--fan-in`, a fresh
process continues that snapshot the way a Lambda step continues a checkpoint in the `shard` stage
(SnapshotWriter.resume_shards, then commit: intermediate merges, the final merge, the cuts, the
manifest) and reports its peak RSS (VmHWM: bench_memory.peak_rss_mib says why), its RSS before the
stage, CPU seconds and wall time.
A fan-in at least `--runs` is today's unbounded merge of every run at once. A 40-million-user pool lists
400 runs of 100,000; the runs here are smaller (the same number of open runs costs the same: each holds
a zstd window of up to 512 KiB and read buffers, as long as a run holds more than 512 KiB of JSON).
"""

from __future__ import annotations

import argparse
import json
import random
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from cognito_backup.model import PoolConfig
from cognito_backup.repo.manifest import ObjectRef
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import peak_rss_mib, synthetic_user

POOL = "eu-west-1_bench"


def stage_runs(root: Path, runs: int, run_users: int) -> dict[str, Any]:
    """The runs of one snapshot, as its listing stage leaves them; what a checkpoint would record."""
    repo = Repository(LocalStore(root))
    order = list(range(runs * run_users))
    random.Random(7).shuffle(order)  # listing order is not key order
    writer = repo.begin_snapshot(POOL, "eu-west-1", max_records_per_object=run_users)
    writer.add("config", PoolConfig(user_pool={"Id": POOL}).to_record())
    for i in order:
        writer.add("users", synthetic_user(i).to_record())
    objects = writer.flush()
    writer.suspend()  # keeps the lock and the runs, as a step that saved its checkpoint does
    return {
        "snapshot_id": writer.id,
        "objects": [o.to_record() for o in objects],
        "runs": [[s.to_record() for s in run] for run in writer.runs],
        "run_users": run_users,
    }


def shard_stage(root: Path, state_file: Path, fan_in: int) -> dict[str, Any]:
    """In this process: the shard stage of the staged snapshot, with `fan_in`. Leaves the runs in place
    (the snapshot's manifest is removed afterwards, so the next fan-in starts from the same state)."""
    state = json.loads(state_file.read_text())
    repo = Repository(LocalStore(root))
    before = peak_rss_mib()
    started, cpu = time.monotonic(), time.process_time()
    writer = repo.begin_snapshot(
        POOL,
        "eu-west-1",
        max_records_per_object=state["run_users"],
        snapshot_id=state["snapshot_id"],
        merge_fan_in=fan_in,
    )
    for ref in state["objects"]:
        writer.add_object(ObjectRef.from_record(ref))
    writer.resume_shards([[ObjectRef.from_record(s) for s in run] for run in state["runs"]], None)
    writer.write_shards()
    runs_read = len(writer.runs)
    wall, cpu = time.monotonic() - started, time.process_time() - cpu
    peak = peak_rss_mib()
    writer.suspend()  # not committed: the runs stay for the next fan-in
    return {
        "fan_in": fan_in,
        "runs_in_final_merge": runs_read,
        "rss_before_mib": round(before, 1),
        "peak_rss_mib": round(peak, 1),
        "cpu_s": round(cpu, 1),
        "wall_s": round(wall, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--run-users", type=int, default=2000)
    parser.add_argument("--fan-in", type=int, nargs="+", default=[64, 100_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-merge"))
    parser.add_argument("--child", nargs=2, metavar=("STATE", "FAN_IN"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    root = args.dir / "repo"
    if args.child:
        print(json.dumps(shard_stage(root, Path(args.child[0]), int(args.child[1]))))
        return 0
    shutil.rmtree(args.dir, ignore_errors=True)
    args.dir.mkdir(parents=True)
    started = time.monotonic()
    state = stage_runs(root, args.runs, args.run_users)
    state_file = args.dir / "state.json"
    state_file.write_text(json.dumps(state))
    print(f"{args.runs} runs of {args.run_users:,} users staged in {time.monotonic() - started:.0f} s")
    for fan_in in args.fan_in:
        out = subprocess.run(
            [sys.executable, __file__, "--dir", str(args.dir), "--child", str(state_file), str(fan_in)],
            check=True,
            capture_output=True,
            text=True,
        )
        row = json.loads(out.stdout)
        # Merged runs of this fan-in are left under runs/: remove them, keep the staged ones.
        staged = {s["sha256"] for run in state["runs"] for s in run}
        for path in (root / "runs" / state["snapshot_id"]).iterdir():
            if path.name.split(".")[0] not in staged:
                path.unlink()
        print(
            f"fan-in {fan_in:>6}: final merge of {row['runs_in_final_merge']:>4} runs, peak RSS "
            f"{row['peak_rss_mib']:6.1f} MiB (before the stage {row['rss_before_mib']:.1f}), "
            f"CPU {row['cpu_s']:.1f} s, wall {row['wall_s']:.1f} s",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
