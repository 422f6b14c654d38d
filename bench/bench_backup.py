"""Backup benchmark: users/s, CPU seconds and peak RSS of `cognito-backup backup` for N users.

    python bench/bench_backup.py --users 10000 --users 100000      (what `make bench-backup` runs)
    python bench/bench_backup.py --users 10000 --latency 0.15 --real-quota --chains 1   (one chain vs 16:
    python bench/bench_backup.py --users 10000 --latency 0.15 --real-quota --chains 16   what chains buy)
    python bench/bench_backup.py --users 5000 --groups 5 --members-per-group 100 --latency 0.15 --real-quota
                                                       (ratio to the UserList bound, issue #10 point 5)

For each N: an emulator process (bench/emulator.py) holds a pool of N users; the backup runs as its own
process (so its peak RSS is its own) with the quota pacing disabled (--rate UserList=100000), since the
emulator is the bottleneck being measured against, not Cognito's quota. With --real-quota the line also
gives `bound_seconds`, the least time Cognito's UserList quota allows ((user pages + membership pages)
/ 30 per second, pages of 60), and `ratio_to_bound`, the wall time of the backup process over it
(`backup_ratio_to_bound`: the backup's own `seconds`, without the process start).

    python bench/bench_backup.py --users 20000 --groups 5 --members-per-group 400 --latency 0.15 --double

runs the backup in this process against bench/listing_double.py (pages prepared in memory, answered
after --latency, paced at the default quotas) instead of moto, which cannot serve 30 pages/s of a
20,000-user pool on a shared machine: it measures the tool's own scheduling against the UserList bound.

Prints one JSON line per N and a final line comparing peak RSS. The emulator answers each ListUsers page
in time proportional to the pool's size (moto scans the whole pool per page), so users/s falls with N:
that is the emulator, not the tool; the real service's cost per page does not grow with the pool.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


PAGE = 60  # users per ListUsers / ListUsersInGroup page (the most Cognito gives)
USER_LIST_RATE = 30.0  # Cognito's default UserList quota (ListUsers and ListUsersInGroup share it)


def user_list_bound(users: int, groups: int, members_per_group: int) -> float:
    """Seconds the UserList quota needs at least for a backup: every user page and membership page."""
    pages = math.ceil(users / PAGE) + groups * math.ceil(min(members_per_group, users) / PAGE)
    return pages / USER_LIST_RATE


def run_one(
    users: int,
    chains: int,
    latency: float = 0.0,
    real_quota: bool = False,
    groups: int = 10,
    members_per_group: int = 500,
) -> dict[str, object]:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_REGION="us-east-1")
    emulator = subprocess.Popen(
        [
            sys.executable,
            str(ROOT / "bench" / "emulator.py"),
            "--users",
            str(users),
            "--latency",
            str(latency),
            "--groups",
            str(groups),
            "--members-per-group",
            str(members_per_group),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
    )
    assert emulator.stdout is not None and emulator.stdin is not None
    ready = json.loads(emulator.stdout.readline())
    try:
        with tempfile.TemporaryDirectory() as repo:
            start = time.monotonic()
            with tempfile.TemporaryFile() as errors:
                proc = subprocess.Popen(
                    [
                        sys.executable,
                        "-m",
                        "cognito_backup.cli.main",
                        "--endpoint-url",
                        ready["endpoint"],
                        "backup",
                        "--user-pool-id",
                        ready["user_pool_id"],
                        "--repo",
                        repo,
                        "--list-chains",
                        str(chains),
                        *([] if real_quota else ["--rate", "UserList=100000", "--rate", "UserPoolResourceRead=100000"]),
                        "--json",
                    ],
                    stdout=subprocess.PIPE,
                    stderr=errors,
                    text=True,
                    env=env,
                )
                assert proc.stdout is not None
                output = proc.stdout.read()
                # wait4 gives this one child's own resource usage (not the emulator's).
                _, status, usage = os.wait4(proc.pid, 0)
                proc.returncode = os.waitstatus_to_exitcode(status)
                wall = time.monotonic() - start
                if proc.returncode != 0:
                    errors.seek(0)
                    raise SystemExit(f"backup failed ({proc.returncode}): {errors.read()[-2000:]!r}")
            summary = json.loads(output)
            repo_bytes = sum(p.stat().st_size for p in Path(repo).rglob("*") if p.is_file())
    finally:
        emulator.stdin.close()
        emulator.wait(timeout=60)
    cpu = usage.ru_utime + usage.ru_stime
    bound = user_list_bound(users, groups, members_per_group)
    return {
        "users": summary["users"],
        "memberships": summary["memberships"],
        "wall_seconds": round(wall, 2),
        "users_per_second": round(summary["users"] / wall, 1),
        "cpu_seconds": round(cpu, 2),
        "peak_rss_mib": round(usage.ru_maxrss / 1024, 1),
        "repo_bytes": repo_bytes,
        "list_chains": summary["list_chains"],
        "latency_s": latency,
        "pacing": "default quotas" if real_quota else "lifted",
        "groups": groups,
        "members_per_group": members_per_group,
        **(
            {
                "bound_seconds": round(bound, 2),
                "ratio_to_bound": round(wall / bound, 3),
                "backup_seconds": summary["seconds"],
                "backup_ratio_to_bound": round(float(summary["seconds"]) / bound, 3),
            }
            if real_quota
            else {}
        ),
    }


def run_double(users: int, chains: int, latency: float, groups: int, members_per_group: int) -> dict[str, object]:
    import boto3

    sys.path.insert(0, str(ROOT / "bench"))
    from cognito_backup.aws.pacing import Pacer
    from cognito_backup.aws.reader import PoolReader
    from cognito_backup.aws.session import client_config
    from cognito_backup.ops.backup import run_backup
    from cognito_backup.repo.repository import Repository
    from cognito_backup.store.local import LocalStore
    from listing_double import ListingDouble

    pool_id = "us-east-1_benchdouble"
    double = ListingDouble(pool_id, users, groups, members_per_group, latency)
    client = boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
        config=client_config("cognito-idp", 32),
    )
    double.install(client)
    with tempfile.TemporaryDirectory() as repo:
        result = run_backup(
            PoolReader(client, Pacer(), pool_id, chains=chains), Repository(LocalStore(repo)), "us-east-1"
        )
    summary = result.summary()
    bound = user_list_bound(users, groups, members_per_group)
    return {
        "users": summary["users"],
        "memberships": summary["memberships"],
        "backup_seconds": summary["seconds"],
        "list_chains": summary["list_chains"],
        "latency_s": latency,
        "pacing": "default quotas",
        "endpoint": "bench/listing_double.py",
        "groups": groups,
        "members_per_group": members_per_group,
        "user_list_calls": summary["calls"]["UserList"]["calls"],
        "bound_seconds": round(bound, 2),
        "backup_ratio_to_bound": round(float(summary["seconds"]) / bound, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, action="append", help="pool size (repeatable)")
    parser.add_argument("--chains", type=int, default=16)
    parser.add_argument("--latency", type=float, default=0.0, help="emulator latency per call (s)")
    parser.add_argument("--real-quota", action="store_true", help="pace at Cognito's default quotas (30 RPS)")
    parser.add_argument("--groups", type=int, default=10, help="groups in the pool")
    parser.add_argument("--members-per-group", type=int, default=500, help="members of each group")
    parser.add_argument("--double", action="store_true", help="in-process listing double instead of moto")
    args = parser.parse_args()
    if args.double:
        for n in sorted(args.users or [20_000]):
            print(json.dumps(run_double(n, args.chains, args.latency, args.groups, args.members_per_group)), flush=True)
        return
    results = []
    for n in sorted(args.users or [10_000, 100_000]):
        result = run_one(n, args.chains, args.latency, args.real_quota, args.groups, args.members_per_group)
        results.append(result)
        print(json.dumps(result), flush=True)
    if len(results) > 1:
        ratio = float(results[-1]["peak_rss_mib"]) / float(results[0]["peak_rss_mib"])  # type: ignore[arg-type]
        print(json.dumps({"peak_rss_ratio_largest_to_smallest": round(ratio, 3)}), flush=True)


if __name__ == "__main__":
    main()
