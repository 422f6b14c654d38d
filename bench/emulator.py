"""Benchmark emulator: moto's server in its own process, filled directly through moto's backend.

The server is the project's emulator (cognito_backup.emulator: one request at a time inside moto,
`--latency` spent outside that lock so clients still overlap). Filling 100,000 users through HTTP
would take longer than the benchmark itself, so this process creates them in moto's in-memory
backend, then serves them over HTTP like any emulator. Running it as a separate
process keeps the emulator's memory out of the backup's peak RSS.

Prints one JSON line {"endpoint": ..., "user_pool_id": ..., "users": N} when ready, then serves until
its stdin closes.
"""

from __future__ import annotations

import argparse
import json
import random
import sys


def fill_backend(user_pool_id: str, users: int, groups: int, members_per_group: int, region: str) -> None:
    from moto.cognitoidp.models import CognitoIdpUser, cognitoidp_backends

    backend = cognitoidp_backends["123456789012"][region]
    pool = backend.user_pools[user_pool_id]
    rng = random.Random(7)
    names: list[str] = []
    for i in range(users):
        username = f"user-{i:07d}"
        user = CognitoIdpUser(
            user_pool_id,
            username,
            None,
            "CONFIRMED",
            [
                {"Name": "email", "Value": f"user{i}@example.com"},
                {"Name": "email_verified", "Value": "true"},
                {"Name": "given_name", "Value": rng.choice(["Zoë", "José", "美咲", "Ana"])},
                {"Name": "custom:tier", "Value": rng.choice(["gold", "silver", "bronze"])},
            ],
        )
        user.enabled = i % 23 != 0
        pool.users[username] = user
        names.append(username)
    for g in range(groups):
        backend.create_group(user_pool_id, f"group-{g:03d}", f"group {g}", None, g)
        for username in rng.sample(names, min(members_per_group, len(names))):
            backend.admin_add_user_to_group(user_pool_id, f"group-{g:03d}", username)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--users", type=int, required=True)
    parser.add_argument("--groups", type=int, default=10)
    parser.add_argument("--members-per-group", type=int, default=500)
    parser.add_argument("--region", default="us-east-1")
    parser.add_argument(
        "--latency", type=float, default=0.0, help="seconds added to every answer, like the real service's 100-300 ms"
    )
    args = parser.parse_args()
    import boto3

    from cognito_backup.emulator import Emulator

    emulator = Emulator(latency=args.latency)
    endpoint = emulator.start()
    client = boto3.client(
        "cognito-idp",
        region_name=args.region,
        endpoint_url=endpoint,
        aws_access_key_id="bench",
        aws_secret_access_key="bench",
    )
    schema = [{"Name": "tier", "AttributeDataType": "String", "Mutable": True}]
    pool_id = client.create_user_pool(PoolName="bench", Schema=schema)["UserPool"]["Id"]
    fill_backend(pool_id, args.users, args.groups, args.members_per_group, args.region)
    print(json.dumps({"endpoint": endpoint, "user_pool_id": pool_id, "users": args.users}), flush=True)
    sys.stdin.read()  # serve until the benchmark closes our stdin
    emulator.stop()


if __name__ == "__main__":
    main()
