"""One backup engine (issue #9 point 5): the CLI runs the resumable step machine the Lambda runs, without a
time limit. An interrupted CLI backup continues from its checkpoint with `backup --resume`; started_at
is taken before the first read; the deployed handler and the CLI take the same snapshot of a pool.

Faults are injected below botocore (tests/http_faults.py: its `before-send` event, on every client the
CLI builds for itself), so the interruption lands where a real one would: inside an HTTP call."""

from __future__ import annotations

import datetime as dt
import json
import threading
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.cli.main import cli
from cognito_backup.ops.backup_steps import StepOptions, interrupted_snapshots, load_checkpoint, run_backup_step
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.serverless import backup as backup_lambda
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool
from tests.http_faults import Fault, HttpFaults, every_new_client
from tests.test_serverless_backup import (  # noqa: F401 (fixtures)
    BIG_GROUP,
    USERS,
    FakeContext,
    content,
    lambda_env,
    pool,
)

REGION = "us-east-1"
PAGES_BEFORE_KILL = 4
USER_PAGES = 10  # 600 users, 60 a page, one chain


def backup_cli(repo: Path, pool_id: str, *extra: str) -> Any:
    return CliRunner().invoke(
        cli,
        ["backup", "--user-pool-id", pool_id, "--repo", str(repo), "--list-chains", "1", "--json", *extra],
    )


def usernames(repo: Repository) -> list[str]:
    return [u.username for u in repo.iter_users(repo.resolve("latest"))]


def test_an_interrupted_cli_backup_continues_from_its_checkpoint(cognito: Any, tmp_path: Path) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=600, n_groups=3, big_group=130)
    root = tmp_path / "repo"

    # Ctrl-C lands inside the 5th ListUsers call: 4 pages are read, the listing is mid-users.
    def kill_after_pages(operation: str, attempt: int) -> Fault | None:
        if operation == "ListUsers" and attempt > PAGES_BEFORE_KILL:
            return Fault(0, exception=KeyboardInterrupt())
        return None

    with every_new_client(HttpFaults(kill_after_pages)):
        first = backup_cli(root, pool_id)
    assert first.exit_code == 130, first.output
    assert "--resume" in first.output  # the command that continues it
    repo = Repository(LocalStore(root))
    assert repo.list_snapshots() == []
    [snapshot_id] = interrupted_snapshots(repo, pool_id)
    state = load_checkpoint(repo, snapshot_id)
    assert 0 < state.users <= PAGES_BEFORE_KILL * 60
    # The configuration is read beside the users (about 20 calls at 5 per second per operation): stored
    # before the interrupt or not, depending on the machine's speed.
    config_stored = state.config_done
    assert check_repository(repo, read_data=True).ok  # a checkpoint and its lock are a sound repository

    counted = HttpFaults(lambda operation, attempt: None)
    with every_new_client(counted):
        second = backup_cli(root, pool_id, "--resume")
    assert second.exit_code == 0, second.output
    summary = json.loads(second.stdout)
    assert summary["resumed"] is True and summary["snapshot"] == snapshot_id and summary["users"] == 600
    # Only the pages not yet recorded are read again (and the 5th, which the interrupt cut short).
    assert counted.attempts["ListUsers"] <= USER_PAGES - PAGES_BEFORE_KILL + 1 < USER_PAGES
    # A stored configuration is not read again; one that was not is read once, by the run that finishes.
    assert counted.attempts.get("DescribeUserPool", 0) == (0 if config_stored else 1)

    names = usernames(repo)
    assert len(names) == len(set(names)) == 600, "a user was lost or written twice across the interruption"
    expected = {
        u["Username"] for p in cognito.get_paginator("list_users").paginate(UserPoolId=pool_id) for u in p["Users"]
    }
    assert set(names) == expected
    manifest = repo.resolve("latest")
    assert manifest.started_at == state.started_at  # one snapshot, taken from the first run's start
    assert manifest.counts["memberships"] == sum(
        len(p["Users"])
        for g in range(3)
        for p in cognito.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id, GroupName=f"group-{g:03d}")
    )
    assert interrupted_snapshots(repo, pool_id) == []
    assert list(repo.store.list("locks/")) == []
    assert check_repository(repo, read_data=True).ok


def test_a_cli_backup_saves_checkpoints_while_it_runs(cognito: Any, tmp_path: Path) -> None:
    """A process killed outright (SIGKILL, power loss) runs no handler: the checkpoint saved meanwhile is
    what `--resume` continues. Seen here through a checkpoint read while the listing is held."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=300, n_groups=1)
    repo = Repository(LocalStore(tmp_path / "repo"))
    seen: list[int] = []
    held = threading.Event()

    pages = [0]

    def look(request: Any, event_name: str = "", **_: Any) -> None:
        if not event_name.endswith(".ListUsers") or held.is_set():
            return
        pages[0] += 1
        # From the 3rd page on, hold the listing until a checkpoint holds the pages recorded so far.
        deadline = time.monotonic() + 10
        while pages[0] >= 3 and time.monotonic() < deadline:
            found = interrupted_snapshots(repo, pool_id) if repo.store.exists("config.json") else []
            if found and (users := load_checkpoint(repo, found[0]).users):
                held.set()
                seen.append(users)
                return
            time.sleep(0.05)

    cognito.meta.events.register_first("before-send.cognito-idp", look)
    from cognito_backup.ops.backup import run_backup

    result = run_backup(
        PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id, chains=1), repo, REGION, checkpoint_seconds=0.0
    )
    cognito.meta.events.unregister("before-send.cognito-idp", look)
    assert seen and 0 < seen[0] < 300, "no checkpoint was saved while the users were listed"
    assert result.manifest.counts["users"] == 300
    assert interrupted_snapshots(repo, pool_id) == []


class TickingClock:
    """Each reading is one second after the previous one: the order of readings shows in the times."""

    def __init__(self) -> None:
        self.now = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)
        self.lock = threading.Lock()

    def __call__(self) -> dt.datetime:
        with self.lock:
            self.now += dt.timedelta(seconds=1)
            return self.now


def test_started_at_is_before_the_first_call_of_any_kind(cognito: Any, tmp_path: Path) -> None:
    """Whatever call goes first (the prefix probe, DescribeUserPool, ListGroups), in the CLI and in a
    Lambda step: a configuration change made after it is after started_at."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=20, n_groups=1)
    for name, take in (
        ("cli", lambda repo: _cli_backup(cognito, pool_id, repo)),
        ("lambda", lambda repo: _lambda_step(cognito, pool_id, repo)),
    ):
        clock = TickingClock()
        repo = Repository(LocalStore(tmp_path / name), clock=clock)
        first: list[str] = []
        lock = threading.Lock()

        def before_first_read(**_: Any) -> None:
            with lock:  # noqa: B023 (used within this iteration only)
                if not first:  # noqa: B023
                    first.append(format_time(clock()))  # noqa: B023

        cognito.meta.events.register_first("before-send.cognito-idp", before_first_read)
        try:
            started_at = take(repo)
        finally:
            cognito.meta.events.unregister("before-send.cognito-idp", before_first_read)
        assert first and started_at < first[0], name


def _cli_backup(cognito: Any, pool_id: str, repo: Repository) -> str:
    from cognito_backup.ops.backup import run_backup

    return run_backup(PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id), repo, REGION).manifest.started_at


def _lambda_step(cognito: Any, pool_id: str, repo: Repository) -> str:
    reader = PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id)
    step = run_backup_step(reader, repo, REGION, None, deadline=lambda: 1000.0, options=StepOptions())
    assert step.manifest is not None
    return step.manifest.started_at


def test_the_deployed_handler_and_the_cli_take_the_same_snapshot(
    cognito: Any,
    pool: str,  # noqa: F811
    lambda_env: Path,  # noqa: F811
    tmp_path: Path,
) -> None:
    event: dict[str, Any] = {"checkpoint": None}
    steps = 0
    while True:
        out = backup_lambda.handler(json.loads(json.dumps(event)), FakeContext())
        steps += 1
        if out["done"]:
            break
        event = {"checkpoint": out["checkpoint"]}
    assert steps >= 3, "the handler should have taken several steps"
    deployed = Repository(LocalStore(lambda_env))

    result = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", str(tmp_path / "cli"), "--json"])
    assert result.exit_code == 0, result.output
    local = Repository(LocalStore(tmp_path / "cli"))

    got, want = content(deployed, deployed.resolve("latest")), content(local, local.resolve("latest"))
    assert got == want
    assert got["user_count"] == USERS and got["membership_count"] == BIG_GROUP + 70
    assert deployed.resolve("latest").counts == local.resolve("latest").counts


def test_a_plain_rerun_starts_a_new_snapshot_and_names_the_interrupted_one(cognito: Any, tmp_path: Path) -> None:
    """Without --resume the interrupted snapshot is left alone (a deployed backup may be running it) and
    the output says how to continue it."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=200, n_groups=1)
    root = tmp_path / "repo"

    def kill_on_second_page(operation: str, attempt: int) -> Fault | None:
        return Fault(0, exception=KeyboardInterrupt()) if operation == "ListUsers" and attempt == 2 else None

    with every_new_client(HttpFaults(kill_on_second_page)):
        assert backup_cli(root, pool_id).exit_code == 130
    repo = Repository(LocalStore(root))
    [interrupted] = interrupted_snapshots(repo, pool_id)

    rerun = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool_id, "--repo", str(root), "--list-chains", "1"])
    assert rerun.exit_code == 0, rerun.output
    assert f"interrupted snapshot {interrupted}" in rerun.output and "--resume" in rerun.output
    assert [m.id for m in repo.list_snapshots()] != [interrupted] and len(repo.list_snapshots()) == 1
    assert interrupted_snapshots(repo, pool_id) == [interrupted]  # left as it was


def test_may_be_running_judges_by_process_here_and_by_lock_age_elsewhere() -> None:
    from cognito_backup.repo.locks import RUNNING_SECONDS, SHARED, HeldLock, may_be_running

    def lock(host: str, pid: int, age: float) -> HeldLock:
        body = {"id": "x", "owner": {"host": host, "pid": pid}}
        return HeldLock(id="x", mode=SHARED, purpose="backup", modified=1000.0 - age, body=body)

    def alive(pid: int) -> bool:
        return pid == 7

    now = 1000.0
    assert may_be_running(lock("here", 7, 5000), now, "here", 1, alive)  # a live process here, however old
    assert not may_be_running(lock("here", 8, 1), now, "here", 1, alive)  # killed a second ago: continue it
    assert not may_be_running(lock("here", 1, 1), now, "here", 1, alive)  # this very process
    assert may_be_running(lock("lambda", 7, RUNNING_SECONDS - 1), now, "here", 1, alive)  # elsewhere: by age
    assert not may_be_running(lock("lambda", 7, RUNNING_SECONDS + 1), now, "here", 1, alive)


def test_resume_refuses_a_snapshot_another_host_may_still_be_writing(cognito: Any, tmp_path: Path) -> None:
    """A deployed backup's checkpoint whose lock its step rewrote a minute ago: --resume would be a second
    writer of that checkpoint (every page recorded twice). Exit 13, and nothing changes."""
    from cognito_backup.repo.layout import lock_key

    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=200, n_groups=1)
    repo = Repository(LocalStore(tmp_path / "repo"))
    reader = PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id, chains=1)
    step = run_backup_step(reader, repo, REGION, None, deadline=lambda: 0.0, options=StepOptions())
    assert step.checkpoint_id is not None and not step.done
    key = lock_key(step.checkpoint_id)
    body = json.loads(repo.store.get_bytes(key))
    body["owner"] = {"host": "169.254.10.1", "pid": 8}  # a Lambda sandbox
    repo.store.put_bytes(key, json.dumps(body).encode())
    before = load_checkpoint(repo, step.checkpoint_id)

    refused = backup_cli(tmp_path / "repo", pool_id, "--resume")
    assert refused.exit_code == 13, refused.output
    assert step.checkpoint_id in refused.output and "169.254.10.1" in refused.output
    assert load_checkpoint(repo, step.checkpoint_id) == before
    assert repo.list_snapshots() == []
