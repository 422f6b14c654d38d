"""Peak memory of `diff` and a `restore --dry-run` plan at 100k and 1M users (#10.1 flat memory).

    .venv/bin/python bench/bench_memory.py [--users 100000 1000000] [--dir /tmp/bench-memory]

Both sides are snapshots in a local repository (the 'live' side is a second snapshot: 1% of its users
are absent from the desired one and vice versa, 2% differ; one membership per user in 10 groups). Each
measurement runs in a fresh process and reports its peak RSS (ru_maxrss), Python's own peak
(tracemalloc is off: it would slow the run ~2x), CPU seconds and wall time. The snapshots are written
once per size and reused.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import time
from pathlib import Path

from cognito_backup.core.diff import differences
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.model import Group, Membership, PoolConfig, User
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore

SCHEMA = [
    {"Name": "email", "AttributeDataType": "String", "Mutable": True},
    {"Name": "custom:tier", "AttributeDataType": "String", "Mutable": True},
]


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
        desired = write_snapshot(repo, "eu-west-1_desired", n, changed_every=50).id
        actual = write_snapshot(repo, "eu-west-1_actual", n, offset=n // 100).id
        ids.write_text(json.dumps([desired, actual]))
    desired, actual = json.loads(ids.read_text())
    return where, desired, actual


def measure(where: str, desired_id: str, actual_id: str, what: str) -> dict[str, object]:
    """Runs in the child process."""
    repo = Repository(LocalStore(where))
    start = time.monotonic()
    desired = repo.load_state(repo.resolve(desired_id))
    actual = repo.load_state(repo.resolve(actual_id))
    if what == "diff":
        result: object = len(differences(desired, actual))
    else:
        result = plan(desired, actual, PlanOptions(prune=True)).count_by_kind()
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return {
        "what": what,
        "result": result,
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),  # Linux: KiB
        "cpu_seconds": round(usage.ru_utime + usage.ru_stime, 1),
        "wall_seconds": round(time.monotonic() - start, 1),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--what", nargs="+", default=["diff", "plan"], choices=["diff", "plan"])
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
