"""`migrate start` warns when the target lets users sign up themselves (session 6).

Cognito does not call the migration trigger on SignUp, so while a user of A has not moved, anyone may sign
up in B under that username, and `migrate sync` (which matches users by identity) would take the account
for A's user and give it A's groups (tests/test_tryout7_migrate_signup.py, still xfail). Until sync tells
them apart, the operator must close B's self sign-up for the migration: start says so, every time it runs
into a pool that allows it. moto in-process."""

from __future__ import annotations

from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.ops.migrate import Pools, StartRequest, run_start
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import add_user, make_pool

ARN = "arn:aws:lambda:us-east-1:123456789012:function:migrate"


def _start(cognito: Any, tmp_repo: str, **pool: Any) -> list[str]:
    source = make_pool(cognito, "A", **pool)
    add_user(cognito, source, "alice", {"email": "alice@example.com"}, confirmed=True)
    pools = Pools(source=cognito, target=cognito, pacer=Pacer(sleep=lambda s: None))
    outcome = run_start(pools, Repository(LocalStore(tmp_repo)), StartRequest(source, ARN, new_pool_name="B"))
    assert outcome.state is not None
    return outcome.warnings


def test_a_target_open_to_sign_up_is_named_in_a_warning(cognito: Any, tmp_repo: str) -> None:
    warnings = _start(cognito, tmp_repo)
    assert any("sign up" in w and "AllowAdminCreateUserOnly" in w for w in warnings), warnings


def test_a_target_closed_to_sign_up_gets_no_such_warning(cognito: Any, tmp_repo: str) -> None:
    warnings = _start(cognito, tmp_repo, AdminCreateUserConfig={"AllowAdminCreateUserOnly": True})
    assert not any("sign up" in w for w in warnings), warnings
