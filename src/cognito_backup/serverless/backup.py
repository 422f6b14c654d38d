"""Step Functions -> backup Lambda: one bounded step of a snapshot (ops/backup_steps.py).

Contract (deploy/template.yaml, BackupStateMachine): input `{"checkpoint": null | {"id": ...}}`, output
`{"done": bool, "checkpoint": {"id", "stage", "step"} | null, "snapshot": id | null, "users": N,
"incomplete": {section: reason}, "reused_objects": N, "reused_bytes": N}` (`incomplete` is non-empty
when the committed snapshot lacks configuration sections it could not read: docs/format.md). The
checkpoint itself lives in the repository; the payload carries only its id, so it stays tiny however
many groups the pool has. An error is raised to the state machine (its Retry re-runs the step from the
same checkpoint id); the error type is the library's error class name (Throttled, AwsError, ...).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cognito_backup.serverless._env import log_failure, log_json, seconds_left

log = logging.getLogger("cognito_backup.backup")
log.setLevel(logging.INFO)

# Without a Lambda context (a local run) a step gets this long.
DEFAULT_BUDGET_SECONDS = 840.0
# No new page starts with less than this left: pages in flight, the flush of the open objects (one
# users object can be ~50 MB) and the checkpoint write fit in it.
SAFETY_SECONDS = 60.0
# A call throttled this long fails the step (its progress is kept and the state machine retries it)
# rather than running into the Lambda timeout, which would lose the whole step.
MAX_THROTTLE_WAIT = 45.0

_runtime: dict[str, Any] = {}


def _components() -> tuple[Any, Any, str | None]:
    """Reader, repository and region; built once per warm container (clients and pacer are reused)."""
    import os

    from cognito_backup.serverless._env import POOL_VAR, LambdaEnv

    env = LambdaEnv.read()
    if not env.pool_id:
        from cognito_backup.errors import UsageError

        raise UsageError(f"{POOL_VAR} is not set")
    key = (env, os.environ.get("AWS_ENDPOINT_URL"))
    if _runtime.get("key") != key:
        from cognito_backup.aws.pacing import Pacer
        from cognito_backup.aws.reader import PoolReader
        from cognito_backup.aws.session import AwsContext
        from cognito_backup.repo.repository import Repository
        from cognito_backup.serverless._env import open_repo_store

        client = AwsContext(region=env.pool_region).client("cognito-idp")
        reader = PoolReader(client, Pacer(max_throttle_wait=MAX_THROTTLE_WAIT), env.pool_id, chains=16)
        # Object uploads can be tens of MB: a longer read timeout than the trigger's.
        repo = Repository(open_repo_store(env, connect_timeout=5.0, read_timeout=60.0, attempts=5))
        # A step waits for a running prune (repo/locks.py) well within the Lambda's 15-minute limit; past
        # that it fails with RepositoryBusy and the next scheduled run starts again.
        repo.lock_wait_seconds = 300.0
        _runtime["key"] = key
        _runtime["parts"] = (reader, repo, env.pool_region)
    parts: tuple[Any, Any, str | None] = _runtime["parts"]
    return parts


def checkpoint_id_of(event: Any) -> str | None:
    """The checkpoint id in a step's input: `{"checkpoint": null}`, `{"checkpoint": {"id": "..."}}`, or
    `{"checkpoint": "..."}`."""
    from cognito_backup.errors import UsageError

    if not isinstance(event, dict):
        raise UsageError('The backup step expects an object input such as {"checkpoint": null}')
    value = event.get("checkpoint")
    if value is None:
        return None
    if isinstance(value, dict):
        value = value.get("id")
    if isinstance(value, str) and value:
        return value
    raise UsageError('The input\'s checkpoint must be null or an object with an "id"')


def _publish_snapshot(pool_id: str, result: Any) -> None:
    """LastSnapshotUsers and LastSnapshotAge (from the snapshot's start, its point in time)."""
    import datetime as dt

    from cognito_backup.repo.repository import parse_time
    from cognito_backup.serverless.metrics import SNAPSHOT_AGE, SNAPSHOT_USERS, publish, seconds_between

    try:
        values = {SNAPSHOT_USERS: float(result.users_so_far)}
        if result.manifest is not None:
            values[SNAPSHOT_AGE] = seconds_between(parse_time(result.manifest.started_at), dt.datetime.now(dt.UTC))
        publish(values, pool_id)
    except Exception as exc:  # the snapshot is complete: metrics must not fail the step
        log_json(log, "metrics_not_published", error=type(exc).__name__)


def handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.monotonic()
    left = seconds_left(context, DEFAULT_BUDGET_SECONDS)
    try:
        from cognito_backup.ops.backup_steps import StepOptions, run_backup_step

        checkpoint_id = checkpoint_id_of(event)
        reader, repo, region = _components()
        result = run_backup_step(
            reader,
            repo,
            region,
            checkpoint_id,
            deadline=left,
            options=StepOptions(safety_seconds=SAFETY_SECONDS),
        )
    except Exception as exc:
        log_failure(log, "backup_step_failed", exc, started)
        raise
    log_json(
        log,
        "backup_step",
        snapshot=result.snapshot_id,
        done=result.done,
        stage=result.stage,
        step=result.steps,
        users=result.users_so_far,
        reused_objects=result.reused_objects,
        reused_bytes=result.reused_bytes,
        seconds=round(time.monotonic() - started, 3),
        seconds_left=round(left(), 3),
    )
    if result.incomplete:
        # Section names and error codes only: nothing personal. Alarms can key on this event.
        log_json(log, "backup_incomplete", snapshot=result.snapshot_id, incomplete=result.incomplete)
    if result.done:
        _publish_snapshot(reader.pool_id, result)
    return {
        "done": result.done,
        "checkpoint": None
        if result.done
        else {"id": result.checkpoint_id, "stage": result.stage, "step": result.steps},
        "snapshot": result.snapshot_id if result.done else None,
        "users": result.users_so_far,
        "incomplete": result.incomplete,
        # What sharing saved (docs/format.md, "Sorted shards"); 0 until the snapshot is committed.
        "reused_objects": result.reused_objects,
        "reused_bytes": result.reused_bytes,
    }
