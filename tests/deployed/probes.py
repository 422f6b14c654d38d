"""Handlers the deployed tests run inside a function's sandbox (its environment, its role, the bucket
policy), to exercise one library call as that function would make it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Any


def put_large_object(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """Write `size` bytes at `key` through the repository store, as the backup step writes a snapshot
    object (S3Store.put_file: boto3's upload_file, multipart above 8 MB)."""
    from cognito_backup.serverless._env import LambdaEnv, open_repo_store

    store = open_repo_store(LambdaEnv.read(), connect_timeout=5.0, read_timeout=60.0, attempts=5)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "object"
        with path.open("wb") as fh:
            for _ in range(int(event["size"]) // (1 << 20)):
                fh.write(os.urandom(1 << 20))
        store.put_file(str(event["key"]), path)
    return {"written": path.name}


def put_object_with(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """One PutObject into the repository with the given encryption arguments (no library code: the
    request a careless or hostile writer with the function's role would send)."""
    import boto3

    bucket, _, prefix = os.environ["COGNITO_BACKUP_REPO"].removeprefix("s3://").partition("/")
    boto3.client("s3").put_object(Bucket=bucket, Key=f"{prefix}/{event['key']}", Body=b"x", **event["args"])
    return {}


def environment(event: dict[str, Any], context: Any) -> dict[str, Any]:
    """What the function's process sees."""
    return {"environ": dict(os.environ), "remaining_ms": context.get_remaining_time_in_millis()}


def sleep(event: dict[str, Any], context: Any) -> dict[str, Any]:
    import time

    time.sleep(float(event["seconds"]))
    return {}
