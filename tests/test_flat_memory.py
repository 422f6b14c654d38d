"""Flat memory (#10.1): planning and diffing a pool ten times bigger must not take ten times the memory.

Both sides are snapshots in a repository on disk (the 'live' side is a second snapshot: a moto pool of
20,000 users would take minutes to list, and the point here is the planner, not the reader). Python's
own allocations are measured with tracemalloc; sqlite's page cache (the spilled tables) lives outside
it, and is bounded by its cache_size setting (core/spill.py), which bench/bench_memory.py measures as RSS.
"""

from __future__ import annotations

import gc
import sys
import tracemalloc
from collections.abc import Callable
from pathlib import Path
from typing import Any

from cognito_backup.core.diff import differences
from cognito_backup.core.fold import fold
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.model import Membership
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore

# One synthetic snapshot builder, the memory benchmark's.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))
from bench_memory import write_snapshot


def peak_bytes(work: Callable[[], object]) -> int:
    gc.collect()
    tracemalloc.start()
    try:
        work()
        return tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def _measure(tmp_path: Path, n: int, work: Callable[[Repository, Any, Any], object]) -> int:
    repo = Repository(LocalStore(tmp_path / f"repo-{n}"))
    desired = write_snapshot(repo, "eu-west-1_desired", n, changed_every=50)
    actual = write_snapshot(repo, "eu-west-1_actual", n, offset=n // 100)
    return peak_bytes(lambda: work(repo, desired, actual))


def _diff(repo: Repository, desired: Any, actual: Any) -> object:
    found = differences(repo.load_state(desired), repo.load_state(actual))
    assert found  # users on one side only, and changed users
    return found


def _dry_run_plan(repo: Repository, desired: Any, actual: Any) -> object:
    the_plan = plan(repo.load_state(desired), repo.load_state(actual), PlanOptions(prune=True))
    counts = the_plan.count_by_kind()
    assert counts["update_user_attributes"] > 0 and counts["create_user"] > 0 and counts["delete_user"] > 0
    return counts


def test_diff_memory_is_flat_in_pool_size(tmp_path: Path) -> None:
    small = _measure(tmp_path, 2_000, _diff)
    big = _measure(tmp_path, 20_000, _diff)
    # In memory (the old design) ten times the users took ~ten times the memory (~2.5 KB per user).
    # The differences themselves stay in memory (1 in 50 users differ here): allow for them.
    assert big < small * 1.5, f"peak {small:,} B at 2,000 users, {big:,} B at 20,000"


def test_plan_memory_is_flat_in_pool_size(tmp_path: Path) -> None:
    small = _measure(tmp_path, 2_000, _dry_run_plan)
    big = _measure(tmp_path, 20_000, _dry_run_plan)
    assert big < small * 1.5, f"peak {small:,} B at 2,000 users, {big:,} B at 20,000"


def _fold_then_plan(repo: Repository, desired: Any, actual: Any) -> object:
    """`restore --at`: the snapshot with journal records folded over it, then planned."""
    base = repo.load_state(desired)
    records = [
        {"type": "user_delete", "key": "user-00000001", "observed_at": "2026-01-01T00:00:01Z", "event_id": "e1"},
        {
            "type": "user_groups",
            "key": "user-00000002",
            "after": {"groups": ["g0", "g1"]},
            "observed_at": "2026-01-01T00:00:02Z",
            "event_id": "e2",
        },
        {"type": "group_delete", "key": "g9", "observed_at": "2026-01-01T00:00:03Z", "event_id": "e3"},
    ]
    state = fold(base, records)
    assert "user-00000001" not in state.users and Membership("g1", "user-00000002") in state.memberships
    return plan(state, repo.load_state(actual), PlanOptions(prune=True)).count_by_kind()


def test_point_in_time_fold_memory_is_flat_in_pool_size(tmp_path: Path) -> None:
    small = _measure(tmp_path, 2_000, _fold_then_plan)
    big = _measure(tmp_path, 20_000, _fold_then_plan)
    assert big < small * 1.5, f"peak {small:,} B at 2,000 users, {big:,} B at 20,000"
