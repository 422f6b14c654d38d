"""Turn a --repo argument into a store."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from cognito_backup.errors import UsageError
from cognito_backup.store.base import Store
from cognito_backup.store.local import LocalStore

if TYPE_CHECKING:
    from cognito_backup.aws.session import AwsContext


def open_store(repo: str, aws: AwsContext | None = None, kms_key_id: str | None = None) -> Store:
    """`s3://bucket/prefix` -> S3Store; anything else is a local directory."""
    if not repo.strip():
        # `--repo "$REPO"` with REPO unset: the working directory is never meant.
        raise UsageError("--repo is empty", hint="--repo takes a directory or s3://BUCKET/PREFIX (use . for here)")
    if repo.startswith("s3://"):
        from cognito_backup.aws.session import AwsContext
        from cognito_backup.store.s3 import S3Store

        rest = repo[len("s3://") :]
        bucket, _, prefix = rest.partition("/")
        if not bucket:
            raise UsageError(f"Repository {repo!r} has no bucket name", hint="Use s3://BUCKET/PREFIX")
        ctx = aws or AwsContext()
        return S3Store(ctx.client("s3"), bucket, prefix, kms_key_id=kms_key_id)
    if "://" in repo:
        raise UsageError(f"Repository {repo!r}: only local paths and s3:// are supported")
    if kms_key_id:
        raise UsageError("--sse-kms-key-id applies to s3:// repositories only")
    _refuse_file_in_path(Path(repo).expanduser())
    return LocalStore(repo)


def _refuse_file_in_path(path: Path) -> None:
    """A --repo that is (or lies under) a file is a typo, not storage trouble: say so as a usage error
    (exit 2) before any command reads it as "not found" or writes next to it."""
    for level in (path, *path.parents):
        if level.is_file():
            what = "is a file" if level == path else f"lies under {level}, which is a file"
            raise UsageError(
                f"Repository {str(path)!r} {what}, not a directory",
                hint="--repo takes a directory (created on the first backup) or s3://BUCKET/PREFIX",
            )
        if level.is_dir():
            return
