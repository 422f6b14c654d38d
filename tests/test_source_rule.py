"""The one rule that picks the source pool for restore, diff, show and replicate (core/source.py)."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.source import NAMED, ONLY_POOL, TARGETS_OWN, choose_source
from cognito_backup.errors import RepositoryNotFound, UsageError

A, B, C = "us-east-1_A", "us-east-1_B", "us-east-1_C"

# (pools in the repository, keyword arguments, expected (pool, why) or the error class and words in it)
CASES: list[tuple[set[str], dict[str, Any], Any]] = [
    # --snapshot names a snapshot: its pool, whatever the target
    ({A, B}, {"snapshot_pool": A, "target": B, "into_existing": True}, (A, NAMED)),
    ({A, B}, {"snapshot_pool": A, "named_source": A, "target": B}, (A, NAMED)),
    ({A, B}, {"snapshot_pool": A, "named_source": B}, (UsageError, [A, B])),
    # --source-user-pool-id
    ({A, B}, {"named_source": B, "target": A, "into_existing": True}, (B, NAMED)),
    ({A}, {"named_source": C, "target": A}, (RepositoryNotFound, [C, A])),
    # neither: the target's own snapshots first
    ({A, B}, {"target": B}, (B, TARGETS_OWN)),
    ({A, B}, {"target": B, "into_existing": True}, (B, TARGETS_OWN)),
    # else the only pool: fine for a new pool or a comparison ...
    ({A}, {}, (A, ONLY_POOL)),
    ({A}, {"target": C}, (A, ONLY_POOL)),
    # ... but writing it into another existing pool must be asked for by name
    ({A}, {"target": C, "into_existing": True}, (UsageError, [C, A, "--source-user-pool-id"])),
    # else a usage error listing the pools
    ({A, B}, {}, (UsageError, [A, B, "--source-user-pool-id"])),
    ({A, B}, {"target": C}, (UsageError, [A, B, C])),
    ({A, B}, {"target": C, "into_existing": True}, (UsageError, [A, B])),
    (set(), {"target": C}, (RepositoryNotFound, ["no snapshot"])),
]


@pytest.mark.parametrize(("pools", "kwargs", "expected"), CASES)
def test_choose_source(pools: set[str], kwargs: dict[str, Any], expected: Any) -> None:
    first, second = expected
    if isinstance(first, type):
        with pytest.raises(first) as err:
            choose_source(pools, **kwargs)
        for word in second:
            assert word in str(err.value)
        return
    choice = choose_source(pools, **kwargs)
    assert (choice.pool_id, choice.why) == expected
    assert choice.named == (second == NAMED)
