"""A restore into an existing pool without --prune keeps what the snapshot lacks: the plan says so.

An operator restoring a pool after a bad script expects the pool to look like the snapshot; users and
groups added since (by the script, or by sign-ups) stay unless `--prune` is given. The dry run, the
confirmation plan and `--json` say how many are kept and how to remove them, so nobody reads "nothing
to do" as "the pool equals the snapshot". Cognito is moto in-process.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import add_user
from tests.restore_support import backup, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_a_dry_run_without_prune_counts_what_the_target_keeps(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    add_user(cognito, pool, "newbie", {})
    cognito.create_group(UserPoolId=pool, GroupName="added-later")
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="newbie", GroupName="added-later")
    repo = str(tmp_path / "repo")

    text = run("restore", "--repo", repo, "--user-pool-id", pool, "--dry-run")
    assert text.exit_code == 0, text.output
    assert "kept" in text.output and "--prune" in text.output
    assert "1 user" in text.output and "1 group" in text.output and "1 membership" in text.output
    assert "newbie" not in text.output  # counts, not a list: the target may hold millions

    as_json = run("restore", "--repo", repo, "--user-pool-id", pool, "--dry-run", "--json")
    assert as_json.exit_code == 0, as_json.output
    kept = json.loads(as_json.output)["plan"]["kept_in_target"]
    assert kept == {"users": 1, "groups": 1, "memberships": 1}

    # With --prune nothing is kept: the same counts are deletions in the plan instead.
    pruned = run("restore", "--repo", repo, "--user-pool-id", pool, "--dry-run", "--prune", "--json")
    assert pruned.exit_code == 0, pruned.output
    body = json.loads(pruned.output)["plan"]
    assert body["kept_in_target"] == {"users": 0, "groups": 0, "memberships": 0}
    assert body["counts"].get("delete_user") == 1 and body["counts"].get("delete_group") == 1
