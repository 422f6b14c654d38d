"""Throttling benchmark: backup and restore while another application uses half of every Cognito quota
and a further 30% of calls are throttled at random.

    python bench/bench_throttle.py --users 500        (what `make bench-throttle` runs)

The emulator (moto's server, in this process) sits behind bench/quota_double.py, a double of Cognito's
quotas that answers HTTP 400 TooManyRequestsException: the tool meets throttling exactly as from AWS,
below botocore, and the double counts every HTTP attempt. The tool runs with its default rates (the
account's full quotas): it has to find the half that is left by itself.

Checks that nothing is missing (the snapshot holds every user, group and membership; the restored pool
holds every user, disabled user, group and membership) and prints one JSON line per phase:
    attempts_per_success   HTTP attempts / calls that went through          (goal <= 1.6)
    wall_over_bound        wall time / the least time the calls that went through need at the quota
                           left to us (max over categories and per-operation limits)   (goal <= 1.15)
    busy_over_bound        the same for the bounding category from its first to its last success: how
                           close to the quota it runs while it runs (the rest is set-up and read-back)
"""

from __future__ import annotations

import argparse
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

from bench_restore import fill  # noqa: E402
from cognito_backup.aws.pacing import Pacer  # noqa: E402
from cognito_backup.aws.quotas import DEFAULT_RATES  # noqa: E402
from cognito_backup.aws.reader import PoolReader  # noqa: E402
from cognito_backup.aws.session import AwsContext  # noqa: E402
from cognito_backup.emulator import Emulator  # noqa: E402
from cognito_backup.ops.backup import run_backup  # noqa: E402
from cognito_backup.ops.restore import RestoreRequest, run_restore  # noqa: E402
from cognito_backup.repo.repository import Repository  # noqa: E402
from cognito_backup.store import open_store  # noqa: E402
from quota_double import QuotaDouble  # noqa: E402


def phase(name: str, double: QuotaDouble, wall: float, pacer: Pacer, **extra: Any) -> dict[str, Any]:
    bound = double.bound_seconds()
    key = double.bounding_key()
    busy = double.busy_seconds(key) if key else 0.0
    return {
        "phase": name,
        **extra,
        "attempts": sum(double.attempts.values()),
        "throttled": sum(double.throttled.values()),
        "attempts_per_success": round(double.attempts_per_success(), 3),
        "wall_s": round(wall, 1),
        "bound_s": round(bound, 1),
        "wall_over_bound": round(wall / bound, 3) if bound else None,
        # Where the rest of the wall time goes: the bounding category at work (first to last success)
        # against its bound, and the time before and after it (set-up, reading back).
        "bound_key": key,
        "bound_key_busy_s": round(busy, 1),
        "busy_over_bound": round(busy / bound, 3) if bound else None,
        "tool": pacer.summary(),
    }


def pool_shape(client: Any, pool_id: str) -> dict[str, int]:
    """What a pool holds, read at the full quota (after the measured phase)."""
    state = PoolReader(client, Pacer(), pool_id).read_state()
    return {
        "users": len(state.users),
        "disabled": sum(not u.enabled for u in state.users.values()),
        "groups": len(state.groups),
        "memberships": len(state.memberships),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=500)
    parser.add_argument("--share-used", type=float, default=0.5, help="quota share another application uses")
    parser.add_argument("--random-throttle", type=float, default=0.3, help="share of calls throttled at random")
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    for var, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ[var] = value
    os.environ.pop("AWS_PROFILE", None)
    double = QuotaDouble(DEFAULT_RATES, share_used=args.share_used, random_throttle=args.random_throttle)
    with Emulator(middleware=double.wrap) as url:
        ctx = AwsContext(region=args.region, endpoint_url=url, max_pool_connections=64)
        client = ctx.client("cognito-idp")
        schema = [{"Name": "tier", "AttributeDataType": "String", "Mutable": True}]
        double.enabled = False
        source = client.create_user_pool(PoolName="bench-source", Schema=schema)["UserPool"]["Id"]
        shape = fill(source, args.users, args.region)
        failures: list[str] = []
        with tempfile.TemporaryDirectory() as tmp:
            repo = Repository(open_store(str(Path(tmp) / "repo"), ctx))

            double.reset(enabled=True)
            pacer = Pacer(DEFAULT_RATES)
            start = time.monotonic()
            backup = run_backup(PoolReader(client, pacer, source), repo, args.region).summary()
            result = phase("backup", double, time.monotonic() - start, pacer)
            got = {k: backup[k] for k in ("users", "groups", "memberships")}
            want = {k: shape[k] for k in ("users", "groups", "memberships")}
            if got != want:
                failures.append(f"backup holds {got}, the pool {want}")
            print(json.dumps(result), flush=True)

            double.reset(enabled=True)
            pacer = Pacer(DEFAULT_RATES)
            start = time.monotonic()
            outcome = run_restore(
                client, pacer, repo, RestoreRequest(new_pool_name="bench-target", report_dir=Path(tmp) / "reports")
            )
            result = phase(
                "restore", double, time.monotonic() - start, pacer, failed=outcome.summary.counts()["failed"]
            )
            double.reset(enabled=False)
            restored = pool_shape(client, str(outcome.summary.user_pool_id))
            if restored != shape or result["failed"]:
                failures.append(f"restored pool holds {restored}, the source {shape}; {result['failed']} failed")
            print(json.dumps(result), flush=True)
    print(json.dumps({"complete": not failures, "problems": failures}), flush=True)
    if failures:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
