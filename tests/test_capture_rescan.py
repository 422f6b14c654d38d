"""A change of a user the event does not name is captured by a resumable rescan with a page budget.

moto serves ListUsers with Limit and PaginationToken as Cognito documents them; the pool is larger than
one call's budget, so the rescan must finish over several calls (polls / Lambda invocations), each
spending at most `rescan_pages` ListUsers pages, with its page token kept in the repository.
"""

from __future__ import annotations

import datetime as dt
import json
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.ops.capture import CaptureOptions, Capturer, Message, capture_batch, mark_if_drained
from cognito_backup.repo.journal import Journal, journal_check
from cognito_backup.repo.repository import parse_time
from cognito_backup.repo.rescan_jobs import RescanJobs
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import fast_readers, render
from tests.conftest import REGION
from tests.helpers import add_user, make_pool

USERS = 130  # three ListUsers pages of 60


@pytest.fixture
def env(aws: None, tmp_path: Path) -> dict[str, Any]:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = make_pool(cognito)
    for i in range(USERS):
        add_user(cognito, pool, f"user-{i:03d}", {"email": f"u{i}@example.com"})
    time.sleep(1.1)  # the event's time (whole seconds) comes after every creation
    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-idp.ListUsers", lambda **_: calls.append("ListUsers"))
    return {"cognito": cognito, "pool": pool, "store": LocalStore(tmp_path / "repo"), "calls": calls}


def redacted_change(env: dict[str, Any], when: dt.datetime, eid: str) -> Message:
    """An admin change CloudTrail redacted whole: neither username nor sub (an unknown_user hint)."""
    event = render("AdminUpdateUserAttributes_fully_redacted", pool=env["pool"], when=when, event_id=eid)
    return Message(id=eid, body=json.dumps(event))


def test_rescan_larger_than_the_budget_finishes_over_several_calls(env: dict[str, Any]) -> None:
    cognito, pool = env["cognito"], env["pool"]
    when = dt.datetime.now(dt.UTC)
    cognito.admin_update_user_attributes(
        UserPoolId=pool, Username="user-077", UserAttributes=[{"Name": "email", "Value": "new@example.com"}]
    )
    capturer = Capturer(
        fast_readers(cognito), CaptureOptions(default_pool_id=pool, rescan_pages=1, rescan_skew=0, rescan_interval=0)
    )
    journal = Journal(env["store"])
    jobs = RescanJobs(env["store"])

    first = capture_batch(capturer, journal, [redacted_change(env, when, "ev-1")])
    # The message is acknowledged: the job that will capture its change is durable in the repository.
    assert [m.id for m in first.done] == ["ev-1"]
    assert first.rescan is not None and first.rescan.pages == 1 and len(first.rescan.pending) == 1
    assert len(jobs.pending(pool)) == 1
    # Until the rescan is over, the caught-up marker stays before the unidentified change.
    claimed = mark_if_drained(_Drained(), journal, [pool], clock=lambda: when + dt.timedelta(hours=1))
    assert claimed is not None and parse_time(claimed) < when.replace(microsecond=0)

    per_call = [len(env["calls"])]
    progress = first.rescan
    rounds = 1
    while progress.pending:
        env["calls"].clear()
        progress = capture_batch(capturer, journal, []).rescan or progress
        per_call.append(len(env["calls"]))
        rounds += 1
        assert rounds < 10
    assert rounds == 3  # 130 users, 60 per page, one page per call
    assert max(per_call) <= 1
    assert jobs.pending(pool) == []
    changed = [r for r in journal.iter_records(pool) if r["key"] == "user-077"]
    assert changed and changed[-1]["after"]["attributes"]["email"] == "new@example.com"
    assert {r["event_id"] for r in changed} == {"ev-1"}
    # Users not modified since the event are not recorded.
    assert {r["key"] for r in journal.iter_records(pool)} == {"user-077"}
    assert journal_check(env["store"]) == []
    claimed = mark_if_drained(_Drained(), journal, [pool], clock=lambda: when + dt.timedelta(hours=1))
    assert claimed is not None and parse_time(claimed) > when


def test_a_later_finished_rescan_retires_the_ones_it_covers(env: dict[str, Any]) -> None:
    cognito, pool = env["cognito"], env["pool"]
    when = dt.datetime.now(dt.UTC)
    capturer = Capturer(
        fast_readers(cognito), CaptureOptions(default_pool_id=pool, rescan_pages=1, rescan_skew=0, rescan_interval=0)
    )
    journal = Journal(env["store"])
    # Three batches each with an unidentified change, before any rescan could finish.
    for n in range(3):
        capture_batch(capturer, journal, [redacted_change(env, when, f"ev-{n}")])
    calls = 3
    while RescanJobs(env["store"]).pending(pool):
        capture_batch(capturer, journal, [])
        calls += 1
        assert calls < 20
    # Without retiring, three full listings of three pages each: nine calls. The second job began
    # listing after the third was stored and reaches back as far: its pass covers the third.
    assert calls <= 7


class _Drained:
    def drained(self) -> bool:
        return True
