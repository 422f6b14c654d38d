"""Standby rounds for a big pool (issue #10 part 2) and the one builder of the state at T (part 1).

- `restore --at` (pitr), `compact` and a replicate round build the state at T the same way
  (ops/state_at.py) and agree at every step of a journal;
- a round starts from the compacted state the previous round stored: it reads only the journal after
  that round's cursor;
- a round that runs out of its call's time continues on the next call, writing nothing twice.

Cognito is moto in-process; the journal is written as capture writes it (tests.helpers.journal_upsert).
"""

from __future__ import annotations

import datetime as dt
import json
import logging
from collections import Counter
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.quotas import DEFAULT_RATES
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.spill import UserTable
from cognito_backup.errors import OutOfTime
from cognito_backup.model import PoolState
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.compact import compact
from cognito_backup.ops.pitr import desired_state_at
from cognito_backup.ops.replicate import Cursor, cursor_key, replicate_once, resume_key
from cognito_backup.ops.restore import RestoreOptions
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.layout import restore_state_prefix
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.base import Store
from cognito_backup.store.local import LocalStore
from cognito_backup.store.memory import MemoryStore
from tests.helpers import add_user, journal_upsert, make_pool

# moto's in-process backend is not thread-safe for concurrent writes to one pool: one writer per category.
ONE_WRITER = RestoreOptions(workers={category: 1 for category in DEFAULT_RATES})
WRITES = frozenset(
    {
        "AdminCreateUser",
        "AdminSetUserPassword",
        "AdminUpdateUserAttributes",
        "AdminDeleteUser",
        "AdminAddUserToGroup",
        "AdminRemoveUserFromGroup",
        "CreateGroup",
    }
)


class CountingStore(MemoryStore):
    """The repository in memory, noting every object read (the journal segments a round reads)."""

    def __init__(self) -> None:
        super().__init__()
        self.reads: list[str] = []

    def get_bytes(self, key: str) -> bytes:
        self.reads.append(key)
        return super().get_bytes(key)

    def segments_read(self, pool: str) -> set[str]:
        return {k for k in self.reads if k.startswith(f"journal/{pool}/") and k.endswith(".json")}


def delete_record(pool: str, when: dt.datetime, name: str, event_id: str) -> dict[str, Any]:
    return {
        "type": "user_delete",
        "pool": pool,
        "key": name,
        "sub": None,
        "observed_at": format_time(when),
        "event_id": event_id,
        "seq": 0,
        "after": None,
        "source": "cloudtrail",
    }


def users_of(state: PoolState) -> dict[str, dict[str, str]]:
    """Users as the standby can hold them: its subs are its own."""
    return {n: {k: v for k, v in u.attributes.items() if k != "sub"} for n, u in state.users.items()}


def members_of(state: PoolState) -> set[tuple[str, str]]:
    return {(m.group, m.username) for m in state.memberships}


class World:
    def __init__(self, cognito: Any, store: Store, more: int = 0) -> None:
        self.cognito = cognito
        self.source = make_pool(cognito, "source")
        self.standby = make_pool(cognito, "standby")
        cognito.create_group(UserPoolId=self.source, GroupName="admins")
        for name, tier in (("ann", "a0"), ("bob", "b0"), ("cy", "c0")):
            add_user(cognito, self.source, name, {"custom:tier": tier})
        cognito.admin_add_user_to_group(UserPoolId=self.source, Username="bob", GroupName="admins")
        for n in range(more):
            add_user(cognito, self.source, f"more-{n}", {"custom:tier": "x"})
        if more:
            cognito.create_group(UserPoolId=self.source, GroupName="team")
            cognito.admin_add_user_to_group(UserPoolId=self.source, Username="more-1", GroupName="team")
        self.now = [dt.datetime.now(dt.UTC)]
        self.repo = Repository(store, clock=lambda: self.now[0])
        self.pacer = Pacer(sleep=lambda s: None)
        run_backup(PoolReader(cognito, self.pacer, self.source), self.repo, "us-east-1")
        self.t0 = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)

    def at(self, seconds: float) -> dt.datetime:
        return self.t0 + dt.timedelta(seconds=seconds)

    def round(self, **kwargs: Any) -> Any:
        return replicate_once(
            self.repo,
            self.cognito,
            self.pacer,
            self.source,
            self.standby,
            options=ONE_WRITER,
            clock=lambda: self.now[0],
            **kwargs,
        )

    def standby_state(self) -> PoolState:
        return PoolReader(self.cognito, self.pacer, self.standby, chains=1).read_state()


def test_restore_at_compact_and_a_standby_round_build_the_same_state_at_every_step(cognito: Any) -> None:
    w = World(cognito, MemoryStore())
    p = w.source
    batches = [
        [journal_upsert(p, w.at(1), "ann", "a1", "e1"), journal_upsert(p, w.at(2), "dan", "d1", "e2")],
        [
            journal_upsert(p, w.at(10), "bob", "b2", "e3"),
            delete_record(p, w.at(11), "cy", "e4"),
            journal_upsert(p, w.at(12), "ann", "a2", "e5"),
        ],
        [journal_upsert(p, w.at(20), "eve", "e1", "e6"), delete_record(p, w.at(21), "dan", "e7")],
    ]
    for step, batch in enumerate(batches):
        Journal(w.repo.store).append(p, batch)
        end = max(dt.datetime.fromisoformat(str(r["observed_at"]).replace("Z", "+00:00")) for r in batch)
        w.now[0] = end + dt.timedelta(seconds=120)  # past compact's settle window

        at_end, base = desired_state_at(w.repo, p, end)
        compacted = compact(w.repo, p)
        assert compacted.manifest is not None
        by_compact = w.repo.load_state(compacted.manifest)
        applied = w.round(compact_after_records=1)
        assert applied.failed == 0
        by_round = w.standby_state()

        assert users_of(at_end) == users_of(by_compact) == users_of(by_round), step
        assert members_of(at_end) == members_of(by_compact) == members_of(by_round), step
        # After the first step every builder starts from a compacted state, not the listed snapshot.
        assert bool(base.extra.get("compacted")) is (step > 0)
        assert compacted.base.extra.get("compacted") is (True if step > 0 else None)
    assert users_of(by_round) == {
        "ann": {"custom:tier": "a2"},
        "bob": {"custom:tier": "b2"},
        "eve": {"custom:tier": "e1"},
    }
    # The round keeps one state of its own: each new one replaces the one it started from.
    own = [s for s in w.repo.list_snapshots() if s.extra.get("replica_state_of") == w.standby]
    assert len(own) == 1


def test_the_second_round_reads_only_the_journal_after_the_first_rounds_cursor(cognito: Any) -> None:
    store = CountingStore()
    w = World(cognito, store)
    p = w.source
    first_batch = Journal(w.repo.store).append(p, [journal_upsert(p, w.at(1), "ann", "a1", "e1")])
    first_batch += Journal(w.repo.store).append(p, [journal_upsert(p, w.at(2), "dan", "d1", "e2")])
    w.now[0] = w.at(30)
    first = w.round(compact_after_records=1)
    assert first.failed == 0 and first.records == 2
    assert store.segments_read(p) == {s.ref.key for s in first_batch}

    second_batch = Journal(w.repo.store).append(p, [journal_upsert(p, w.at(40), "bob", "b2", "e3")])
    w.now[0] = w.at(60)
    store.reads.clear()
    second = w.round(compact_after_records=1)
    assert second.failed == 0
    assert store.segments_read(p) == {second_batch[0].ref.key}
    assert users_of(w.standby_state())["bob"] == {"custom:tier": "b2"}

    # Below the threshold no state is stored: the next round folds those few records again.
    Journal(w.repo.store).append(p, [journal_upsert(p, w.at(70), "cy", "c3", "e4")])
    w.now[0] = w.at(90)
    states = len(w.repo.list_snapshots())
    assert w.round().failed == 0
    assert len(w.repo.list_snapshots()) == states


def test_a_round_out_of_time_continues_on_the_next_call_and_writes_nothing_twice(cognito: Any) -> None:
    w = World(cognito, MemoryStore(), more=6)
    p = w.source
    Journal(w.repo.store).append(p, [journal_upsert(p, w.at(1), "ann", "a9", "e1")])
    w.now[0] = w.at(5)

    writes: Counter[tuple[str, str]] = Counter()

    def record(params: dict[str, Any], model: Any, **_: Any) -> None:
        if model.name in WRITES:
            writes[(model.name, f"{params.get('GroupName', '')}/{params.get('Username', '')}")] += 1

    cognito.meta.events.register("provide-client-params.cognito-idp", record)

    def out_of_time() -> bool:  # the call's clock: out of time after a few operations
        return sum(writes.values()) >= 5

    with pytest.raises(OutOfTime):
        w.round(out_of_time=out_of_time)
    first_call = sum(writes.values())
    assert first_call > 0
    assert Cursor.load(w.repo, w.standby, p).position is None  # the cursor did not move

    second = w.round(out_of_time=lambda: False)
    cognito.meta.events.unregister("provide-client-params.cognito-idp", record)
    assert second.failed == 0 and second.operations > 0
    assert sum(writes.values()) > first_call
    assert [key for key, times in writes.items() if times > 1] == []
    # Every user created got its password, once, whichever call created it.
    created = {key for (name, key) in writes if name == "AdminCreateUser"}
    assert created == {key for (name, key) in writes if name == "AdminSetUserPassword"}
    source, standby = PoolReader(cognito, w.pacer, p, chains=1).read_state(), w.standby_state()
    expected = users_of(source) | {"ann": {"custom:tier": "a9"}}
    assert users_of(standby) == expected and members_of(standby) == members_of(source)
    assert w.repo.store.exists(cursor_key(w.standby))
    # The round is whole: its resume state is gone.
    assert list(w.repo.store.list(restore_state_prefix(resume_key(p, w.standby)))) == []


class ShrinkingContext:
    """A Lambda context whose remaining time drops by a second each time it is asked."""

    def __init__(self, millis: int) -> None:
        self.millis = millis

    def get_remaining_time_in_millis(self) -> int:
        self.millis -= 1000
        return self.millis


def test_the_standby_lambda_continues_a_round_on_its_next_call(
    cognito: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cognito_backup.serverless import replicate as replicate_lambda

    w = World(cognito, LocalStore(tmp_path / "repo"), more=6)
    for var, value in (
        ("COGNITO_BACKUP_REPO", str(tmp_path / "repo")),
        ("COGNITO_BACKUP_USER_POOL_ID", w.source),
        ("COGNITO_BACKUP_USER_POOL_REGION", "us-east-1"),
        ("COGNITO_BACKUP_STANDBY_POOL_ID", w.standby),
        ("COGNITO_BACKUP_STANDBY_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(var, value)
    caplog.set_level(logging.INFO, logger="cognito_backup.replicate")
    first = replicate_lambda.handler({}, ShrinkingContext(12_000))
    assert first["finished"] is False and first["reason"]
    second = replicate_lambda.handler({}, None)
    assert second["finished"] is True and second["failed"] == 0
    source = PoolReader(cognito, w.pacer, w.source, chains=1).read_state()
    assert users_of(w.standby_state()) == users_of(source)
    events = [json.loads(r.getMessage())["event"] for r in caplog.records if r.name == "cognito_backup.replicate"]
    assert events == ["replicate_continues", "replicate"]


def test_a_table_on_disk_gives_its_values_in_key_order() -> None:
    """What a compacted state writes its users with (ops/compact.py): no sort in memory."""
    keys = ["m", "b", "z", "a", "q", "c"]
    for keep in (100, 2):  # in memory, and moved to disk
        table: UserTable[str] = UserTable(((k, k.upper()) for k in keys), keep=keep)
        table.put("b", "B2")
        assert list(table.values_by_key()) == ["A", "B2", "C", "M", "Q", "Z"]


def test_a_segment_older_than_the_rounds_state_is_folded_from_an_earlier_one(cognito: Any) -> None:
    """A slower writer's segment, observed before the compacted state the last round stored, turns up
    after it: the next round folds from the listed snapshot again, so its observation still counts."""
    w = World(cognito, MemoryStore())
    p = w.source
    Journal(w.repo.store).append(p, [journal_upsert(p, w.at(1), "ann", "a1", "e1")])
    Journal(w.repo.store).append(p, [journal_upsert(p, w.at(3), "bob", "b1", "e2")])
    w.now[0] = w.at(30)
    assert w.round(compact_after_records=1).failed == 0
    assert [s.extra.get("replica_state_of") for s in w.repo.list_snapshots()].count(w.standby) == 1

    Journal(w.repo.store).append(p, [journal_upsert(p, w.at(2), "ann", "late", "e3")])  # written late
    w.now[0] = w.at(60)
    assert w.round(compact_after_records=1).failed == 0
    assert users_of(w.standby_state())["ann"] == {"custom:tier": "late"}
    assert users_of(w.standby_state())["bob"] == {"custom:tier": "b1"}
