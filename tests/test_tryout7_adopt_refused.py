"""A first round refused by the plan must not have tagged the pool as the standby (session 7 try-out).

Seen: `replicate --repo R --to-user-pool-id EMPTY`, EMPTY a new pool that signs users in by username while
the source signs them in by email (a setting fixed at creation): exit 8 "The snapshot's pool signs users in
with email but the target signs in with a username ... Nothing was written", yet EMPTY now carried
cognito-backup:standby-of=SOURCE: the round tags an adopted pool before it plans (ops/replicate.py), and
the plan then refused. The tag is what lets later rounds delete from the pool without asking, so a pool
that refused the source's state keeps a claim it never earned (filled by hand later, a round would
delete its users). Now refused before the tag (core/plan.refuse_before_planning).
moto in-process through the CLI."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.standby import STANDBY_TAG
from tests.helpers import add_user, make_pool
from tests.restore_support import backup


def test_a_refused_first_round_leaves_the_pool_untagged(cognito: Any, tmp_path: Path) -> None:
    source = make_pool(cognito, "source", email_username=True)
    add_user(cognito, source, "alice@example.com", {"email": "alice@example.com"})
    repo = tmp_path / "repo"
    backup(cognito, source, repo)
    empty = make_pool(cognito, "by-username")
    result = CliRunner().invoke(cli, ["replicate", "--repo", str(repo), "--to-user-pool-id", empty])
    assert result.exit_code == 8, result.output
    assert "signs users in with email" in " ".join(result.stderr.split())
    tags = cognito.describe_user_pool(UserPoolId=empty)["UserPool"].get("UserPoolTags") or {}
    assert STANDBY_TAG not in tags
