"""The end of a restore: the sub map by reading the whole target back (before) against the sub map from
the create calls' answers and the planning read (now), on the stand-in endpoint (bench/standin.py).

    python bench/bench_submap.py --users 100000

Two targets, both mapping every source user: the copy pool (a restore into a pool that holds the users:
the planning read has their subs) and a new pool (every user created by the restore: the answers of its
AdminCreateUser calls have them, stood in here by the copy's users). Prints, per case, the seconds and
ListUsers calls of each way and the same figures at Cognito's default UserList quota (30 per second,
what a real restore shares with every other reader of the account). Each way's rows must be equal.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "src"))
sys.path.insert(0, str(ROOT / "bench"))

import boto3  # noqa: E402

from bench_scale import start_standin  # noqa: E402
from cognito_backup.aws.pacing import Pacer  # noqa: E402
from cognito_backup.aws.quotas import DEFAULT_RATES  # noqa: E402
from cognito_backup.aws.reader import PoolReader  # noqa: E402
from cognito_backup.core.plan import identity_key, username_attributes  # noqa: E402
from cognito_backup.core.spill import UserTable  # noqa: E402
from cognito_backup.model import PoolConfig, PoolState  # noqa: E402
from cognito_backup.ops.restore import _sub_map, _sub_map_from_answers  # noqa: E402

USER_LIST_QUOTA = 30.0  # ListUsers per second, Cognito's default (aws/quotas.py)


def listings(pacer: Pacer) -> int:
    return int(pacer.summary().get("UserList", {}).get("calls", 0))  # ListUsers: the UserList category


def measure(client: Any, pool_id: str, desired: PoolState, actual: PoolState, made: UserTable[Any]) -> dict[str, Any]:
    fast = {category: 100_000.0 for category in DEFAULT_RATES}
    pacer = Pacer(rates=fast)
    start = time.monotonic()
    before, _ = _sub_map(client, pacer, pool_id, desired)
    read_back_s, read_back_calls = time.monotonic() - start, listings(pacer)
    pacer = Pacer(rates=fast)
    start = time.monotonic()
    now, missing = _sub_map_from_answers(
        PoolReader(client, pacer, pool_id), desired, actual, [], made, UserTable(), lambda note: None
    )
    answers_s, answers_calls = time.monotonic() - start, listings(pacer)
    assert list(now) == list(before) and not missing, "the two ways must give the same rows"
    return {
        "rows": len(before),
        "read_back_s": round(read_back_s, 1),
        "read_back_calls": read_back_calls,
        "read_back_s_at_default_quota": round(max(read_back_s, read_back_calls / USER_LIST_QUOTA), 1),
        "answers_s": round(answers_s, 1),
        "answers_calls": answers_calls,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=100_000)
    args = parser.parse_args(argv)
    standin, ready = start_standin(args.users, sys.stderr)
    try:
        client = boto3.client(
            "cognito-idp",
            endpoint_url=ready["endpoint"],
            region_name="us-east-1",
            aws_access_key_id="bench",
            aws_secret_access_key="bench",
        )
        pacer = Pacer(rates={category: 100_000.0 for category in DEFAULT_RATES})
        desired = PoolReader(client, pacer, ready["user_pool_id"]).read_state()
        copy = PoolReader(client, pacer, ready["copy_pool_id"]).read_state()
        attrs = username_attributes(desired.config)
        answered: UserTable[Any] = UserTable((identity_key(u, attrs), (u.sub, u.username)) for u in copy.users.values())
        empty = PoolState(config=PoolConfig(user_pool=dict(copy.config.user_pool)))
        out = {
            "users": args.users,
            "into_a_pool_holding_them": measure(client, ready["copy_pool_id"], desired, copy, UserTable()),
            "into_a_new_pool": measure(client, ready["copy_pool_id"], desired, empty, answered),
        }
        print(json.dumps(out, indent=2))
    finally:
        assert standin.stdin is not None
        standin.stdin.close()
        standin.wait(timeout=60)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
