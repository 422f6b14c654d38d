"""Retention is a pure function (table tests); prune sweeps only what nothing references."""

from __future__ import annotations

import datetime as dt
import time
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.core.retention import Policy, SnapshotTime, apply_policy
from cognito_backup.ops.prune import prune
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.repository import Repository
from cognito_backup.store.memory import MemoryStore


def t(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text).replace(tzinfo=dt.UTC)


SNAPS = [
    SnapshotTime("a", t("2026-09-30T23:00")),
    SnapshotTime("b", t("2026-10-31T10:00")),
    SnapshotTime("c", t("2026-11-01T01:00")),
    SnapshotTime("d", t("2026-11-01T13:00")),
    SnapshotTime("e", t("2026-11-08T09:00")),  # Sunday: ISO week 45
    SnapshotTime("f", t("2026-11-09T09:00")),  # Monday: ISO week 46
    SnapshotTime("g", t("2026-11-10T09:00")),
    SnapshotTime("h", t("2026-11-10T18:00")),
]


@pytest.mark.parametrize(
    ("policy", "keep"),
    [
        (Policy(keep_last=1), {"h"}),
        (Policy(keep_last=3), {"h", "g", "f"}),
        (Policy(keep_last=100), {s.id for s in SNAPS}),
        (Policy(keep_daily=1), {"h"}),
        (Policy(keep_daily=3), {"h", "f", "e"}),
        (Policy(keep_daily=5), {"h", "f", "e", "d", "b"}),
        (Policy(keep_weekly=2), {"h", "e"}),
        (Policy(keep_weekly=3), {"h", "e", "d"}),  # Nov 1 is a Sunday: week 44 holds b, c, d
        (Policy(keep_monthly=2), {"h", "b"}),
        (Policy(keep_monthly=3), {"h", "b", "a"}),
        (Policy(keep_last=1, keep_monthly=3), {"h", "b", "a"}),
        (Policy(keep_daily=2, keep_weekly=2, keep_monthly=2), {"h", "f", "e", "b"}),
    ],
)
def test_policy_table(policy: Policy, keep: set[str]) -> None:
    decision = apply_policy(SNAPS, policy)
    assert set(decision.keep) == keep
    assert set(decision.remove) == {s.id for s in SNAPS} - keep
    for sid in decision.keep:
        assert decision.reasons[sid]


def test_empty_policy_keeps_everything() -> None:
    assert set(apply_policy(SNAPS, Policy()).keep) == {s.id for s in SNAPS}


def test_reasons_name_the_rules() -> None:
    decision = apply_policy(SNAPS, Policy(keep_last=1, keep_daily=1, keep_monthly=1))
    assert decision.reasons["h"] == ["last", "daily 2026-11-10", "monthly 2026-11"]


def make_snapshot(repo: Repository, pool: str, when: dt.datetime, users: list[str]) -> str:
    with repo.begin_snapshot(pool, "us-east-1", started_at=when) as writer:
        writer.add("config", {"user_pool": {"Id": pool}})
        for name in users:
            writer.add("users", {"username": name, "attributes": {}, "enabled": True, "status": "CONFIRMED"})
        return writer.commit().id


def test_prune_removes_snapshots_and_unreferenced_objects_only() -> None:
    store = MemoryStore()
    repo = Repository(store)
    old = make_snapshot(repo, "p1", t("2026-11-01T00:00"), ["only-in-old"])
    new = make_snapshot(repo, "p1", t("2026-11-02T00:00"), ["shared"])
    other_pool = make_snapshot(repo, "p2", t("2026-10-01T00:00"), ["p2-user"])
    later = time.time() + 7200  # past the grace period
    dry = prune(repo, Policy(keep_last=1), dry_run=True, now=lambda: later)
    assert dry.decision.remove == [old]
    assert {m.id for m in repo.list_snapshots()} == {old, new, other_pool}  # dry run changes nothing
    result = prune(repo, Policy(keep_last=1), now=lambda: later)
    assert {m.id for m in repo.list_snapshots()} == {new, other_pool}  # retention is per pool
    assert len(result.removed_objects) == 1  # the old users object; config objects are shared
    assert check_repository(repo, read_data=True).ok


def test_prune_spares_young_objects_of_a_running_backup() -> None:
    repo = Repository(MemoryStore())
    make_snapshot(repo, "p1", t("2026-11-01T00:00"), ["a"])
    writer = repo.begin_snapshot("p1", "us-east-1")  # a backup in flight: objects, no manifest yet
    writer.add("users", {"username": "in-flight", "attributes": {}, "enabled": True, "status": "CONFIRMED"})
    # Users are staged in sorted runs until sharded.
    in_flight = [*writer.flush(), *(segment for run in writer.runs for segment in run)]
    result = prune(repo, Policy(keep_last=1), grace_seconds=0)
    assert result.removed_objects == []
    assert result.sweep_skipped_for == [f"backup {writer.id}"]  # its shared lock holds the sweep back
    writer.commit()
    writer.close()
    assert check_repository(repo, read_data=True).ok
    assert in_flight


def test_prune_cli_requires_a_policy(tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cognito_backup.cli.main import cli

    result = CliRunner().invoke(cli, ["prune", "--repo", str(tmp_path)])
    assert result.exit_code == 2
    assert "needs a policy" in result.output


def test_prune_cli_dry_run_json(tmp_path: Path) -> None:
    import json

    from click.testing import CliRunner

    from cognito_backup.cli.main import cli
    from cognito_backup.store.local import LocalStore

    repo = Repository(LocalStore(tmp_path))
    ids = [make_snapshot(repo, "p1", t(f"2026-11-0{d}T00:00"), [f"u{d}"]) for d in range(1, 4)]
    result = CliRunner().invoke(cli, ["prune", "--repo", str(tmp_path), "--keep-last", "2", "--dry-run", "--json"])
    assert result.exit_code == 0, result.output
    body: dict[str, Any] = json.loads(result.output)
    assert body["remove"] == [ids[0]] and body["dry_run"] is True
    assert len(repo.list_snapshots()) == 3


def test_prune_clears_state_of_a_backup_dead_for_two_days() -> None:
    repo = Repository(MemoryStore())
    make_snapshot(repo, "p1", t("2026-11-01T00:00"), ["a"])
    writer = repo.begin_snapshot("p1", "us-east-1")
    writer.add("users", {"username": "orphan", "attributes": {}, "enabled": True, "status": "CONFIRMED"})
    writer.add("groups", {"name": "orphans"})
    writer.flush()  # then the process dies: lock, objects and the users' sorted run stay behind
    repo.store.put_bytes("checkpoints/x.json", b"{}")
    soon = prune(repo, Policy(keep_last=1), grace_seconds=0, now=lambda: time.time() + 3600)
    assert soon.removed_objects == [] and list(repo.store.list("locks/"))
    later = prune(repo, Policy(keep_last=1), grace_seconds=0, now=lambda: time.time() + 3 * 86400)
    assert later.summary()["removed_stale_locks_and_checkpoints"] == 3  # lock, checkpoint, sort run
    assert list(repo.store.list("locks/")) == [] and list(repo.store.list("checkpoints/")) == []
    assert list(repo.store.list("runs/")) == []
    assert len(later.removed_objects) == 1  # the dead backup's object, no longer protected
    assert check_repository(repo, read_data=True).ok
