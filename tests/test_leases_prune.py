"""prune removes leases (repo/leases.py) untouched for two days, as it removes a dead backup's lock."""

from __future__ import annotations

import time

from cognito_backup.core.retention import Policy
from cognito_backup.ops.prune import prune
from cognito_backup.repo.leases import Lease, list_generations
from cognito_backup.repo.repository import Repository
from cognito_backup.store.memory import MemoryStore


def test_prune_removes_leases_two_days_old() -> None:
    repo = Repository(MemoryStore())
    repo.init_if_needed()
    Lease.acquire(repo.store, "restore/eu-west-1_A", what="A", purpose="restore").release()
    Lease.acquire(repo.store, "restore/eu-west-1_B", what="B", purpose="restore")  # its holder dies
    soon = prune(repo, Policy(keep_last=1), now=lambda: time.time() + 3600)
    assert soon.removed_stale == 0
    later = prune(repo, Policy(keep_last=1), now=lambda: time.time() + 3 * 86400)
    assert later.removed_stale == 2
    assert list_generations(repo.store, "restore/eu-west-1_A") == []
    assert list_generations(repo.store, "restore/eu-west-1_B") == []
