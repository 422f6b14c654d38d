"""The shard stage's merge is bounded (issue #10 part 1): at most `merge_fan_in` sorted runs are open at
once. More runs are first merged, a window at a time, into runs of their own (stored under runs/ like
the others); such a pass spans Lambda steps, a step killed during one continues from its checkpoint,
and the snapshot is the one an unbounded merge writes, byte for byte."""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from bench.bench_memory import synthetic_user

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.model import PoolConfig
from cognito_backup.ops.backup import BackupOptions, run_backup
from cognito_backup.ops.backup_steps import (
    CHECKPOINT_FORMAT,
    BackupCheckpoint,
    StepOptions,
    load_checkpoint,
    run_backup_step,
)
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.layout import RUNS_PREFIX
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository
from cognito_backup.repo.shards import MERGE_FAN_IN, next_merge
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool

REGION = "us-east-1"


class RunReadsStore(LocalStore):
    """A local store that counts the sort runs open for reading at once, and can fail (as a killed
    Lambda would stop) the next time a run is stored."""

    def __init__(self, root: Path) -> None:
        super().__init__(root)
        self._lock = threading.Lock()
        self.open_runs = 0
        self.most_open_runs = 0
        self.fail_next_run_put = False

    def open_read(self, key: str) -> BinaryIO:
        stream = super().open_read(key)
        if not key.startswith(RUNS_PREFIX):
            return stream
        with self._lock:
            self.open_runs += 1
            self.most_open_runs = max(self.most_open_runs, self.open_runs)
        store = self
        close = stream.close

        def counted_close() -> None:
            if not stream.closed:
                with store._lock:
                    store.open_runs -= 1
            close()

        stream.close = counted_close  # type: ignore[method-assign]
        return stream

    def put_file(self, key: str, path: Path) -> None:
        if key.startswith(RUNS_PREFIX) and self.fail_next_run_put:
            self.fail_next_run_put = False
            raise RuntimeError("the step was killed")
        super().put_file(key, path)


def user_shas(manifest: Manifest) -> list[str]:
    return [o.sha256 for o in manifest.objects_of("users")]


def test_the_next_merge_is_the_smallest_window_that_brings_the_runs_down_to_the_fan_in() -> None:
    assert next_merge([5] * 4, 4) is None and next_merge([], 2) is None
    assert next_merge([5] * 5, 4) == (0, 2)  # 5 runs, fan-in 4: two runs merged make 4
    assert next_merge([5, 5, 1, 1, 5], 4) == (2, 4)  # the smallest records, hence the least rewritten
    assert next_merge([5] * 10, 3) == (0, 3)  # never more than the fan-in at once
    with pytest.raises(ValueError):
        next_merge([1, 1, 1], 1)


def write_snapshot(repo: Repository, fan_in: int) -> Manifest:
    with repo.begin_snapshot("eu-west-1_X", "eu-west-1", max_records_per_object=40, merge_fan_in=fan_in) as w:
        w.add("config", PoolConfig(user_pool={"Id": "eu-west-1_X"}).to_record())
        for i in [*range(999, 0, -2), *range(0, 1000, 2)]:  # listing order is not key order
            w.add("users", synthetic_user(i).to_record())
        return w.commit()


def test_a_bounded_merge_writes_the_snapshot_an_unbounded_one_writes(tmp_path: Path) -> None:
    """1,000 users in runs of 40: 25 runs. With a fan-in of 3, never more than 3 are read at once."""
    whole = write_snapshot(Repository(LocalStore(tmp_path / "whole")), MERGE_FAN_IN)
    store = RunReadsStore(tmp_path / "bounded")
    repo = Repository(store)
    bounded = write_snapshot(repo, 3)
    assert store.most_open_runs <= 3
    assert user_shas(bounded) == user_shas(whole)
    assert bounded.counts == whole.counts
    assert list(store.list(RUNS_PREFIX)) == [], "every run, merged ones too, is gone with the commit"
    assert check_repository(repo, read_data=True).ok


def test_merge_passes_span_steps_and_a_step_killed_during_one_continues(cognito: Any, tmp_path: Path) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=300, n_groups=1)
    whole = run_backup(
        PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id),
        Repository(LocalStore(tmp_path / "one")),
        REGION,
        BackupOptions(max_records_per_object=20),
    ).manifest

    store = RunReadsStore(tmp_path / "steps")
    repo = Repository(store)
    options = StepOptions(safety_seconds=60.0, max_records_per_object=20, merge_fan_in=3)
    checkpoint: str | None = None
    merging_seen = killed = 0
    most_runs = 0
    for _ in range(400):
        step_reader = PoolReader(cognito, Pacer(sleep=lambda s: None), pool_id)
        try:
            # No time left: every step does its first unit of work (a page, a merged run's segment, a
            # shard) and stops.
            result = run_backup_step(step_reader, repo, REGION, checkpoint, deadline=lambda: 0.0, options=options)
        except RuntimeError as exc:
            assert "killed" in str(exc)
            killed += 1
            continue  # the state machine retries the step from the checkpoint it had
        if result.done:
            break
        checkpoint = result.checkpoint_id
        assert checkpoint is not None
        state = load_checkpoint(repo, checkpoint)
        most_runs = max(most_runs, len(state.runs))
        if state.merging is not None and state.merging.outputs:
            merging_seen += 1  # a pass stopped part-way: the checkpoint says where it continues
            if not killed:
                store.fail_next_run_put = True
    else:
        raise AssertionError("the backup loop did not finish")
    assert result.manifest is not None
    assert most_runs >= 5, "300 users in runs of at most 20"
    assert merging_seen >= 2 and killed == 1
    assert store.most_open_runs <= 3
    assert user_shas(result.manifest) == user_shas(whole)
    assert list(store.list("checkpoints/")) == list(store.list(RUNS_PREFIX)) == []
    assert check_repository(repo, read_data=True).ok


def test_a_format_3_checkpoint_is_still_read_and_a_newer_one_refused(tmp_path: Path) -> None:
    run = {"kind": "users", "sha256": "ab" * 32, "size": 10, "records": 2}
    body = {
        "format": 3,
        "snapshot_id": "20261201T000000Z-0123abcd",
        "user_pool_id": "eu-west-1_X",
        "region": "eu-west-1",
        "started_at": "2026-12-01T00:00:00Z",
        "options": {},
        "stage": "shard",
        "steps": 3,
        "objects": [],
        "runs": [run, run],
        "shard_after": None,
    }
    state = BackupCheckpoint.from_json(json.dumps(body).encode(), where="c")
    assert [len(r) for r in state.runs] == [1, 1] and state.merging is None
    again = BackupCheckpoint.from_json(state.to_json(), where="c")
    assert again.runs == state.runs and json.loads(state.to_json())["format"] == CHECKPOINT_FORMAT >= 4
    with pytest.raises(RepositoryDamaged, match="upgrade"):
        BackupCheckpoint.from_json(json.dumps({**body, "format": CHECKPOINT_FORMAT + 1}).encode(), where="c")
