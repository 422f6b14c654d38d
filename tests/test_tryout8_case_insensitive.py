"""`--only user:NAME` / `--only-from` in a case-insensitive pool (session 6 try-out; left open).

Seen: a pool created with UsernameConfiguration CaseSensitive false (the console's default, and AWS's
recommendation) lets "alice" sign in as "ALICE", and AdminGetUser finds her by either. A support list of
names in another case is refused by `restore --only-from` (exit 7, "The snapshot has no user:ALICE",
nothing written): safe, but the operator must fix the case by hand. The selection (core/plan.py
user_selected, missing_selection) compares names exactly; the snapshot's configuration records
UsernameConfiguration, so a fix resolves each name against the snapshot's users case-insensitively in such
pools before planning (CLI, and the deployed first step that checks the selection). Not fixed: the
deployed steps and plan pieces carry the names on, so the resolution must happen once where the request
is pinned; more than this try-out's time.

moto in-process (it records UsernameConfiguration but looks usernames up exactly: the plan here is made
from the snapshot and a listing, no lookup by name)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.restore_support import backup


@pytest.mark.xfail(
    strict=True,
    reason="--only names are matched exactly even where the pool's usernames are case-insensitive "
    "(UsernameConfiguration CaseSensitive false): refused with exit 7",
)
def test_a_name_in_another_case_selects_the_user_in_a_case_insensitive_pool(cognito: Any, tmp_path: Path) -> None:
    pool = cognito.create_user_pool(PoolName="ci", UsernameConfiguration={"CaseSensitive": False})["UserPool"]["Id"]
    for name in ("alice", "bob"):
        cognito.admin_create_user(UserPoolId=pool, Username=name, MessageAction="SUPPRESS")
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    cognito.admin_delete_user(UserPoolId=pool, Username="alice")
    names = tmp_path / "names.txt"
    names.write_text("ALICE\n")
    result = CliRunner().invoke(
        cli,
        ["restore", "--repo", repo, "--user-pool-id", pool, "--only-missing", "--only-from", str(names)]
        + ["--dry-run", "--json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)["plan"]["counts"].get("create_user") == 1
