"""Never two writers on one restore target (repo/leases.py; docs/format.md "Leases").

Two restores into one target started together, from threads of this process against moto in-process:
both read the same (empty) lease and try to create its first generation at the same moment (a store
wrapper holds each create until both arrived, so the race is real, not a matter of timing); exactly one
goes on, the other is refused with exit 13 before it writes anything, naming the other run. A deployed
restore's execution keeps the lease between its steps and re-enters it; a CLI restore meanwhile is
refused. A holder that died (its process gone, or no heartbeat for RUNNING_SECONDS) is taken over.
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.errors import OutOfTime, RepositoryBusy
from cognito_backup.ops.restore import RestoreOptions, run_restore
from cognito_backup.repo.leases import LEASES_PREFIX, list_generations
from cognito_backup.repo.locks import RUNNING_SECONDS
from cognito_backup.repo.repository import Repository
from tests.helpers import make_pool
from tests.racing_store import RacingStore, race
from tests.restore_support import backup, quiet_pacer, read_state, rich_pool
from tests.test_restore_resume import pools_named, request


def racing_repo(cognito: Any, tmp_path: Path) -> tuple[str, RacingStore, Repository, Repository]:
    """The source pool, the racing store, the repository seen through it (two runs), and seen directly."""
    source = rich_pool(cognito, "A")
    stored = backup(cognito, source, tmp_path / "repo")
    racing = RacingStore(stored.store)
    return source, racing, Repository(racing), stored  # type: ignore[arg-type]


def test_two_new_pool_restores_of_one_name_started_together_make_one_pool(cognito: Any, tmp_path: Path) -> None:
    _, racing, repo, plain = racing_repo(cognito, tmp_path)
    done, failed = race(
        racing,
        [
            lambda: run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r1")),
            lambda: run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r2")),
        ],
    )
    assert len(done) == 1 and len(failed) == 1, failed
    refused = failed[0]
    assert isinstance(refused, RepositoryBusy) and refused.exit_code == 13
    assert "new=B" in str(refused) and "pid" in str(refused) and "started" in str(refused)
    assert "run this again" in (refused.hint or "")
    assert len(pools_named(cognito, "B")) == 1
    # The winner released the target: the next restore of that name goes on (and adopts nothing twice).
    again = run_restore(cognito, quiet_pacer(), plain, request("B", tmp_path / "r3"))
    assert again.summary.user_pool_id == done[0].summary.user_pool_id


def test_two_restores_into_one_pool_started_together_one_is_refused(cognito: Any, tmp_path: Path) -> None:
    source, racing, repo, _ = racing_repo(cognito, tmp_path)
    target = make_pool(cognito, "T")
    done, failed = race(
        racing,
        [
            lambda: run_restore(
                cognito,
                quiet_pacer(),
                repo,
                request(None, tmp_path / "r1", target_pool_id=target, source_pool_id=source),
            ),
            lambda: run_restore(
                cognito,
                quiet_pacer(),
                repo,
                request(None, tmp_path / "r2", target_pool_id=target, source_pool_id=source),
            ),
        ],
    )
    assert len(done) == 1 and [type(e) for e in failed] == [RepositoryBusy], failed
    assert target in str(failed[0])
    assert read_state(cognito, target).users.keys() == read_state(cognito, source).users.keys()


def test_a_deployed_restore_keeps_the_target_between_steps_and_a_cli_restore_is_refused(
    cognito: Any, tmp_path: Path
) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "T")
    step = request(
        None, tmp_path / "d", target_pool_id=target, lease_holder="execution:restore-T-1", source_pool_id=source
    )
    step.options = RestoreOptions(out_of_time=lambda: True)  # the step's time is up at once
    with pytest.raises(OutOfTime):
        run_restore(cognito, quiet_pacer(), repo, step)
    with pytest.raises(RepositoryBusy) as refused:
        run_restore(
            cognito, quiet_pacer(), repo, request(None, tmp_path / "cli", target_pool_id=target, source_pool_id=source)
        )
    assert "execution:restore-T-1" in str(refused.value) and "deployed restore" in str(refused.value)
    assert "--status" in (refused.value.hint or "")
    step.options = RestoreOptions()  # the next step of the same execution re-enters and finishes
    run_restore(cognito, quiet_pacer(), repo, step)
    assert read_state(cognito, target).users.keys() == read_state(cognito, source).users.keys()
    # It released the target at its end: the CLI restore runs now (nothing left to do).
    run_restore(
        cognito, quiet_pacer(), repo, request(None, tmp_path / "cli", target_pool_id=target, source_pool_id=source)
    )
    [newest] = list_generations(repo.store, f"restore/{target}")
    assert newest.body["released"] is True and newest.generation == 2


def test_a_dead_holder_is_taken_over(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "T")
    key = f"leases/restore/{target}/00000001.json"
    # Another machine's restore that stopped heart-beating RUNNING_SECONDS ago (its object's time is
    # the store's: set here the way an old file has it).
    repo.store.put_bytes(
        key,
        b'{"holder": "restore-gone", "purpose": "restore", "owner": {"host": "elsewhere", "pid": 7}, '
        b'"started_at": "2026-11-30T00:00:00Z"}',
    )
    old = Path(repo.store.describe()) / key
    os.utime(old, (time.time() - RUNNING_SECONDS - 5, time.time() - RUNNING_SECONDS - 5))
    run_restore(
        cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    )
    [newest] = list_generations(repo.store, f"restore/{target}")
    assert newest.generation == 2 and newest.body["released"] is True
    # The same machine's run whose process is gone is taken over at once.
    repo.store.put_bytes(
        f"leases/restore/{target}/00000003.json",
        b'{"holder": "restore-killed", "purpose": "restore", "owner": {"host": "%s", "pid": 999999999}}'
        % socket.gethostname().encode(),
    )
    run_restore(
        cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    )
    assert [g.generation for g in list_generations(repo.store, f"restore/{target}")] == [4]


def test_a_dry_run_takes_no_lease(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "T")
    dry = request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    dry.options = RestoreOptions(dry_run=True)
    run_restore(cognito, quiet_pacer(), repo, dry)
    assert list(repo.store.list(LEASES_PREFIX)) == []


def test_a_run_taken_over_while_it_stalled_stops_starting_operations(cognito: Any, tmp_path: Path) -> None:
    """The stalled run's heartbeat finds the newer generation another run created (after judging it
    dead), and the run starts no more operations: exit 13, its progress kept in the resume state."""
    source = rich_pool(cognito, "A")
    for n in range(20):
        cognito.admin_create_user(UserPoolId=source, Username=f"extra-{n:02d}", MessageAction="SUPPRESS")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "T")
    creates: list[str] = []

    def stall_then_get_taken_over(params: Any, **_: Any) -> None:
        creates.append(params["Username"])
        if len(creates) == 1:
            # Meanwhile, another machine took the target over: it created the next generation.
            repo.store.put_bytes(
                f"leases/restore/{target}/00000002.json",
                b'{"holder": "restore-other", "purpose": "restore", "owner": {"host": "elsewhere", "pid": 1}}',
            )
            time.sleep(1.0)  # several heartbeats of this run: one of them sees generation 2

    cognito.meta.events.register("before-parameter-build.cognito-idp.AdminCreateUser", stall_then_get_taken_over)
    run = request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    run.options = RestoreOptions(lease_heartbeat_seconds=0.05, workers={"UserCreation": 1})
    with pytest.raises(RepositoryBusy, match="taken over"):
        run_restore(cognito, quiet_pacer(), repo, run)
    assert 1 <= len(creates) < 25
    # Its own generation is left as it was (not marked released over the newer holder's).
    newest = max(list_generations(repo.store, f"restore/{target}"), key=lambda r: r.generation)
    assert newest.holder == "restore-other"
