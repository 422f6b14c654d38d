"""prune and a stopped restore (session 5 try-out).

Seen: a restore killed -9 in place, a newer backup, then `prune --keep-last 1 --dry-run` said "would
remove snapshot <the one the stopped restore comes from>": after that prune the stopped restore could
never be finished (its snapshot gone, exit 7; the newer one is of the damaged pool). Now prune keeps every
snapshot an unfinished restore (or a point-in-time restore based on it) comes from, with the reason
"restore into <target> unfinished"; once the restore has finished, the policy alone decides again.
moto in-process; the kill is a botocore event hook (tests/test_restore_resume)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.cli.main import cli
from cognito_backup.core.retention import Decision, Policy, keep_for_restores
from cognito_backup.ops.prune import prune
from cognito_backup.ops.restore import run_restore
from cognito_backup.ops.restore_runs import snapshots_in_use
from cognito_backup.repo.repository import Repository
from tests.restore_support import backup, quiet_pacer, rich_pool
from tests.test_restore_resume import DyingStore, Killed, kill_on, request
from tests.test_tryout5_resume_source import stopped_in_place_restore


def test_prune_keeps_the_snapshot_of_an_unfinished_restore(cognito: Any, tmp_path: Path) -> None:
    repo, pool, first = stopped_in_place_restore(cognito, tmp_path)
    dry = CliRunner().invoke(
        cli, ["prune", "--repo", str(tmp_path / "repo"), "--keep-last", "1", "--dry-run", "--json"]
    )
    assert dry.exit_code == 0, dry.output
    body = json.loads(dry.stdout)
    assert first in body["keep"] and first not in body["remove"]
    assert f"restore into {pool} unfinished" in body["reasons"][first]
    result = prune(repo, Policy(keep_last=1))
    assert first in result.decision.keep
    assert first in [m.id for m in repo.list_snapshots()]
    # Finished, it is the policy's again.
    done = run_restore(cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=pool, snapshot=first))
    assert done.summary.failures() == []
    assert first in prune(repo, Policy(keep_last=1)).decision.remove
    assert first not in [m.id for m in repo.list_snapshots()]


def test_keep_for_restores_moves_only_what_a_restore_needs() -> None:
    decision = Decision(keep=["s3"], remove=["s1", "s2"], reasons={"s3": ["last"]})
    kept = keep_for_restores(decision, {"s1": ["eu-west-1_A"], "s9": ["eu-west-1_B"]})
    assert kept.keep == ["s1", "s3"] and kept.remove == ["s2"]
    assert kept.reasons == {"s3": ["last"], "s1": ["restore into eu-west-1_A unfinished"]}


def test_a_folder_whose_first_object_is_torn_is_still_read(cognito: Any, tmp_path: Path) -> None:
    """The state folds past what it cannot read: so does prune's look at it (and a deployed run's progress
    folder, which names the same run, is not counted twice)."""
    repo, pool, first = stopped_in_place_restore(cognito, tmp_path)
    [folder] = {info.key.rsplit("/", 1)[0] for info in repo.store.list("restores/")}
    repo.store.put_bytes(f"{folder}/00000000-torn.json", b'{"format": 1, "ru')
    repo.store.put_bytes("restores/deployed/exec-1/progress.json", json.dumps({"run": f"{pool}@{first}"}).encode())
    assert snapshots_in_use(repo.store) == {first: [pool]}


def test_prune_keeps_the_snapshot_of_a_new_pool_restore_killed_before_its_users(cognito: Any, tmp_path: Path) -> None:
    """Killed right after CreateUserPool: no user planned yet, but the pool is half made and only the same
    snapshot finishes it (a re-run with another source refuses the name)."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    [first] = [m.id for m in repo.list_snapshots()]
    dying = DyingStore(repo.store)
    unhook = kill_on(cognito, dying, "CreateUserPool", 1, after=True)
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), request("B", tmp_path / "r"))
    unhook()
    backup(cognito, source, tmp_path / "repo")
    assert first in prune(Repository(repo.store), Policy(keep_last=1)).decision.keep
