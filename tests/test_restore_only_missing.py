"""`restore --only-missing` / `--only-from FILE`: bring back what a bad script deleted, touch nothing else.

Against moto (in-process): a pool of 50 users, 10 deleted and 5 changed after the snapshot."""

from __future__ import annotations

import datetime as dt
import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.deployed_restore import parse_request, plan_options
from cognito_backup.errors import UsageError
from tests.helpers import fill_pool, make_pool
from tests.restore_support import backup, read_state

DELETED = [f"user-{i:05d}" for i in range(0, 50, 5)]  # 10 users, some in group-000 (the first 20)
CHANGED = ["user-00001", "user-00002", "user-00003", "user-00004", "user-00006"]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def _attrs(state: Any, username: str) -> dict[str, str]:
    return {k: v for k, v in state.users[username].attributes.items() if k != "sub"}


def _members(state: Any) -> set[tuple[str, str]]:
    return {(m.group, m.username) for m in state.memberships}


@pytest.fixture
def damaged(cognito: Any, tmp_path: Path) -> tuple[str, str, Any]:
    """(pool, repo, the snapshot's state): 10 users deleted and 5 changed after the backup, plus a user
    and a group setting added after it."""
    pool = make_pool(cognito)
    fill_pool(cognito, pool, 50, n_groups=3, big_group=20)
    for i in range(30, 40):
        cognito.admin_add_user_to_group(UserPoolId=pool, Username=f"user-{i:05d}", GroupName="group-001")
    repo = str(tmp_path / "repo")
    backup(cognito, pool, repo)
    snapshot = read_state(cognito, pool)
    for name in DELETED:
        cognito.admin_delete_user(UserPoolId=pool, Username=name)
    # The changes after the snapshot that an --only-missing restore must keep.
    cognito.admin_update_user_attributes(
        UserPoolId=pool, Username="user-00001", UserAttributes=[{"Name": "given_name", "Value": "Changed"}]
    )
    cognito.admin_update_user_attributes(
        UserPoolId=pool, Username="user-00002", UserAttributes=[{"Name": "custom:tier", "Value": "bronze"}]
    )
    cognito.admin_disable_user(UserPoolId=pool, Username="user-00003")
    cognito.admin_remove_user_from_group(UserPoolId=pool, Username="user-00004", GroupName="group-000")
    cognito.admin_delete_user_attributes(UserPoolId=pool, Username="user-00006", UserAttributeNames=["given_name"])
    cognito.update_group(UserPoolId=pool, GroupName="group-002", Description="renamed after the snapshot")
    cognito.admin_create_user(UserPoolId=pool, Username="newcomer", MessageAction="SUPPRESS")
    return pool, repo, snapshot


def test_only_missing_brings_back_the_deleted_and_keeps_the_changes(
    cognito: Any, damaged: tuple[str, str, Any], tmp_path: Path
) -> None:
    pool, repo, snapshot = damaged
    before = read_state(cognito, pool)
    args = ["restore", "--repo", repo, "--user-pool-id", pool, "--only-missing", "--report-dir", str(tmp_path / "r")]

    dry = run(*args, "--dry-run", "--json")
    assert dry.exit_code == 0, dry.output
    planned = json.loads(dry.output)["plan"]
    kinds = {op["op"] for op in planned["ops"]}
    assert kinds <= {"create_user", "set_password", "disable_user", "add_membership"}, kinds
    assert sorted(op["user"] for op in planned["ops"] if op["op"] == "create_user") == DELETED
    assert {op["user"] for op in planned["ops"]} == set(DELETED)
    # 4 changed users differ from the snapshot, the 5th lost a membership: all left as they are.
    assert planned["left_as_is"] == {"users": 4, "memberships": 1}
    assert planned["kept_in_target"]["users"] == 1  # newcomer

    text = run(*args, "--dry-run")
    assert text.exit_code == 0, text.output
    assert "--only-missing" in text.output and "left as they are" in text.output
    assert "4 users, 1 membership" in text.output

    done = run(*args, "--json")
    assert done.exit_code == 0, done.output
    after = read_state(cognito, pool)
    assert set(after.users) == set(snapshot.users) | {"newcomer"}
    for name in DELETED:
        assert _attrs(after, name) == _attrs(snapshot, name)
        assert after.users[name].enabled == snapshot.users[name].enabled
    for name in CHANGED:  # exactly as the script left them
        assert _attrs(after, name) == _attrs(before, name)
        assert after.users[name].enabled == before.users[name].enabled
    restored_members = {(g, u) for g, u in _members(snapshot) if u in DELETED}
    assert restored_members and any(g == "group-001" for g, _ in restored_members)
    assert _members(after) == _members(before) | restored_members  # user-00004 stays out of group-000
    assert after.groups["group-002"].description == "renamed after the snapshot"

    again = run(*args, "--dry-run", "--json")
    assert json.loads(again.output)["plan"]["ops"] == []


def test_only_from_file_restores_the_listed_users_that_are_missing(
    cognito: Any, damaged: tuple[str, str, Any], tmp_path: Path
) -> None:
    pool, repo, snapshot = damaged
    listing = tmp_path / "users.txt"
    # Blank lines and surrounding spaces are no names; a changed user listed is still left alone.
    listing.write_text(f"{DELETED[0]}\n\n  {DELETED[1]}  \nuser-00001\n", encoding="utf-8")
    args = ["restore", "--repo", repo, "--user-pool-id", pool, "--report-dir", str(tmp_path / "r")]
    done = run(*args, "--only-missing", "--only-from", str(listing), "--json")
    assert done.exit_code == 0, done.output
    after = read_state(cognito, pool)
    assert set(after.users) == set(snapshot.users) - set(DELETED[2:]) | {"newcomer"}
    assert _attrs(after, "user-00001")["given_name"] == "Changed"

    # Without --only-missing the file is a list of --only user:NAME: user-00001 is brought back too.
    full = run(*args, "--only-from", str(listing), "--json")
    assert full.exit_code == 0, full.output
    assert _attrs(read_state(cognito, pool), "user-00001") == _attrs(snapshot, "user-00001")


def test_only_from_a_name_the_snapshot_lacks_is_refused(
    cognito: Any, damaged: tuple[str, str, Any], tmp_path: Path
) -> None:
    pool, repo, _ = damaged
    listing = tmp_path / "users.txt"
    listing.write_text("user-00000\nnobody\n", encoding="utf-8")
    result = run("restore", "--repo", repo, "--user-pool-id", pool, "--only-from", str(listing), "--only-missing")
    assert result.exit_code == 7
    assert "user:nobody" in result.output and "Nothing was written" in result.output
    assert "user-00000" not in read_state(cognito, pool).users


def test_only_missing_with_a_point_in_time(cognito: Any, damaged: tuple[str, str, Any], tmp_path: Path) -> None:
    pool, repo, _ = damaged
    now = dt.datetime.now(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    args = ["restore", "--repo", repo, "--user-pool-id", pool, "--at", now, "--allow-after-coverage"]
    done = run(*args, "--only-missing", "--report-dir", str(tmp_path / "r"), "--json")
    assert done.exit_code == 0, done.output
    after = read_state(cognito, pool)
    assert set(DELETED) <= set(after.users)
    assert _attrs(after, "user-00001")["given_name"] == "Changed"


@pytest.mark.parametrize(
    ("extra", "says"),
    [
        (["--prune", "--yes"], "--prune"),
        (["--config", "all"], "--config"),
        (["--only", "group:group-000"], "group:"),
    ],
)
def test_only_missing_refuses_what_would_touch_more(
    cognito: Any, damaged: tuple[str, str, Any], extra: list[str], says: str
) -> None:
    pool, repo, _ = damaged
    result = run("restore", "--repo", repo, "--user-pool-id", pool, "--only-missing", *extra)
    assert result.exit_code == 2
    assert says in result.output and "--only-missing" in result.output


def test_only_from_an_unreadable_or_empty_file_is_a_usage_error(tmp_path: Path) -> None:
    args = ["restore", "--repo", str(tmp_path), "--user-pool-id", "us-east-1_x", "--only-from"]
    missing = run(*args, str(tmp_path / "nope.txt"))
    assert missing.exit_code == 2
    empty = tmp_path / "empty.txt"
    empty.write_text("\n \n", encoding="utf-8")
    result = run(*args, str(empty))
    assert result.exit_code == 2 and "no usernames" in result.output


def test_the_deployed_request_takes_only_missing() -> None:
    request = parse_request({"target_user_pool_id": "us-east-1_Ab1", "only_missing": True})
    assert request.to_json() == {"target_user_pool_id": "us-east-1_Ab1", "only_missing": True}
    assert plan_options(request).only_missing is True
    with pytest.raises(UsageError, match="prune"):
        parse_request({"target_user_pool_id": "us-east-1_Ab1", "only_missing": True, "prune": True})
