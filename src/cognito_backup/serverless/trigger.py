"""Cognito Lambda trigger (Post Confirmation): journal the confirmed user straight from the event.

Cognito waits for this function during sign-up, so it must never fail nor be slow: it always returns
the event unchanged, and a store that is down is logged loudly (no attribute values) and skipped. The
CloudTrail capture path records the same user again from its ConfirmSignUp event, so a skipped trigger
record costs latency of the recovery point, not the change.
"""

from __future__ import annotations

import logging
import threading
import time
from typing import Any

log = logging.getLogger("cognito_backup.trigger")

# Cognito gives a trigger 5 seconds in all; keep the store calls well inside that.
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.5
ATTEMPTS = 2
# Per-call timeouts bound one call, not the several a segment takes (object, manifest): the journal write
# runs on a thread the handler waits for at most this long. Cognito's 5 s also cover the cold start's
# imports, so the budget leaves them 2 s. A write still running when the budget ends may finish later (the
# environment thaws for the next invocation); a half-written segment has no manifest and is never read.
BUDGET_SECONDS = 3.0


def _journal_trigger(event: dict[str, Any], request_id: str) -> int:
    from cognito_backup.core.events import hint_from_trigger
    from cognito_backup.model import iso
    from cognito_backup.ops.capture import Capturer
    from cognito_backup.repo.journal import Journal
    from cognito_backup.serverless._env import LambdaEnv, open_repo_store

    hint = hint_from_trigger(event, event_id=f"trigger:{request_id}", changed_at=iso(_now()))
    if hint is None:
        return 0

    def no_reader(pool: str) -> Any:
        raise AssertionError("a trigger image needs no re-read")

    observed = Capturer(no_reader).observe([hint])
    store = open_repo_store(
        LambdaEnv.read(), connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT, attempts=ATTEMPTS
    )
    journal = Journal(store)
    written = 0
    for pool, records in observed.records.items():
        journal.append(pool, records, writer={"source": "trigger", "trigger": hint.event_name})
        written += len(records)
    return written


class BudgetExceeded(Exception):
    def __init__(self, seconds: float) -> None:
        super().__init__(f"the repository did not answer within the trigger's {seconds:.1f} s budget")
        self.message = str(self)


def _within_budget(work: Any, seconds: float) -> int:
    """Run `work` on a daemon thread; its result, its exception, or BudgetExceeded after `seconds`."""
    outcome: dict[str, Any] = {}

    def run() -> None:
        try:
            outcome["value"] = work()
        except BaseException as exc:  # handed to the waiting handler, which decides
            outcome["error"] = exc

    thread = threading.Thread(target=run, name="journal-trigger", daemon=True)
    thread.start()
    thread.join(max(seconds, 0.0))
    if thread.is_alive():
        raise BudgetExceeded(BUDGET_SECONDS)
    if "error" in outcome:
        raise outcome["error"]
    return int(outcome["value"])


def _now() -> Any:
    import datetime as dt

    return dt.datetime.now(dt.UTC)


def handler(event: Any, context: Any) -> Any:
    """Returns `event` unchanged, whatever happens."""
    started = time.monotonic()
    source = event.get("triggerSource") if isinstance(event, dict) else None
    pool = event.get("userPoolId") if isinstance(event, dict) else None
    try:
        request_id = str(getattr(context, "aws_request_id", "") or f"local-{time.time_ns()}")
        written = _within_budget(
            lambda: _journal_trigger(event, request_id), BUDGET_SECONDS - (time.monotonic() - started)
        )
        log.info("journaled %d record(s) for %s in %.0f ms", written, source, (time.monotonic() - started) * 1000)
    except Exception as exc:  # never fail the user's sign-up because of the backup
        message = getattr(exc, "message", None) or type(exc).__name__
        log.error(
            "COGNITO-BACKUP TRIGGER FAILED: %s for pool %s was NOT journaled (%s: %s); the CloudTrail capture "
            "will record this user if it is enabled",
            source,
            pool,
            type(exc).__name__,
            message,
        )
    return event
