"""`replicate` into someone's production pool (session 7 try-out): refused before anything is written.

Seen: `replicate --repo R --to-user-pool-id P2`, P2 a live pool backed up in ANOTHER repository, holding
some of the source's usernames with their own attribute values and none of its own users the source
lacks: exit 0, `"standby": "not a standby"`, and the round had overwritten P2's users' attributes,
created the source's other users in it and added them to P2's `admins` group. The standby rule only
refused rounds that would delete; a round that only creates and updates went ahead into any pool. Now a
pool that is not this source's standby (untagged and not empty, or another source's standby) takes no
write at all without `--yes`. moto in-process through the CLI (Cognito's tagging calls come from
cognito_backup/emulator_tags.py)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.standby import STANDBY_TAG
from tests.helpers import add_user, make_pool
from tests.restore_support import backup, read_state, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def production_pool(cognito: Any, tmp_path: Path) -> str:
    """A live pool of its own (backed up in another repository): two of the source's usernames with their
    own values, and the source's `admins` group with nobody in it. Nothing in it the source lacks."""
    pool = make_pool(cognito, "their-production")
    for name in ("alice", "bob"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com", "email_verified": "true"})
    cognito.create_group(UserPoolId=pool, GroupName="admins", Precedence=1)
    backup(cognito, pool, tmp_path / "their-repo")
    return pool


def picture(cognito: Any, pool: str) -> Any:
    state = read_state(cognito, pool)
    users = {name: sorted(u.attributes.items()) for name, u in state.users.items()}
    tags = dict(cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get("UserPoolTags") or {})
    return users, sorted(state.groups), sorted(state.memberships), tags


def world(cognito: Any, tmp_path: Path) -> tuple[str, str, str]:
    source = rich_pool(cognito, "source")
    repo = tmp_path / "repo"
    backup(cognito, source, repo)
    return str(repo), source, production_pool(cognito, tmp_path)


def test_a_round_that_only_creates_and_updates_is_refused_in_a_pool_that_is_not_the_standby(
    cognito: Any, tmp_path: Path
) -> None:
    repo, source, target = world(cognito, tmp_path)
    before = picture(cognito, target)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--json")
    assert result.exit_code == 8, result.output
    body = json.loads(result.stdout)
    assert body["error"]["kind"] == "plan_refused"
    message = " ".join(result.stderr.split())
    assert f"{target} is not a standby of {source}" in message and "nothing was written" in message
    assert "create_user 3" in message and "update_user_attributes 2" in message, message
    assert "--yes" in message
    assert picture(cognito, target) == before
    assert not (Path(repo) / "replication").exists()


def test_dry_run_says_a_real_round_would_be_refused(cognito: Any, tmp_path: Path) -> None:
    repo, _, target = world(cognito, tmp_path)
    before = picture(cognito, target)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--dry-run", "--json")
    assert result.exit_code == 8, result.output
    body = json.loads(result.stdout)
    assert body["dry_run"] is True and body["refused"] is True and body["deleted_items"] == []
    assert "is not a standby of" in body["error"]["message"]
    text = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--dry-run")
    assert text.exit_code == 8 and "REFUSED" in text.stdout and "Dry run: nothing was written." in text.stdout
    assert picture(cognito, target) == before


def test_yes_still_adopts_it_and_an_empty_pool_needs_no_yes(cognito: Any, tmp_path: Path) -> None:
    repo, source, target = world(cognito, tmp_path)
    adopted = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--yes", "--json")
    assert adopted.exit_code == 0, adopted.output
    assert json.loads(adopted.stdout)["standby"] == "adopt"
    assert picture(cognito, target)[3][STANDBY_TAG] == source
    assert set(read_state(cognito, target).users) == set(read_state(cognito, source).users)
    empty = make_pool(cognito, "new-standby")
    first = run("replicate", "--repo", repo, "--to-user-pool-id", empty, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.stdout)["standby"] == "adopt"
