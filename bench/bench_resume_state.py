"""The CLI restore's resume state (ops/checkpoint.py) at 100k / 1M users: what it stores, and what loading it
costs each resume, `prune` and `restore --status`.

    .venv/bin/python bench/bench_resume_state.py [--users 100000 1000000] [--dir /tmp/bench-resume-state]

Each size is a local repository written through the real Checkpoint API as a restore into an empty pool
writes it: the intent (every user, before the first create), then per user its `created` record (with the
new sub and username, as AdminCreateUser answers) and its password record, at the pace of Cognito's
default quotas (30 users a second: AdminSetUserPassword), so the run flushes every FLUSH_SECONDS (5 s,
~300 records) as a real one does. Then, each phase in a fresh process:

    write     the run above: objects and bytes stored when it ends (or is killed)
    load      the next run's load() of that state (uncompacted: what the first resume reads)
    compact   load() + compact() (a resume that finds more than 32 objects): objects and bytes after
    reload    load() of the compacted state (every later resume, prune, restore --status)

Rows: objects, bytes, CPU and wall seconds, peak RSS of the process.
"""

from __future__ import annotations

import argparse
import json
import resource
import shutil
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cognito_backup.ops.checkpoint import Checkpoint  # noqa: E402
from cognito_backup.store.local import LocalStore  # noqa: E402

RUN = "eu-west-1_Target@2026-12-01T00-00-00Z-bench"
USERS_PER_SECOND = 30.0  # AdminSetUserPassword's default quota: the pace users finish at


def _usage() -> tuple[float, float]:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024  # Linux: KiB


def stored(store: LocalStore, prefix: str) -> tuple[int, int]:
    """(objects, bytes) under `prefix`."""
    infos = list(store.list(prefix))
    return len(infos), sum(info.size for info in infos)


def write(where: Path, users: int) -> dict[str, Any]:
    clock = [0.0]
    checkpoint = Checkpoint(LocalStore(where), RUN, monotonic=lambda: clock[0], password_mode="random-permanent")
    keys = [f"user-{i:08d}" for i in range(users)]
    checkpoint.record_intent("2026-12-01T00:00:00+00:00", iter(keys))
    for key in keys:
        clock[0] += 1 / USERS_PER_SECOND
        checkpoint.record_created(key, str(uuid.uuid4()), key)
        checkpoint.record("password", user=key, mode="random-permanent")
    checkpoint.close()
    return {}


def load(where: Path, users: int) -> dict[str, Any]:
    state = Checkpoint(LocalStore(where), RUN).load()
    assert len(state.created) == len(state.passwords_done) == len(state.intents) == len(state.subs) == users
    return {}


def compact(where: Path, users: int) -> dict[str, Any]:
    checkpoint = Checkpoint(LocalStore(where), RUN)
    checkpoint.compact(checkpoint.load())
    return {}


PHASES = {"write": write, "load": load, "compact": compact, "reload": load}


def child(phase: str, where: Path, users: int) -> dict[str, Any]:
    began, cpu0 = time.monotonic(), _usage()[0]
    extra = PHASES[phase](where, users)
    cpu, rss = _usage()
    objects, size = stored(LocalStore(where), "restores/")
    return {
        "phase": phase,
        "users": users,
        "objects": objects,
        "bytes": size,
        "bytes_per_user": round(size / users, 1),
        "cpu_seconds": round(cpu - cpu0, 2),
        "wall_seconds": round(time.monotonic() - began, 2),
        "peak_rss_mib": round(rss, 1),
        **extra,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-resume-state"))
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child, args.dir, args.users[0])))
        return
    for users in args.users:
        where = args.dir / str(users)
        shutil.rmtree(where, ignore_errors=True)
        where.mkdir(parents=True)
        for phase in PHASES:
            out = subprocess.run(
                [sys.executable, __file__, "--child", phase, "--users", str(users), "--dir", str(where)],
                check=True,
                capture_output=True,
                text=True,
            )
            print(out.stdout.strip(), flush=True)
        shutil.rmtree(where, ignore_errors=True)


if __name__ == "__main__":
    main()
