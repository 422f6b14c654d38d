"""After a failover to the standby (runbook 1.2a), no later replicate round may write into it (session 7
try-out).

Seen: the runbook promoted the standby and switched the applications over, and said nothing of the rounds
still scheduled into it (every minute, from a stack that deploy.md recommends running in the standby's
own Region). Once the source's backups came back, the next full comparison made the promoted pool the
source's again: a user who signed up after the failover deleted, a user's new attributes reverted. The
runbook now ends the standby role as part of the promotion (untag the pool, stop the rounds); an untagged
pool holding users takes no round's write at all (docs/capture.md, "Which pools replicate deletes from").
moto in-process through the CLI."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.standby import STANDBY_TAG
from tests.helpers import add_user
from tests.restore_support import backup, read_state, rich_pool

RUNBOOK = Path(__file__).resolve().parent.parent / "docs" / "runbook.md"


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def test_a_promoted_standby_takes_no_round_from_its_old_source(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "source")
    repo = str(tmp_path / "repo")
    backup(cognito, source, repo)
    made = run("restore", "--repo", repo, "--new-pool", "standby", "--report-dir", str(tmp_path / "r"), "--json")
    assert made.exit_code == 0, made.output
    standby = json.loads(made.stdout)["user_pool_id"]
    assert run("replicate", "--repo", repo, "--to-user-pool-id", standby).exit_code == 0

    # Failover, as the runbook says: the standby's role ends, then it serves the applications.
    arn = cognito.describe_user_pool(UserPoolId=standby)["UserPool"]["Arn"]
    cognito.untag_resource(ResourceArn=arn, TagKeys=[STANDBY_TAG])
    add_user(cognito, standby, "newcomer", {"email": "newcomer@example.com"})
    cognito.admin_update_user_attributes(
        UserPoolId=standby, Username="alice", UserAttributes=[{"Name": "custom:tier", "Value": "platinum"}]
    )
    before = read_state(cognito, standby)

    # The primary Region is back: its scheduled backup runs, and so does the round still scheduled.
    backup(cognito, source, repo)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", standby, "--json")
    assert result.exit_code == 8, result.output
    assert "newcomer" in result.stderr
    after = read_state(cognito, standby)
    assert set(after.users) == set(before.users) and "newcomer" in after.users
    assert after.users["alice"].attributes["custom:tier"] == "platinum"


def test_the_runbook_ends_the_standby_role_when_it_promotes_the_standby() -> None:
    text = RUNBOOK.read_text()
    promote = text[text.index("### 1.2a") : text.index("### 1.2b")]
    assert "untag-resource" in promote and STANDBY_TAG in promote
    assert "StandbyUserPoolId" in promote
