"""A `replicate --dry-run` that a real round would refuse says so on stderr too (session 5 try-out).

Seen: `replicate --repo R --to-user-pool-id <a pool that is not the standby> --dry-run [--json]` exited 8
with the refusal only inside stdout (the JSON's `error`, or a line among the plan's), stderr empty: as
`check`, unlike every other exit 8. moto in-process (tests/test_cli_exits.py's set-up)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.test_cli_exits import run, setup


@pytest.mark.parametrize("as_json", [True, False])
def test_a_refused_dry_run_round_is_an_error_on_stderr(cognito: Any, tmp_path: Path, as_json: bool) -> None:
    repo, _, target = setup(cognito, tmp_path)
    result = run(
        "replicate", "--repo", repo, "--to-user-pool-id", target, "--dry-run", *(["--json"] if as_json else [])
    )
    assert result.exit_code == 8, result.output
    assert "error:" in result.stderr and "is not a standby of" in result.stderr and "--yes" in result.stderr
