"""Property: several journal writers (capture pollers, the trigger) with skewed clocks write segments
late, out of order and twice, while replicate rounds run in between. Once everything is written, one
more round leaves the standby equal to the journal's verdict (the fold of every record, as `restore
--at` computes it), whatever the arrival order; with agreeing clocks that verdict is the source pool."""

from __future__ import annotations

import datetime as dt
import random
from typing import Any

import boto3
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.fold import fold
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.model import PoolState, User
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.pitr import desired_state_at
from cognito_backup.ops.replicate import replicate_once
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository, format_time
from cognito_backup.store.memory import MemoryStore
from tests.conftest import REGION
from tests.helpers import make_pool
from tests.test_replicate_incremental import ONE_WRITER

USERS = ["ann", "bob", "cy", "dee"]
step = st.tuples(
    st.sampled_from(["update", "update", "delete", "create"]),
    st.integers(0, len(USERS) - 1),
    st.integers(0, 2),  # writer
    st.integers(0, 4),  # write delay, in steps
    st.booleans(),  # written twice (a retried batch)
    st.booleans(),  # a replicate round after this step
)


def differences(desired: PoolState, c: Any, pool: str) -> list[str]:
    actual = PoolReader(c, Pacer(sleep=lambda s: None), pool, chains=1).read_state()
    return [
        f"{op.kind} {op.user or op.group}"
        for op in plan(desired, actual, PlanOptions(prune=True)).ops
        if op.kind != "set_password"
    ]


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    steps=st.lists(step, min_size=3, max_size=18),
    skews=st.lists(st.integers(-3, 3), min_size=3, max_size=3),
    settle=st.sampled_from([0.0, 60.0]),
    seed=st.integers(0, 1000),
)
def test_standby_converges_to_the_folded_journal(steps: list[Any], skews: list[int], settle: float, seed: int) -> None:
    rng = random.Random(seed)
    with mock_aws():
        c = boto3.client("cognito-idp", region_name=REGION)
        source, standby = make_pool(c, "source"), make_pool(c, "standby")
        for name in USERS[:2]:
            c.admin_create_user(UserPoolId=source, Username=name, MessageAction="SUPPRESS")
        pacer = Pacer(sleep=lambda s: None)
        repo = Repository(MemoryStore())
        run_backup(PoolReader(c, pacer, source, chains=1), repo, REGION)
        journal = Journal(repo.store)
        start = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=10)  # observations after the snapshot
        pending: list[tuple[int, int, dict[str, Any]]] = []
        written: list[dict[str, Any]] = []

        def write_due(upto: int) -> None:
            due = [p for p in pending if p[0] <= upto]
            rng.shuffle(due)
            for p in due:
                pending.remove(p)
                journal.append(source, [p[2]], writer={"id": f"writer-{p[1]}"})
                written.append(p[2])

        for i, (op, ui, w, delay, dup, round_after) in enumerate(steps, 1):
            name = USERS[ui]
            found = c.list_users(UserPoolId=source, Filter=f'username = "{name}"')["Users"]
            if op == "create" and not found:
                c.admin_create_user(UserPoolId=source, Username=name, MessageAction="SUPPRESS")
            elif op == "update" and found:
                c.admin_update_user_attributes(
                    UserPoolId=source, Username=name, UserAttributes=[{"Name": "custom:tier", "Value": f"v{i}"}]
                )
            elif op == "delete" and found:
                c.admin_delete_user(UserPoolId=source, Username=name)
            now = c.list_users(UserPoolId=source, Filter=f'username = "{name}"')["Users"]
            before_sub = User.from_api(found[0]).sub if found else None
            stamp = format_time(start + dt.timedelta(seconds=i + skews[w]))
            rec: dict[str, Any] = {
                "pool": source,
                "key": name,
                "changed_at": stamp,
                "observed_at": stamp,
                "event_id": f"w{w}-{i}",
                "event_name": op,
                "source": "poll",
                "seq": 0,
            }
            if now:
                user = User.from_api(now[0])
                rec.update(type="user_upsert", sub=user.sub, after=user.to_record())
            else:
                rec.update(type="user_delete", sub=before_sub, after=None)
            pending.append((i + delay, w, rec))
            if dup:
                pending.append((i + delay + rng.randint(0, 2), w, rec))
            write_due(i)
            if round_after:
                assert (
                    replicate_once(repo, c, pacer, source, standby, options=ONE_WRITER, settle_seconds=settle).failed
                    == 0
                )
        write_due(10**6)

        last = replicate_once(repo, c, pacer, source, standby, options=ONE_WRITER, settle_seconds=settle)
        assert last.failed == 0
        verdict, _ = desired_state_at(repo, source, start + dt.timedelta(days=1))
        base = repo.load_state(repo.list_snapshots()[0])
        shuffled = list(written)
        rng.shuffle(shuffled)
        assert fold(base, shuffled) == verdict  # arrival order does not matter
        assert differences(verdict, c, standby) == []
        if len(set(skews)) == 1:
            source_state = PoolReader(c, pacer, source, chains=1).read_state()
            assert differences(source_state, c, standby) == []
        assert (
            replicate_once(repo, c, pacer, source, standby, options=ONE_WRITER, settle_seconds=settle).applied is False
        )
