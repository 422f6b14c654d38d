"""Key names inside a repository. Pure functions; docs/format.md describes the same layout."""

from __future__ import annotations

import re

FORMAT_NAME = "cognito-backup-repository"
FORMAT_VERSION = 1

CONFIG_KEY = "config.json"
OBJECTS_PREFIX = "objects/"
SNAPSHOTS_PREFIX = "snapshots/"
LOCKS_PREFIX = "locks/"
JOURNAL_PREFIX = "journal/"
CHECKPOINTS_PREFIX = "checkpoints/"
LEASES_PREFIX = "leases/"  # one writer per target: repo/leases.py
RUNS_PREFIX = "runs/"
OBJECT_SUFFIX = ".jsonl.zst"

_HEX64 = re.compile(r"^[0-9a-f]{64}$")


def object_key(sha256: str) -> str:
    if not _HEX64.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{OBJECTS_PREFIX}{sha256[:2]}/{sha256}{OBJECT_SUFFIX}"


def object_hash_from_key(key: str) -> str | None:
    name = key.rsplit("/", 1)[-1]
    if not name.endswith(OBJECT_SUFFIX):
        return None
    digest = name[: -len(OBJECT_SUFFIX)]
    return digest if _HEX64.match(digest) else None


def snapshot_key(snapshot_id: str) -> str:
    return f"{SNAPSHOTS_PREFIX}{snapshot_id}.json"


def lock_key(lock_id: str) -> str:
    return f"{LOCKS_PREFIX}{lock_id}.json"


def checkpoint_key(snapshot_id: str) -> str:
    """State of a snapshot taken in several steps (serverless backup), until its manifest exists."""
    return f"{CHECKPOINTS_PREFIX}{snapshot_id}.json"


def run_key(snapshot_id: str, sha256: str) -> str:
    """A sorted run of a snapshot not committed yet (repo/shards.py). Outside objects/: a run belongs to
    its snapshot alone and is deleted when it commits, so no snapshot may ever reference one (a run can
    hold the same bytes as a shard). prune removes the runs of a backup that died, with its checkpoint."""
    if not _HEX64.match(sha256):
        raise ValueError(f"not a SHA-256 hex digest: {sha256!r}")
    return f"{RUNS_PREFIX}{snapshot_id}/{sha256}{OBJECT_SUFFIX}"


RESTORES_PREFIX = "restores/"
# A deployed restore's progress record, reports and stored plan, per execution (core/deployed_restore.py).
DEPLOYED_RESTORES_PREFIX = RESTORES_PREFIX + "deployed/"
_UNSAFE = re.compile(r"[^A-Za-z0-9_.@=+-]+")


def restore_state_prefix(run_key: str) -> str:
    """Where a restore's resume state lives: one folder per target (pool id, or `new=NAME` for --new-pool)
    and source (snapshot id or point-in-time label). Unsafe characters become `_`; each object also carries
    the exact run key, so two keys that read alike never mix."""
    return f"{RESTORES_PREFIX}{_UNSAFE.sub('_', run_key.replace('new:', 'new=', 1))}/"
