"""Cognito Lambda trigger (Post Confirmation): journal the confirmed user straight from the event.

Cognito waits for this function during sign-up, so it must never fail nor be slow: it always returns
the event unchanged, and a store that is down is logged loudly (no attribute values) and skipped. The
CloudTrail capture path records the same user again from its ConfirmSignUp event, so a skipped trigger
record costs latency of the recovery point, not the change.
"""

from __future__ import annotations

import logging
import time
from typing import Any

log = logging.getLogger("cognito_backup.trigger")

# Cognito gives a trigger 5 seconds in all; keep the store calls well inside that.
CONNECT_TIMEOUT = 1.0
READ_TIMEOUT = 1.5
ATTEMPTS = 2


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
        written = _journal_trigger(event, request_id)
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
