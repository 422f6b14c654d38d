"""A backup process killed at any moment leaves no snapshot and a repository that checks clean; a re-run
with --resume finishes the backup."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.repo.check import check_repository
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool


def start_backup(server_url: str, pool_id: str, repo: str, *extra: str) -> subprocess.Popen[str]:
    env = dict(os.environ, AWS_ACCESS_KEY_ID="t", AWS_SECRET_ACCESS_KEY="t", AWS_REGION="us-east-1")
    return subprocess.Popen(
        [sys.executable, "-m", "cognito_backup.cli.main", "--endpoint-url", server_url]
        # A slow rate stretches the backup so the kill lands in the middle of the user listing.
        + ["backup", "--user-pool-id", pool_id, "--repo", repo, "--rate", "UserList=5", "--list-chains", "1"]
        + ["--json", *extra],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def wait_for_lock(repo: str, proc: subprocess.Popen[str], timeout: float = 20) -> None:
    """The backup's lock appears once the snapshot has begun (objects are staged in temp files)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if Path(repo, "locks").exists() and any(Path(repo, "locks").iterdir()):
            time.sleep(0.5)  # well into the user listing
            return
        assert proc.poll() is None, "backup finished before it could be killed"
        time.sleep(0.05)
    raise AssertionError("the backup never started")


@pytest.mark.parametrize("sig", [signal.SIGKILL, signal.SIGTERM])
def test_killed_backup_leaves_no_snapshot_and_rerun_succeeds(server_url: str, tmp_path: Path, sig: int) -> None:
    client: Any = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=server_url)
    pool_id = make_pool(client)
    # The config object is written before users are listed; 10 pages at 5 pages/s take 2 s.
    fill_pool(client, pool_id, n_users=600, n_groups=2)
    repo = str(tmp_path / "repo")
    proc = start_backup(server_url, pool_id, repo)
    wait_for_lock(repo, proc)
    proc.send_signal(sig)
    _, stderr = proc.communicate(timeout=30)
    if sig == signal.SIGTERM:
        assert proc.returncode == 143, stderr  # as a shell reports SIGTERM
        assert "interrupted" in stderr
        # A clean stop saves its checkpoint (`--resume` continues it); its lock stays as long as the
        # checkpoint does, so prune keeps the objects the checkpoint refers to.
        assert "--resume" in stderr
        locks = sorted(p.name for p in Path(repo, "locks").iterdir())
        assert locks == sorted(p.name for p in Path(repo, "checkpoints").iterdir()) and len(locks) == 1
    else:
        assert proc.returncode == -signal.SIGKILL
    repository = Repository(LocalStore(repo))
    assert repository.list_snapshots() == []  # no manifest: the partial snapshot does not exist
    assert check_repository(repository, read_data=True).ok
    staged = [p for p in Path(tempfile.gettempdir()).glob(f"cognito-backup-staging-{proc.pid}-*")]
    if sig == signal.SIGTERM:
        assert staged == []  # a clean stop removes its staging files
    # Killed outright, it saved no checkpoint yet (one a minute): `--resume` then starts a new snapshot.
    rerun = start_backup(server_url, pool_id, repo, "--resume")
    out, err = rerun.communicate(timeout=120)
    assert rerun.returncode == 0, err
    assert not any(p.exists() for p in staged)  # the next backup sweeps a killed one's staging files
    assert json.loads(out)["users"] == 600
    assert json.loads(out)["resumed"] is (sig == signal.SIGTERM)
    if sig == signal.SIGTERM:  # the continued snapshot is committed: its lock goes (a killed one's stays
        assert not any(Path(repo, "locks").iterdir())  # until it is stale, as before)
    assert check_repository(repository, read_data=True).ok
