"""Tagging a user pool (TagResource): how cognito-backup records facts on the pool itself."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.aws.errors import translate_client_error
from cognito_backup.aws.pacing import Pacer


def tag_pool(client: Any, pacer: Pacer, pool_id: str, pool_arn: str, tags: Mapping[str, str]) -> None:
    """Add or overwrite `tags` on the pool; other tags stay as they are (TagResource merges, unlike
    UpdateUserPool, which would reset every setting it is not given)."""
    try:
        pacer.call("TagResource", client.tag_resource, pool_id=pool_id, ResourceArn=pool_arn, Tags=dict(tags))
    except ClientError as exc:
        raise translate_client_error(exc, f"TagResource on user pool {pool_id}") from exc
