"""The restore's resume state in the repository (ops/checkpoint.py): small immutable objects, folded in
key order, compacted when many, never holding a password."""

from __future__ import annotations

import json
from pathlib import Path

from cognito_backup.core.resume_format import decode
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.repo.layout import restore_state_prefix
from cognito_backup.store.local import LocalStore


def test_records_are_flushed_in_batches_and_fold_back(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "repo")
    ticks = [0.0]
    ckpt = Checkpoint(store, "us-east-1_X@snap", tmp_path / "local", monotonic=lambda: ticks[0], flush_every=3)
    ckpt.record("intent", durable=True, at="2026-11-30T10:00:00+00:00", users=["a", "b", "c"])
    assert len(list(store.list("restores/"))) == 1  # durable: stored before returning
    ckpt.record("created", user="a")
    ckpt.record("existed", user="b")
    assert len(list(store.list("restores/"))) == 1  # batched
    ticks[0] += 6  # FLUSH_SECONDS later
    ckpt.record("password", user="a", mode="temporary-file")
    assert len(list(store.list("restores/"))) == 2
    ckpt.remember_temporary("a", "a", "Secret-123!")
    ckpt.record("created", user="c")
    ckpt.close()
    keys = [i.key for i in store.list("restores/")]
    assert len(keys) == 3 and all(k.startswith(restore_state_prefix("us-east-1_X@snap")) for k in keys)
    assert all("Secret-123!" not in json.dumps(decode(store.get_bytes(k))) for k in keys)
    state = Checkpoint(store, "us-east-1_X@snap", tmp_path / "local").load()
    assert state.created == {"a", "c"} and state.existed == {"b"}
    assert state.passwords_done == {"a": "temporary-file"}
    assert state.temporary_passwords == {"a": ("a", "Secret-123!")}
    elsewhere = Checkpoint(store, "us-east-1_X@snap", tmp_path / "other-machine").load()
    assert elsewhere.temporary_passwords == {} and elsewhere.created == {"a", "c"}
    assert Checkpoint(store, "us-east-1_Y@snap").load().created == set()  # another target's state


def test_many_objects_are_compacted_into_one_that_folds_the_same(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "repo")
    first = Checkpoint(store, "new:B@snap", flush_every=1)
    first.record("pool_creating", name="B", restore_id="0123456789abcdef")
    first.record("pool_created", pool_id="us-east-1_B", client_id_map={"old": "new"}, warnings=["w"])
    first.record("intent", at="2026-11-30T10:00:00+00:00", users=[f"u{i}" for i in range(40)])
    for i in range(40):
        first.record("created", user=f"u{i}")
    before = Checkpoint(store, "new:B@snap").load()
    assert len(list(store.list("restores/"))) == 43
    again = Checkpoint(store, "new:B@snap", compact_over=8)
    state = again.load()
    again.compact(state)
    keys = [i.key for i in store.list("restores/")]
    assert len(keys) == 1 and keys[0].startswith("restores/new=B@snap/")
    assert (decode(store.get_bytes(keys[0])) or {})["run"] == "new:B@snap"
    assert Checkpoint(store, "new:B@snap").load() == before


def test_a_later_run_folds_after_an_earlier_one_whatever_the_clocks_say(tmp_path: Path) -> None:
    """Runs replay in the order they ran: a re-run from a machine whose clock is behind (or one started
    within the same second) must not have its records folded before those of the run it resumes."""
    import datetime as dt

    store = LocalStore(tmp_path / "repo")
    key = "new=B@snap"
    first = Checkpoint(store, key, now=lambda: dt.datetime(2026, 11, 30, 10, 0, 5, tzinfo=dt.UTC))
    first.load()
    first.record("pool_created", durable=True, pool_id="us-east-1_First", client_id_map={}, warnings=[])
    first.close()
    behind = Checkpoint(store, key, now=lambda: dt.datetime(2026, 11, 30, 9, 0, 0, tzinfo=dt.UTC))
    assert behind.load().pool_id == "us-east-1_First"
    behind.record("pool_created", durable=True, pool_id="us-east-1_Second", client_id_map={}, warnings=[])
    behind.close()
    for _ in range(3):  # whatever the random part of the names
        assert Checkpoint(store, key).load().pool_id == "us-east-1_Second"
