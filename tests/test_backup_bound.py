"""Backup at the quota bound (issue #10 point 5): the configuration, the groups and the memberships are
read while the users are listed, and every listing thread takes the next task from one shared queue.

Behaviour, not timing: botocore `before-send` hooks (below the pacer, on moto in-process) hold one kind
of call until another kind has been sent. A backup that reads in phases (configuration, then groups,
then users, then memberships) can only get past such a hold by waiting out its patience; one that reads
them together opens it at once.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Callable
from typing import Any

from cognito_backup.aws.reader import PoolReader, _fan_in
from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool
from tests.test_backup import assert_complete, quiet_pacer

REGION = "us-east-1"
PATIENCE = 3.0  # seconds a held call waits for its partner before going ahead anyway


class Hold:
    """Holds every call matching `held` until a call matching `partner` has been sent (or PATIENCE
    passes), and records the order in which calls were sent."""

    def __init__(self, held: Callable[[str, dict[str, Any]], bool], partner: str) -> None:
        self.held = held
        self.partner = partner
        self.partner_sent = threading.Event()
        self.waited_out = threading.Event()  # some held call gave up waiting
        self.sent: list[str] = []
        self.lock = threading.Lock()

    def __call__(self, request: Any, event_name: str = "", **_: Any) -> None:
        operation = event_name.rsplit(".", 1)[-1]
        params = json.loads(request.body or b"{}")
        if operation == self.partner:
            self.partner_sent.set()
        if self.held(operation, params) and not self.partner_sent.wait(PATIENCE):
            self.waited_out.set()
        with self.lock:
            self.sent.append(operation)


def _hooked(cognito: Any, hold: Hold) -> None:
    # First, so that it runs before moto's own before-send handler answers the request.
    cognito.meta.events.register_first("before-send.cognito-idp", hold)


def _backup(cognito: Any, pool_id: str, tmp_repo: str) -> Repository:
    repo = Repository(LocalStore(tmp_repo))
    run_backup(PoolReader(cognito, quiet_pacer(), pool_id), repo, REGION)
    return repo


def test_users_are_listed_while_the_configuration_is_read(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=30, n_groups=2)
    hold = Hold(lambda op, params: op == "DescribeUserPool", partner="ListUsers")
    _hooked(cognito, hold)
    repo = _backup(cognito, pool_id, tmp_repo)
    assert not hold.waited_out.is_set(), "the users were listed only after the configuration was read"
    assert hold.sent.index("ListUsers") < hold.sent.index("DescribeUserPool")
    assert_complete(cognito, pool_id, repo)


def test_memberships_are_listed_while_the_users_are(cognito: Any, tmp_repo: str) -> None:
    """ListUsers and ListUsersInGroup share the UserList quota: a backup that lists memberships after
    the last user page leaves that quota idle while the last chains finish."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=40, n_groups=3)
    # Every user page but the prefix probe (Limit=1) waits for a membership page to be asked for.
    hold = Hold(lambda op, params: op == "ListUsers" and params.get("Limit") != 1, partner="ListUsersInGroup")
    _hooked(cognito, hold)
    repo = _backup(cognito, pool_id, tmp_repo)
    assert not hold.waited_out.is_set(), "the memberships were listed only after the users"
    last_user_page = len(hold.sent) - 1 - hold.sent[::-1].index("ListUsers")
    assert hold.sent.index("ListUsersInGroup") < last_user_page
    assert hold.sent.index("ListGroups") < last_user_page
    assert_complete(cognito, pool_id, repo)


def test_a_wrong_pool_id_writes_nothing(cognito: Any, tmp_repo: str) -> None:
    """The snapshot begins only once the pool has answered, although the configuration is no longer
    read first."""
    from pathlib import Path

    import pytest

    from cognito_backup.errors import PoolNotFound

    with pytest.raises(PoolNotFound):
        _backup(cognito, "us-east-1_doesnotexist", tmp_repo)
    assert not Path(tmp_repo, "snapshots").exists()
    assert not Path(tmp_repo, "locks").exists() or not any(Path(tmp_repo, "locks").iterdir())


def test_an_empty_pool_is_backed_up(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    repo = _backup(cognito, pool_id, tmp_repo)
    manifest = repo.resolve("latest")
    assert manifest.counts == {"config": 1, "groups": 0, "memberships": 0, "users": 0}


# ---- the shared work queue -----------------------------------------------------------------------


def test_late_tasks_go_ahead_of_tasks_not_started() -> None:
    """One worker: the membership chain a feeder adds while the first user chain runs is taken next,
    before the user chains still waiting (they would otherwise leave it for the end, alone)."""
    ran: list[str] = []
    started = threading.Event()
    fed = threading.Event()

    def produce(task: str, out: Callable[[Any], None]) -> None:
        ran.append(task)
        if task == "users-0":
            started.set()
            assert fed.wait(5), "the feeder never ran"
        out(task)

    def late(add: Callable[[Any], None]) -> None:
        assert started.wait(5), "no user chain started"  # the groups page arrives while users are listed
        add("members-a")
        add("members-b")
        fed.set()

    got = list(_fan_in(["users-0", "users-1", "users-2"], produce, 1, lambda n: None, late=late))
    assert ran == ["users-0", "members-a", "members-b", "users-1", "users-2"]
    assert sorted(got) == sorted(ran)


def test_no_worker_idles_while_tasks_remain() -> None:
    """Two workers, one held on a long task: the other takes every remaining task, including those
    added late, and the long task is released only once they are all done."""
    ran: list[str] = []
    others_done = threading.Event()
    remaining = {"users-1", "users-2", "users-3", "members-a"}
    lock = threading.Lock()

    def produce(task: str, out: Callable[[Any], None]) -> None:
        if task == "users-0":
            assert others_done.wait(5), "a worker idled while tasks remained"
        with lock:
            ran.append(task)
            remaining.discard(task)
            if not remaining:
                others_done.set()
        out(task)

    got = list(
        _fan_in(
            ["users-0", "users-1", "users-2", "users-3"], produce, 2, lambda n: None, late=lambda add: add("members-a")
        )
    )
    assert ran[-1] == "users-0"
    assert sorted(got) == ["members-a", "users-0", "users-1", "users-2", "users-3"]


def test_a_failing_feeder_fails_the_listing() -> None:
    import pytest

    def late(add: Callable[[Any], None]) -> None:
        raise RuntimeError("ListGroups failed")

    with pytest.raises(RuntimeError, match="ListGroups failed"):
        list(_fan_in(["users-0"], lambda task, out: out(task), 1, lambda n: None, late=late))


def test_configuration_sections_are_read_together(cognito: Any) -> None:
    """The configuration takes as long as its slowest section, not the sum of all (an optional
    section retried after 5xx answers holds up no other)."""
    pool_id = make_pool(cognito)
    hold = Hold(lambda op, params: op == "GetUserPoolMfaConfig", partner="ListUserPoolClients")
    _hooked(cognito, hold)
    PoolReader(cognito, quiet_pacer(), pool_id).read_config()
    assert not hold.waited_out.is_set(), "the configuration sections were read one after another"
    assert hold.sent.index("ListUserPoolClients") < hold.sent.index("GetUserPoolMfaConfig")


def test_a_consumer_that_stops_early_stops_every_thread() -> None:
    """A backup that fails mid-listing (its configuration could not be read) closes the listing: the
    workers and a feeder still adding tasks end, none left blocked on a full queue."""

    def produce(task: int, out: Callable[[Any], None]) -> None:
        for n in range(1000):
            out((task, n))

    def late(add: Callable[[Any], None]) -> None:
        for n in range(100, 2000):
            add(n)

    def consume() -> None:
        listing = _fan_in(list(range(20)), produce, 4, lambda n: None, late=late)
        next(listing)
        listing.close()  # type: ignore[attr-defined]

    runner = threading.Thread(target=consume, daemon=True)
    runner.start()
    runner.join(20)
    assert not runner.is_alive(), "closing the listing left threads blocked"
