"""A new user's bad input against a repository (session 4 try-out): what each command says and exits.

moto in-process; damage is written over files as a bad disk or a partial copy would leave them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import fill_pool, make_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def only_manifest_damaged(cognito: Any, tmp_path: Path) -> tuple[str, str, str]:
    """A repository whose one snapshot's manifest is truncated. Returns (repo, pool, snapshot id)."""
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=3, n_groups=1)
    repo = str(tmp_path / "repo")
    result = run("backup", "--user-pool-id", pool, "--repo", repo, "--json")
    assert result.exit_code == 0, result.output
    snapshot = json.loads(result.stdout)["snapshot"]
    manifest = Path(repo) / "snapshots" / f"{snapshot}.json"
    manifest.write_bytes(manifest.read_bytes()[:100])
    return repo, pool, snapshot


@pytest.mark.parametrize(
    "command",
    [
        ["show"],
        ["diff", "--user-pool-id", "{pool}"],
        ["restore", "--user-pool-id", "{pool}", "--dry-run"],
        ["restore", "--new-pool", "again", "--dry-run"],
        ["replicate", "--to-user-pool-id", "us-east-1_Standby", "--dry-run"],
    ],
)
def test_a_damaged_only_manifest_is_damage_not_an_empty_repository(
    only_manifest_damaged: tuple[str, str, str], command: list[str]
) -> None:
    """Before: "The repository holds no snapshot yet; run backup first" (exit 7) — wrong advice to someone
    whose backup exists but whose manifest a bad copy truncated."""
    repo, pool, snapshot = only_manifest_damaged
    args = [a.format(pool=pool) for a in command]
    result = run(*args, "--repo", repo, "--json")
    assert result.exit_code == 6, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "repository_damaged"
    assert snapshot in error["message"]
    assert "backup` first" not in (error["hint"] or "")


@pytest.mark.parametrize(
    "command",
    [
        ["show", "--user-pool-id", "garbage pool"],
        ["diff", "--user-pool-id", "us-east-1_AbC", "--source-user-pool-id", "../../etc"],
        ["restore", "--user-pool-id", "us-east-1_AbC", "--source-user-pool-id", "nope", "--dry-run"],
    ],
)
def test_a_malformed_source_pool_id_is_a_usage_error(tmp_path: Path, command: list[str]) -> None:
    """Every other pool id option is checked against the service's UserPoolIdType at once (exit 2);
    these two answered "no snapshot of ../../etc" (exit 7), as if such a pool could exist."""
    result = run(*command, "--repo", str(tmp_path / "repo"), "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and "is not a user pool id" in error["message"]


def test_replicating_the_only_backed_up_pool_into_itself_says_so(cognito: Any, tmp_path: Path) -> None:
    """`replicate --to-user-pool-id` naming the pool that was backed up (a slip for the standby's id):
    before, "The repository holds no snapshot yet; run backup first" (exit 7) about a repository that
    holds that pool's snapshot."""
    pool = make_pool(cognito)
    repo = str(tmp_path / "repo")
    assert run("backup", "--user-pool-id", pool, "--repo", repo).exit_code == 0
    result = run("replicate", "--repo", repo, "--to-user-pool-id", pool, "--dry-run", "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage"
    assert pool in error["message"] and "standby" in error["message"]
    assert "backup` first" not in (error["hint"] or "")


@pytest.fixture
def another_tools_dir(tmp_path: Path) -> Path:
    """A project directory that happens to have a config.json of its own (a web app, another backup tool)."""
    where = tmp_path / "my-app"
    where.mkdir()
    (where / "config.json").write_text('{"name": "my-app", "version": "1.0.0"}\n')
    (where / "index.js").write_text("console.log('hi')\n")
    return where


def test_backup_into_another_tools_dir_is_a_usage_error_and_writes_nothing(
    cognito: Any, another_tools_dir: Path
) -> None:
    """Before: "config.json is not a repository config", exit 6 (repository damaged), with no hint: the
    user's own directory reported as a damaged backup."""
    pool = make_pool(cognito)
    before = sorted(p.name for p in another_tools_dir.iterdir())
    result = run("backup", "--user-pool-id", pool, "--repo", str(another_tools_dir), "--json")
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and "not a cognito-backup repository" in error["message"]
    assert sorted(p.name for p in another_tools_dir.iterdir()) == before


@pytest.mark.parametrize("command", [["snapshots"], ["show"], ["check"], ["prune", "--keep-last", "1"]])
def test_reading_another_tools_dir_is_not_found_not_damage(another_tools_dir: Path, command: list[str]) -> None:
    result = run(*command, "--repo", str(another_tools_dir), "--json")
    assert result.exit_code == 7, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "not_found" and "No cognito-backup repository" in error["message"]
    assert error["hint"]


def test_a_garbled_repository_config_is_damage_with_a_hint(tmp_path: Path, cognito: Any) -> None:
    """A config.json that is not JSON at all may be this tool's own, truncated: damage (6), but say what to do."""
    pool = make_pool(cognito)
    repo = tmp_path / "repo"
    assert run("backup", "--user-pool-id", pool, "--repo", str(repo)).exit_code == 0
    (repo / "config.json").write_bytes(b'{"format": "cognito-backup-repos')
    result = run("snapshots", "--repo", str(repo), "--json")
    assert result.exit_code == 6, result.output
    assert json.loads(result.stdout)["error"]["hint"]


@pytest.mark.parametrize("command", [["backup", "--user-pool-id", "us-east-1_AbC"], ["snapshots"], ["check"]])
def test_an_empty_repo_is_a_usage_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, command: list[str]) -> None:
    """`--repo "$REPO"` with REPO unset: before, the current directory was taken as the repository
    (a backup into an empty working directory created one there)."""
    monkeypatch.chdir(tmp_path)
    result = run(*command, "--repo", "", "--json")
    assert result.exit_code == 2, result.output
    assert json.loads(result.stdout)["error"]["kind"] == "usage"
    assert list(tmp_path.iterdir()) == []


def test_a_pool_that_does_not_exist_gets_the_documented_hint(cognito: Any, tmp_path: Path) -> None:
    """docs/exit-codes.md, exit 4: "Check --user-pool-id and --region"; the hint was null."""
    result = run("backup", "--user-pool-id", "us-east-1_Nope", "--repo", str(tmp_path / "repo"), "--json")
    assert result.exit_code == 4, result.output
    hint = json.loads(result.stdout)["error"]["hint"]
    assert "--user-pool-id" in hint and "--region" in hint


def test_a_damaged_object_gets_the_documented_hint(cognito: Any, tmp_path: Path) -> None:
    """docs/exit-codes.md, exit 6: keep the repository, use a snapshot `check --read-data` passes; the
    hint of a truncated object was null."""
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=3, n_groups=1)
    repo = tmp_path / "repo"
    assert run("backup", "--user-pool-id", pool, "--repo", str(repo)).exit_code == 0
    for path in (repo / "objects").rglob("*.zst"):
        path.write_bytes(path.read_bytes()[:10])
    result = run("show", "--repo", str(repo), "--json")
    assert result.exit_code == 6, result.output
    hint = json.loads(result.stdout)["error"]["hint"]
    assert "check --read-data" in hint and "--snapshot" in hint


@pytest.mark.parametrize(
    ("option", "value"),
    [
        ("--new-pool", "x" * 129),  # UserPoolNameType: at most 128
        ("--new-pool", "recovered/pool"),  # UserPoolNameType: [\w\s+=,.@-]+
        ("--new-pool", ""),
        ("--domain-prefix", "BAD PREFIX"),  # DomainType: ^[a-z0-9](?:[a-z0-9\-]{0,61}[a-z0-9])?$
        ("--domain-prefix", "-starts-with-dash"),
    ],
)
def test_values_the_service_model_refuses_are_usage_errors_even_in_a_dry_run(
    tmp_path: Path, option: str, value: str
) -> None:
    """Before: a dry run printed a plan (exit 0) for a pool name or domain prefix CreateUserPool /
    CreateUserPoolDomain refuse, and the real run failed at AWS."""
    args = ["restore", "--repo", str(tmp_path / "repo"), "--dry-run", "--json"]
    if option != "--new-pool":
        args += ["--new-pool", "recovered"]
    result = run(*args, option, value)
    assert result.exit_code == 2, result.output
    error = json.loads(result.stdout)["error"]
    assert error["kind"] == "usage" and option in error["message"]


def test_migrate_start_checks_the_new_pool_name_too(tmp_path: Path) -> None:
    result = run(
        "migrate", "start", "--repo", str(tmp_path / "repo"), "--from-user-pool-id", "us-east-1_AbC",
        "--new-pool", "v2/bad", "--dry-run", "--json",
    )  # fmt: skip
    assert result.exit_code == 2, result.output
    assert "--new-pool" in json.loads(result.stdout)["error"]["message"]


def test_a_damaged_journal_marker_does_not_hide_the_snapshots(cognito: Any, tmp_path: Path) -> None:
    """The capture's caught-up marker only says how far the journal reaches. Before: `snapshots` printed
    nothing but the marker's error (exit 6): every snapshot hidden by a 200-byte progress note."""
    pool = make_pool(cognito)
    repo = tmp_path / "repo"
    backup = run("backup", "--user-pool-id", pool, "--repo", str(repo), "--json")
    assert backup.exit_code == 0, backup.output
    snapshot = json.loads(backup.stdout)["snapshot"]
    marker = repo / "journal" / pool / "caught-up"
    marker.parent.mkdir(parents=True)
    marker.write_text("garbage{")
    result = run("snapshots", "--repo", str(repo), "--json")
    assert result.exit_code == 6, result.output
    [row] = json.loads(result.stdout)
    assert row["id"] == snapshot and row["restorable_to"] == row["finished_at"]  # its own time, no more
    assert f"journal/{pool}/caught-up" in result.stderr
