"""Several changes of one user within one batch (the window a capture call reads in) cost one read."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from pathlib import Path

import boto3

from cognito_backup.model import User
from cognito_backup.ops.capture import CaptureOptions, Capturer, Message, capture_batch
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore
from tests.capture_helpers import event_for, fast_readers
from tests.conftest import REGION
from tests.helpers import add_user, make_pool

N = 25


def test_n_events_of_one_user_are_one_read(aws: None, tmp_path: Path) -> None:
    cognito = boto3.client("cognito-idp", region_name=REGION)
    pool = make_pool(cognito)
    add_user(cognito, pool, "jane", {"email": "jane@example.com"})
    sub = User.from_api(cognito.admin_get_user(UserPoolId=pool, Username="jane")).sub
    calls: Counter[str] = Counter()
    cognito.meta.events.register("before-call.cognito-idp", lambda model, **_: calls.update([model.name]))
    now = dt.datetime.now(dt.UTC)
    names = ["AdminUpdateUserAttributes", "AdminDisableUser", "AdminEnableUser", "AdminResetUserPassword"]
    messages = [
        Message(
            id=f"m{n}",
            body=json.dumps(
                event_for(
                    names[n % len(names)], pool=pool, event_id=f"e{n}", when=now - dt.timedelta(seconds=n), sub=sub
                )
            ),
        )
        for n in range(N)
    ]
    journal = Journal(LocalStore(tmp_path / "repo"))
    result = capture_batch(Capturer(fast_readers(cognito), CaptureOptions(default_pool_id=pool)), journal, messages)
    assert len(result.done) == N
    assert calls == Counter({"ListUsers": 1})
    records = list(journal.iter_records(pool))
    assert [(r["type"], r["key"], r["event_id"]) for r in records] == [("user_upsert", "jane", "e0")]


def test_capture_never_paces_listusers_at_the_whole_userlist_quota() -> None:
    """A backup running at the same time keeps at least half of UserList, whatever the capture's load;
    users' own changes (AdminGetUser) keep the whole UserRead quota."""
    from cognito_backup.cli.journal_cmds import reader_factory

    client = boto3.client("cognito-idp", region_name=REGION)
    pacer = reader_factory(client, ())("us-east-1_Pool1").pacer
    assert pacer.rates["UserList"] == 15
    assert pacer.rates["UserRead"] == 120
    # An operator's own quota (--rate) is cut the same way.
    assert reader_factory(client, ("UserList=100",))("us-east-1_Pool1").pacer.rates["UserList"] == 50
