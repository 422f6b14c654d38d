"""What sorted, content-defined shards save (#10.1): bytes a second snapshot stores when a few users changed.

    .venv/bin/python bench/bench_shards.py [--users 100000] [--changed 0.01 0.001] [--dir /tmp/bench-shards]

Two snapshots of the same synthetic pool (bench_memory.synthetic_user) are written through the backup's
own writer (SnapshotWriter: sort buffer, sorted runs flushed every `--run` users as a checkpoint would,
merge, content-defined cuts), the users added in a shuffled listing order. The second has a fraction
`--changed` of its users changed at random. Reported: the bytes the second snapshot newly stored against
the bytes it references (a full one), and against the users in today's listing-order format (one object
per 100,000 users, what every snapshot stored before sharding). Each fraction gets a fresh repository.
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
import shutil
import sys
import time
from pathlib import Path

from cognito_backup.model import PoolConfig
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.objects import ObjectWriter
from cognito_backup.repo.repository import DEFAULT_MAX_RECORDS_PER_OBJECT, Repository
from cognito_backup.store.local import LocalStore
from cognito_backup.store.memory import MemoryStore

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_memory import SCHEMA, synthetic_user

POOL = "eu-west-1_bench"


def snapshot(repo: Repository, order: list[int], changed: set[int], run: int, day: int) -> Manifest:
    config = PoolConfig(user_pool={"Id": POOL, "SchemaAttributes": SCHEMA})
    started = dt.datetime(2026, 1, day, tzinfo=dt.UTC)
    with repo.begin_snapshot(POOL, "eu-west-1", started_at=started) as writer:
        writer.add("config", config.to_record())
        for n, i in enumerate(order, start=1):
            writer.add("users", synthetic_user(i, changed=i in changed).to_record())
            if n % run == 0:
                writer.flush()  # a checkpoint: the users so far become a sorted run
        return writer.commit()


def listing_order_bytes(order: list[int], changed: set[int]) -> int:
    """The users as a snapshot stored them before sharding: listing order, objects of 100,000."""
    store, total = MemoryStore(), 0
    for start in range(0, len(order), DEFAULT_MAX_RECORDS_PER_OBJECT):
        writer = ObjectWriter(store, "users")
        for i in order[start : start + DEFAULT_MAX_RECORDS_PER_OBJECT]:
            writer.add(synthetic_user(i, changed=i in changed).to_record())
        total += writer.finish().size
    return total


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--changed", type=float, nargs="+", default=[0.01, 0.001])
    parser.add_argument("--run", type=int, default=20_000, help="users between two checkpoint flushes")
    parser.add_argument("--dir", type=Path, default=Path("/tmp/bench-shards"))
    args = parser.parse_args()
    rng = random.Random(7)
    order = list(range(args.users))
    rng.shuffle(order)
    for fraction in args.changed:
        where = args.dir / f"repo-{args.users}-{fraction}"
        shutil.rmtree(where, ignore_errors=True)
        repo = Repository(LocalStore(where))
        started = time.monotonic()
        snapshot(repo, order, set(), args.run, 1)
        first_seconds = time.monotonic() - started
        changed = set(rng.sample(range(args.users), int(args.users * fraction)))
        second = snapshot(repo, order, changed, args.run, 2)
        users = second.objects_of("users")
        full = sum(o.size for o in second.objects)
        reused = int(second.extra["reused_bytes"])
        old = listing_order_bytes(order, changed)
        print(
            f"{args.users:,} users, {len(changed):,} changed ({fraction:.1%}): {len(users):,} user shards "
            f"(avg {args.users / len(users):.0f} users); second snapshot stores {full - reused:,} B of {full:,} B "
            f"({(full - reused) / full:.1%}); reused {second.extra['reused_objects']:,} objects, {reused:,} B; "
            f"a listing-order snapshot stores {old:,} B of users every time; first snapshot {first_seconds:.1f} s",
            flush=True,
        )


if __name__ == "__main__":
    main()
