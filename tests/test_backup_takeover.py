"""`backup --resume` takes an interrupted snapshot over atomically (repo/leases.py, docs/format.md "Leases").

Two --resume of one checkpoint started in the same second on two machines both find its backup stopped
(its lock is old): before the lease, both continued it and recorded every page twice. Now exactly one
creates the lease's generation and continues; the other exits 13 naming it. Threads of this process
stand for the two machines; a store wrapper holds each lease create until both arrived (a real race).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.cli.backup_cmds import take_over
from cognito_backup.errors import RepositoryBusy
from cognito_backup.ops.backup_steps import StepOptions, load_checkpoint, run_backup_step
from cognito_backup.repo.layout import lock_key
from cognito_backup.repo.leases import lease_key, list_generations
from cognito_backup.repo.locks import RUNNING_SECONDS
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool
from tests.racing_store import RacingStore, race
from tests.test_backup_resume import REGION, backup_cli


def age(root: Path, key: str, seconds: float) -> None:
    """Make an object `seconds` old, as the store's modification time says (what staleness reads)."""
    then = time.time() - seconds
    os.utime(root / key, (then, then))


def interrupted(cognito: Any, root: Path, owner_host: str) -> tuple[str, str]:
    """A pool and a snapshot whose backup stopped after one step, its lock last written 20 minutes ago
    by `owner_host` (a backup that died there)."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=200, n_groups=1)
    repo = Repository(LocalStore(root))
    reader = PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id, chains=1)
    step = run_backup_step(reader, repo, REGION, None, deadline=lambda: 0.0, options=StepOptions())
    assert step.checkpoint_id is not None and not step.done
    key = lock_key(step.checkpoint_id)
    body = json.loads(repo.store.get_bytes(key))
    body["owner"] = {"host": owner_host, "pid": 8}
    repo.store.put_bytes(key, json.dumps(body).encode())
    age(root, key, RUNNING_SECONDS + 240)
    return pool_id, step.checkpoint_id


def test_two_takeovers_of_one_checkpoint_in_the_same_second_one_continues(cognito: Any, tmp_path: Path) -> None:
    _, snapshot_id = interrupted(cognito, tmp_path / "repo", "169.254.10.1")
    racing = RacingStore(LocalStore(tmp_path / "repo"))
    repo = Repository(racing)  # type: ignore[arg-type]
    won, refused = race(racing, [lambda: take_over(repo, snapshot_id)] * 2)
    assert len(won) == 1 and [type(e) for e in refused] == [RepositoryBusy], refused
    assert snapshot_id in str(refused[0]) and "backup --resume" in str(refused[0])
    won[0].release()


def test_resume_is_refused_while_another_machine_continues_the_snapshot(cognito: Any, tmp_path: Path) -> None:
    root = tmp_path / "repo"
    pool_id, snapshot_id = interrupted(cognito, root, "169.254.10.1")
    store = LocalStore(root)
    # Another machine's --resume took it over a minute ago and beats its heart.
    store.put_bytes(
        lease_key(f"backup/{snapshot_id}", 1),
        json.dumps(
            {
                "holder": "backup--resume-0a1b",
                "purpose": "backup --resume",
                "owner": {"host": "laptop-of-ops", "pid": 4242},
                "started_at": "2026-11-30T21:00:00Z",
            }
        ).encode(),
    )
    before = load_checkpoint(Repository(store), snapshot_id)
    refused = backup_cli(root, pool_id, "--resume")
    assert refused.exit_code == 13, refused.output
    assert "laptop-of-ops" in refused.output and snapshot_id in refused.output
    assert load_checkpoint(Repository(store), snapshot_id) == before

    # That machine died: once its lease is RUNNING_SECONDS old, --resume takes over and finishes.
    age(root, lease_key(f"backup/{snapshot_id}", 1), RUNNING_SECONDS + 1)
    done = backup_cli(root, pool_id, "--resume")
    assert done.exit_code == 0, done.output
    assert json.loads(done.output)["snapshot"] == snapshot_id
    [newest] = list_generations(store, f"backup/{snapshot_id}")
    assert newest.generation == 2 and newest.body["released"] is True


@pytest.mark.parametrize("same_process", [True, False])
def test_decisions_of_a_lease(same_process: bool) -> None:
    """Pure: an empty lease is taken at generation 1; a live holder refuses; a released or dead one is
    taken over at the next generation; the holder itself re-enters."""
    from cognito_backup.repo.leases import LeaseRecord, decide

    host, pid = "here", 100

    def record(gen: int, holder: str, modified: float, **body: Any) -> LeaseRecord:
        owner = {"host": host, "pid": pid} if same_process else {"host": "elsewhere", "pid": 5}
        return LeaseRecord("n", gen, modified, {"holder": holder, "owner": owner, **body})

    now = 10_000.0
    alive = lambda p: True  # noqa: E731
    assert decide([], "me", now, host, pid, alive).action == "take"
    fresh = record(3, "other", now - 30)
    if same_process:  # this process holds nothing: the record is an earlier run of this pid's
        assert decide([fresh], "me", now, host, pid, alive).generation == 4
    else:
        assert decide([fresh], "me", now, host, pid, alive).action == "busy"
    assert decide([record(3, "other", now - RUNNING_SECONDS - 1)], "me", now, host, pid, alive).generation == 4
    assert decide([record(3, "other", now, released=True)], "me", now, host, pid, alive).generation == 4
    assert decide([record(2, "x", 0), record(3, "me", now)], "me", now, host, pid, alive).action == "reenter"
