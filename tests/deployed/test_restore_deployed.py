"""The deployed restore: the template's restore state machine in moto's Step Functions engine -> the
restore Lambda (its own process, only the template's environment, its role's permissions) in a loop of
bounded steps -> the target pool, with the resume state, progress and reports in the repository, and the
end (success or failure) on the SNS topic."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import boto3

from cognito_backup.core.deployed_restore import exit_code_of, report_prefix
from cognito_backup.core.diff import differences
from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store.s3 import S3Store
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.helpers import fill_pool, make_pool
from tests.restore_support import read_state
from tests.test_deploy_metrics import emf_lines, values_of
from tests.test_serverless_backup import reader_for


def repository(d: Deployed) -> Repository:
    return Repository(S3Store(d.client("s3"), d.bucket, d.prefix, kms_key_id=d.kms_key_arn))


def backed_up_source(cognito: Any, d: Deployed, users: int) -> tuple[str, Any]:
    """The source pool, backed up into the stack's repository (as the scheduled snapshot would)."""
    source = d.stack.parameters["UserPoolId"]
    fill_pool(cognito, source, n_users=users, n_groups=2, big_group=users // 2)
    repo = repository(d)
    repo.init_if_needed()
    run_backup(reader_for(cognito, source), repo, REGION)
    manifest = repo.list_snapshots()[0]
    return source, repo.load_state(manifest)


def inbox(d: Deployed) -> list[dict[str, Any]]:
    got = d.client("sqs").receive_message(QueueUrl=d.inbox_url, WaitTimeSeconds=2, MaxNumberOfMessages=10)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def test_a_restore_too_big_for_one_step_completes_over_several_and_equals_the_snapshot(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target = make_pool(cognito, "A"), make_pool(cognito, "B")
    # A Timeout of 6 s on a work clock of 25 ms per AWS call (the harness's WorkClock: on wall time a loaded
    # machine left a step no time for any work, and four timed-out attempts failed the execution): a step
    # stops starting operations with a quarter of it left (60 calls), so 150 users (about 560 operations)
    # take several steps, whatever the machine's load.
    d = deploy_stack(
        url,
        lambdas,
        work,
        {"UserPoolId": pool, "RestoreUserPoolId": target},
        timeouts={"RestoreFunction": 6},
        seconds_per_call={"RestoreFunction": 0.025},
    )
    source, desired = backed_up_source(cognito, d, users=150)
    request = {"target_user_pool_id": target, "source_user_pool_id": source}

    started = d.client("stepfunctions").start_execution(
        stateMachineArn=d.restore_state_machine(), name="big-restore", input=json.dumps({"request": request})
    )
    execution = d.wait_execution(started["executionArn"], timeout=300)

    assert execution["status"] == "SUCCEEDED", execution
    steps = d.function("RestoreFunction").invocations
    print(f"restore in {len(steps)} steps: {[round(s.wall_ms) for s in steps]} ms")
    assert len(steps) >= 2, f"expected a loop of several steps, got {len(steps)}"
    # Every step stopped in time by itself (the margin covers the operations in flight and the saves).
    assert all(s.error is None for s in steps), [s.error for s in steps]
    assert all(s.duration_ms <= 6000 for s in steps), [s.duration_ms for s in steps]
    after = read_state(cognito, target)
    assert differences(desired, after) == []
    assert {u.status for u in after.users.values()} == {"CONFIRMED"}  # random-permanent passwords, all set
    output = json.loads(execution["output"])
    assert output["done"] is True and output["counts"]["users_created"] == 150
    # `latest` was pinned by the first step: a snapshot taken meanwhile would not change the restore.
    assert output["request"]["snapshot"] == repository(d).list_snapshots()[0].id
    # The reports a CLI restore writes to --report-dir, in the repository.
    store = repository(d).store
    prefix = report_prefix("big-restore")
    report = json.loads(store.get_bytes(prefix + "report.json"))
    # The last step's report (as a resumed CLI run's: what that run did); the totals are the resume state's.
    assert report["failed"] == 0 and report["missing_after_restore"] == []
    assert report["snapshot"] == output["request"]["snapshot"] and report["user_pool_id"] == target
    assert report["report"] == prefix + "report.json" and report["passwords_file"] is None
    sub_map = store.get_bytes(prefix + "sub-map.csv").decode().splitlines()
    assert len(sub_map) == 151 and sub_map[0] == '"old_sub","new_sub","username"'
    progress = json.loads(store.get_bytes(prefix + "progress.json"))
    assert progress["state"] == "succeeded" and progress["run"] == output["run"]
    (note,) = inbox(d)
    assert note["Subject"] == "cognito-backup: restore complete"
    assert target in note["Message"] and f"Report: {prefix}report.json" in note["Message"]
    assert d.denied() == [] and lambdas.denied == []  # the function's calls under RestoreRole, the engine's
    # RestoreProgress after each step, under the stack's pool (its dashboard's widget), up to 100 %.
    logged = (work / "RestoreFunction.log").read_text(encoding="utf-8")
    progress_values = [d_ for d_ in emf_lines(logged) if d_["UserPoolId"] == pool]
    percents = values_of(progress_values, "RestoreProgress")
    assert len(percents) >= len(steps), percents
    assert percents == sorted(percents) and percents[-1] == 100.0, percents


def test_a_refused_plan_fails_the_execution_with_its_error_and_reaches_the_topic(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool = make_pool(cognito, "A")
    target = str(cognito.create_user_pool(PoolName="no-custom-attributes")["UserPool"]["Id"])
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool, "RestoreUserPoolId": target})
    source, _ = backed_up_source(cognito, d, users=3)
    request = {"target_user_pool_id": target, "source_user_pool_id": source, "no_add_attributes": True}

    started = d.client("stepfunctions").start_execution(
        stateMachineArn=d.restore_state_machine(), name="refused", input=json.dumps({"request": request})
    )
    execution = d.wait_execution(started["executionArn"], timeout=120)

    assert execution["status"] == "FAILED"
    assert execution["error"] == "PlanRefused" and exit_code_of(execution["error"]) == 8
    assert cognito.list_users(UserPoolId=target)["Users"] == []  # nothing written
    assert len(d.function("RestoreFunction").invocations) == 1  # a refusal is not retried
    (note,) = inbox(d)
    assert note["Subject"] == "cognito-backup: restore FAILED"
    assert "PlanRefused" in note["Message"] and started["executionArn"] in note["Message"]
    progress = json.loads(repository(d).store.get_bytes(report_prefix("refused") + "progress.json"))
    assert progress["state"] == "failed" and progress["error"] == "PlanRefused"
    assert lambdas.denied == []


def test_a_target_the_stack_may_not_write_is_refused_before_any_call(deployed_env: tuple[str, Lambdas, Path]) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, allowed, other = make_pool(cognito, "A"), make_pool(cognito, "B"), make_pool(cognito, "C")
    d = deploy_stack(url, lambdas, work, {"UserPoolId": pool, "RestoreUserPoolId": allowed})

    result = d.function("RestoreFunction").invoke({"request": {"target_user_pool_id": other}, "step": 0})

    assert result.error is not None and result.error["errorType"] == "UsageError"
    assert allowed in result.error["errorMessage"] and other in result.error["errorMessage"]
    assert d.audit() == []  # refused before any AWS call


# ---- a step killed mid-way --------------------------------------------------------------------------------
class _StallingProxy(BaseHTTPRequestHandler):
    """Forwards Cognito calls to the emulator, records them and counts AdminSetUserPassword per user; the
    `stall_at`-th one is carried out, then its answer held back longer than the function may run: the
    function is killed after the password was set and before the restore could record it (the worst
    moment). `stall_at` 0: none is held back. With `kill` set the proxy does not wait for the function's
    Timeout to strike (a wall-clock race on a loaded machine): it kills the function itself at that moment,
    as Lambda would at its Timeout, and then answers a connection nobody reads any more."""

    upstream = ""
    stall_at = 0
    stall_seconds = 0.0
    kill: ClassVar[list[Callable[[], None]]] = []  # the function to kill at the stall, once known
    passwords: ClassVar[Counter[str]] = Counter()
    calls: ClassVar[list[tuple[str, dict[str, Any]]]] = []  # every call: (operation, request body)
    lock = threading.Lock()

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        target = self.headers.get("X-Amz-Target", "")
        headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
        request = urllib.request.Request(self.upstream + self.path, data=body, method="POST", headers=headers)
        try:
            with urllib.request.urlopen(request) as resp:
                status, answer, content_type = resp.status, resp.read(), resp.headers.get("Content-Type", "")
        except urllib.error.HTTPError as exc:
            status, answer, content_type = exc.code, exc.read(), exc.headers.get("Content-Type", "")
        with self.lock:
            self.calls.append((target.rsplit(".", 1)[-1], json.loads(body or b"{}")))
        if target.endswith(".AdminSetUserPassword") and status == 200:
            with self.lock:
                self.passwords[json.loads(body)["Username"]] += 1
                stall = sum(self.passwords.values()) == self.stall_at
            if stall and self.kill:
                for kill in self.kill:
                    kill()
            elif stall:
                time.sleep(self.stall_seconds)
        try:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(answer)))
            self.end_headers()
            self.wfile.write(answer)
        except OSError:
            pass  # the killed function's connection is gone

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def stalling_proxy(upstream: str, stall_at: int, stall_seconds: float) -> Iterator[tuple[type[_StallingProxy], str]]:
    handler = type("Proxy", (_StallingProxy,), {})
    handler.upstream, handler.stall_at, handler.stall_seconds = upstream, stall_at, stall_seconds
    handler.passwords = Counter()
    handler.kill = []
    handler.calls = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield handler, f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_step_killed_mid_way_continues_without_setting_a_password_twice(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target = make_pool(cognito, "A"), make_pool(cognito, "B")
    # No wall clock: the function runs on a work clock (25 ms per AWS call: a 10 s Timeout is 400 calls,
    # more than the restore of 12 users needs in one step), and the proxy kills it right after the 5th
    # password was set, before its answer (Lambda's Timeout striking at the worst moment). Before, a 10 s
    # wall-clock Timeout and a 12 s stall: a loaded machine timed steps out anywhere.
    with stalling_proxy(url, stall_at=5, stall_seconds=0) as (proxy, proxy_url):
        d = deploy_stack(
            url,
            lambdas,
            work,
            {"UserPoolId": pool, "RestoreUserPoolId": target},
            timeouts={"RestoreFunction": 10.0},
            seconds_per_call={"RestoreFunction": 0.025},
            # botocore's per-service endpoint variable: only the function's Cognito calls pass the proxy.
            endpoints={"RestoreFunction": {"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": proxy_url}},
        )
        source, desired = backed_up_source(cognito, d, users=12)
        fn = d.function("RestoreFunction")
        proxy.kill.append(fn.kill)
        event: dict[str, Any] = {
            "request": {"target_user_pool_id": target, "source_user_pool_id": source},
            "step": 0,
            "execution": f"arn:aws:states:{REGION}:123456789012:execution:restore:killed",
        }
        kills = 0
        for _ in range(60):
            # What the state machine does: a timed-out step is retried with the same input; a finished
            # step's output is the next input.
            result = fn.invoke(event)
            if result.error is not None:
                assert "timed out" in result.error["errorMessage"], result.error
                kills += 1
                continue
            if result.payload["done"]:
                break
            event = {k: result.payload[k] for k in ("request", "step", "execution")}
        else:
            raise AssertionError("the restore did not end")
        passwords = dict(proxy.passwords)

    assert kills == 1  # at the 5th password, and nowhere else
    after = read_state(cognito, target)
    assert differences(desired, after) == []
    assert {u.status for u in after.users.values()} == {"CONFIRMED"}
    assert sorted(passwords) == sorted(u.username for u in after.users.values())
    assert set(passwords.values()) == {1}, passwords  # each user's password set once, the killed one too
    assert d.denied() == []
