"""A standby round that compares the whole standby continues across bounded calls (issue #10 part 2).

A bounded round (the Lambda's: `out_of_time`) reads the standby through the backup engine
(ops/backup_steps.py): a snapshot of the standby pool taken in steps, its progress in the repository.
Each call lists more pages and none twice; the call that finds the listing committed plans from two
snapshots (the source's folded state, the standby's) and applies. A call killed mid-way re-reads only
the pages after the last checkpoint. Cognito is moto in-process; ListUsers pages are counted below
botocore's retry layer (a `before-send` handler sees every request sent, retries included).
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest

from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import OutOfTime, UsageError
from cognito_backup.model import PoolState
from cognito_backup.ops.pitr import select_snapshot
from cognito_backup.ops.replicate import Cursor
from cognito_backup.ops.standby_listing import PLAN_SECONDS_MIN, PLAN_SECONDS_PER_USER, plan_fits
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.layout import checkpoint_key
from cognito_backup.store.memory import MemoryStore
from tests.helpers import journal_upsert
from tests.test_standby_rounds import World, members_of, users_of

USERS = 300


class Pages:
    """Every listing request sent to one pool (ListUsers and ListUsersInGroup): which page each asked
    for (group, filter, pagination token); `budget(n)` is a call's clock measured in pages."""

    def __init__(self, cognito: Any, pool: str) -> None:
        self.pool = pool
        self.sent: list[tuple[str, str, str]] = []
        self.kill_after: int | None = None  # raise Killed at this many requests (a call killed mid-way)
        for name in ("ListUsers", "ListUsersInGroup"):
            cognito.meta.events.register(f"before-send.cognito-idp.{name}", self.on_send)

    def on_send(self, request: Any, **_: Any) -> None:
        body = json.loads(request.body or b"{}")
        if body.get("UserPoolId") != self.pool:
            return
        if self.kill_after is not None and len(self.sent) >= self.kill_after:
            raise Killed
        token = str(body.get("NextToken") or body.get("PaginationToken") or "")
        # The prefix-filter probe asks for one user (Limit 1): not a page of the listing.
        self.sent.append((str(body.get("GroupName", "")), f"{body.get('Filter', '')}/{body.get('Limit')}", token))

    def budget(self, pages: int) -> Callable[[], bool]:
        """A call's clock: out of time once the call sent `pages` listing requests."""
        start = len(self.sent)
        return lambda: len(self.sent) - start >= pages


class Killed(BaseException):  # a process kill: not an Exception the code could handle
    """The call's process dies here (raised below botocore: nothing in the round handles it)."""


def listing_state(w: World) -> bytes | None:
    """The stored progress of the standby's listing in progress (its backup checkpoint), if any."""
    listing = Cursor.load(w.repo, w.standby, w.source).listing
    if listing is None or not w.repo.store.exists(checkpoint_key(listing)):
        return None
    return w.repo.store.get_bytes(checkpoint_key(listing))


def drifted_world(cognito: Any) -> World:
    """A source of USERS users replicated once into its standby, then the standby drifted (one user
    changed, one deleted, one added) and an hour passed: the next round compares the whole standby."""
    w = World(cognito, MemoryStore(), more=USERS)
    assert w.round().failed == 0
    cognito.admin_update_user_attributes(
        UserPoolId=w.standby, Username="more-7", UserAttributes=[{"Name": "custom:tier", "Value": "drift"}]
    )
    cognito.admin_delete_user(UserPoolId=w.standby, Username="more-8")
    cognito.admin_create_user(UserPoolId=w.standby, Username="stranger", MessageAction="SUPPRESS")
    w.now[0] = w.at(2 * 3600)
    return w


def source_state(w: World) -> PoolState:
    return PoolReader(w.cognito, w.pacer, w.source, chains=1).read_state()


def assert_equal_to_source(w: World) -> None:
    source, standby = source_state(w), w.standby_state()
    assert users_of(standby) == users_of(source)
    assert members_of(standby) == members_of(source)


def test_a_full_comparison_continues_over_calls_listing_no_page_twice(cognito: Any) -> None:
    w = drifted_world(cognito)
    pages = Pages(cognito, w.standby)
    calls, stalled = 0, 0
    while True:
        calls += 1
        assert calls < 60, "the comparison never finished"
        before = listing_state(w)
        try:
            last = w.round(out_of_time=pages.budget(2))
        except OutOfTime:
            # Each call moves the listing on: more pages, a shard stored, or the snapshot committed.
            stalled += listing_state(w) == before
            continue
        break
    assert calls >= 5 and stalled == 0  # the standby's listing took several calls, each making progress
    repeated = [page for page, n in Counter(pages.sent).items() if n > 1]
    assert repeated == []
    assert last.failed == 0 and last.operations >= 3
    assert_equal_to_source(w)
    # The round is whole: no listing left in progress; the standby's snapshot it compared against stays
    # (a backup of the standby) until the next comparison replaces it.
    cursor = Cursor.load(w.repo, w.standby, w.source)
    assert cursor.listing is None and cursor.compared_with is not None
    standby_snaps = [s for s in w.repo.list_snapshots() if s.user_pool_id == w.standby]
    assert [s.id for s in standby_snaps] == [cursor.compared_with]
    # The next full comparison replaces it; rounds in between read only named users.
    w.now[0] = w.at(4 * 3600)
    while True:
        try:
            w.round(out_of_time=pages.budget(4))
        except OutOfTime:
            continue
        break
    again = Cursor.load(w.repo, w.standby, w.source)
    standby_snaps = [s for s in w.repo.list_snapshots() if s.user_pool_id == w.standby]
    assert [s.id for s in standby_snaps] == [again.compared_with] != [cursor.compared_with]


def test_a_call_killed_mid_listing_resumes_from_the_last_checkpoint(cognito: Any) -> None:
    w = drifted_world(cognito)
    pages = Pages(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=pages.budget(3))
    first = len(pages.sent)
    assert first > 0 and Cursor.load(w.repo, w.standby, w.source).listing is not None
    pages.kill_after = first + 2  # the next call dies at its third listing request
    with pytest.raises(Killed):
        w.round(out_of_time=pages.budget(1000))
    killed = pages.sent[first:]
    pages.kill_after = None
    last = w.round(out_of_time=lambda: False)
    assert last.failed == 0
    # Only what the killed call read after the last checkpoint is read again.
    repeated = Counter(pages.sent) - Counter(set(pages.sent))
    assert killed and set(repeated) <= set(killed)
    assert_equal_to_source(w)


def test_rounds_that_name_users_wait_while_a_comparison_is_in_progress(cognito: Any) -> None:
    """While a listing of the standby is in progress every call continues it (the standby is being
    read: a write meanwhile would make the listing wrong); the named users' changes are applied by the
    comparison itself, which folds the journal up to its planning call."""
    w = drifted_world(cognito)
    pages = Pages(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=pages.budget(2))
    listing = Cursor.load(w.repo, w.standby, w.source).listing
    assert listing is not None
    Journal(w.repo.store).append(w.source, [journal_upsert(w.source, w.at(2 * 3600 + 1), "ann", "a7", "e9")])
    w.now[0] = w.at(2 * 3600 + 30)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=pages.budget(2))
    assert Cursor.load(w.repo, w.standby, w.source).listing == listing  # the same listing, continued
    while True:
        try:
            w.round(out_of_time=pages.budget(2))
        except OutOfTime:
            continue
        break
    expected = users_of(source_state(w)) | {"ann": {"custom:tier": "a7"}}
    assert users_of(w.standby_state()) == expected


def test_a_listing_finished_late_in_a_call_is_planned_by_the_next_call_whatever_its_time(cognito: Any) -> None:
    """The fold and plan of a big pool take minutes: a call that finishes the listing with less time
    left than they need leaves them to the next call, which plans even if its own time is short too
    (it has nothing else to do: putting it off again would never end)."""
    w = drifted_world(cognito)
    with pytest.raises(OutOfTime, match="next call plans"):
        w.round(out_of_time=lambda: False, seconds_left=lambda: 1.0)
    last = w.round(out_of_time=lambda: False, seconds_left=lambda: 1.0)
    assert last.failed == 0 and last.operations >= 3
    assert_equal_to_source(w)


def test_the_planning_reserve_grows_with_the_standby() -> None:
    assert plan_fits(0, PLAN_SECONDS_MIN)
    assert not plan_fits(1_000_000, 300.0)
    assert plan_fits(1_000_000, PLAN_SECONDS_MIN + 1_000_000 * PLAN_SECONDS_PER_USER)


def test_a_cli_round_continues_the_listing_a_lambda_call_left(cognito: Any) -> None:
    """The CLI's round (no time limit) finds a listing in progress: it finishes and compares against it,
    so two readings of the standby are never compared against each other's writes."""
    w = drifted_world(cognito)
    pages = Pages(cognito, w.standby)
    with pytest.raises(OutOfTime):
        w.round(out_of_time=pages.budget(3))
    listing = Cursor.load(w.repo, w.standby, w.source).listing
    last = w.round()
    assert last.failed == 0
    cursor = Cursor.load(w.repo, w.standby, w.source)
    assert cursor.listing is None and cursor.compared_with == listing
    assert [page for page, n in Counter(pages.sent).items() if n > 1] == []
    assert_equal_to_source(w)


def test_a_standby_listing_is_never_a_pool_to_choose(cognito: Any) -> None:
    """The repository now holds snapshots of two pools (the source's, the standby's listing): commands
    that choose the source still find one backed-up pool, and `latest` of the source is the source's."""
    w = drifted_world(cognito)
    assert w.round(out_of_time=lambda: False).failed == 0
    listings = [s for s in w.repo.list_snapshots() if s.user_pool_id == w.standby]
    assert [s.standby_listing_of for s in listings] == [w.source]
    choice, manifest = select_snapshot(w.repo)
    assert (choice.pool_id, manifest.user_pool_id) == (w.source, w.source)
    # Restoring into the standby: its listing is not taken as "the target's own snapshot" to restore from.
    with pytest.raises(UsageError, match="the only pool backed up here is"):
        select_snapshot(w.repo, source_pool_id=None, target_pool_id=w.standby, into_existing=True)
