"""A standby round that compares the whole standby, run as the Lambda runs it: bounded calls, each its own
process, until one finishes; per call its wall time, CPU seconds, peak RSS and what it did.

    python bench/bench_standby_calls.py --users 100000
    python bench/bench_standby_calls.py --users 1000000 --budget 840

The Cognito endpoint is bench/standin.py (bench_scale.py's set-up: the source "bench" with N users, 20
groups and N memberships, and its copy "bench-copy" with every 100th user drifted). The source is backed
up, a journal of `--journal` changes written, then calls of serverless/replicate.py's shape run into the
copy: each with `--budget` seconds, no operation started with less than the handler's SAFETY_SECONDS (or a
quarter of the budget) left. Quotas are raised as in bench_scale.py (BENCH_RATE on every category), so
the listing runs at this machine's speed, not at Cognito's default UserList quota (~9 minutes per 1M
users there). Prints one line per call and writes JSON (--out); `first_write_s`: when the call sent its
first write (in the call that plans: loading both snapshots, folding the journal, planning, storing the plan).
`--empty-standby`: replicate into a new, empty pool instead of the copy (the first round into an empty
standby: every user created, its password set, its memberships added): the planning call stores the plan
and the later calls carry it out from there (no listing, no planning), each call's `first_write_s` then
being what it spends before writing. `first_write_cpu_s`: this process's CPU seconds until then (a 2,048 MB
Lambda has about one vCPU: its wall time is about these CPU seconds, whatever this machine's load).
`list_requests`: the call's ListUsers and ListUsersInGroup requests.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_scale import BENCH_RATE, cli, measure, start_standin, write_journal  # noqa: E402
from cognito_backup.aws.quotas import DEFAULT_RATES  # noqa: E402

# A standby round's reads; every other call it makes writes the standby. Tagging the standby (its first
# round, before the plan) is not one of the plan's writes.
READS = ("List", "Describe", "Get", "AdminGet", "AdminList")
NOT_PLANNED = ("TagResource",)


def standin_client(endpoint: str) -> Any:
    import boto3

    return boto3.client(
        "cognito-idp",
        region_name="us-east-1",
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )


def one_call(repo: str, endpoint: str, source: str, standby: str, budget: float, out: Path) -> int:
    """One call as serverless/replicate.py makes it (its time budget and margin), in this process."""
    from cognito_backup.aws.pacing import Pacer
    from cognito_backup.errors import OutOfTime
    from cognito_backup.ops.replicate import replicate_once
    from cognito_backup.repo.repository import Repository
    from cognito_backup.serverless.replicate import SAFETY_SECONDS
    from cognito_backup.store import open_store

    started = time.monotonic()

    def left() -> float:
        return budget - (time.monotonic() - started)

    margin = min(SAFETY_SECONDS, budget / 4)
    client = standin_client(endpoint)
    pacer = Pacer(dict.fromkeys(DEFAULT_RATES, BENCH_RATE))
    repository = Repository(open_store(repo))
    # When this call sent its first write to the standby: in the call that plans, what came before it is
    # loading both snapshots, folding the journal and planning (and storing the plan).
    first_write: list[tuple[float, float]] = []  # (wall, CPU) seconds into the call
    cpu_start = time.process_time()
    listings = [0]  # ListUsers / ListUsersInGroup requests: pages of the standby's listing, or lookups

    def on_send(event_name: str = "", **_: Any) -> None:
        operation = event_name.rpartition(".")[2]
        listings[0] += operation in ("ListUsers", "ListUsersInGroup")
        if not first_write and not operation.startswith(READS) and operation not in NOT_PLANNED:
            first_write.append((time.monotonic() - started, time.process_time() - cpu_start))

    client.meta.events.register("before-send.cognito-idp", on_send)
    body: dict[str, Any]
    try:
        result = replicate_once(
            repository,
            client,
            pacer,
            source,
            standby,
            confirmed=True,
            out_of_time=lambda: left() < margin,
            seconds_left=left,
        )
        body = {"finished": True, "operations": result.operations, "failed": result.failed}
    except OutOfTime as exc:
        body = {"finished": False, "why": exc.message}
    body["seconds_left"] = round(left(), 1)
    if first_write:
        body["first_write_s"] = round(first_write[0][0], 1)
        body["first_write_cpu_s"] = round(first_write[0][1], 1)
    body["list_requests"] = listings[0]
    out.write_text(json.dumps(body))
    return 0


def empty_pool(endpoint: str) -> str:
    return str(standin_client(endpoint).create_user_pool(PoolName="bench-standby")["UserPool"]["Id"])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    parser.add_argument("--journal", type=int, default=2000)
    parser.add_argument("--budget", type=float, default=840.0, help="seconds per call (the handler's default)")
    parser.add_argument("--max-calls", type=int, default=20)
    parser.add_argument("--empty-standby", action="store_true", help="replicate into a new, empty pool")
    parser.add_argument("--out", type=Path, default=Path("bench-standby-calls.json"))
    parser.add_argument(
        "--call", nargs=5, metavar=("REPO", "ENDPOINT", "SOURCE", "STANDBY", "OUT"), help=argparse.SUPPRESS
    )
    args = parser.parse_args(argv)
    if args.call:
        repo, endpoint, source, standby, out = args.call
        return one_call(repo, endpoint, source, standby, args.budget, Path(out))
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-standby-") as tmp:
        work = Path(tmp)
        log = (work / "log.txt").open("w")
        standin, ready = start_standin(args.users, log)
        try:
            endpoint, source, copy = ready["endpoint"], ready["user_pool_id"], ready["copy_pool_id"]
            repo = str(work / "repo")
            env = {**os.environ, "AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "NO_COLOR": "1"}
            rates = [f"--rate={category}={BENCH_RATE:g}" for category in DEFAULT_RATES]
            base = [*cli(), "--endpoint-url", endpoint, "--region", "us-east-1"]
            code, wall, cpu, rss = measure(
                [*base, "backup", "--user-pool-id", source, "--repo", repo, *rates], log, env
            )
            print(f"backup of the source: exit {code} {wall:.1f} s {cpu:.1f} CPU s {rss:.1f} MiB", flush=True)
            write_journal(repo, source, args.users, args.journal, dt.datetime.now(dt.UTC))
            if args.empty_standby:
                copy = empty_pool(endpoint)
            for n in range(1, args.max_calls + 1):
                out = work / f"call-{n}.json"
                argv = [
                    sys.executable,
                    __file__,
                    "--budget",
                    str(args.budget),
                    "--call",
                    repo,
                    endpoint,
                    source,
                    copy,
                    str(out),
                ]
                code, wall, cpu, rss = measure(argv, log, env)
                body = json.loads(out.read_text()) if out.exists() else {"finished": False, "why": f"exit {code}"}
                row = {
                    "call": n,
                    "exit": code,
                    "wall_s": round(wall, 1),
                    "cpu_s": round(cpu, 1),
                    "peak_rss_mib": round(rss, 1),
                    **body,
                }
                rows.append(row)
                print(json.dumps(row), flush=True)
                if body.get("finished") or code != 0:
                    break
        finally:
            assert standin.stdin is not None
            standin.stdin.close()
            standin.wait(timeout=60)
            log.close()
    body = {"users": args.users, "budget": args.budget, "empty_standby": args.empty_standby, "calls": rows}
    args.out.write_text(json.dumps(body, indent=2) + "\n")
    return 0 if rows and rows[-1].get("finished") else 1


if __name__ == "__main__":
    raise SystemExit(main())
