"""How a stop signal ends `capture` and `replicate`, as real processes (docs/exit-codes.md, "Stopping a
follower").

A follower's job is to run until stopped: a first SIGTERM / Ctrl-C after which the work in hand is saved
is its planned end, exit 0 (as daemons do; `systemctl stop` and `docker stop` show a clean stop, not a
failure). A stop that leaves work for the next run is an interruption: 143 (SIGTERM) or 130 (Ctrl-C),
with a hint. Either way nothing captured is lost. The signal is sent while the process is inside a call
the test holds (tests/gate_proxy.py), never after a sleep that races the machine's load."""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.ops.replicate import cursor_key
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for
from tests.gate_proxy import GateProxy
from tests.helpers import add_user, make_pool

REGION = "us-east-1"


class Follower:
    """The command as a process; its stderr is read as it comes (the stop notice says a signal landed)."""

    def __init__(self, endpoint: str, *args: str) -> None:
        env = dict(os.environ, AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_REGION=REGION)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "cognito_backup.cli.main", "--endpoint-url", endpoint, *args],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env=env,
        )
        self.err: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.err.append(line)

    def wait_until(self, done: Callable[[], bool], what: str) -> None:
        deadline = time.monotonic() + 120
        while not done():
            assert self.proc.poll() is None, f"{what}: the process ended first: {''.join(self.err)}"
            assert time.monotonic() < deadline, what
            time.sleep(0.05)

    def stop(self, signum: int) -> None:
        """Send a first stop signal and wait until its handler ran (it only sets a flag and says so)."""
        self.proc.send_signal(signum)
        self.wait_until(lambda: any("stopping once" in line for line in self.err), "the stop was not noticed")

    def finish(self) -> tuple[str, str]:
        try:
            assert self.proc.stdout is not None
            out = self.proc.stdout.read()
            self.proc.wait(timeout=120)
            self.reader.join(timeout=10)
            return out, "".join(self.err)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()


def journaled(repo: Path, pool: str) -> set[str]:
    if not repo.exists():
        return set()
    return {r["key"] for r in Journal(LocalStore(repo)).iter_records(pool)}


def queued(sqs: Any, queue: str) -> int:
    """Messages still in the queue, visible or in flight (received, not deleted)."""
    attrs = sqs.get_queue_attributes(QueueUrl=queue, AttributeNames=["All"])["Attributes"]
    return int(attrs["ApproximateNumberOfMessages"]) + int(attrs["ApproximateNumberOfMessagesNotVisible"])


def changes(server_url: str, n: int) -> tuple[Any, str, str]:
    """A pool with `n` users whose creation events wait in a queue."""
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=server_url)
    sqs = boto3.client("sqs", region_name=REGION, endpoint_url=server_url)
    queue = sqs.create_queue(QueueName="changes")["QueueUrl"]
    pool = make_pool(cognito)
    for i in range(n):
        add_user(cognito, pool, f"user-{i}", {"email": f"u{i}@example.com"})
        user = cognito.admin_get_user(UserPoolId=pool, Username=f"user-{i}")
        sub = next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub")
        event = event_for("AdminCreateUser", pool=pool, event_id=f"e{i}", when=dt.datetime.now(dt.UTC), sub=sub)
        sqs.send_message(QueueUrl=queue, MessageBody=json.dumps(event))
    return sqs, queue, pool


def test_a_second_signal_stops_capture_follow_at_once_with_143_and_loses_nothing(
    server_url: str, tmp_path: Path
) -> None:
    sqs, queue, pool = changes(server_url, 3)
    repo = tmp_path / "repo"
    proxy = GateProxy(server_url, {"ListUsers"})  # the capture's re-read of each changed user
    try:
        run = Follower(proxy.url, "capture", "--repo", str(repo), "--queue", queue, "--follow", "--json")
        run.wait_until(proxy.arrived.is_set, "capture did not re-read the changed users")
        run.stop(signal.SIGTERM)  # stop once the batch in hand is saved ...
        run.proc.send_signal(signal.SIGTERM)  # ... no: stop now
        run.wait_until(lambda: any("stopping now" in line for line in run.err), "the second stop was not noticed")
        proxy.gate.set()  # the batch's worker then finishes its call; its messages are not acknowledged
        out, err = run.finish()
    finally:
        proxy.close()
    assert run.proc.returncode == 143, err
    error = json.loads(out)["error"]
    assert error["kind"] == "interrupted" and "come back" in error["hint"]
    # Nothing lost: a message is deleted only once journaled, so each is journaled or still queued.
    assert queued(sqs, queue) + len(journaled(repo, pool)) >= 3
    assert queued(sqs, queue) == 3  # the batch in hand was never acknowledged


def test_a_second_signal_while_the_work_in_hand_finishes_stops_at_once_and_loses_nothing(
    server_url: str, tmp_path: Path
) -> None:
    """The usual second signal: some seconds after the first, when the follower has stopped receiving
    and waits for the reads in hand (it lands in that wait, not in the receive loop)."""
    sqs, queue, pool = changes(server_url, 3)
    repo = tmp_path / "repo"
    proxy = GateProxy(server_url, {"ListUsers"})
    try:
        run = Follower(proxy.url, "capture", "--repo", str(repo), "--queue", queue, "--follow", "--json")
        run.wait_until(proxy.arrived.is_set, "capture did not re-read the changed users")
        run.stop(signal.SIGTERM)
        time.sleep(2.5)  # past the follower's longest receive (1 s while busy): it now waits for the reads
        run.proc.send_signal(signal.SIGTERM)
        run.wait_until(lambda: any("stopping now" in line for line in run.err), "the second stop was not noticed")
        proxy.gate.set()
        out, err = run.finish()
    finally:
        proxy.close()
    assert run.proc.returncode == 143, err
    assert queued(sqs, queue) == 3  # not acknowledged: they come back, as the hint says
    assert len(journaled(repo, pool)) <= 3  # at most journaled once already (journaled again when they come back)
    assert json.loads(out)["error"]["kind"] == "interrupted"


def test_capture_follow_stopped_by_ctrl_c_exits_0_with_everything_journaled(server_url: str, tmp_path: Path) -> None:
    sqs, queue, pool = changes(server_url, 3)
    repo = tmp_path / "repo"
    proxy = GateProxy(server_url, {"ListUsers"})
    try:
        run = Follower(proxy.url, "capture", "--repo", str(repo), "--queue", queue, "--follow", "--json")
        run.wait_until(proxy.arrived.is_set, "capture did not re-read the changed users")
        run.stop(signal.SIGINT)  # while the batch is in hand: it is finished first
        proxy.gate.set()
        out, err = run.finish()
    finally:
        proxy.close()
    assert run.proc.returncode == 0, err
    assert json.loads(out)["records"] == 3
    assert journaled(repo, pool) == {"user-0", "user-1", "user-2"}
    assert queued(sqs, queue) == 0  # every message journaled and deleted


def test_a_drain_cut_short_by_a_signal_is_interrupted_not_done(server_url: str, tmp_path: Path) -> None:
    """Without --follow the job is to empty the queue: a signal before the end is not exit 0."""
    sqs, queue, pool = changes(server_url, 3)
    repo = tmp_path / "repo"
    proxy = GateProxy(server_url, {"ListUsers"})
    try:
        args = ["capture", "--repo", str(repo), "--queue", queue, "--batch-size", "1", "--json"]
        run = Follower(proxy.url, *args)
        run.wait_until(proxy.arrived.is_set, "capture did not re-read the changed users")
        run.stop(signal.SIGINT)
        proxy.gate.set()
        out, err = run.finish()
    finally:
        proxy.close()
    assert run.proc.returncode == 130, err
    body = json.loads(out)
    assert body["error"]["kind"] == "interrupted"
    assert body["messages"] >= 1  # the summary of what was done is kept beside the error
    # Each message is journaled or still queued; those journaled were deleted.
    assert len(journaled(repo, pool)) + queued(sqs, queue) == 3


def backed_up_source(server_url: str, tmp_path: Path, users: int) -> tuple[Any, str, str, str]:
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=server_url)
    source = make_pool(cognito)
    for i in range(users):
        add_user(cognito, source, f"user-{i:03d}", {"email": f"u{i}@example.com"})
    standby = str(cognito.create_user_pool(PoolName="standby")["UserPool"]["Id"])
    repo = str(tmp_path / "repo")
    made = CliRunner().invoke(
        cli, ["--endpoint-url", server_url, "backup", "--user-pool-id", source, "--repo", repo, "--json"]
    )
    assert made.exit_code == 0, made.output
    return cognito, source, standby, repo


def standby_users(cognito: Any, standby: str) -> set[str]:
    pages = cognito.get_paginator("list_users").paginate(UserPoolId=standby)
    return {u["Username"] for page in pages for u in page["Users"]}


def test_replicate_follow_stopped_between_rounds_exits_0_with_its_position_saved(
    server_url: str, tmp_path: Path
) -> None:
    cognito, _, standby, repo = backed_up_source(server_url, tmp_path, 3)
    cursor = Path(repo) / cursor_key(standby)
    args = ["replicate", "--repo", repo, "--to-user-pool-id", standby, "--follow", "--interval", "0.2", "--json"]
    run = Follower(server_url, *args)
    run.wait_until(cursor.exists, "the first round did not save the standby's position")
    run.stop(signal.SIGTERM)
    out, err = run.finish()
    assert run.proc.returncode == 0, err
    assert json.loads(out)["failed"] == 0
    assert standby_users(cognito, standby) == {"user-000", "user-001", "user-002"}


def test_replicate_stopped_inside_a_round_exits_143_and_the_next_run_carries_on(
    server_url: str, tmp_path: Path
) -> None:
    """A catch-up round can take hours; a scheduler's stop gives seconds (docker stop: 10 s). The round
    starts no new operation, lets the running ones finish and saves its progress."""
    cognito, _, standby, repo = backed_up_source(server_url, tmp_path, 40)
    cursor = Path(repo) / cursor_key(standby)
    proxy = GateProxy(server_url, {"AdminCreateUser"})
    try:
        run = Follower(proxy.url, "replicate", "--repo", repo, "--to-user-pool-id", standby, "--follow", "--json")
        run.wait_until(proxy.arrived.is_set, "the round did not start writing")
        run.stop(signal.SIGTERM)  # no operation starts after the ones in flight
        proxy.gate.set()
        out, err = run.finish()
    finally:
        proxy.close()
    assert run.proc.returncode == 143, err
    error = json.loads(out)["error"]
    assert error["kind"] == "interrupted" and "Run the same command again" in error["hint"]
    created = standby_users(cognito, standby)
    assert 0 < len(created) < 40  # stopped inside the round
    assert not cursor.exists() or json.loads(cursor.read_text()).get("position") is None
    again = CliRunner().invoke(
        cli, ["--endpoint-url", server_url, "replicate", "--repo", repo, "--to-user-pool-id", standby, "--json"]
    )
    assert again.exit_code == 0, again.output
    assert standby_users(cognito, standby) == {f"user-{i:03d}" for i in range(40)}
