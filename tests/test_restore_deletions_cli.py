"""Issue 8.2: every deletion `restore --prune` makes is named, in the text report and in --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import add_user
from tests.restore_support import backup, read_state, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_prune_names_each_deletion(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    for name in ("mallory", "trent"):
        add_user(cognito, pool, name)
    cognito.create_group(UserPoolId=pool, GroupName="intruders")
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="alice", GroupName="readers")
    args = ("restore", "--repo", repo, "--user-pool-id", pool, "--prune", "--yes", "--report-dir", str(tmp_path / "r"))

    dry = run(*args, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    assert json.loads(dry.output)["deleted_items"] == []  # nothing deleted by a dry run: its plan says what would be

    result = run(*args, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["deleted_items"] == [
        {"kind": "group", "name": "intruders"},
        {"kind": "membership", "name": "readers/alice", "group": "readers", "user": "alice"},
        {"kind": "user", "name": "mallory"},
        {"kind": "user", "name": "trent"},
    ]
    assert body["deleted"] == 4
    report = json.loads(Path(body["report"]).read_text())
    assert report["deleted_items"] == body["deleted_items"]
    assert "mallory" not in read_state(cognito, pool).users

    add_user(cognito, pool, "oscar")
    text = run(*args)
    assert text.exit_code == 0, text.output
    assert "Deleted (1):" in text.output and "user oscar" in text.output
