"""A damaged manifest stays one damaged part: the rest of the repository keeps working (issue #8.7).

moto in-process; the damage is garbage written over one manifest file, as a bad disk or a partial copy
would leave it."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import fill_pool, make_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


@pytest.fixture
def damaged(cognito: Any, tmp_path: Path) -> tuple[str, str, str]:
    """A repository with three snapshots of one pool; the middle one's manifest is garbage.
    Returns (repo, healthy snapshot id, damaged snapshot id)."""
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=6, n_groups=2, big_group=3)
    repo = str(tmp_path / "repo")
    ids = []
    for _ in range(3):
        result = run("backup", "--user-pool-id", pool, "--repo", repo, "--json")
        assert result.exit_code == 0, result.output
        ids.append(json.loads(result.output)["snapshot"])
        time.sleep(1.01)  # distinct ids (their time part has one-second resolution)
    (Path(repo) / "snapshots" / f"{ids[1]}.json").write_bytes(b"\x00garbage{not json")
    return repo, ids[0], ids[1]


def test_snapshots_lists_the_readable_and_names_the_damaged(damaged: tuple[str, str, str]) -> None:
    repo, healthy, bad = damaged
    text = run("snapshots", "--repo", repo)
    assert text.exit_code == 6, text.output
    assert healthy in text.output
    assert bad in text.output and "damaged" in text.output.lower()
    body = run("snapshots", "--repo", repo, "--json")
    assert body.exit_code == 6
    rows = json.loads(body.stdout)
    readable = [r for r in rows if not r["damaged"]]
    assert len(readable) == 2 and healthy in {r["id"] for r in readable}
    [broken] = [r for r in rows if r["damaged"]]
    assert broken["id"] == bad and broken["key"] == f"snapshots/{bad}.json"
    assert set(broken) == set(readable[0])  # one row shape: the unknown fields are null


def test_restore_of_a_healthy_snapshot_works(damaged: tuple[str, str, str], cognito: Any, tmp_path: Path) -> None:
    repo, healthy, _ = damaged
    result = run(
        "restore", "--repo", repo, "--snapshot", healthy, "--new-pool", "again", "--json",
        "--report-dir", str(tmp_path / "reports"),
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    target = json.loads(result.stdout)["user_pool_id"]
    assert len(cognito.list_users(UserPoolId=target)["Users"]) == 6


def test_latest_is_not_silently_an_older_snapshot(damaged: tuple[str, str, str], tmp_path: Path) -> None:
    repo, _, bad = damaged
    (Path(repo) / "snapshots").joinpath(sorted(p.name for p in (Path(repo) / "snapshots").iterdir())[-1]).unlink()
    result = run("show", "--repo", repo)  # the damaged manifest is now the newest
    assert result.exit_code == 6, result.output
    assert bad in result.output


def test_check_exits_6_naming_the_damage(damaged: tuple[str, str, str]) -> None:
    repo, _, bad = damaged
    result = run("check", "--repo", repo)
    assert result.exit_code == 6
    assert bad in result.output
    body = json.loads(run("check", "--repo", repo, "--json").stdout)
    assert [p["kind"] for p in body["problems"]] == ["manifest"]
    assert body["snapshots"] == 2


def test_prune_refuses_and_deletes_nothing(damaged: tuple[str, str, str]) -> None:
    repo, _, bad = damaged
    before = sorted(p.relative_to(repo).as_posix() for p in Path(repo).rglob("*") if p.is_file())
    result = run("prune", "--repo", repo, "--keep-last", "1", "--grace", "0")
    assert result.exit_code == 6, result.output
    assert bad in result.output and "before deleting anything" in result.output
    after = sorted(p.relative_to(repo).as_posix() for p in Path(repo).rglob("*") if p.is_file())
    assert after == before
