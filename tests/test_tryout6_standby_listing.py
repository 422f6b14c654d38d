"""Tryout (session 5): a repository holding a pool's backups, a compacted state and a standby round's
listing of its standby, as an operator sees it through the CLI (moto in-process).

A standby listing is a snapshot of the standby pool that a bounded (Lambda) round took to compare it
(options.standby_listing_of): `snapshots` must not show it as a backup of the standby, and a restore
into the standby must not be told the standby has "no snapshot" when the repository holds its listing.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.store.local import LocalStore
from tests.test_standby_rounds import World


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args))


def listed_world(cognito: Any, tmp_path: Path) -> tuple[World, str]:
    """A source backed up, and its standby's first bounded round (which lists the standby first)."""
    root = tmp_path / "repo"
    w = World(cognito, LocalStore(root))
    assert w.round(out_of_time=lambda: False).failed == 0
    assert [s.standby_listing_of for s in w.repo.list_snapshots() if s.user_pool_id == w.standby] == [w.source]
    return w, str(root)


def test_snapshots_marks_a_standby_listing_and_names_its_source(cognito: Any, tmp_path: Path) -> None:
    w, root = listed_world(cognito, tmp_path)
    result = run("snapshots", "--repo", root, "--json")
    assert result.exit_code == 0, result.output
    rows = {row["user_pool_id"]: row for row in json.loads(result.stdout)}
    assert rows[w.source]["kind"] == "backup" and rows[w.source]["standby_listing_of"] is None
    assert rows[w.standby]["kind"] == "standby_listing"
    assert rows[w.standby]["standby_listing_of"] == w.source

    text = run("snapshots", "--repo", root)
    assert text.exit_code == 0, text.output
    line = next(line for line in text.output.splitlines() if rows[w.standby]["id"] in line)
    assert "standby_listing" in line and "backup" not in line
    assert "standby listing:" in text.output  # the legend says what it is and what `latest` does

    shown = run("show", "--repo", root, "--snapshot", rows[w.standby]["id"])
    assert shown.exit_code == 0, shown.output
    assert f"standby listing: a replicate round's reading of this standby of {w.source}" in shown.output


def test_a_restore_into_the_standby_is_told_it_holds_a_listing_not_a_backup(cognito: Any, tmp_path: Path) -> None:
    w, root = listed_world(cognito, tmp_path)
    result = run("restore", "--repo", root, "--user-pool-id", w.standby, "--dry-run")
    assert result.exit_code == 2, result.output
    assert "has no snapshot in this repository" not in result.output
    assert f"{w.standby} has no backup in this repository, only a standby round's listing of it" in result.output
    assert f"--source-user-pool-id {w.source}" in result.output  # the hint still says how


def test_show_of_the_standby_says_it_has_a_listing_and_how_to_name_it(cognito: Any, tmp_path: Path) -> None:
    w, root = listed_world(cognito, tmp_path)
    result = run("show", "--repo", root, "--user-pool-id", w.standby)
    assert result.exit_code == 7, result.output
    assert f"{w.standby} has no backup in this repository, only a standby round's listing of it" in result.output
    assert "--snapshot ID" in result.output


def test_prune_does_not_report_a_journal_kept_for_a_standby_it_only_listed(cognito: Any, tmp_path: Path) -> None:
    """The standby's listing is no start of a restore --at, so it keeps no journal of the standby: prune
    names the source's journal only (before: "journal of STANDBY kept from ..." for a journal never written)."""
    w, root = listed_world(cognito, tmp_path)
    result = run("prune", "--repo", root, "--keep-last", "1", "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    assert set(json.loads(result.stdout)["journal_kept_from"]) == {w.source}


def test_compact_of_the_standby_is_refused_it_has_only_a_listing(cognito: Any, tmp_path: Path) -> None:
    """`compact` folds a pool's journal onto its newest backup; a standby's listing is no such base (before:
    "no journal record after snapshot <the listing>; nothing to do", exit 0, as if the standby were covered)."""
    w, root = listed_world(cognito, tmp_path)
    result = run("compact", "--repo", root, "--user-pool-id", w.standby)
    assert result.exit_code == 7, result.output
    assert f"{w.standby} has no backup in this repository, only a standby round's listing of it" in result.output
    assert not [s for s in w.repo.list_snapshots() if s.user_pool_id == w.standby and s.compacted]
