"""The issue's property, on moto: random changes, each emitted as a CloudTrail event that may be
duplicated, reordered or delayed, are captured; then the state folded at any time T the capture had
caught up with equals the pool at T, a restore of it into a new pool has an empty diff, and replicate
keeps a standby equal to the source."""

from __future__ import annotations

import datetime as dt
import json
import random
from typing import Any

import boto3
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.model import PoolState, User
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.capture import CaptureOptions, Capturer, Message, capture_batch
from cognito_backup.ops.pitr import desired_state_at
from cognito_backup.ops.replicate import replicate_once
from cognito_backup.ops.restore import RestoreOptions, reconcile
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import Repository
from cognito_backup.store.memory import MemoryStore
from tests.capture_helpers import event_for, fast_readers
from tests.conftest import REGION
from tests.helpers import make_pool

USERS = ["ann", "bob", "cy"]
GROUPS = ["g0", "g1"]
OPS = [
    "create",
    "update",
    "disable",
    "enable",
    "delete",
    "add",
    "remove",
    "create_group",
    "update_group",
    "delete_group",
]

step = st.tuples(
    st.sampled_from(OPS),
    st.integers(0, len(USERS) - 1),
    st.integers(0, len(GROUPS) - 1),
    st.integers(0, 2),  # delivery delay in steps
    st.booleans(),  # duplicated
)


def comparable(state: PoolState) -> tuple[Any, ...]:
    users = {
        n: {k: v for k, v in u.to_record().items() if k not in ("created", "modified")} for n, u in state.users.items()
    }
    groups = {n: (g.description, g.precedence) for n, g in state.groups.items()}
    return users, groups, sorted(state.memberships)


class World:
    def __init__(self, seed: int) -> None:
        self.c = boto3.client("cognito-idp", region_name=REGION)
        self.pool = make_pool(self.c)
        self.now = dt.datetime.now(dt.UTC).replace(microsecond=0)
        self.repo = Repository(MemoryStore(), clock=lambda: self.now)
        self.pacer = Pacer(sleep=lambda s: None)
        self.reader = PoolReader(self.c, self.pacer, self.pool, chains=1)
        self.capturer = Capturer(
            fast_readers(self.c),
            CaptureOptions(default_pool_id=self.pool, consistency_window=0),
            clock=lambda: self.now,
        )
        self.journal = Journal(self.repo.store)
        self.pending: list[tuple[int, dict[str, Any]]] = []
        self.rng = random.Random(seed)
        self.n = 0

    def sub(self, username: str) -> str | None:
        found = self.c.list_users(UserPoolId=self.pool, Filter=f'username = "{username}"')["Users"]
        return User.from_api(found[0]).sub if found else None

    def emit(self, name: str, due: int, dup: bool, **kw: Any) -> None:
        self.n += 1
        event = event_for(name, pool=self.pool, event_id=f"ev-{self.n}", when=self.now, **kw)
        self.pending.append((due, event))
        if dup:
            self.pending.append((due + self.rng.randint(0, 2), event))

    def apply(self, op: str, u: str, g: str, i: int, due: int, dup: bool) -> None:
        c, pool = self.c, self.pool
        sub = self.sub(u)
        groups = {x["GroupName"] for x in c.list_groups(UserPoolId=pool)["Groups"]}
        if op == "create" and sub is None:
            c.admin_create_user(
                UserPoolId=pool,
                Username=u,
                MessageAction="SUPPRESS",
                UserAttributes=[{"Name": "email", "Value": f"{u}@x.example"}],
            )
            self.emit("AdminCreateUser", due, dup, sub=self.sub(u))
        elif op == "update" and sub:
            c.admin_update_user_attributes(
                UserPoolId=pool, Username=u, UserAttributes=[{"Name": "custom:tier", "Value": f"t{i}"}]
            )
            self.emit("AdminUpdateUserAttributes", due, dup, sub=sub)
        elif op in ("disable", "enable") and sub:
            (c.admin_disable_user if op == "disable" else c.admin_enable_user)(UserPoolId=pool, Username=u)
            self.emit("AdminDisableUser" if op == "disable" else "AdminEnableUser", due, dup, sub=sub)
        elif op == "delete" and sub:
            c.admin_delete_user(UserPoolId=pool, Username=u)
            self.emit("AdminDeleteUser", due, dup, sub=sub)
        elif op in ("add", "remove") and sub and g in groups:
            if op == "add":
                c.admin_add_user_to_group(UserPoolId=pool, Username=u, GroupName=g)
            else:
                c.admin_remove_user_from_group(UserPoolId=pool, Username=u, GroupName=g)
            self.emit("AdminAddUserToGroup" if op == "add" else "AdminRemoveUserFromGroup", due, dup, sub=sub, group=g)
        elif op == "create_group" and g not in groups:
            c.create_group(UserPoolId=pool, GroupName=g, Description=f"d{i}", Precedence=i)
            self.emit("CreateGroup", due, dup, group=g)
        elif op == "update_group" and g in groups:
            c.update_group(UserPoolId=pool, GroupName=g, Description=f"u{i}", Precedence=i + 10)
            self.emit("UpdateGroup", due, dup, group=g)
        elif op == "delete_group" and g in groups:
            # Cognito drops the group's memberships with it.
            for member in c.list_users_in_group(UserPoolId=pool, GroupName=g)["Users"]:
                c.admin_remove_user_from_group(UserPoolId=pool, Username=member["Username"], GroupName=g)
            c.delete_group(UserPoolId=pool, GroupName=g)
            self.emit("DeleteGroup", due, dup, group=g)

    def deliver(self, upto: int) -> None:
        due = [e for d, e in self.pending if d <= upto]
        self.pending = [(d, e) for d, e in self.pending if d > upto]
        self.rng.shuffle(due)  # reordered
        if due:
            msgs = [Message(id=f"m-{k}", body=json.dumps(e)) for k, e in enumerate(due)]
            result = capture_batch(self.capturer, self.journal, msgs)
            assert result.not_done_ids == [], result.failed


@settings(
    max_examples=8,
    deadline=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(steps=st.lists(step, min_size=4, max_size=22), seed=st.integers(0, 1000), pick=st.integers(0, 10_000))
def test_folded_state_equals_the_pool_at_every_caught_up_time(steps: list[Any], seed: int, pick: int) -> None:
    with mock_aws():
        w = World(seed)
        # A first user and group exist before the snapshot, so the base is not empty.
        w.c.create_group(UserPoolId=w.pool, GroupName="g0", Description="base", Precedence=0)
        w.c.admin_create_user(UserPoolId=w.pool, Username="ann", MessageAction="SUPPRESS")
        w.c.admin_add_user_to_group(UserPoolId=w.pool, Username="ann", GroupName="g0")
        run_backup(w.reader, w.repo, REGION)
        standby = make_pool(w.c, "standby")
        truth: dict[dt.datetime, tuple[Any, ...]] = {}
        for i, (op, ui, gi, delay, dup) in enumerate(steps, 1):
            w.now += dt.timedelta(seconds=1)
            w.apply(op, USERS[ui], GROUPS[gi], i, i + delay, dup)
            w.deliver(i)
            if not w.pending:  # caught up: the journal must be exact at this time
                truth[w.now] = comparable(w.reader.read_state())
            if i % 7 == 0:
                replicate_once(w.repo, w.c, w.pacer, w.pool, standby, clock=lambda: w.now)
        w.now += dt.timedelta(seconds=1)
        w.deliver(10**6)
        final = w.reader.read_state()
        truth[w.now] = comparable(final)

        times = sorted(truth)
        at = times[pick % len(times)]
        desired, _base = desired_state_at(w.repo, w.pool, at)
        assert comparable(desired) == truth[at], f"at {at}"
        assert comparable(desired_state_at(w.repo, w.pool, times[-1])[0]) == truth[times[-1]]

        # restore --at T into a new pool: nothing left to do afterwards.
        target = make_pool(w.c, "restored")
        reconcile(w.c, w.pacer, target, desired, RestoreOptions(read_back=False))
        leftover = plan(
            desired, w.reader.__class__(w.c, w.pacer, target, chains=1).read_state(), PlanOptions(prune=True)
        )
        assert [op.kind for op in leftover.ops if op.kind != "set_password"] == []

        # The standby follows the source, deletions included.
        rnd = replicate_once(w.repo, w.c, w.pacer, w.pool, standby, clock=lambda: w.now)
        assert rnd.failed == 0
        actual = PoolReader(w.c, w.pacer, standby, chains=1).read_state()
        assert [op.kind for op in plan(final, actual, PlanOptions(prune=True)).ops if op.kind != "set_password"] == []
        again = replicate_once(w.repo, w.c, w.pacer, w.pool, standby, clock=lambda: w.now)
        assert again.applied is False and again.lag_seconds is not None
