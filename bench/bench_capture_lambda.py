"""Recovery point of the DEPLOYED capture, measured: the capture Lambda's handler as its SQS event source runs it.

What runs is `cognito_backup.serverless.capture.handler` itself, with the environment the template gives it
(COGNITO_BACKUP_CAPTURE_INSTANCES among it), warm. Each function instance is a fresh copy of the handler's
module (its own `_runtime`: clients, Pacer, caches), as Lambda gives each instance its own process; the
instances share this process's CPU and one account-wide quota double, as they share the account's quota.
The event source mapping is modelled from the template (deploy/template.yaml: BatchSize,
MaximumBatchingWindowInSeconds, ScalingConfig.MaximumConcurrency) and Lambda's documented SQS polling:
each poller long-polls the queue for up to 10 messages, keeps receiving until the batch holds BatchSize
messages or the batching window (counted from its first message) is over (no window: one receive is the
batch), invokes its function instance synchronously, then deletes the messages the response did not list
in `batchItemFailures` (those come back after the queue's visibility timeout). One poller per instance
up to MaximumConcurrency: Lambda's polling at its most (it scales pollers up with the backlog).

The doubles are bench_capture's (reused, with the same latencies): Cognito's reads are
bench/listing_double.py, installed on each instance's own Cognito client, after `--latency` seconds per
call, with Cognito's default quotas enforced account-wide by bench/quota_double.py; the repository is a
local directory behind bench/latency_store.py (`--store-latency` before every S3 request); the queue is
bench/queue_double.py (`--sqs-latency` before every receive and delete). A producer sends one change's
event every 1/`--rate` s, each of a distinct user (`--users`), made by the user (`--actor self`: re-read
with AdminGetUser) or by an administrator (`--actor admin`: ListUsers, the capture's half of UserList).

Delay = from the change's event sent to SQS to its journal segment durable (the end of the invocation's
last PUT); `handler_return` = to the handler's answer. Per-stage timeline of each message: `queue` (sent
-> its invocation began: the poller's receive and batching window, waiting for a free instance),
`reads` (-> the invocation's first S3 request: parsing and the paced re-reads), `journal` (-> the last
PUT ended) and `after` (-> the handler returned: rescan check, metrics line). Prints one JSON object.

    python bench/bench_capture_lambda.py --events 2000 --rate 100 --users 2000 --actor self \\
        --latency 0.15 --store-latency 0.03 --sqs-latency 0.015
    python bench/bench_capture_lambda.py --events 300 --rate 100 --users 300 --actor admin \\
        --latency 0.15 --store-latency 0.03 --sqs-latency 0.015
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import os
import sys
import tempfile
import threading
import time
from pathlib import Path
from types import ModuleType
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
sys.path.insert(0, str(Path(__file__).resolve().parent))  # the doubles beside this file

POOL = "us-east-1_BenchLambda"
HANDLER_MODULE = "cognito_backup.serverless.capture"


def template_settings() -> dict[str, Any]:
    """The capture function's event source settings and instance count, as deploy/template.yaml sets them."""
    from tests.test_deploy_template import TEMPLATE, load_template

    fn = load_template(TEMPLATE.read_text(encoding="utf-8"))["Resources"]["CaptureFunction"]["Properties"]
    source = fn["Events"]["CaptureQueue"]["Properties"]
    return {
        "batch_size": int(source["BatchSize"]),
        "window": float(source.get("MaximumBatchingWindowInSeconds", 0)),
        "concurrency": int(source["ScalingConfig"]["MaximumConcurrency"]),
        "instances_var": int(fn["Environment"]["Variables"]["COGNITO_BACKUP_CAPTURE_INSTANCES"]),
    }


def function_instance() -> ModuleType:
    """A fresh copy of the handler's module: the state one Lambda instance keeps between invocations."""
    spec = importlib.util.find_spec(HANDLER_MODULE)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def sqs_record(message: Any) -> dict[str, Any]:
    """One record of Lambda's SQS event (the fields the handler reads, as Lambda sends them)."""
    return {
        "messageId": message.id,
        "receiptHandle": message.receipt,
        "body": message.body,
        "attributes": {"SentTimestamp": str(int(message.sent_at.timestamp() * 1000)), "ApproximateReceiveCount": "1"},
        "messageAttributes": {},
        "eventSource": "aws:sqs",
        "eventSourceARN": "arn:aws:sqs:us-east-1:123456789012:capture",
        "awsRegion": "us-east-1",
    }


def main() -> None:
    defaults = template_settings()
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--rate", type=float, default=100.0, help="changes per second the producer makes")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--actor", choices=("admin", "self"), default="self")
    parser.add_argument("--latency", type=float, default=0.15, help="seconds per Cognito call (listing_double)")
    parser.add_argument("--store-latency", type=float, default=0.03, help="seconds per S3 request (latency_store)")
    parser.add_argument("--sqs-latency", type=float, default=0.015, help="seconds per receive and delete")
    parser.add_argument("--batch-size", type=int, default=defaults["batch_size"], help="default: the template's")
    parser.add_argument("--window", type=float, default=defaults["window"], help="batching window, s (template's)")
    parser.add_argument("--concurrency", type=int, default=defaults["concurrency"], help="instances (template's)")
    parser.add_argument(
        "--instances-var",
        type=int,
        default=defaults["instances_var"],
        help="COGNITO_BACKUP_CAPTURE_INSTANCES (the template's): each instance's share of the capture's quotas",
    )
    args = parser.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="bench-capture-lambda-"))
    os.environ.update(
        {
            "AWS_ACCESS_KEY_ID": "bench",
            "AWS_SECRET_ACCESS_KEY": "bench",
            "AWS_DEFAULT_REGION": "us-east-1",
            "COGNITO_BACKUP_REPO": str(tmp / "repo"),
            "COGNITO_BACKUP_USER_POOL_ID": POOL,
            "COGNITO_BACKUP_USER_POOL_REGION": "us-east-1",
            "COGNITO_BACKUP_CAPTURE_INSTANCES": str(args.instances_var),
        }
    )
    from bench_capture import cloudtrail_event, percentile
    from cognito_backup.aws.quotas import DEFAULT_RATES
    from cognito_backup.repo.journal import Journal
    from cognito_backup.store.local import LocalStore
    from latency_store import LatencyStore
    from listing_double import ListingDouble
    from queue_double import QueueDouble
    from quota_double import QuotaDouble

    LocalStore(tmp / "repo")  # the repository exists before the first invocation (the stack's bucket does)
    quota = QuotaDouble(DEFAULT_RATES, share_used=0.0, random_throttle=0.0)
    double = ListingDouble(POOL, args.users, 1, max(1, args.users // 10), args.latency, quota=quota)
    subs = [str(u["Attributes"][0]["Value"]) for u in double.users]
    queue = QueueDouble(visibility=720.0, latency=args.sqs_latency)  # the template's VisibilityTimeout

    # Warm instances: each built by its own handler module (cold start), then its transport pointed at
    # the doubles: its own Cognito client answered by the shared double, its store behind the latency.
    instances: list[tuple[ModuleType, list[tuple[str, float, float]], Any]] = []
    for _ in range(args.concurrency):
        module = function_instance()
        capturer, journal, pool_id = module._components()
        double.install(capturer.reader_for(POOL).client)
        trace: list[tuple[str, float, float]] = []
        module._runtime["parts"] = (capturer, Journal(LatencyStore(journal.store, args.store_latency, trace)), pool_id)
        instances.append((module, trace, capturer.reader_for(POOL).pacer))

    # Wall clock of the SQS SentTimestamp -> this process's monotonic clock (the traces' clock).
    offset = time.time() - time.monotonic()
    lock = threading.Lock()
    stop = threading.Event()
    delays: list[float] = []
    returned_delays: list[float] = []
    stages: dict[str, list[float]] = {s: [] for s in ("queue", "reads", "journal", "after")}
    batches: list[int] = []
    settled = [0]
    failures: list[str] = []

    def poll(index: int) -> None:
        module, trace, _ = instances[index]
        while not stop.is_set():
            # Lambda long-polls (20 s); 1 s here so that the end of the run is noticed.
            batch = queue.receive(min(10, args.batch_size), 1)
            if not batch:
                continue
            first = time.monotonic()
            while len(batch) < args.batch_size and args.window > 0:
                left = first + args.window - time.monotonic()
                if left <= 0:
                    break
                batch += queue.receive(min(10, args.batch_size - len(batch)), left)  # type: ignore[arg-type]
            trace.clear()
            invoked = time.monotonic()
            answer = module.handler({"Records": [sqs_record(m) for m in batch]}, None)
            returned = time.monotonic()
            failed = {str(f["itemIdentifier"]) for f in answer.get("batchItemFailures", [])}
            done = [m for m in batch if m.id not in failed]
            queue.delete(done)  # as the event source mapping does after a response
            puts = [t for t in trace if t[0] in ("put_bytes", "create_bytes", "put_file")]
            durable = max((end for _, _, end in puts), default=returned)
            began = min((start for _, start, _ in trace), default=returned)
            with lock:
                batches.append(len(batch))
                failures.extend(sorted(failed))
                for m in done:
                    sent = m.sent_at.timestamp() - offset
                    delays.append(durable - sent)
                    returned_delays.append(returned - sent)
                    stages["queue"].append(invoked - sent)
                    stages["reads"].append(began - invoked)
                    stages["journal"].append(durable - began)
                    stages["after"].append(returned - durable)
                settled[0] += len(done)

    pollers = [threading.Thread(target=poll, args=(i,), name=f"poller-{i}") for i in range(args.concurrency)]
    emf = io.StringIO()  # the handler's metric lines (stdout in Lambda) are not this benchmark's output
    with contextlib.redirect_stdout(emf):
        for thread in pollers:
            thread.start()
        start = time.monotonic()
        for n in range(args.events):
            delay = start + n / args.rate - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            name = "UpdateUserAttributes" if args.actor == "self" else "AdminUpdateUserAttributes"
            queue.send(cloudtrail_event(POOL, name, n, subs[n % args.users]))
        produce_seconds = time.monotonic() - start
        deadline = time.monotonic() + 1800
        while settled[0] < args.events and time.monotonic() < deadline and not failures:
            time.sleep(0.05)
        capture_seconds = time.monotonic() - start
        stop.set()
        for thread in pollers:
            thread.join()

    calls: dict[str, dict[str, float]] = {}
    for _, _, pacer in instances:
        for category, stats in pacer.summary().items():
            total = calls.setdefault(category, {})
            for key, value in stats.items():
                total[key] = round(total.get(key, 0) + value, 3)
    result = {
        "events": args.events,
        "producer_rate_per_s": args.rate,
        "produced_rate_per_s": round(args.events / produce_seconds, 1),
        "actor": args.actor,
        "users": args.users,
        "latency_s": args.latency,
        "store_latency_s": args.store_latency,
        "sqs_latency_s": args.sqs_latency,
        "batch_size": args.batch_size,
        "batching_window_s": args.window,
        "concurrency": args.concurrency,
        "instances_var": args.instances_var,
        "settled": settled[0],
        "failed_items": len(failures),
        "invocations": len(batches),
        "capture_seconds": round(capture_seconds, 2),
        "captured_per_s": round(settled[0] / capture_seconds, 1),
        "change_to_durable_p50_s": round(percentile(delays, 0.50), 3),
        "change_to_durable_p99_s": round(percentile(delays, 0.99), 3),
        "change_to_durable_max_s": round(max(delays, default=float("nan")), 3),
        "change_to_handler_return_p99_s": round(percentile(returned_delays, 0.99), 3),
        "stages_p50_p99_s": {
            name: [round(percentile(v, 0.50), 3), round(percentile(v, 0.99), 3)] for name, v in stages.items()
        },
        "batch_messages_p50_max": [round(percentile([float(b) for b in batches], 0.5)), max(batches, default=0)],
        "quota_calls": calls,  # every instance's Pacer, summed
        "quota_double": {"attempts": dict(quota.attempts), "throttled": dict(quota.throttled)},
        "load_average": [round(x, 2) for x in os.getloadavg()],
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
