"""Repositories are created on purpose, owner-only (issue #8.8). moto in-process through the CLI."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool


def tree(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def test_backup_into_a_non_empty_directory_that_is_not_a_repository_is_refused(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=2)
    home = tmp_path / "home"
    (home / "Documents").mkdir(parents=True)
    (home / "notes.txt").write_text("mine")
    (home / "Documents" / "cv.odt").write_bytes(b"cv")
    before = tree(home)
    dirs_before = sorted(p for p in home.rglob("*"))
    result = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", str(home)])
    assert result.exit_code == 2, result.output
    assert "not a cognito-backup repository" in result.output
    assert tree(home) == before and sorted(home.rglob("*")) == dirs_before


def test_a_new_repository_is_announced_once_and_is_owner_only(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=2)
    repo = tmp_path / "new" / "deeper" / "repo"
    old = os.umask(0o022)  # a usual umask: the tool's own modes must not depend on it
    try:
        first = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", str(repo)])
        assert first.exit_code == 0, first.output
        assert f"Created repository at {repo}" in first.output
        second = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", str(repo), "--json"])
        assert second.exit_code == 0, second.output
        assert json.loads(second.stdout)["repository_created"] is False
    finally:
        os.umask(old)
    for level in [tmp_path / "new", tmp_path / "new" / "deeper", repo, *(p for p in repo.rglob("*") if p.is_dir())]:
        assert stat.S_IMODE(level.stat().st_mode) == 0o700, level


def test_an_empty_existing_directory_becomes_a_repository(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    repo = Repository(LocalStore(tmp_path / "empty"))
    assert repo.init_if_needed() is True
    assert repo.init_if_needed() is False


def test_a_location_holding_only_a_journal_becomes_a_repository(tmp_path: Path) -> None:
    # The serverless capture journals from deployment on, before the first scheduled backup.
    store = LocalStore(tmp_path / "repo")
    store.put_bytes("journal/us-east-1_x/seg.json", b"{}")
    assert Repository(store).init_if_needed() is True
    assert Repository(store).read_config()["format"] == "cognito-backup-repository"


def test_report_directories_the_restore_creates_are_owner_only(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=2)
    repo = str(tmp_path / "repo")
    assert CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo]).exit_code == 0
    reports = tmp_path / "out" / "reports"
    old = os.umask(0o022)
    try:
        result = CliRunner().invoke(
            cli, ["restore", "--repo", repo, "--new-pool", "copy", "--report-dir", str(reports), "--json"]
        )
    finally:
        os.umask(old)
    assert result.exit_code == 0, result.output
    for level in (tmp_path / "out", reports):
        assert stat.S_IMODE(level.stat().st_mode) == 0o700, level


def test_an_s3_prefix_holding_other_objects_is_refused(cognito: Any, s3: Any) -> None:
    pool = make_pool(cognito)
    s3.create_bucket(Bucket="shared")
    s3.put_object(Bucket="shared", Key="team/report.pdf", Body=b"x")
    result = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", "s3://shared/team"])
    assert result.exit_code == 2, result.output
    assert [o["Key"] for o in s3.list_objects_v2(Bucket="shared")["Contents"]] == ["team/report.pdf"]
    fresh = CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", "s3://shared/cognito", "--json"])
    assert fresh.exit_code == 0, fresh.output
    assert json.loads(fresh.stdout)["repository_created"] is True
