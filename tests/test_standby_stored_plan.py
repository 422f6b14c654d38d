"""A standby round whose writes do not fit one call stores its plan and carries it out over calls (#10 part 2).

A bounded round (the Lambda's) that compares the whole standby plans once, stores the plan in the
repository (ops/stored_plan.py, the deployed restore's StoredPlan) and later calls carry it out from the
stored chunks: they neither list the standby nor fold nor plan again. Rounds that would apply new journal
records wait until the stored plan is done; the round after it applies them (the plan was judged at its
time, deletions included). Cognito is moto in-process; requests are seen below botocore's retry layer
(`before-send`: every request sent, retries included), where a call is also killed.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from cognito_backup.errors import OutOfTime
from cognito_backup.ops.replicate import Cursor, resume_key, stored_plan_prefix
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.layout import restore_state_prefix
from cognito_backup.store.memory import MemoryStore
from tests.helpers import journal_upsert
from tests.test_standby_big_rounds import Killed, Pages, assert_equal_to_source, drifted_world, source_state
from tests.test_standby_rounds import World, users_of

READS = ("List", "Describe", "Get", "AdminGet", "AdminList")


class Writes:
    """Every write request sent to the standby, in order: (operation, group/username)."""

    def __init__(self, cognito: Any, pool: str) -> None:
        self.pool = pool
        self.sent: list[tuple[str, str]] = []
        self.kill_after: int | None = None  # raise Killed at this many writes (the call's process dies)
        cognito.meta.events.register("before-send.cognito-idp", self.on_send)

    def on_send(self, request: Any, event_name: str = "", **_: Any) -> None:
        operation = event_name.rpartition(".")[2]
        body = json.loads(request.body or b"{}")
        if operation.startswith(READS) or body.get("UserPoolId") != self.pool:
            return
        if self.kill_after is not None and len(self.sent) >= self.kill_after:
            raise Killed
        self.sent.append((operation, f"{body.get('GroupName', '')}/{body.get('Username', '')}"))

    def budget(self, writes: int) -> Callable[[], bool]:
        """A call's clock measured in writes: out of time once the call sent `writes` of them."""
        start = len(self.sent)
        return lambda: len(self.sent) - start >= writes

    def twice(self, *operations: str) -> list[tuple[str, str]]:
        return [w for w, n in Counter(self.sent).items() if n > 1 and w[0] in operations]


def carry_to_the_end(w: World, writes: Writes, per_call: int, limit: int = 60) -> tuple[int, Any]:
    """Calls of `per_call` writes each until one finishes the round: (calls made, its result)."""
    for calls in range(1, limit + 1):
        try:
            return calls, w.round(out_of_time=writes.budget(per_call))
        except OutOfTime:
            continue
    raise AssertionError("the stored plan was never carried out")


def first_call(cognito: Any, writes_in_it: int) -> tuple[World, Pages, Writes, int]:
    """A source of 43 users and an empty standby; the first round's first call lists the standby, plans,
    stores the plan and runs out of time after `writes_in_it` writes. Returns the listing requests it sent."""
    w = World(cognito, MemoryStore(), more=40)
    pages, writes = Pages(cognito, w.standby), Writes(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=writes.budget(writes_in_it))
    return w, pages, writes, len(pages.sent)


def test_a_first_round_into_an_empty_standby_spans_calls_and_lists_the_standby_once(cognito: Any) -> None:
    w, pages, writes, listed = first_call(cognito, 15)
    assert listed > 0 and len(writes.sent) >= 15
    cursor = Cursor.load(w.repo, w.standby, w.source)
    assert cursor.carrying is not None and cursor.position is None  # the plan is stored, the cursor unmoved
    assert list(w.repo.store.list(stored_plan_prefix(w.standby)))

    calls, last = carry_to_the_end(w, writes, 15)
    assert calls >= 3  # the writes took several more calls
    assert pages.sent[listed:] == []  # none of them listed the standby
    assert last.failed == 0 and last.operations > 80
    assert writes.twice("AdminCreateUser", "AdminSetUserPassword", "AdminAddUserToGroup", "CreateGroup") == []
    assert_equal_to_source(w)
    # Every user created got its password once, whichever call created it.
    created = {key for op, key in writes.sent if op == "AdminCreateUser"}
    assert created == {key for op, key in writes.sent if op == "AdminSetUserPassword"}
    # The round is whole: the cursor moved, the stored plan and the resume state are gone.
    cursor = Cursor.load(w.repo, w.standby, w.source)
    assert cursor.carrying is None and cursor.position is not None and cursor.compared_at is not None
    assert list(w.repo.store.list(stored_plan_prefix(w.standby))) == []
    assert list(w.repo.store.list(restore_state_prefix(resume_key(w.source, w.standby)))) == []
    # The next round has nothing new: it neither lists nor writes.
    before = len(writes.sent), len(pages.sent)
    assert w.round(out_of_time=lambda: False).applied is False
    assert (len(writes.sent), len(pages.sent)) == before


def test_a_call_killed_mid_chunk_resumes_without_creating_or_setting_a_password_twice(cognito: Any) -> None:
    w, pages, writes, listed = first_call(cognito, 10)
    writes.kill_after = len(writes.sent) + 25  # the next call dies at its 26th write, mid-chunk
    with pytest.raises(Killed):
        w.round(out_of_time=writes.budget(1000))
    writes.kill_after = None
    _, last = carry_to_the_end(w, writes, 1000)
    assert last.failed == 0
    # No listing of the standby: only lookups of single users (`username = "..."`), the creates and
    # passwords the killed call may have sent without recording them, judged from the user's own state.
    assert [page for page in pages.sent[listed:] if not page[1].startswith("username = ")] == []
    # What the killed call had sent is judged from the resume state (creates, passwords), never sent twice.
    assert writes.twice("AdminCreateUser", "AdminSetUserPassword") == []
    assert_equal_to_source(w)


def test_journal_records_during_a_stored_plan_wait_for_it_then_the_next_round_applies_them(cognito: Any) -> None:
    """A minute round finds the stored plan half carried out: it carries it on, applying no journal record
    meanwhile (the plan, made earlier, would then overwrite the newer value with its own). The round
    after the plan applies the records written since the plan's fold."""
    w = World(cognito, MemoryStore(), more=40)
    writes = Writes(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=writes.budget(10))
    planned_at = w.now[0]
    Journal(w.repo.store).append(w.source, [journal_upsert(w.source, w.at(60), "more-30", "late", "e-late")])
    w.now[0] = w.at(90)
    _, carried = carry_to_the_end(w, writes, 15)
    assert carried.failed == 0
    # The plan's own value: the record after its fold is not applied by the calls carrying it out.
    assert users_of(w.standby_state())["more-30"] == {"custom:tier": "x"}
    assert Cursor.load(w.repo, w.standby, w.source).compared_at is not None
    assert w.now[0] > planned_at
    w.now[0] = w.at(120)
    after = w.round(out_of_time=lambda: False)
    assert after.applied and after.failed == 0
    expected = users_of(source_state(w)) | {"more-30": {"custom:tier": "late"}}
    assert users_of(w.standby_state()) == expected


def test_a_deletion_is_judged_at_the_plan_and_a_user_created_since_comes_back_with_the_next_round(
    cognito: Any,
) -> None:
    """The plan deletes the standby's `stranger` (not in the source when it was made); the source creates a
    `stranger` while the plan is carried out: the plan still deletes the old one, the next round
    (its journal record names the user) creates the new one."""
    w = drifted_world(cognito)
    writes = Writes(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=writes.budget(1))
    assert Cursor.load(w.repo, w.standby, w.source).carrying is not None
    Journal(w.repo.store).append(
        w.source, [journal_upsert(w.source, w.at(2 * 3600 + 10), "stranger", "new", "e-stranger")]
    )
    w.now[0] = w.at(2 * 3600 + 60)
    _, carried = carry_to_the_end(w, writes, 1)
    assert carried.failed == 0
    assert ("AdminDeleteUser", "/stranger") in writes.sent
    assert "stranger" not in users_of(w.standby_state())
    w.now[0] = w.at(2 * 3600 + 120)
    assert w.round(out_of_time=lambda: False).failed == 0
    expected = users_of(source_state(w)) | {"stranger": {"custom:tier": "new"}}
    assert users_of(w.standby_state()) == expected


def test_configuration_writes_run_in_the_planning_call_and_the_users_from_the_stored_plan(cognito: Any) -> None:
    """A stored plan holds user, group and membership writes; the configuration's (whole requests, a few)
    are carried out at once by the call that plans, before the users'."""
    from cognito_backup.aws.reader import PoolReader
    from cognito_backup.ops.backup import run_backup

    w = World(cognito, MemoryStore(), more=30)
    cognito.create_user_pool_client(UserPoolId=w.source, ClientName="web")
    w.now[0] = w.at(1)  # the repository's clock: the second snapshot is the newer one
    run_backup(PoolReader(cognito, w.pacer, w.source), w.repo, "us-east-1")  # the source's newest snapshot
    writes = Writes(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=writes.budget(10))
    assert ("CreateUserPoolClient", "/") in writes.sent
    _, last = carry_to_the_end(w, writes, 10)
    assert last.failed == 0
    assert [op for op, _ in writes.sent].count("CreateUserPoolClient") == 1
    clients = cognito.list_user_pool_clients(UserPoolId=w.standby, MaxResults=60)["UserPoolClients"]
    assert [c["ClientName"] for c in clients] == ["web"]
    assert_equal_to_source(w)


class DyingStore(MemoryStore):
    """The repository in memory; the process dies at the first write of a stored plan's `meta.json.gz`
    (the plan's chunks written, its meta and position not yet): from then on, until `revive()`, nothing
    more is written (a dead process runs no `finally`)."""

    def __init__(self) -> None:
        super().__init__()
        self.armed, self.dead = True, False

    def revive(self) -> None:
        self.dead = False

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.armed and "/plans/" in key and key.endswith("/meta.json.gz"):
            self.armed, self.dead = False, True
        if self.dead:
            raise Killed
        super().put_bytes(key, data)

    def delete(self, key: str) -> None:
        if self.dead:
            raise Killed
        super().delete(key)


def test_a_call_killed_while_storing_its_plan_is_planned_again_by_the_next(cognito: Any) -> None:
    store = DyingStore()
    w = World(cognito, store, more=20)
    pages, writes = Pages(cognito, w.standby), Writes(cognito, w.standby)
    with pytest.raises(Killed):
        w.round(out_of_time=writes.budget(1000))
    store.revive()
    listed = len(pages.sent)
    carrying = Cursor.load(w.repo, w.standby, w.source).carrying
    assert carrying is not None and list(store.list(carrying.plan))  # named, partly stored, not whole
    assert not [op for op, _ in writes.sent if op.startswith("Admin")]  # no user written before it is stored
    _, last = carry_to_the_end(w, writes, 1000)
    assert last.failed == 0
    assert pages.sent[listed:] == []  # planned again from the listing the dead call made (nothing written since)
    assert_equal_to_source(w)
    assert Cursor.load(w.repo, w.standby, w.source).carrying is None
    assert list(store.list(stored_plan_prefix(w.standby))) == []


def test_the_planning_reserve_counts_the_source_when_the_standby_is_empty(cognito: Any) -> None:
    """Into an empty standby the fold and plan are the source's size (every user a create): a call that
    finishes the listing with less time left than the source needs leaves the planning to the next call."""
    from cognito_backup.ops.standby_listing import PLAN_SECONDS_MIN, PLAN_SECONDS_PER_USER

    w = World(cognito, MemoryStore(), more=300)
    short = PLAN_SECONDS_MIN + 100 * PLAN_SECONDS_PER_USER  # enough for 100 users, not for 303
    writes = Writes(cognito, w.standby)
    with pytest.raises(OutOfTime, match="next call plans"):
        w.round(out_of_time=lambda: False, seconds_left=lambda: short)
    assert writes.sent == []
    last = w.round(out_of_time=lambda: False, seconds_left=lambda: short)
    assert last.failed == 0
    assert_equal_to_source(w)
