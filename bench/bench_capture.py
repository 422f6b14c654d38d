"""Recovery point, measured: a stream of Cognito changes through the capture path on the emulator.

moto's server runs on a free loopback port with a pool and an SQS queue. A producer thread makes
changes (create / update / disable / group membership) and sends each one's CloudTrail-via-EventBridge
event to the queue, as EventBridge would; the capture consumer (`ops.capture.run_capture`, the code
behind `cognito-backup capture --follow`) runs concurrently. For each event we report the delay from its
arrival in the queue (SQS SentTimestamp) to the moment its journal record was durable, and at the end
one replicate round to a standby pool and the standby's lag. Prints one JSON object.

    python bench/bench_capture.py --events 2000
    python bench/bench_capture.py --events 2000 --users 2000 --actor self   # users' own changes

With `--actor self` the events are the users' own calls (SignUp, UpdateUserAttributes), which the capture
re-reads with AdminGetUser (UserRead quota, 120/s) instead of ListUsers (UserList, 30/s).

    python bench/bench_capture.py --events 2000 --rate 100 --users 2000 --actor self --latency 0.1

With `--latency` the capture's Cognito reads go to bench/listing_double.py instead of moto (moto serves one
request at a time and, on a shared machine, cannot answer 100 reads/s): each answered after that latency
on the calling thread, with Cognito's default quotas enforced server-side by bench/quota_double.py (HTTP
400 TooManyRequestsException over quota), and the queue is bench/queue_double.py (moto's SQS could not
take 100 sends/s next to the capture on the shared machine). The users exist only in the double, so the
producer only sends their events (as `--precreate`) and the standby round is skipped.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from cognito_backup.emulator import free_port

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the doubles beside this file


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def cloudtrail_event(pool: str, name: str, n: int, sub: str, group: str | None = None) -> str:
    """The SQS body EventBridge delivers for a Cognito call `name` of the user `sub` (CloudTrail redacts
    the username; the sub is in additionalEventData), event id `ev-<n>`, timed now."""
    rp: dict[str, Any] = {"userPoolId": pool, "username": "HIDDEN_DUE_TO_SECURITY_REASONS"}
    if group:
        rp["groupName"] = group
    return json.dumps(
        {
            "version": "0",
            "id": f"eb-{n}",
            "detail-type": "AWS API Call via CloudTrail",
            "source": "aws.cognito-idp",
            "detail": {
                "eventSource": "cognito-idp.amazonaws.com",
                "eventName": name,
                "eventID": f"ev-{n}",
                "eventTime": dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "requestParameters": rp,
                "responseElements": None,
                "additionalEventData": {"sub": sub},
            },
        }
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second the producer makes")
    parser.add_argument("--users", type=int, default=200)
    parser.add_argument("--batch-size", type=int, default=20)
    parser.add_argument(
        "--precreate",
        action="store_true",
        help="create the users and make their changes before the timed phase, which then only sends the "
        "changes' events at --rate (the emulator cannot take 100 changes/s and the capture's reads here)",
    )
    parser.add_argument("--in-hand", type=int, default=500, help="messages the consumer holds at most (run_capture)")
    parser.add_argument("--producers", type=int, default=1, help="threads sharing the producer's schedule")
    parser.add_argument(
        "--actor",
        choices=("admin", "self"),
        default="admin",
        help="who makes the changes: an administrator (Admin* calls, re-read with ListUsers) or the users "
        "themselves (SignUp, UpdateUserAttributes: re-read with AdminGetUser)",
    )
    parser.add_argument(
        "--latency",
        type=float,
        default=None,
        help="serve the capture's Cognito reads from bench/listing_double.py after this many seconds per call, "
        "at Cognito's default quotas (bench/quota_double.py), instead of moto",
    )
    parser.add_argument(
        "--store-latency",
        type=float,
        default=0.0,
        help="each request to the repository waits this long first (bench/latency_store.py): S3's round trip, "
        "which a local disk hides",
    )
    parser.add_argument(
        "--sqs-latency",
        type=float,
        default=0.0,
        help="each receive and delete of the queue double waits this long first (with --latency): SQS's round trip",
    )
    parser.add_argument(
        "--backup-users",
        type=int,
        default=0,
        help="with --latency: a pool of this many users in the double, backed up (16 listing chains, its own "
        "Pacer at the default quotas) while the capture runs: what the capture leaves a backup of the quota "
        "the double enforces account-wide (backup_during_capture)",
    )
    args = parser.parse_args()
    if args.latency is not None:
        args.precreate = True  # the users live in the double: only their events are sent

    os.environ.update(
        {"AWS_ACCESS_KEY_ID": "bench", "AWS_SECRET_ACCESS_KEY": "bench", "AWS_DEFAULT_REGION": "us-east-1"}
    )
    import logging

    import boto3
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.CRITICAL)  # the emulator's access log is not the result

    from cognito_backup import emulator_tags
    from cognito_backup.aws.pacing import Pacer
    from cognito_backup.aws.reader import PoolReader
    from cognito_backup.cli.journal_cmds import reader_factory
    from cognito_backup.model import User
    from cognito_backup.ops.backup import run_backup
    from cognito_backup.ops.capture import BatchResult, CaptureOptions, Capturer, CaptureSummary, SqsQueue, run_capture
    from cognito_backup.ops.replicate import replicate_once
    from cognito_backup.ops.restore import RestoreOptions
    from cognito_backup.repo.journal import Journal
    from cognito_backup.repo.repository import Repository
    from cognito_backup.store.local import LocalStore

    emulator_tags.install()  # replicate tags its standby: Cognito's tagging calls, which moto lacks
    port = free_port()
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    endpoint = f"http://127.0.0.1:{port}"
    try:
        cognito = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
        schema = [{"Name": "tier", "AttributeDataType": "String", "Mutable": True}]
        pool = cognito.create_user_pool(PoolName="bench", Schema=schema)["UserPool"]["Id"]
        standby = cognito.create_user_pool(PoolName="standby", Schema=schema)["UserPool"]["Id"]
        cognito.create_group(UserPoolId=pool, GroupName="staff")
        url = sqs.create_queue(QueueName="capture", Attributes={"VisibilityTimeout": "60"})["QueueUrl"]
        tmp = Path(tempfile.mkdtemp(prefix="bench-capture-"))
        repo = Repository(LocalStore(tmp / "repo"))
        pacer = Pacer()  # Cognito's default quotas for the set-up (backup, standby)
        run_backup(PoolReader(cognito, pacer, pool, chains=1), repo, "us-east-1")
        # The standby starts from the snapshot; the measured round below is then an incremental one.
        replicate_once(repo, cognito, pacer, pool, standby, options=RestoreOptions(read_back=False))

        subs: dict[str, str] = {}
        by_sub: dict[str, str] = {}

        def sub_as_username(params: dict[str, Any], **_: Any) -> None:
            # Stand-in for Cognito's documented AdminGetUser-by-sub ("this value must be the sub of a local
            # user" when username is not an alias), which moto lacks: the producer knows every sub.
            params["Username"] = by_sub.get(str(params.get("Username")), params.get("Username"))

        cognito.meta.events.register("before-parameter-build.cognito-idp.AdminGetUser", sub_as_username)
        stop = threading.Event()

        def produce(first: int, start: float) -> None:
            """Events first, first + producers, ...: event n is due at start + n / rate (one schedule for
            all threads; one thread alone cannot make a moto call and an SQS send every 10 ms here)."""
            client = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1")
            queue = boto3.client("sqs", endpoint_url=endpoint, region_name="us-east-1")
            for n in range(first, args.events, args.producers):
                delay = start + n / args.rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                i = n % args.users
                name = f"user-{i:05d}"
                if args.precreate:  # the changes were made beforehand: only their events are timed
                    body = cloudtrail_event(
                        pool,
                        "UpdateUserAttributes" if args.actor == "self" else "AdminUpdateUserAttributes",
                        n,
                        subs[name],
                    )
                elif n < args.users:  # each user's first change creates it
                    resp = client.admin_create_user(
                        UserPoolId=pool,
                        Username=name,
                        MessageAction="SUPPRESS",
                        UserAttributes=[{"Name": "email", "Value": f"{i}@x.example"}],
                    )
                    subs[name] = User.from_api(resp["User"]).sub or ""
                    by_sub[subs[name]] = name
                    body = cloudtrail_event(
                        pool, "SignUp" if args.actor == "self" else "AdminCreateUser", n, subs[name]
                    )
                elif args.actor == "self":  # the user's own attribute update (moto has no access tokens here)
                    client.admin_update_user_attributes(
                        UserPoolId=pool, Username=name, UserAttributes=[{"Name": "custom:tier", "Value": f"t{n}"}]
                    )
                    body = cloudtrail_event(pool, "UpdateUserAttributes", n, subs[name])
                elif n % 5 == 0:
                    client.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName="staff")
                    body = cloudtrail_event(pool, "AdminAddUserToGroup", n, subs[name], "staff")
                elif n % 7 == 0:
                    client.admin_disable_user(UserPoolId=pool, Username=name)
                    body = cloudtrail_event(pool, "AdminDisableUser", n, subs[name])
                else:
                    client.admin_update_user_attributes(
                        UserPoolId=pool, Username=name, UserAttributes=[{"Name": "custom:tier", "Value": f"t{n}"}]
                    )
                    body = cloudtrail_event(pool, "AdminUpdateUserAttributes", n, subs[name])
                if queue_double is not None:
                    queue_double.send(body)
                else:
                    queue.send_message(QueueUrl=url, MessageBody=body)

        capture_cognito = cognito
        double = None
        queue_double: Any = None
        if args.latency is not None:
            sys.path.insert(0, str(Path(__file__).resolve().parent))
            from cognito_backup.aws.quotas import DEFAULT_RATES
            from listing_double import ListingDouble
            from quota_double import QuotaDouble

            quota = QuotaDouble(DEFAULT_RATES, share_used=0.0, random_throttle=0.0)
            size = max(args.users, args.backup_users)
            double = ListingDouble(pool, size, 1, max(1, size // 10), args.latency, quota=quota)
            from queue_double import QueueDouble

            queue_double = QueueDouble(latency=args.sqs_latency)
            capture_cognito = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1")
            double.install(capture_cognito)
            for i, item in enumerate(double.users):
                subs[f"user-{i:05d}"] = item["Attributes"][0]["Value"]
        elif args.precreate:
            setup = boto3.client("cognito-idp", endpoint_url=endpoint, region_name="us-east-1")
            for i in range(args.users):
                name = f"user-{i:05d}"
                resp = setup.admin_create_user(
                    UserPoolId=pool,
                    Username=name,
                    MessageAction="SUPPRESS",
                    UserAttributes=[{"Name": "email", "Value": f"{i}@x.example"}],
                )
                subs[name] = User.from_api(resp["User"]).sub or ""
                by_sub[subs[name]] = name

        delays: list[float] = []
        deleted = [0]
        # Where each message's delay goes (the per-stage timeline): stage -> seconds, one value per message.
        stages: dict[str, list[float]] = {s: [] for s in ("queue", "reads", "linger", "journal", "ack")}
        batch_sizes: list[int] = []

        def on_batch(result: BatchResult, total: CaptureSummary) -> None:
            assert result.durable_at is not None
            acked = dt.datetime.now(dt.UTC)
            delays.extend((result.durable_at - m.sent_at).total_seconds() for m in result.done if m.sent_at)
            batch_sizes.append(result.messages)
            # getattr: an older consumer (an A/B run against the previous code) keeps no timeline.
            began = getattr(result, "journal_started_at", None)
            for m in result.done:
                received, observed = getattr(m, "received_at", None), getattr(m, "observed_at", None)
                if m.sent_at is None or received is None or observed is None or began is None:
                    continue
                stages["queue"].append((received - m.sent_at).total_seconds())
                stages["reads"].append((observed - received).total_seconds())
                stages["linger"].append((began - observed).total_seconds())
                stages["journal"].append((result.durable_at - began).total_seconds())
                stages["ack"].append((acked - result.durable_at).total_seconds())
            deleted[0] = total.deleted

        # The capture CLI's and Lambda's own readers: one Pacer at the default quotas, UserList cut to the
        # capture's share.
        reader_for = reader_factory(capture_cognito, ())
        capture_pacer = reader_for(pool).pacer
        capturer = Capturer(reader_for, CaptureOptions(default_pool_id=pool, consistency_window=5))
        journal = Journal(repo.store)
        if args.store_latency:
            from latency_store import LatencyStore

            journal = Journal(LatencyStore(repo.store, args.store_latency))
        began = time.monotonic()
        producers = [
            threading.Thread(target=produce, args=(k, began), name=f"producer-{k}") for k in range(args.producers)
        ]
        for thread in producers:
            thread.start()
        out: list[CaptureSummary] = []

        def consume() -> None:
            out.append(
                run_capture(
                    queue_double or SqsQueue(sqs, url),
                    capturer,
                    journal,
                    follow=True,
                    stop=stop,
                    batch_size=args.batch_size,
                    wait_seconds=1,
                    on_batch=on_batch,
                    in_hand=args.in_hand,
                )
            )

        consumer = threading.Thread(target=consume, name="capture")
        consumer.start()
        backup_out: dict[str, Any] = {}
        backup_thread = None
        if double is not None and args.backup_users:
            from bench_backup import user_list_bound
            from cognito_backup.aws.session import client_config

            backup_client = boto3.client(
                "cognito-idp", endpoint_url=endpoint, region_name="us-east-1", config=client_config("cognito-idp", 32)
            )
            double.install(backup_client)

            def backup_during() -> None:
                t0 = time.monotonic()
                done = run_backup(
                    PoolReader(backup_client, Pacer(), pool, chains=16),
                    Repository(LocalStore(tmp / "backup-during")),
                    "us-east-1",
                ).summary()
                bound = user_list_bound(size, 1, max(1, size // 10))
                seconds = time.monotonic() - t0
                backup_out.update(
                    users=done["users"],
                    seconds=round(seconds, 2),
                    user_list_bound_seconds=round(bound, 2),
                    ratio_to_bound=round(seconds / bound, 3),
                    calls=done["calls"],
                )

            backup_thread = threading.Thread(target=backup_during, name="backup-during-capture")
            backup_thread.start()
        for thread in producers:
            thread.join()
        produce_seconds = time.monotonic() - began
        deadline = time.monotonic() + 1800
        while deleted[0] < args.events and time.monotonic() < deadline and consumer.is_alive():
            time.sleep(0.05)
        stop.set()  # as SIGTERM would: the consumer finishes the batch in hand and returns
        consumer.join()
        if backup_thread is not None:
            backup_thread.join()
        summary = out[0]
        capture_seconds = time.monotonic() - began

        rep_began = time.monotonic()
        rnd = None
        if double is None:  # the double's users are not in moto: no standby round to measure
            rnd = replicate_once(repo, cognito, pacer, pool, standby, options=RestoreOptions(read_back=False))
        replicate_seconds = time.monotonic() - rep_began
        result = {
            "events": args.events,
            "producer_rate_per_s": args.rate,
            # what the producer reached (each change is a moto call plus an SQS send): the rate measured
            "produced_rate_per_s": round(args.events / produce_seconds, 1),
            "actor": args.actor,
            "precreate": args.precreate,
            "users": args.users,
            "batch_size": args.batch_size,
            "in_hand": args.in_hand,
            "store_latency_s": args.store_latency,
            "sqs_latency_s": args.sqs_latency,
            "messages": summary.messages,
            "records": summary.records,
            "segments": summary.segments,
            "deleted": summary.deleted,
            "failed": summary.failed,
            "deferred": summary.deferred,
            "capture_seconds": round(capture_seconds, 2),
            "arrival_to_durable_p50_s": round(percentile(delays, 0.50), 3),
            "arrival_to_durable_p99_s": round(percentile(delays, 0.99), 3),
            "arrival_to_durable_max_s": round(max(delays, default=float("nan")), 3),
            "standby_round_seconds": round(replicate_seconds, 2) if rnd else None,
            "standby_operations": rnd.operations if rnd else None,
            "standby_failed": rnd.failed if rnd else None,
            "standby_lag_seconds_after_round": rnd.lag_seconds if rnd else None,
            # Each stage's p50 / p99 over the messages: SQS send -> received (queue), received -> re-read
            # (reads, with the Pacer's wait), read -> its group's journal put began (linger: the group
            # commit's interval and the put before), the put (journal), the deletes after it (ack: not in
            # the delay).
            "stages_p50_p99_s": {
                name: [round(percentile(v, 0.50), 3), round(percentile(v, 0.99), 3)] for name, v in stages.items()
            },
            "batch_messages_p50_max": [
                round(percentile([float(b) for b in batch_sizes], 0.5)),
                max(batch_sizes, default=0),
            ],
            "load_average": [round(x, 2) for x in os.getloadavg()],
            "quota_calls": capture_pacer.summary(),
            # A backup run meanwhile (--backup-users): its time against the UserList bound, its calls.
            "backup_during_capture": backup_out or None,
            "latency_double": None
            if double is None or double.quota is None
            else {
                "latency_s": args.latency,
                "attempts": dict(double.quota.attempts),
                "throttled": dict(double.quota.throttled),
            },
        }
        print(json.dumps(result, indent=2))
    finally:
        server.stop()


if __name__ == "__main__":
    main()
