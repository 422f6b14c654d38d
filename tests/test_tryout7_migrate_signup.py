"""During a migration, a sign-up in B under a username of A gets A's user's groups (session 7 try-out).

Found reading docs/migrate.md and ops/migrate.py while trying `migrate` on a wrong pool: who "moved" is
every user of A that B holds by identity (username, or the username attribute), whoever created them in
B. Cognito does not call the user-migration trigger on SignUp (only on a sign-in or a forgot-password of
a user B lacks), so while A's `alice` has not moved yet, anyone may sign up in B as `alice` with their
own email; the next `migrate sync` takes that account for A's alice and gives it her groups (`admins`)
and enabled state. A user the trigger created carries A's attributes; one that signed up does not.
Left (a change of who counts as moved, beyond this try-out's time): marked xfail. moto in-process;
SignUp through B's app client as an application would call it."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.ops.migrate import Pools, StartRequest, run_start, run_sync
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import add_user, make_pool

ARN = "arn:aws:lambda:us-east-1:123456789012:function:migrate"


@pytest.mark.xfail(strict=True, reason="migrate sync counts any B user with an A username as moved")
def test_a_sign_up_under_an_a_username_does_not_get_its_groups(cognito: Any, tmp_repo: str) -> None:
    pool_a = make_pool(cognito, "A")
    cognito.create_group(UserPoolId=pool_a, GroupName="admins")
    add_user(cognito, pool_a, "alice", {"email": "alice@example.com", "email_verified": "true"}, confirmed=True)
    cognito.admin_add_user_to_group(UserPoolId=pool_a, Username="alice", GroupName="admins")
    pools = Pools(source=cognito, target=cognito, pacer=Pacer())
    repo = Repository(LocalStore(tmp_repo))
    state = run_start(pools, repo, StartRequest(pool_a, ARN, new_pool_name="B")).state
    assert state is not None
    b = state.to_user_pool_id
    client = cognito.create_user_pool_client(UserPoolId=b, ClientName="app")["UserPoolClient"]["ClientId"]
    cognito.sign_up(ClientId=client, Username="alice", Password="Xx1!" + "a" * 12,
                    UserAttributes=[{"Name": "email", "Value": "mallory@example.net"}])  # fmt: skip
    assert run_sync(pools, repo, pool_a).failed_results == []
    groups = cognito.admin_list_groups_for_user(UserPoolId=b, Username="alice")["Groups"]
    assert [g["GroupName"] for g in groups] == []
