"""Issue 8.2: replicate deletes only from this source's standby; deletions are named; --dry-run writes
nothing (moto in-process through the CLI; Cognito's tagging calls come from cognito_backup/emulator_tags.py)."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.standby import STANDBY_TAG
from cognito_backup.errors import PlanRefused
from tests.helpers import add_user, make_pool
from tests.restore_support import backup, read_state, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def tags(cognito: Any, pool: str) -> dict[str, str]:
    return dict(cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get("UserPoolTags") or {})


def unrelated_pool(cognito: Any) -> str:
    """A live pool with users and a group the source does not have."""
    pool = make_pool(cognito, "unrelated")
    for name in ("xavier", "yolanda"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com"})
    cognito.create_group(UserPoolId=pool, GroupName="billing")
    cognito.admin_add_user_to_group(UserPoolId=pool, Username="xavier", GroupName="billing")
    return pool


def setup(cognito: Any, tmp_path: Path) -> tuple[str, str, str]:
    source = rich_pool(cognito, "source")
    repo = tmp_path / "repo"
    backup(cognito, source, repo)
    return str(repo), source, unrelated_pool(cognito)


def snapshot_of(cognito: Any, pool: str) -> tuple[set[str], set[str]]:
    state = read_state(cognito, pool)
    return set(state.users), set(state.groups)


def test_round_that_would_delete_from_an_unrelated_pool_is_refused(cognito: Any, tmp_path: Path) -> None:
    repo, source, target = setup(cognito, tmp_path)
    before = snapshot_of(cognito, target)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--user-pool-id", source)
    assert result.exit_code == 8, result.output
    text = " ".join(result.output.split())
    for name in ("2 users: xavier, yolanda", "1 group: billing"):
        assert name in text
    assert "--yes" in text and "nothing was written" in text
    assert snapshot_of(cognito, target) == before
    assert STANDBY_TAG not in tags(cognito, target)
    assert not (Path(repo) / "replication").exists()


def test_dry_run_prints_the_plan_and_writes_nothing(cognito: Any, tmp_path: Path) -> None:
    repo, _, target = setup(cognito, tmp_path)
    before = snapshot_of(cognito, target)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--dry-run", "--json")
    assert result.exit_code == 8, result.output  # a real round would be refused
    body = json.loads(result.stdout)  # stderr says why it exits 8
    assert body["dry_run"] is True and body["refused"] is True and body["standby"] == "not a standby"
    assert {(d["kind"], d["name"]) for d in body["deleted_items"]} == {
        ("user", "xavier"),
        ("user", "yolanda"),
        ("group", "billing"),
    }  # xavier's membership of billing goes with xavier
    assert sum(1 for op in body["plan"]["ops"] if op["op"] == "create_user") == 5
    text = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--dry-run")
    assert "REFUSED" in text.output and "Dry run: nothing was written." in text.output
    empty = make_pool(cognito, "empty")
    adoptable = run("replicate", "--repo", repo, "--to-user-pool-id", empty, "--dry-run", "--json")
    assert adoptable.exit_code == 0, adoptable.output
    assert json.loads(adoptable.output)["standby"] == "adopt"
    assert snapshot_of(cognito, target) == before and snapshot_of(cognito, empty) == (set(), set())
    assert STANDBY_TAG not in tags(cognito, target) and STANDBY_TAG not in tags(cognito, empty)
    assert not (Path(repo) / "replication").exists()


def test_yes_adopts_the_pool_once_and_deletions_are_named(cognito: Any, tmp_path: Path) -> None:
    repo, source, target = setup(cognito, tmp_path)
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--source-user-pool-id", source,
                 "--yes", "--json")  # fmt: skip
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["standby"] == "adopt" and body["failed"] == 0
    assert {(d["kind"], d["name"]) for d in body["deleted_items"]} >= {("user", "xavier"), ("group", "billing")}
    assert tags(cognito, target)[STANDBY_TAG] == source
    assert snapshot_of(cognito, target) == snapshot_of(cognito, source)

    # Later rounds need no --yes: the tag on the pool says it is the standby.
    add_user(cognito, target, "stray")
    backup(cognito, source, repo)  # a new base snapshot: the next round compares everything
    later = run("replicate", "--repo", repo, "--to-user-pool-id", target)
    assert later.exit_code == 0, later.output
    assert "user stray" in later.output
    assert "stray" not in read_state(cognito, target).users


def test_an_empty_pool_becomes_the_standby_at_its_first_round(cognito: Any, tmp_path: Path) -> None:
    repo, source, _ = setup(cognito, tmp_path)
    standby = make_pool(cognito, "standby")
    first = run("replicate", "--repo", repo, "--to-user-pool-id", standby, "--json")
    assert first.exit_code == 0, first.output
    assert json.loads(first.output)["standby"] == "adopt"
    assert tags(cognito, standby)[STANDBY_TAG] == source
    add_user(cognito, standby, "stray")
    backup(cognito, source, repo)
    again = run("replicate", "--repo", repo, "--to-user-pool-id", standby, "--json")
    assert again.exit_code == 0, again.output
    body = json.loads(again.output)
    assert body["standby"] == "standby" and body["deleted_items"] == [{"kind": "user", "name": "stray"}]


def test_a_standby_of_another_source_is_not_taken_over(cognito: Any, tmp_path: Path) -> None:
    repo, _, _ = setup(cognito, tmp_path)
    other = make_pool(cognito, "other-standby", UserPoolTags={STANDBY_TAG: "us-east-1_someoneelse"})
    add_user(cognito, other, "keepme")
    result = run("replicate", "--repo", repo, "--to-user-pool-id", other)
    assert result.exit_code == 8, result.output
    assert "keepme" in result.output
    assert "keepme" in read_state(cognito, other).users
    assert tags(cognito, other)[STANDBY_TAG] == "us-east-1_someoneelse"


def test_a_pool_made_by_restore_new_pool_is_the_standby(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(
        cognito,
        "source",
    )
    # The source is itself some pool's standby: the new pool must not inherit that claim.
    cognito.tag_resource(
        ResourceArn=cognito.describe_user_pool(UserPoolId=source)["UserPool"]["Arn"],
        Tags={STANDBY_TAG: "us-east-1_elsewhere", "team": "identity"},
    )
    repo = str(tmp_path / "repo")
    backup(cognito, source, repo)
    made = run("restore", "--repo", repo, "--new-pool", "standby", "--json", "--report-dir", str(tmp_path / "r"))
    assert made.exit_code == 0, made.output
    standby = json.loads(made.output)["user_pool_id"]
    got = tags(cognito, standby)
    # Besides the restore's own id tag (docs/restore.md, resume), the snapshot's tags with the standby one replaced.
    assert got.pop("cognito-backup:restore-id")
    assert got == {STANDBY_TAG: source, "team": "identity"}
    add_user(cognito, standby, "stray")
    result = run("replicate", "--repo", repo, "--to-user-pool-id", standby, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["standby"] == "standby" and body["deleted_items"] == [{"kind": "user", "name": "stray"}]


def test_the_standby_lambda_refuses_the_same_way(
    cognito: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    from cognito_backup.serverless import replicate as replicate_lambda

    repo, source, target = setup(cognito, tmp_path)
    before = snapshot_of(cognito, target)
    for var, value in (
        ("COGNITO_BACKUP_REPO", repo),
        ("COGNITO_BACKUP_USER_POOL_ID", source),
        ("COGNITO_BACKUP_USER_POOL_REGION", "us-east-1"),
        ("COGNITO_BACKUP_STANDBY_POOL_ID", target),
        ("COGNITO_BACKUP_STANDBY_REGION", "us-east-1"),
    ):
        monkeypatch.setenv(var, value)
    caplog.set_level(logging.INFO, logger="cognito_backup.replicate")
    with pytest.raises(PlanRefused):
        replicate_lambda.handler({}, None)
    assert snapshot_of(cognito, target) == before
    failed = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cognito_backup.replicate"]
    assert failed[-1]["event"] == "replicate_failed" and failed[-1]["error"] == "PlanRefused"
    assert "xavier" in failed[-1]["message"] and "example.com" not in caplog.text


def test_a_pool_replicated_into_before_the_tag_existed_stays_the_standby(cognito: Any, tmp_path: Path) -> None:
    from cognito_backup.ops.replicate import cursor_key

    repo, source, target = setup(cognito, tmp_path)
    # The progress record an earlier version wrote after its rounds into this pool (no "standby_checked").
    legacy = {
        "source_user_pool_id": source,
        "standby_user_pool_id": target,
        "base_snapshot": "20200101T000000Z-00000000",
        "position": ["2020-01-01T00:00:00.000000Z", "", -1],
        "applied_at": "2020-01-01T00:00:00.000000Z",
    }
    (Path(repo) / cursor_key(target)).parent.mkdir(parents=True, exist_ok=True)
    (Path(repo) / cursor_key(target)).write_text(json.dumps(legacy))
    result = run("replicate", "--repo", repo, "--to-user-pool-id", target, "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.output)
    assert body["standby"] == "adopt" and ("user", "xavier") in {(d["kind"], d["name"]) for d in body["deleted_items"]}
    assert tags(cognito, target)[STANDBY_TAG] == source
    assert json.loads((Path(repo) / cursor_key(target)).read_text())["standby_checked"] is True


def test_json_of_a_round_with_failed_operations_is_one_document(cognito: Any, tmp_path: Path) -> None:
    """A script reading `replicate --json` gets exactly one JSON document on stdout, failures counted in
    it, and exit 1: not the round's object followed by a second `{"error": ...}` object."""
    from tests.http_faults import Fault, HttpFaults, by_operation, every_new_client

    repo, _, _ = setup(cognito, tmp_path)
    standby = make_pool(cognito, "standby")
    refused = Fault(400, "InvalidParameterException")  # not retried: every user create fails
    with every_new_client(HttpFaults(by_operation({"AdminCreateUser": refused}))):
        result = CliRunner().invoke(cli, ["replicate", "--repo", repo, "--to-user-pool-id", standby, "--json"])
    assert result.exit_code == 1, result.output
    body = json.loads(result.stdout)  # raises on a second document
    assert body["failed"] > 0 and "error" not in body
    assert "failed on the standby" in result.stderr
