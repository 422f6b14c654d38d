"""`check` catches every kind of damage, and says which object."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.cli.main import cli
from cognito_backup.ops.backup import BackupOptions, run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool


@pytest.fixture
def backed_up(cognito: Any, tmp_repo: str) -> tuple[Repository, Path]:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=120, n_groups=3, big_group=61)
    repo = Repository(LocalStore(tmp_repo))
    run_backup(PoolReader(cognito, Pacer(), pool_id), repo, "us-east-1", BackupOptions(max_records_per_object=50))
    return repo, Path(tmp_repo)


def user_object(repo: Repository, root: Path) -> tuple[str, Path]:
    ref = repo.resolve("latest").objects_of("users")[1]
    return ref.sha256, root / "objects" / ref.sha256[:2] / f"{ref.sha256}.jsonl.zst"


def run_check(root: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["check", "--repo", str(root), *extra])


def test_clean_repository_passes(backed_up: tuple[Repository, Path]) -> None:
    _, root = backed_up
    result = run_check(root, "--read-data")
    assert result.exit_code == 0, result.output
    assert "no problems" in result.output


def test_flipped_byte_is_caught_only_with_read_data(backed_up: tuple[Repository, Path]) -> None:
    repo, root = backed_up
    digest, path = user_object(repo, root)
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0x01  # XOR: the byte always changes; the size does not
    path.write_bytes(bytes(data))
    assert run_check(root).exit_code == 0  # structure alone cannot see it
    result = run_check(root, "--read-data")
    assert result.exit_code == 6
    assert digest[:12] in result.output
    assert "altered" in result.output or "cannot be decoded" in result.output


def test_truncated_object_is_caught(backed_up: tuple[Repository, Path]) -> None:
    repo, root = backed_up
    digest, path = user_object(repo, root)
    path.write_bytes(path.read_bytes()[:-7])
    result = run_check(root)
    assert result.exit_code == 6
    assert digest[:12] in result.output and "truncated" in result.output


def test_missing_object_is_caught(backed_up: tuple[Repository, Path]) -> None:
    repo, root = backed_up
    digest, path = user_object(repo, root)
    path.unlink()
    result = CliRunner().invoke(cli, ["check", "--repo", str(root), "--read-data", "--json"])
    assert result.exit_code == 6
    import json

    body = json.loads(result.stdout)  # stderr says "error: ..." too
    assert body["ok"] is False
    assert [p["kind"] for p in body["problems"]] == ["missing"]
    assert body["problems"][0]["object"] == digest


def test_damaged_snapshot_refuses_to_load(backed_up: tuple[Repository, Path]) -> None:
    from cognito_backup.errors import RepositoryDamaged

    repo, root = backed_up
    _, path = user_object(repo, root)
    path.write_bytes(path.read_bytes()[:-3])
    with pytest.raises(RepositoryDamaged):
        repo.load_state(repo.resolve("latest"))


def test_corrupt_manifest_is_reported(backed_up: tuple[Repository, Path]) -> None:
    _, root = backed_up
    manifest = next((root / "snapshots").iterdir())
    manifest.write_text("{ not json")
    result = run_check(root)
    assert result.exit_code == 6
    assert "not a valid manifest" in result.output


def test_not_a_repository(tmp_path: Path) -> None:
    result = CliRunner().invoke(cli, ["check", "--repo", str(tmp_path / "nothing")])
    assert result.exit_code == 7
    assert "No cognito-backup repository" in result.output
