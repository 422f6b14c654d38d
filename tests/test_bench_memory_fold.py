"""bench/bench_memory.py's `restore --at` row measures the production fold (ops/pitr.desired_state_at:
the journal stored in the repository, read back in order by ops/state_at.fold_from), not the oracle
core/fold.fold() the tests compare against: both give the same state."""

from __future__ import annotations

import json
from pathlib import Path

from bench.bench_memory import DESIRED_POOL, journal, measure, prepare

from cognito_backup.core.fold import fold
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore


def test_the_fold_row_folds_the_stored_journal_as_restore_at_does(tmp_path: Path) -> None:
    users = 2_000
    where, desired_id, actual_id = prepare(tmp_path, users)
    repo = Repository(LocalStore(where))
    stored = list(Journal(repo.store).iter_records(DESIRED_POOL))
    assert len(stored) == 2 * users // 100, "every generated record is in the repository's journal"

    row = measure(str(where), desired_id, actual_id, "fold")
    oracle = fold(repo.load_state(repo.resolve(desired_id)), journal(users))
    expected = plan(oracle, repo.load_state(repo.resolve(actual_id)), PlanOptions(prune=True)).count_by_kind()
    assert json.loads(json.dumps(row["result"])) == json.loads(json.dumps(expected))
    assert prepare(tmp_path, users) == (where, desired_id, actual_id)  # prepared once, reused
    assert len(list(Journal(repo.store).iter_records(DESIRED_POOL))) == len(stored)
