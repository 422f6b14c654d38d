"""The restore's resume state is stored compactly (issue 10 part 1): a 10M-user restore runs for days and
is resumed many times, and each resume (and `prune`, `restore --status`) reads the whole state.

- The state of a 20,000-user restore, as a resume leaves it (folded and compacted), is a few hundred
  KB in one or two objects: per user its key, new sub and flags in sorted, gzip-compressed columns,
  not a JSON line per user and event (the previous format: ~200 bytes a user, 7 objects).
- A state written by the previous version (format 1: tests/data/restore_state_format1/, made by it)
  reads the same, and a restore that version left killed part-way resumes with this one.
"""

from __future__ import annotations

import gzip
import json
import shutil
import uuid
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.core import spill
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState
from cognito_backup.ops.restore import run_restore
from cognito_backup.repo.repository import Repository
from cognito_backup.store.base import Store
from cognito_backup.store.local import LocalStore
from tests.restore_support import CallRecorder, quiet_pacer, read_state
from tests.test_restore_resume import killed_new_pool_restore, pools_named, request

FORMAT1 = Path(__file__).parent / "data" / "restore_state_format1"
RUN = "eu-west-1_T@snap"


def restore_state(store: Store, users: int) -> Checkpoint:
    """A restore of `users` into an empty pool as it records it: the intent, then per user its create's
    answer and its password, at the default quotas' pace (30 users a second: a flush every 5 seconds)."""
    clock = [0.0]
    run = Checkpoint(store, RUN, monotonic=lambda: clock[0], password_mode="random-permanent")
    keys = [f"user-{i:08d}" for i in range(users)]
    run.record_intent("2026-12-01T00:00:00+00:00", iter(keys))
    for key in keys:
        clock[0] += 1 / 30
        run.record_created(key, str(uuid.uuid4()), key)
        run.record("password", user=key, mode="random-permanent")
    run.close()
    return Checkpoint(store, RUN)


def stored(store: Store) -> tuple[int, int]:
    infos = list(store.list("restores/"))
    return len(infos), sum(len(store.get_bytes(info.key)) for info in infos)


def same_state(a: CheckpointState, b: CheckpointState) -> bool:
    return (
        dict(a.intents.items()) == dict(b.intents.items())
        and set(a.created) == set(b.created)
        and set(a.existed) == set(b.existed)
        and dict(a.subs.items()) == dict(b.subs.items())
        and dict(a.passwords_done.items()) == dict(b.passwords_done.items())
        and a.password_modes == b.password_modes
        and a.finished == b.finished
        and (a.pool_creating, a.pool_partial, a.pool_id, a.restore_id)
        == (b.pool_creating, b.pool_partial, b.pool_id, b.restore_id)
    )


def test_a_20000_user_restores_resumed_state_is_a_few_hundred_kb_in_one_or_two_objects(tmp_path: Path) -> None:
    store = LocalStore(tmp_path / "repo")
    written = restore_state(store, 20_000)
    before = written.load()
    resumed = Checkpoint(store, RUN)
    resumed.compact(resumed.load())  # what a resumed restore does before it plans
    objects, size = stored(store)
    # Format 1 kept 4.0 MB in 7 objects here (~200 bytes a user); the subs alone are ~19 bytes a user.
    assert size < 20_000 * 40, f"{size:,} bytes ({size / 20_000:.0f} a user)"
    assert objects <= 2
    assert same_state(Checkpoint(store, RUN).load(), before)
    again = Checkpoint(store, RUN)
    again.compact(again.load())  # nothing new since: nothing rewritten
    assert stored(store) == (objects, size)


def test_the_running_restores_objects_are_compressed_too(tmp_path: Path) -> None:
    """Before any resume compacts it (a run killed, or still running: `restore --status` reads it)."""
    store = LocalStore(tmp_path / "repo")
    restore_state(store, 20_000)
    objects, size = stored(store)
    assert size < 20_000 * 80, f"{size:,} bytes ({size / 20_000:.0f} a user) in {objects} objects"


def install_format1(tmp_path: Path) -> LocalStore:
    shutil.copytree(FORMAT1, tmp_path / "repo")
    return LocalStore(tmp_path / "repo")


def test_a_state_the_previous_version_wrote_reads_the_same_and_compacts_to_the_new_format(tmp_path: Path) -> None:
    store = install_format1(tmp_path)
    killed = Checkpoint(store, "us-east-1_Target@snap-killed").load()
    at = "2026-11-30T10:00:00+00:00"
    assert dict(killed.intents.items()) == dict.fromkeys(["alice", "bob", "carol", "dave", "erin"], at)
    assert set(killed.created) == {"alice", "bob", "dave"} and set(killed.existed) == {"carol"}
    assert dict(killed.subs.items()) == {
        "alice": ("11111111-1111-4111-8111-111111111111", "alice"),
        "bob": ("22222222-2222-4222-8222-222222222222", "bob"),
    }
    assert dict(killed.passwords_done.items()) == {"alice": "random-permanent"}
    assert killed.password_modes == {"random-permanent"} and not killed.finished

    compacted = Checkpoint(store, "us-east-1_Target@snap-compacted").load()  # `intended` records, a later run
    first_run = dict.fromkeys(["alice", "bob", "carol", "dave", "erin"], at)
    assert dict(compacted.intents.items()) == {**first_run, "frank": "2026-11-30T11:00:00+00:00"}
    assert set(compacted.created) == {"alice", "bob", "dave", "frank"} and set(compacted.existed) == {"carol"}
    assert compacted.subs.get("frank") == ("33333333-3333-4333-8333-333333333333", "Frank")
    assert dict(compacted.passwords_done.items()) == {"alice": "random-permanent", "bob": "random-permanent"}

    for run, before in (("us-east-1_Target@snap-killed", killed), ("us-east-1_Target@snap-compacted", compacted)):
        again = Checkpoint(store, run, compact_over=0)
        again.compact(again.load())
        prefix = again.prefix
        assert all(info.key.endswith(".json.gz") for info in store.list(prefix))
        assert same_state(Checkpoint(store, run).load(), before)


def test_a_state_of_a_newer_format_is_refused_not_ignored(tmp_path: Path) -> None:
    """Ignoring it would forget whose password was set: a re-run would set it again."""
    store = LocalStore(tmp_path / "repo")
    body = {"format": 99, "run": RUN, "events": []}
    key = f"{Checkpoint(store, RUN).prefix}00000001-20261201T000000Z-0a0b0c0d-000001.json.gz"
    store.put_bytes(key, gzip.compress(json.dumps(body).encode()))
    with pytest.raises(RepositoryDamaged, match="format 99"):
        Checkpoint(store, RUN).load()


def as_previous_version_wrote_it(store: Store) -> None:
    """A double of the previous version's writer: the same records, as plain JSON objects (format 1,
    `.json`). Exact for a run's own records; a compaction's (`facts`) it never wrote."""
    for info in list(store.list("restores/")):
        if not info.key.endswith(".json.gz"):
            continue
        body: dict[str, Any] = json.loads(gzip.decompress(store.get_bytes(info.key)))
        assert all(event["event"] != "facts" for event in body["events"])
        body["format"] = 1
        store.put_bytes(info.key.removesuffix(".gz"), json.dumps(body, separators=(",", ":")).encode())
        store.delete(info.key)


def test_a_restore_the_previous_version_left_killed_resumes_with_this_one(cognito: Any, tmp_path: Path) -> None:
    repo, pool = killed_new_pool_restore(cognito, tmp_path, "AdminSetUserPassword", 3)
    as_previous_version_wrote_it(repo.store)
    assert all(info.key.endswith(".json") for info in repo.store.list("restores/"))
    waiting = {u.username for u in read_state(cognito, pool).users.values() if u.status == "FORCE_CHANGE_PASSWORD"}
    assert waiting
    recorder = CallRecorder(cognito)
    outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), request("B", tmp_path / "two"))
    assert pools_named(cognito, "B") == [pool], "the pool the previous version created is adopted"
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    after = read_state(cognito, pool)
    assert len(after.users) == 5 and {u.status for u in after.users.values()} == {"CONFIRMED"}
    created = [p["Username"] for p in recorder.named("AdminCreateUser")]
    assert not waiting & set(created), "a user the killed run created is not created again"
    assert {n["user"] for n in outcome.to_json()["new_passwords"]} >= waiting


@pytest.mark.parametrize("memory_items", [5_000, 2])
def test_a_compaction_keeps_every_fact_of_keys_of_any_characters_in_memory_and_on_disk(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, memory_items: int
) -> None:
    """The facts are merged from five tables read in key order: str order, in memory and in sqlite alike
    (Cognito usernames may hold any letter, mark, symbol or punctuation)."""
    monkeypatch.setattr(spill, "MEMORY_ITEMS", memory_items)
    store = LocalStore(tmp_path / "repo")
    keys = ["zoë", "Zoe", "o'brien", 'say"hi', "ö", "a\u00a0b", "bob@example.com", "+15551234567", "日本", "a"]
    run = Checkpoint(store, RUN, flush_every=1, password_mode="temporary-file")
    run.record("pool_creating", name="B", restore_id="0123456789abcdef")
    run.record_intent("2026-12-01T00:00:00+00:00", keys[:7])
    for i, key in enumerate(keys):
        if i % 3 == 0:
            run.record_created(key, f"sub-{i}", key if i % 2 else key.upper())
        elif i % 3 == 1:
            run.record("existed", user=key)
        if i % 2 == 0:
            run.record("password", user=key, mode="temporary-file")
    run.record("created", user="no-answer")
    run.record("finished")
    run.close()
    before = Checkpoint(store, RUN).load()
    again = Checkpoint(store, RUN, compact_over=0)
    again.compact(again.load())
    assert len(list(store.list("restores/"))) == 1
    after = Checkpoint(store, RUN).load()
    assert same_state(after, before)
    assert after.subs.get("zoë") == ("sub-0", "ZOË") and after.finished and after.restore_id == "0123456789abcdef"
