"""A standby round and a restore into the standby never write together (repo/leases.py).

A round writes the standby pool as a restore does; a second writer at the same time (a `replicate
--follow` on a laptop beside the stack's scheduled rounds, or an operator's `restore` into the standby)
would set passwords twice and fight over deletions. Both take the one lease of the target pool,
`restore/<pool id>`: the second is refused with exit 13 before it reads or writes anything.
Cognito is moto in-process; the other holder is a lease taken in this process (alive: it is held).
"""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.errors import RepositoryBusy
from cognito_backup.ops.replicate import replicate_once
from cognito_backup.ops.restore import RestoreOptions
from cognito_backup.repo.leases import Lease, list_generations
from cognito_backup.store.memory import MemoryStore
from tests.test_standby_rounds import World


def test_a_round_is_refused_while_a_restore_holds_the_standby(cognito: Any) -> None:
    w = World(cognito, MemoryStore())
    held = Lease.acquire(w.repo.store, f"restore/{w.standby}", what="the standby", purpose="restore")
    try:
        with pytest.raises(RepositoryBusy) as refused:
            w.round()
        assert refused.value.exit_code == 13 and w.standby in str(refused.value)
        assert w.standby_state().users == {}  # nothing written
    finally:
        held.release()
    # Once the restore released it, the round goes on and leaves the standby free again.
    assert w.round().failed == 0
    assert len(w.standby_state().users) == 3
    newest = list_generations(w.repo.store, f"restore/{w.standby}")[-1]
    assert newest.body.get("released") is True and newest.body.get("purpose") == "standby round"


def test_a_dry_run_round_takes_no_lease(cognito: Any) -> None:
    w = World(cognito, MemoryStore())
    held = Lease.acquire(w.repo.store, f"restore/{w.standby}", what="the standby", purpose="restore")
    try:
        # A dry run writes nothing: it may look while a restore runs.
        dry = replicate_once(
            w.repo,
            w.cognito,
            w.pacer,
            w.source,
            w.standby,
            options=RestoreOptions(dry_run=True),
            clock=lambda: w.now[0],
        )
        assert dry.dry_run and w.standby_state().users == {}
    finally:
        held.release()


def test_the_refusal_says_how_to_follow_the_run_that_holds_it_not_the_one_refused() -> None:
    """A CLI restore refused because another CLI restore runs must not be told to follow a deployed one."""
    store = MemoryStore()
    held = Lease.acquire(store, "restore/us-east-1_T", what="The restore target", purpose="restore")
    try:
        with pytest.raises(RepositoryBusy) as by_cli:
            Lease.acquire(store, "restore/us-east-1_T", what="The restore target", purpose="restore")
        assert "--deployed" not in (by_cli.value.hint or "")
    finally:
        held.release()
    execution = Lease.acquire(
        store, "restore/us-east-1_T", what="The restore target", purpose="deployed restore", holder="execution:run-7"
    )
    with pytest.raises(RepositoryBusy) as by_deployed:
        Lease.acquire(store, "restore/us-east-1_T", what="The restore target", purpose="standby round")
    assert "--status run-7" in (by_deployed.value.hint or "")
    execution.release()
