"""Restore benchmark: wall time of a restore of N users into a new pool, paced at Cognito's REAL default
quotas, beside the quota bound.

    python bench/bench_restore.py --users 10000        (what `make bench-restore` runs)

moto's server runs in this process on a loopback port; the source pool is filled directly through moto's
backend (filling through HTTP would take longer than the restore). Then: backup (ops.backup.run_backup),
restore into a new pool (ops.restore.run_restore) with the default Pacer, i.e. UserCreation 50 RPS,
UserUpdate 25, UserAccountRecovery 30, ... The emulator is far faster than those rates, so the wall time
measures the tool's pacing and concurrency against the quotas:

    bound (concurrent) = max over categories of calls / rate   (what running categories at once allows)
    bound (serial)     = sum over categories of calls / rate   (a restore that does one thing at a time)

It also reports when the first membership write (AdminAddUserToGroup) and the last user creation
(AdminCreateUser) started, in seconds from the restore's start, observed through a botocore event
handler: how early the membership category gets to work (docs/design.md "The scheduler").

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import sys
import tempfile
import time
from pathlib import Path

from cognito_backup.emulator import free_port

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))

from cognito_backup.aws.pacing import Pacer  # noqa: E402
from cognito_backup.aws.quotas import DEFAULT_RATES  # noqa: E402
from cognito_backup.aws.reader import PoolReader  # noqa: E402
from cognito_backup.aws.session import AwsContext  # noqa: E402
from cognito_backup.ops.backup import run_backup  # noqa: E402
from cognito_backup.ops.restore import RestoreRequest, run_restore  # noqa: E402
from cognito_backup.repo.repository import Repository  # noqa: E402
from cognito_backup.store import open_store  # noqa: E402

ACCOUNT = "123456789012"
GROUPS = 20


def fill(pool_id: str, users: int, region: str) -> dict[str, int]:
    """Users (every 23rd disabled), GROUPS groups, each user in one group and every 10th in a second."""
    from moto.cognitoidp.models import CognitoIdpUser, cognitoidp_backends

    backend = cognitoidp_backends[ACCOUNT][region]
    pool = backend.user_pools[pool_id]
    for g in range(GROUPS):
        backend.create_group(pool_id, f"group-{g:02d}", f"group {g}", f"arn:aws:iam::{ACCOUNT}:role/g{g}", g)
    memberships = disabled = 0
    for i in range(users):
        username = f"user-{i:06d}"
        user = CognitoIdpUser(
            pool_id,
            username,
            None,
            "CONFIRMED",
            [
                {"Name": "email", "Value": f"user{i}@example.com"},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "custom:tier", "Value": ("gold", "silver", "bronze")[i % 3]},
            ],
        )
        user.enabled = i % 23 != 0
        disabled += not user.enabled
        pool.users[username] = user
        for g in {i % GROUPS, (i * 7 + 3) % GROUPS} if i % 10 == 0 else {i % GROUPS}:
            backend.admin_add_user_to_group(pool_id, f"group-{g:02d}", username)
            memberships += 1
    return {"users": users, "groups": GROUPS, "memberships": memberships, "disabled": disabled}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--region", default="us-east-1")
    args = parser.parse_args()
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    # The emulator accepts any credentials; never pick up (or need) real ones.
    for var, value in (("AWS_ACCESS_KEY_ID", "bench"), ("AWS_SECRET_ACCESS_KEY", "bench")):
        os.environ[var] = value
    os.environ.pop("AWS_PROFILE", None)
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    try:
        ctx = AwsContext(region=args.region, endpoint_url=f"http://127.0.0.1:{port}", max_pool_connections=64)
        client = boto3.client(
            "cognito-idp",
            region_name=args.region,
            endpoint_url=ctx.endpoint_url,
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        schema = [{"Name": "tier", "AttributeDataType": "String", "Mutable": True}]
        source = client.create_user_pool(PoolName="bench-source", Schema=schema)["UserPool"]["Id"]
        shape = fill(source, args.users, args.region)
        fast_client = ctx.client("cognito-idp")
        with tempfile.TemporaryDirectory() as tmp:
            repo = Repository(open_store(str(Path(tmp) / "repo"), ctx))
            run_backup(PoolReader(fast_client, Pacer(), source), repo, args.region)
            pacer = Pacer(DEFAULT_RATES)  # the real default quotas
            start = time.monotonic()
            first_started: dict[str, float] = {}
            last_started: dict[str, float] = {}

            def seen(event_name: str, **_: object) -> None:
                call, now = event_name.rsplit(".", 1)[-1], round(time.monotonic() - start, 1)
                first_started.setdefault(call, now)
                last_started[call] = now

            fast_client.meta.events.register("before-call.cognito-idp.AdminAddUserToGroup", seen)
            fast_client.meta.events.register("before-call.cognito-idp.AdminCreateUser", seen)
            outcome = run_restore(
                fast_client,
                pacer,
                repo,
                RestoreRequest(new_pool_name="bench-target", report_dir=Path(tmp) / "reports"),
            )
            wall = time.monotonic() - start
        summary = outcome.summary
        calls = {cat: int(s["calls"]) for cat, s in pacer.summary().items()}
        per_category = {cat: round(n / DEFAULT_RATES[cat], 1) for cat, n in calls.items()}
        writes = {k: v for k, v in per_category.items() if k in ("UserCreation", "UserUpdate", "UserAccountRecovery")}
        print(
            json.dumps(
                {
                    "bench": "restore",
                    **shape,
                    "failed": summary.counts()["failed"],
                    "wall_s": round(wall, 1),
                    "bound_concurrent_s": max(per_category.values()),
                    "bound_serial_writes_s": round(sum(writes.values()), 1),
                    "bound_by_category_s": per_category,
                    "calls": calls,
                    "wall_over_bound": round(wall / max(per_category.values()), 3),
                    "first_membership_write_s": first_started.get("AdminAddUserToGroup"),
                    "last_user_create_s": last_started.get("AdminCreateUser"),
                }
            ),
            flush=True,
        )
    finally:
        server.stop()


if __name__ == "__main__":
    main()
