"""`cognito-backup demo` end to end: the command the README's first line runs."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli


@pytest.mark.slow
def test_demo_backs_up_breaks_and_restores(tmp_path: Path) -> None:
    repo = tmp_path / "demo-repo"
    result = CliRunner().invoke(cli, ["demo", "--repo", str(repo), "--users", "80", "--json"])
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["backup"]["users"] == 80
    assert body["check"]["ok"] is True
    assert body["disaster"]["differences"] > 0
    assert body["restore_in_place"]["differences"] == 0 and body["restore_in_place"]["failed"] == 0
    assert body["restore_new_pool"]["differences"] == []
    assert body["restore_new_pool"]["user_pool_id"] != body["source_pool"]["user_pool_id"]
    assert (repo / "config.json").exists()
    assert Path(body["restore_new_pool"]["sub_map"]).exists()
