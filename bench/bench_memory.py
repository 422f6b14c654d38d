"""Peak memory of `diff`, a `restore --dry-run` plan and a `restore --at` fold + plan at 100k and 1M
users (#10.1 flat memory).

    .venv/bin/python bench/bench_memory.py [--users 100000 1000000] [--dir /tmp/bench-memory]

Both sides are snapshots in a local repository (the 'live' side is a second snapshot: 1% of its users
are absent from the desired one and vice versa, 2% differ; one membership per user in 10 groups). Each
measurement runs in a fresh process and reports its peak RSS (VmHWM: peak_rss_mib says why not
ru_maxrss; tracemalloc is off: it would slow the run ~2x), CPU seconds and wall time. The snapshots are written
once per size and reused.

    diff  differences(), written as `diff --json` writes them (to /dev/null)
    plan  the plan, its operations written as a dry run's `--json` writes them (to /dev/null)
    fold  `restore --at`: journal records for 1 user in 100 (each observed twice, captured shuffled),
          stored in the repository's journal, folded over the desired snapshot the way `restore --at`
          folds them (ops/pitr.desired_state_at: ops/state_at.fold_from reads the journal in order),
          then planned against the live side
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import random
import resource
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from cognito_backup.cli.common import JsonArray, emit_json
from cognito_backup.core.diff import differences
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.model import Group, Membership, PoolConfig, User
from cognito_backup.ops.pitr import desired_state_at
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore

SCHEMA = [
    {"Name": "email", "AttributeDataType": "String", "Mutable": True},
    {"Name": "custom:tier", "AttributeDataType": "String", "Mutable": True},
]


DESIRED_POOL = "eu-west-1_desired"


# The peak RSS of this process since it started its program (not inherited).
#
# `getrusage(...).ru_maxrss` is no measure for a bench's child: Linux starts a forked child's high-water
# mark at its parent's RSS and keeps it across exec, so a child started by a bench that has just written
# a 1M-user repository in-process reports the parent's ~97 MiB, whatever it used itself (2026-12-01:
# bench_memory's 1M diff and plan both read 97.4 MiB; the same child started from a shell, 69.0 MiB).
# VmHWM in /proc/self/status is the high-water mark of the process's current address space, which exec
# replaces: what the measured program itself used.
def peak_rss_mib() -> float:
    """VmHWM (Linux); elsewhere ru_maxrss, with the caveat above. bench_stored_plan and bench_merge use it too."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024  # kB
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB


def synthetic_user(i: int, changed: bool = False) -> User:
    return User(
        username=f"user-{i:08d}",
        attributes={
            "sub": f"00000000-0000-0000-0000-{i:012d}",
            "email": f"user{i}@example.com",
            "email_verified": "true",
            "given_name": f"Given{i}",
            "family_name": f"Family{i}",
            "custom:tier": "gold" if changed else "silver",
        },
        created="2026-01-01T00:00:00Z",
        modified="2026-01-02T00:00:00Z",
    )


def write_snapshot(repo: Repository, pool_id: str, n: int, *, changed_every: int = 0, offset: int = 0) -> Manifest:
    """A snapshot of `n` users (user i in group i % 10): `changed_every` marks some users changed,
    `offset` shifts the user numbers (users only on one side). tests/test_flat_memory.py uses it too."""
    config = PoolConfig(user_pool={"Id": pool_id, "SchemaAttributes": SCHEMA})
    with repo.begin_snapshot(pool_id, "eu-west-1", started_at=dt.datetime(2026, 1, 1, tzinfo=dt.UTC)) as w:
        w.add("config", config.to_record())
        for g in range(10):
            w.add("groups", Group(name=f"g{g}").to_record())
        for i in range(offset, offset + n):
            w.add("users", synthetic_user(i, changed=bool(changed_every) and i % changed_every == 0).to_record())
        for i in range(offset, offset + n):
            w.add("memberships", Membership(group=f"g{i % 10}", username=f"user-{i:08d}").to_record())
        return w.commit()


def prepare(root: Path, n: int) -> tuple[Path, str, str]:
    where = root / f"repo-{n}"
    ids = where / "ids.json"
    if not ids.exists():
        repo = Repository(LocalStore(where))
        desired = write_snapshot(repo, DESIRED_POOL, n, changed_every=50).id
        actual = write_snapshot(repo, "eu-west-1_actual", n, offset=n // 100).id
        ids.write_text(json.dumps([desired, actual]))
    journaled = where / "journal.done"  # directories prepared before the journal was stored get it now
    if not journaled.exists():
        Journal(LocalStore(where)).append(DESIRED_POOL, journal(n))
        journaled.touch()
    desired, actual = json.loads(ids.read_text())
    return where, desired, actual


def journal(n: int) -> Iterator[dict[str, Any]]:
    """Journal records (user_upsert) for every 100th of `n` users of the desired pool, each observed
    twice, in shuffled order (as a capture may store them: the journal reads them back in order)."""
    start = dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    order = list(range(0, n, 100)) * 2
    random.Random(n).shuffle(order)
    for seq, i in enumerate(order):
        when = (start + dt.timedelta(milliseconds=seq)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        user = synthetic_user(i, changed=False)  # the desired side has these changed: undone
        yield {
            "pool": DESIRED_POOL,
            "type": "user_upsert",
            "key": user.username,
            "sub": user.sub,
            "observed_at": when,
            "event_id": f"e{seq}",
            "seq": 0,
            "after": user.to_record(),
        }


def measure(where: str, desired_id: str, actual_id: str, what: str) -> dict[str, object]:
    """Runs in the child process."""
    repo = Repository(LocalStore(where))
    start = time.monotonic()
    actual = repo.load_state(repo.resolve(actual_id))
    if what == "fold":  # `restore --at` now: the snapshot is the base, its journal folded over it
        desired = desired_state_at(repo, DESIRED_POOL, repo.clock())[0]
    else:
        desired = repo.load_state(repo.resolve(desired_id))
    result: object
    with open(os.devnull, "w") as sink, contextlib.redirect_stdout(sink):
        if what == "diff":
            found = differences(desired, actual)
            emit_json({"equal": not found, "differences": JsonArray(found, lambda d: d.to_json())})
            result = len(found)
        elif what == "plan":
            the_plan = plan(desired, actual, PlanOptions(prune=True))
            emit_json({"plan": {**the_plan.to_json(ops=False), "ops": JsonArray(the_plan.ops, lambda o: o.describe())}})
            result = the_plan.count_by_kind()
        else:
            result = plan(desired, actual, PlanOptions(prune=True)).count_by_kind()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "what": what,
        "result": result,
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_seconds": round(time.monotonic() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--what", nargs="+", default=["diff", "plan", "fold"], choices=["diff", "plan", "fold"])
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-memory"))
    parser.add_argument("--child", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(measure(*args.child)))
        return
    args.dir.mkdir(parents=True, exist_ok=True)
    for n in args.users:
        started = time.monotonic()
        where, desired, actual = prepare(args.dir, n)
        print(f"{n:>9,} users: snapshots ready in {time.monotonic() - started:.0f} s", flush=True)
        for what in args.what:
            out = subprocess.run(
                [sys.executable, __file__, "--child", str(where), desired, actual, what],
                check=True,
                capture_output=True,
                text=True,
            ).stdout
            row = json.loads(out.splitlines()[-1])
            print(
                f"{n:>9,} users {what:<5} peak RSS {row['peak_rss_mib']:>7} MiB  CPU {row['cpu_seconds']:>6} s  "
                f"wall {row['wall_seconds']:>6} s  ({row['result']})",
                flush=True,
            )


if __name__ == "__main__":
    main()
