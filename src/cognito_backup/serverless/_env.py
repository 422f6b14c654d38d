"""Configuration shared by the Lambda handlers, read from the environment (set by deploy/template.yaml)."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from cognito_backup.store.base import Store

REPO_VAR = "COGNITO_BACKUP_REPO"
POOL_VAR = "COGNITO_BACKUP_USER_POOL_ID"
POOL_REGION_VAR = "COGNITO_BACKUP_USER_POOL_REGION"
KMS_VAR = "COGNITO_BACKUP_SSE_KMS_KEY_ID"


def seconds_left(context: Any, default_budget: float) -> Callable[[], float]:
    """Seconds this invocation has left: the Lambda context's clock, or `default_budget` from now (a
    handler called without one: tests, a local run)."""
    import time

    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if callable(remaining):
        return lambda: float(remaining()) / 1000.0
    end = time.monotonic() + default_budget
    return lambda: end - time.monotonic()


@dataclass(frozen=True)
class LambdaEnv:
    repo: str
    pool_id: str | None
    pool_region: str | None
    kms_key_id: str | None

    @classmethod
    def read(cls) -> LambdaEnv:
        repo = os.environ.get(REPO_VAR, "").strip()
        if not repo:
            raise RuntimeError(f"{REPO_VAR} is not set")
        return cls(
            repo=repo,
            pool_id=os.environ.get(POOL_VAR) or None,
            pool_region=os.environ.get(POOL_REGION_VAR) or None,
            kms_key_id=os.environ.get(KMS_VAR) or None,
        )


def open_repo_store(
    env: LambdaEnv, *, connect_timeout: float = 2.0, read_timeout: float = 5.0, attempts: int = 3
) -> Store:
    """The repository's store; S3 with explicit timeouts so a handler cannot hang past its budget."""
    if env.repo.startswith("s3://"):
        import boto3
        from botocore.config import Config

        from cognito_backup.store.s3 import S3Store

        bucket, _, prefix = env.repo[len("s3://") :].partition("/")
        config = Config(
            connect_timeout=connect_timeout,
            read_timeout=read_timeout,
            retries={"mode": "standard", "total_max_attempts": attempts},
            user_agent_extra="cognito-backup-lambda",
        )
        from cognito_backup.serverless.warm import kept

        # Kept per container (serverless/warm.py): a warm invocation reuses the client and its connections.
        client: Any = kept(("s3", connect_timeout, read_timeout, attempts), lambda: boto3.client("s3", config=config))
        return S3Store(client, bucket, prefix, kms_key_id=env.kms_key_id)
    from cognito_backup.store.factory import open_store

    return open_store(env.repo)


def log_json(logger: logging.Logger, event: str, **fields: Any) -> None:
    """One JSON log line per event, for CloudWatch Logs Insights. Callers pass counts, ids, stage names
    and positions only, never attribute values (personal data)."""
    logger.info(json.dumps({"event": event, **fields}, sort_keys=True, default=str))


def log_failure(logger: logging.Logger, event: str, exc: BaseException, started: float) -> None:
    """The one log line of a failed invocation. The library's messages never carry attribute values;
    anything else (a bug, a botocore error) is logged by its type only."""
    import time

    from cognito_backup.errors import CognitoBackupError

    log_json(
        logger,
        event,
        error=type(exc).__name__,
        message=str(exc) if isinstance(exc, CognitoBackupError) else None,
        seconds=round(time.monotonic() - started, 3),
    )
