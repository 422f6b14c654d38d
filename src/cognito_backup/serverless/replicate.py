"""EventBridge Scheduler -> standby Lambda (every minute): one bounded round of ops/replicate.py.

A round applies the journal records after the cursor kept in the repository to the standby pool
(COGNITO_BACKUP_STANDBY_POOL_ID in COGNITO_BACKUP_STANDBY_REGION) through the restore engine: silently,
idempotently, deletions included. The function has reserved concurrency 1, so rounds never overlap.
Writes only into this source's standby: a round that would write anything into a pool not tagged
cognito-backup:standby-of=<source> (and not empty at its first round) raises PlanRefused, nothing written
(docs/capture.md, "Which pools replicate deletes from").
A round with failed operations raises (after logging its summary) so that the errors alarm sees it;
the cursor did not move, and the next minute's round retries them.
A round that cannot finish in this call's time (a first round into an empty standby of a big pool takes
hours at Cognito's quotas) starts no operation once less than SAFETY_SECONDS are left, lets the running
ones finish and returns `finished: false`: its cursor did not move, the resume state in the repository
knows whose passwords it set, and the next call plans only what the standby still lacks.
A round that compares the whole standby (the first, hourly, after a group or configuration record) reads
it as a snapshot of the standby taken in steps (ops/standby_listing.py): a call lists what its time
allows and returns `finished: false`; the next calls continue the listing (no page twice), and the
call that finds it committed folds, plans from the two snapshots, stores the plan in the repository and
applies. Writes that do not fit that call are carried on by the next calls from the stored plan (no
listing, no fold, no planning; journal records wait for it and the round after it applies them).
"""

from __future__ import annotations

import logging
import time
from typing import Any

from cognito_backup.serverless._env import log_failure, log_json, seconds_left

log = logging.getLogger("cognito_backup.replicate")
log.setLevel(logging.INFO)

STANDBY_POOL_VAR = "COGNITO_BACKUP_STANDBY_POOL_ID"
STANDBY_REGION_VAR = "COGNITO_BACKUP_STANDBY_REGION"
# Throttling longer than this fails the round rather than the Lambda timeout; the next round continues.
MAX_THROTTLE_WAIT = 120.0
DEFAULT_BUDGET_SECONDS = 840.0
# No operation starts with less than this left: the running ones (each retried up to MAX_THROTTLE_WAIT)
# finish and the resume state is stored. A function given a short Timeout keeps a quarter of it instead.
SAFETY_SECONDS = 150.0

_runtime: dict[str, Any] = {}


def _components() -> tuple[Any, Any, Any, str, str]:
    """Repository, standby client, pacer, source and standby pool ids; kept across warm invocations."""
    import os

    from cognito_backup.errors import UsageError
    from cognito_backup.serverless._env import POOL_VAR, LambdaEnv

    env = LambdaEnv.read()
    standby = (os.environ.get(STANDBY_POOL_VAR) or "").strip()
    region = (os.environ.get(STANDBY_REGION_VAR) or "").strip() or None
    if not env.pool_id or not standby:
        raise UsageError(f"{POOL_VAR} and {STANDBY_POOL_VAR} must both be set")
    if standby == env.pool_id:
        raise UsageError("The standby must be another pool than the source")
    key = (env, standby, region, os.environ.get("AWS_ENDPOINT_URL"))
    if _runtime.get("key") != key:
        from cognito_backup.aws.pacing import Pacer
        from cognito_backup.aws.session import AwsContext
        from cognito_backup.repo.repository import Repository
        from cognito_backup.serverless._env import open_repo_store

        client = AwsContext(region=region).client("cognito-idp")
        repo = Repository(open_repo_store(env, connect_timeout=5.0, read_timeout=30.0, attempts=5))
        _runtime["key"] = key
        _runtime["parts"] = (repo, client, Pacer(max_throttle_wait=MAX_THROTTLE_WAIT), env.pool_id, standby)
    parts: tuple[Any, Any, Any, str, str] = _runtime["parts"]
    return parts


def standby_lag(result: Any) -> float | None:
    """The standby's lag behind the journal: 0 when a clean round found nothing new to apply (however
    old the last change is), else how old the newest journal position the round reached is."""
    if not result.applied and not result.failed:
        return 0.0
    lag: float | None = result.lag_seconds
    return lag


def handler(event: Any, context: Any) -> dict[str, Any]:
    from cognito_backup.errors import OperationsFailed, OutOfTime
    from cognito_backup.ops.replicate import replicate_once

    started = time.monotonic()
    left = seconds_left(context, DEFAULT_BUDGET_SECONDS)
    margin = min(SAFETY_SECONDS, left() / 4)
    try:
        repo, client, pacer, source, standby = _components()
        result = replicate_once(
            repo, client, pacer, source, standby, out_of_time=lambda: left() < margin, seconds_left=left
        )
    except OutOfTime as exc:
        # Not a failure: the next call carries on (the lag alarm sees a standby that stays behind).
        # `reason`: which phase goes on (the standby's listing, its planning, or the writes).
        body = {
            "source_user_pool_id": source,
            "standby_user_pool_id": standby,
            "finished": False,
            "reason": exc.message,
        }
        log_json(log, "replicate_continues", seconds=round(time.monotonic() - started, 3), **body)
        return body
    except Exception as exc:
        log_failure(log, "replicate_failed", exc, started)
        raise
    lag = standby_lag(result)
    if lag is not None:
        from cognito_backup.serverless.metrics import STANDBY_LAG, publish

        # Also before a failed round raises: its lag is what the standby lag alarm must see.
        publish({STANDBY_LAG: lag}, source)
    summary = {"source_user_pool_id": source, "standby_user_pool_id": standby, "finished": True, **result.to_json()}
    log_json(log, "replicate", seconds=round(time.monotonic() - started, 3), **summary)
    if result.failed:
        raise OperationsFailed(f"{result.failed} operation(s) failed on the standby; the next round retries them")
    return summary
