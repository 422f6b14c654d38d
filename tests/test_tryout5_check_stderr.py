"""`check` of a damaged repository says so on stderr too (session 5 try-out).

Seen: `check --repo R --json 2>errors.log` on a repository with a truncated shard exited 6 with the
report on stdout and nothing on stderr, where every other command that exits 6 (`snapshots`, `restore`,
`diff`, `show`) writes `error: ...` and a hint: a cron job that mails stderr mailed nothing. moto in-process."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import fill_pool, make_pool
from tests.test_tryout_repo_input import run


@pytest.mark.parametrize("as_json", [True, False])
def test_a_damaged_repository_is_an_error_on_stderr(cognito: Any, tmp_path: Path, as_json: bool) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=3, n_groups=1)
    repo = tmp_path / "repo"
    assert run("backup", "--user-pool-id", pool, "--repo", str(repo)).exit_code == 0
    shard = max((repo / "objects").rglob("*.zst"), key=lambda p: p.stat().st_size)
    shard.write_bytes(shard.read_bytes()[:10])
    result = run("check", "--repo", str(repo), *(["--json"] if as_json else []))
    assert result.exit_code == 6, result.output
    if as_json:
        assert json.loads(result.stdout)["ok"] is False
    assert "error: 1 problem(s)" in result.stderr and "hint:" in result.stderr
    assert shard.name[:12] in result.stdout  # the report names the object; stderr says what to do


def test_a_sound_repository_writes_no_error(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    repo = tmp_path / "repo"
    assert run("backup", "--user-pool-id", pool, "--repo", str(repo)).exit_code == 0
    result = run("check", "--repo", str(repo), "--json")
    assert result.exit_code == 0 and "error" not in result.stderr
