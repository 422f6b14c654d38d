"""Benchmark emulator: moto's server in its own process, filled directly through moto's backend.

Filling 100,000 users through HTTP would take longer than the benchmark itself, so this process creates
them in moto's in-memory backend, then serves them over HTTP like any emulator. Running it as a separate
process keeps the emulator's memory out of the backup's peak RSS.

Prints one JSON line {"endpoint": ..., "user_pool_id": ..., "users": N} when ready, then serves until
its stdin closes.
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import socket
import sys
from typing import Any


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


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


def serve_with_latency(server: Any, port: int, latency: float) -> None:
    """moto's own threaded server, with each request held `latency` seconds (requests overlap)."""
    import time

    from moto.moto_server.threaded_moto_server import MotoRequestHandler
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
    from werkzeug.serving import make_server

    app = DomainDispatcherApplication(create_backend_app)

    def slow(environ: Any, start_response: Any) -> Any:
        time.sleep(latency)
        return app(environ, start_response)

    server._server = make_server("127.0.0.1", port, slow, True, request_handler=MotoRequestHandler)
    server._server_ready_event.set()
    server._server.serve_forever()


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
    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
    import boto3
    from moto.server import ThreadedMotoServer

    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    if args.latency > 0:
        server._server_entry = lambda: serve_with_latency(server, port, args.latency)  # type: ignore[method-assign]
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
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
    server.stop()


if __name__ == "__main__":
    main()
