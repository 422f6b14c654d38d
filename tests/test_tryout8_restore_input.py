"""`restore --only-missing` / `--only-from FILE` tried with bad input as a new user would (session 6 try-out).

Seen on the emulator, each now refused or said plainly:
- `--only-missing --new-pool NAME` made a new pool with the users but none of its groups (--only-missing
  creates no group), each membership "left out": a half-restored pool. A new pool lacks everything, so
  the option selects nothing there: refused (exit 2) before any pool is made.
- An `--only-missing` dry run said "--prune would delete them" of the users the snapshot lacks, while
  --prune is refused with --only-missing.
- An `--only-from` file of 200,000 names the snapshot lacks (the wrong pool's list) printed all of them
  on one line of the error: the count and the first few are what a person can use.
- `restore --deployed` with an `--only-from` file over Step Functions' input limit (StartExecution
  `input`: 262,144 characters, the botocore model) got past every check of the CLI and would fail at
  StartExecution: refused before any AWS call, pointing at `only_missing`.

moto in-process (mock_aws)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from botocore.session import Session
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import fill_pool, make_pool
from tests.restore_support import backup


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _backed_up(cognito: Any, tmp_path: Path) -> tuple[str, str]:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, 6, n_groups=2, big_group=3)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    return pool, repo


def test_only_missing_into_a_new_pool_is_refused_before_a_pool_is_made(cognito: Any, tmp_path: Path) -> None:
    pool, repo = _backed_up(cognito, tmp_path)
    before = {p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]}
    result = run(
        "restore", "--repo", repo, "--new-pool", "fresh", "--only-missing", "--report-dir", str(tmp_path / "out")
    )
    assert result.exit_code == 2, result.output
    assert "--new-pool" in result.stderr and "--only-missing" in result.stderr
    assert {p["Id"] for p in cognito.list_user_pools(MaxResults=60)["UserPools"]} == before
    assert pool in before


def test_an_only_missing_plan_does_not_offer_prune(cognito: Any, tmp_path: Path) -> None:
    pool, repo = _backed_up(cognito, tmp_path)
    cognito.admin_create_user(UserPoolId=pool, Username="signed-up-later", MessageAction="SUPPRESS")
    cognito.admin_delete_user(UserPoolId=pool, Username="user-00001")
    result = run("restore", "--repo", repo, "--user-pool-id", pool, "--only-missing", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Not in the snapshot, kept in the target: 1 user" in result.stdout
    assert "--prune would delete" not in result.stdout  # --prune is refused with --only-missing
    plain = run("restore", "--repo", repo, "--user-pool-id", pool, "--dry-run")
    assert "--prune would delete them" in plain.stdout  # still said where --prune is an option


def test_a_long_list_of_unknown_names_is_counted_not_printed_whole(cognito: Any, tmp_path: Path) -> None:
    pool, repo = _backed_up(cognito, tmp_path)
    names = tmp_path / "names.txt"
    names.write_text("".join(f"ghost-{i:06d}\n" for i in range(5000)) + "user-00001\n")
    result = run("restore", "--repo", repo, "--user-pool-id", pool, "--only-from", str(names), "--dry-run")
    assert result.exit_code == 7, result.output
    assert "5,000" in result.stderr and "user:ghost-000000" in result.stderr
    assert "ghost-004999" not in result.stderr
    assert len(result.stderr) < 2000


def test_a_deployed_request_over_the_step_functions_input_limit_is_refused_first(
    aws: None, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    names = tmp_path / "names.txt"
    names.write_text("".join(f"someone-{i:07d}@example.com\n" for i in range(12_000)))  # ~360 KB of input
    calls: list[str] = []
    # Any AWS call at all (DescribeStacks first) would be too late: count them below botocore's retries.
    original = Session.create_client

    def counting(self: Session, *args: Any, **kwargs: Any) -> Any:
        client = original(self, *args, **kwargs)
        client.meta.events.register("before-send", lambda request, **_: calls.append(request.url))
        return client

    monkeypatch.setattr(Session, "create_client", counting)
    result = run("restore", "--deployed", "my-stack", "--user-pool-id", "us-east-1_Target", "--only-from", str(names))
    assert result.exit_code == 2, result.output
    assert "256 KiB" in result.stderr and "only-missing" in result.stderr
    assert calls == []
