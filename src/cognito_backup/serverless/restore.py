"""Step Functions -> restore Lambda: one bounded step of a restore (ops/restore.py run_restore).

Contract (deploy/template.yaml, RestoreStateMachine): input `{"request": {...}, "execution": ARN,
"step": N}` (the state machine adds `execution` and `step`; core/deployed_restore.py reads the request),
output `{"done": bool, "request": {...}, "execution", "step": N + 1, "run": run key, "counts": {...},
"report": key | null}`. The state machine passes the output back as the next step's input until done.

Each step is the CLI restore: the same plan, resume state (restores/<target>@<source>/, the Checkpoint
the CLI uses), reports and sub map. The first step reads the target and plans as the CLI does, then
stores the plan's run order in the execution's folder (restores/deployed/<execution name>/plan/,
ops/stored_plan.py); every step (the first too) carries it out from its stored position until its time
runs out: then it starts no new operation, lets the running ones finish, stores the position and the
resume state and returns done=false. A plan too big for one step's time is made in pieces instead, one
per step (ops/plan_pieces.py), and carried out once the last is stored. Later steps neither list the
target nor plan again, nor load the snapshot's users (the stored chunks carry what their operations
need); each chunk finished leaves its part of the report. The last step joins those parts into the report
and the sub map, in the repository (restores/deployed/<execution name>/, a Lambda has no --report-dir),
deletes the stored plan, and raises the CLI's error when the restore did not fully succeed, so the
execution fails and the topic hears of it.
"""

from __future__ import annotations

import datetime as dt
import json
import logging
import tempfile
import time
from pathlib import Path
from typing import Any

from cognito_backup.serverless._env import log_failure, log_json, seconds_left

log = logging.getLogger("cognito_backup.restore")
log.setLevel(logging.INFO)

# The only pool this stack's restore role may write (the template's RestoreUserPoolId).
TARGET_VAR = "COGNITO_BACKUP_RESTORE_USER_POOL_ID"
DEFAULT_BUDGET_SECONDS = 840.0
# No operation starts with less than this left: the running ones (each retried up to the throttle wait),
# the resume state's flush and the progress record fit in it. A function given a short Timeout keeps a
# quarter of it instead, so its steps still do some work.
SAFETY_SECONDS = 60.0
MAX_THROTTLE_WAIT = 45.0
PROGRESS = "progress.json"
REPORT = "report.json"
SUB_MAP = "sub-map.csv"
PLAN = "plan/"  # the stored plan (ops/stored_plan.py), under the execution's folder
# Operations per stored plan chunk (default core/plan_chunks.py CHUNK, the scheduler's window); smaller
# chunks store progress more often, at one object each.
CHUNK_VAR = "COGNITO_BACKUP_RESTORE_PLAN_CHUNK"
# Users a piece of a plan made in pieces plans at most (ops/plan_pieces.py; default: as many as the
# step's time left allows, core/plan_pieces.py piece_users); a plan of more users than a step may plan
# is made in pieces across steps.
PIECE_VAR = "COGNITO_BACKUP_RESTORE_PIECE_USERS"


def _parse_event(event: Any) -> tuple[Any, str, int]:
    from cognito_backup.core.deployed_restore import parse_request
    from cognito_backup.errors import UsageError

    if not isinstance(event, dict) or "request" not in event:
        raise UsageError('The restore step expects {"request": {"target_user_pool_id": ...}}')
    step = event.get("step") or 0
    if not isinstance(step, int) or step < 0:
        raise UsageError('"step" must be a whole number')
    return parse_request(event["request"]), str(event.get("execution") or "local"), step


def _repository() -> Any:
    from cognito_backup.repo.repository import Repository
    from cognito_backup.serverless._env import LambdaEnv, open_repo_store

    return Repository(open_repo_store(LambdaEnv.read(), connect_timeout=5.0, read_timeout=60.0, attempts=5))


def _check_target(request: Any) -> None:
    import os

    from cognito_backup.errors import UsageError

    allowed = os.environ.get(TARGET_VAR, "")
    if request.target_user_pool_id != allowed:
        raise UsageError(
            f"This stack's restore may write only to user pool {allowed or '(none: RestoreUserPoolId is empty)'}, "
            f"not {request.target_user_pool_id}. Nothing was written.",
            hint="Update the stack with RestoreUserPoolId set to the target pool, then start the restore again.",
        )


def handler(event: Any, context: Any) -> dict[str, Any]:
    started = time.monotonic()
    left = seconds_left(context, DEFAULT_BUDGET_SECONDS)
    try:
        request, execution, step = _parse_event(event)
        _check_target(request)
        margin = min(SAFETY_SECONDS, left() / 4)
        out = _step(request, execution, step, lambda: left() < margin, left)
    except Exception as exc:
        log_failure(log, "restore_step_failed", exc, started)
        raise
    log_json(
        log,
        "restore_step",
        run=out["run"],
        done=out["done"],
        step=out["step"],
        counts=out["counts"],
        seconds=round(time.monotonic() - started, 3),
        seconds_left=round(left(), 3),
    )
    return out


def _step(request: Any, execution: str, step: int, out_of_time: Any, left: Any = None) -> dict[str, Any]:
    from cognito_backup.aws.pacing import Pacer
    from cognito_backup.core.deployed_restore import (
        FAILED,
        RUNNING,
        SUCCEEDED,
        error_class,
        execution_name,
        plan_options,
        report_prefix,
    )
    from cognito_backup.errors import AwsError, CognitoBackupError, OutOfTime, StoreUnavailable, Throttled
    from cognito_backup.ops.checkpoint import Checkpoint
    from cognito_backup.ops.restore import (
        RestoreOptions,
        RestoreProgress,
        RestoreRequest,
        outcome_error,
        report_json,
        run_restore,
    )
    from cognito_backup.ops.stored_plan import StoredPlan
    from cognito_backup.repo.repository import parse_time
    from cognito_backup.serverless import warm

    repo = _repository()
    prefix = report_prefix(execution_name(execution))
    named: dict[str, str] = {}

    def source(run_key: str, label: str) -> None:
        named["run"], named["label"] = run_key, label

    client = warm.client("cognito-idp", request.region)  # kept per container: steps reuse it
    pacer = Pacer(max_throttle_wait=MAX_THROTTLE_WAIT)
    stored = StoredPlan(repo.store, prefix + PLAN, _chunk())
    ended = _ended(repo, prefix, request, step)
    if ended is not None:
        # This execution's last step wrote its report and was stopped (its time up) before it answered:
        # the retry answers as it did, instead of planning again a restore that is done.
        stored.delete()
        if ended["state"] == FAILED:
            raise error_class(ended.get("error"))(
                f"The restore ended with {ended.get('error')}: see {ended.get('report')}"
            )
        return {**_output(ended), "done": True}
    options = RestoreOptions(
        plan=plan_options(request), out_of_time=out_of_time, carry=stored, pieces=_piece_budget(left)
    )

    def progress(state: str, counts: dict[str, int], report: str | None, error: str | None = None) -> dict[str, Any]:
        pinned = request.pinned(named["label"]) if "label" in named else request
        body = {
            "execution": execution,
            "request": pinned.to_json(),
            "run": named.get("run"),
            "step": step + 1,
            "state": state,
            "counts": counts,
            "report": report,
            "error": error,
            "updated_at": dt.datetime.now(dt.UTC).isoformat(),
        }
        repo.store.put_bytes(prefix + PROGRESS, json.dumps(body, sort_keys=True).encode())
        return body

    def resume_counts() -> dict[str, int]:
        """The whole restore's totals so far (its resume state), and RestoreProgress published from them."""
        if "run" not in named:
            return {}
        state = Checkpoint(repo.store, named["run"]).load()
        _publish_progress(len(state.created) + len(state.existed), len(state.intents), request.target_user_pool_id)
        return {"users_created": len(state.created), "passwords_set": len(state.passwords_done)}

    with tempfile.TemporaryDirectory(prefix="restore-") as tmp:
        restore_request = RestoreRequest(
            snapshot=request.snapshot,
            at=parse_time(request.at) if request.at else None,
            source_pool_id=request.source_user_pool_id,
            target_pool_id=request.target_user_pool_id,
            options=options,
            report_dir=Path(tmp),
            target_region=request.region,
            allow_after_coverage=request.allow_after_coverage,
            # The execution holds the target's lease from its first step to its last.
            lease_holder=f"execution:{execution_name(execution)}",
        )
        try:
            outcome = run_restore(client, pacer, repo, restore_request, progress=RestoreProgress(source=source))
        except OutOfTime:
            body = progress(RUNNING, resume_counts(), None)
            return {**_output(body), "done": False}
        except CognitoBackupError as exc:
            # Recorded for `restore --status`, then raised to the state machine, which retries the errors
            # its Retry names (deploy/template.yaml, RestoreStep) and fails the execution on the others.
            retried = isinstance(exc, (Throttled, AwsError, StoreUnavailable))
            progress(RUNNING if retried else FAILED, resume_counts(), None, type(exc).__name__)
            if not retried:
                stored.delete()  # the execution ends here: a new one plans afresh
            raise
        report_key = prefix + REPORT
        error = outcome_error(outcome.summary, report_key)
        if outcome.sub_map_path is not None:
            repo.store.put_file(prefix + SUB_MAP, outcome.sub_map_path)  # streamed: a row per user
        body = outcome.to_json()
        body.update(report=report_key, sub_map=prefix + SUB_MAP, passwords_file=None)
        repo.store.put_bytes(report_key, report_json(body, outcome.summary))
    counts = {k: int(v) for k, v in outcome.summary.counts().items()} | resume_counts()
    record = progress(FAILED if error else SUCCEEDED, counts, report_key, type(error).__name__ if error else None)
    stored.delete()  # the report holds what the restore did (a retry of this step answers from `record`)
    if error is not None:
        raise error
    return {**_output(record), "done": True}


def _ended(repo: Any, prefix: str, request: Any, step: int) -> dict[str, Any] | None:
    """The progress record of this execution's last step when this invocation is that step again (same
    step number and request) and it finished (report written), or None."""
    from cognito_backup.core.deployed_restore import FAILED, SUCCEEDED, parse_request
    from cognito_backup.errors import UsageError

    if not repo.store.exists(prefix + PROGRESS):
        return None
    try:
        body = json.loads(repo.store.get_bytes(prefix + PROGRESS))
        recorded = parse_request(body.get("request"))
    except (ValueError, UsageError, AttributeError):
        return None
    if body.get("state") not in (SUCCEEDED, FAILED) or not body.get("report") or body.get("step") != step + 1:
        return None
    # The record holds the request with `latest` pinned to the snapshot the first step found.
    same = (request.pinned(recorded.snapshot) if recorded.snapshot else request) == recorded
    return body if same else None


def _chunk() -> int:
    import os

    from cognito_backup.core.plan_chunks import CHUNK
    from cognito_backup.errors import UsageError

    value = os.environ.get(CHUNK_VAR) or str(CHUNK)
    if not value.isdigit() or int(value) < 1:
        raise UsageError(f"{CHUNK_VAR} must be a whole number of operations, not {value!r}")
    return int(value)


def _piece_budget(left: Any) -> Any:
    import os

    from cognito_backup.core.plan_pieces import BLOCK, piece_users
    from cognito_backup.errors import UsageError
    from cognito_backup.ops.plan_pieces import PieceBudget

    value = os.environ.get(PIECE_VAR)
    if value:
        if not value.isdigit() or int(value) < 1:
            raise UsageError(f"{PIECE_VAR} must be a whole number of users, not {value!r}")
        fixed = int(value)
        return PieceBudget(users=lambda: fixed, block=min(BLOCK, fixed))
    clock = left or (lambda: DEFAULT_BUDGET_SECONDS)

    def users() -> int:
        # Asked once the snapshot is loaded: what is left then, less what the step keeps for stopping
        # (the handler's margin).
        now = clock()
        return piece_users(max(0.0, now - min(SAFETY_SECONDS, now / 4)))

    return PieceBudget(users=users)


def _publish_progress(users_done: int, users_planned: int, target: str) -> None:
    """RestoreProgress: the share of the users the restore creates that exist now (creating them is most
    of a big restore's time), under the stack's pool, whose dashboard shows it."""
    import os

    from cognito_backup.serverless._env import POOL_VAR
    from cognito_backup.serverless.metrics import publish, restore_progress

    try:
        publish(restore_progress(users_done, users_planned), os.environ.get(POOL_VAR) or target)
    except Exception as exc:  # metrics must not fail the step
        log_json(log, "metrics_not_published", error=type(exc).__name__)


def _output(progress: dict[str, Any]) -> dict[str, Any]:
    return {k: progress[k] for k in ("execution", "request", "run", "step", "counts", "report")}
