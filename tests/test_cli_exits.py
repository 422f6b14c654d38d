"""How every command ends for a machine reading --json and for a scheduler stopping it: a usage error
and an interrupt still give one JSON document with `error` on stdout, SIGTERM exits 143 like a shell's
killed process, a --repo that is a file is a usage error, a refused dry-run round says why in --json."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.errors import PlanRefused
from tests.helpers import make_pool
from tests.test_replicate_standby import setup


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.mark.parametrize(
    ("args", "needle"),
    [
        (["backup", "--user-pool-id", "not a pool!", "--repo", "r", "--json"], "not a user pool id"),
        (["restore", "--repo", "r", "--json", "--no-such-flag"], "--no-such-flag"),
        (["snapshots", "--json"], "--repo"),
        (["backup", "--json", "--user-pool-id"], "--user-pool-id"),
    ],
)
def test_usage_error_with_json_prints_one_json_error(args: list[str], needle: str) -> None:
    result = run(*args)
    assert result.exit_code == 2, result.output
    body = json.loads(result.stdout)
    assert body["error"]["kind"] == "usage"
    assert needle in body["error"]["message"]
    assert needle in result.stderr  # a person still sees click's usage message


def test_usage_error_without_json_prints_no_json() -> None:
    result = run("backup", "--user-pool-id", "not a pool!", "--repo", "r")
    assert result.exit_code == 2
    assert result.stdout == ""
    assert "not a user pool id" in result.stderr


def test_interrupt_with_json_prints_one_json_error(cognito: Any, tmp_repo: str) -> None:
    pool = make_pool(cognito)

    def stop(**_: Any) -> None:
        raise KeyboardInterrupt

    import botocore.session

    original = botocore.session.Session.create_client

    def create_client(self: Any, service_name: str, *a: Any, **kw: Any) -> Any:
        client = original(self, service_name, *a, **kw)
        if service_name == "cognito-idp":
            client.meta.events.register("before-call.cognito-idp.ListUsers", stop)
        return client

    mp = pytest.MonkeyPatch()
    mp.setattr(botocore.session.Session, "create_client", create_client)
    try:
        result = run("backup", "--user-pool-id", pool, "--repo", tmp_repo, "--json")
    finally:
        mp.undo()
    assert result.exit_code == 130, result.output
    body = json.loads(result.stdout)
    assert body["error"]["kind"] == "interrupted"
    assert "interrupted" in result.stderr


def test_repo_that_is_a_file_is_a_usage_error(tmp_path: Path) -> None:
    a_file = tmp_path / "notes.txt"
    a_file.write_text("not a repository\n")
    for args in (["snapshots", "--repo", str(a_file)], ["check", "--repo", str(a_file)]):
        result = run(*args, "--json")
        assert result.exit_code == 2, result.output
        body = json.loads(result.stdout)
        assert "is a file, not a directory" in body["error"]["message"], body
    assert a_file.read_text() == "not a repository\n"


def test_refused_dry_run_round_names_the_error_in_json(cognito: Any, tmp_path: Path) -> None:
    repo, _, target = setup(cognito, tmp_path)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--dry-run", "--json")
    assert result.exit_code == PlanRefused.exit_code
    body = json.loads(result.stdout)
    assert body["refused"] is True
    assert body["error"]["kind"] == PlanRefused.kind
    assert "is not a standby of" in body["error"]["message"] and "--yes" in body["error"]["hint"]


def test_dry_run_notices_speak_of_what_would_happen(cognito: Any, tmp_path: Path) -> None:
    from tests.restore_support import backup, rich_pool

    pool = rich_pool(cognito)
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    result = run("restore", "--repo", repo, "--new-pool", "copy", "--dry-run")
    assert result.exit_code == 0, result.output
    assert "Restored, but not as they were" not in result.stdout
    assert "Would be restored, but not as they were" in result.stdout  # erin: FORCE_CHANGE_PASSWORD
