"""`restore` and `diff` from the command line: click's runner on moto, and a real process on moto's
HTTP server killed with SIGKILL mid-restore."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import fill_pool, make_pool
from tests.restore_support import backup, read_state, rich_pool

JSON_KEYS = {"user_pool_id", "created", "updated", "unchanged", "skipped", "failed", "failures", "sub_map", "report"}


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def test_restore_new_pool_json_then_diff_equal(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    repo, reports = str(tmp_path / "repo"), str(tmp_path / "reports")
    dry = run("restore", "--repo", repo, "--new-pool", "B", "--dry-run", "--json", "--report-dir", reports)
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)
    assert planned["dry_run"] is True and planned["user_pool_id"] is None
    assert sum(1 for op in planned["plan"]["ops"] if op["op"] == "create_user") == 5
    assert not Path(reports).exists()  # a dry run writes nothing
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == 1

    result = run("restore", "--repo", repo, "--new-pool", "B", "--json", "--report-dir", reports)
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert set(body) >= JSON_KEYS | {"client_id_map", "dry_run"}
    assert (body["created"], body["failed"], body["failures"]) == (15, 0, [])
    assert Path(body["sub_map"]).exists() and Path(body["report"]).exists()
    equal = run("diff", "--repo", repo, "--user-pool-id", body["user_pool_id"], "--json")
    assert equal.exit_code == 0, equal.output
    assert json.loads(equal.output)["equal"] is True

    cognito.admin_enable_user(UserPoolId=body["user_pool_id"], Username="bob")
    differ = run("diff", "--repo", repo, "--user-pool-id", body["user_pool_id"])
    assert differ.exit_code == 1
    assert "bob" in differ.output and "disabled in the snapshot" in differ.output


def test_prune_without_a_terminal_and_without_yes_is_refused(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    result = run("restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", pool, "--prune")
    assert result.exit_code == 2
    assert "--yes" in result.output


def test_schema_refusal_exits_8_and_writes_nothing(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    bare = str(cognito.create_user_pool(PoolName="bare")["UserPool"]["Id"])
    result = run(
        "restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", bare, "--no-add-attributes",
        "--source-user-pool-id", pool, "--report-dir", str(tmp_path / "reports"),
    )  # fmt: skip
    assert result.exit_code == 8
    assert "lacks custom attributes" in result.output and "Nothing was written" in result.output
    assert read_state(cognito, bare).users == {}
    assert not any(
        a["Name"].startswith("custom:") for a in read_state(cognito, bare).config.user_pool["SchemaAttributes"]
    )


def test_bad_only_value_is_a_usage_error(cognito: Any, tmp_path: Path) -> None:
    result = run("restore", "--repo", str(tmp_path), "--user-pool-id", "us-east-1_x", "--only", "alice")
    assert result.exit_code == 2


def _cli(server_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "cognito_backup.cli.main", "--endpoint-url", server_url, *args]


@pytest.mark.slow
def test_kill_9_mid_restore_then_the_same_command_finishes(
    server_cognito: Any, server_url: str, tmp_path: Path
) -> None:
    pool = make_pool(server_cognito, "A")
    fill_pool(server_cognito, pool, 60, n_groups=2, big_group=30)
    backup(server_cognito, pool, tmp_path / "repo")
    command = _cli(
        server_url,
        "restore", "--repo", str(tmp_path / "repo"), "--new-pool", "B", "--json",
        "--report-dir", str(tmp_path / "reports"), "--rate", "UserCreation=15", "--rate", "UserAccountRecovery=15",
    )  # fmt: skip
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if _users_in_pool_named(server_cognito, "B") >= 15:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    assert proc.returncode == -signal.SIGKILL

    # Resumed from another report directory: the resume state is in the repository.
    elsewhere = [*command[:-6], "--report-dir", str(tmp_path / "elsewhere")]
    again = subprocess.run(elsewhere, capture_output=True, text=True, timeout=120)
    assert again.returncode == 0, again.stderr
    body = json.loads(again.stdout)
    target = body["user_pool_id"]
    assert body["failures"] == [] and 0 < body["detail"]["users"]["created"] < 60
    pools = server_cognito.list_user_pools(MaxResults=60)["UserPools"]
    assert sorted(p["Name"] for p in pools) == ["A", "B"]  # the re-run reused the pool it created
    restored = read_state(server_cognito, target)
    assert len(restored.users) == 60
    assert {u.status for u in restored.users.values()} == {"CONFIRMED"}
    diff = subprocess.run(_cli(server_url, "diff", "--repo", str(tmp_path / "repo"), "--user-pool-id", target))
    assert diff.returncode == 0
    final = subprocess.run([*elsewhere, "--dry-run"], capture_output=True, text=True, timeout=60)
    assert json.loads(final.stdout)["plan"]["ops"] == []


def _users_in_pool_named(client: Any, name: str) -> int:
    pools = [p["Id"] for p in client.list_user_pools(MaxResults=60)["UserPools"] if p["Name"] == name]
    return sum(len(client.list_users(UserPoolId=p)["Users"]) for p in pools)


def test_human_output_shows_the_plan_then_the_summary(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    cognito.admin_delete_user(UserPoolId=pool, Username="carol")
    args = ["restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", pool, "--report-dir", str(tmp_path / "r")]
    dry = run(*args, "--dry-run")
    assert dry.exit_code == 0
    assert "create_user" in dry.output and "carol" in dry.output and "nothing was written" in dry.output
    done = run(*args, "--only", "user:carol")
    assert done.exit_code == 0, done.output
    assert "created 4" in done.output and "failed 0" in done.output  # carol and her 3 memberships
    assert "carol" in read_state(cognito, pool).users
