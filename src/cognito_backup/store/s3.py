"""S3 backend: every write is server-side encrypted (SSE-KMS with --sse-kms-key-id, else SSE-S3).

botocore retries throttling (SlowDown), 5xx and connection errors (standard mode, aws/session.py);
whatever still fails is translated by store/s3_errors.py into the tool's errors, never left raw.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from boto3.exceptions import S3UploadFailedError
from botocore.exceptions import BotoCoreError, ClientError

from cognito_backup.aws.errors import error_code
from cognito_backup.errors import StoreUnavailable
from cognito_backup.store.base import ObjectInfo, ObjectNotFound
from cognito_backup.store.s3_errors import s3_store_error, underlying

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_S3_ERRORS = (ClientError, BotoCoreError, S3UploadFailedError)

# A GET whose body breaks mid-way is read again from the start, this many times in all: botocore
# retries the request, not the reading of its body.
READ_ATTEMPTS = 3
# A conditional create answered 409 (a concurrent conditional write of the key) is tried this many times.
CONFLICT_ATTEMPTS = 3


class _TranslatedReader(io.RawIOBase):
    """The body of a GET, whose read errors (a connection reset, fewer bytes than Content-Length) become
    StoreUnavailable like every other storage failure."""

    def __init__(self, body: Any, fail: Any) -> None:
        self._body = body
        self._fail = fail

    def readable(self) -> bool:
        return True

    def read(self, size: int = -1) -> bytes:
        try:
            return cast(bytes, self._body.read(None if size is None or size < 0 else size))
        except _S3_ERRORS as exc:
            raise self._fail(exc) from exc

    def readinto(self, buffer: Any) -> int:
        data = self.read(len(buffer))
        buffer[: len(data)] = data
        return len(data)

    def close(self) -> None:
        self._body.close()
        super().close()


class S3Store:
    def __init__(self, client: S3Client, bucket: str, prefix: str = "", kms_key_id: str | None = None) -> None:
        self.client = client
        self.bucket = bucket
        self.prefix = prefix.strip("/") + "/" if prefix.strip("/") else ""
        self.kms_key_id = kms_key_id

    def describe(self) -> str:
        return f"s3://{self.bucket}/{self.prefix}"

    def _key(self, key: str) -> str:
        return self.prefix + key

    def _sse(self) -> dict[str, str]:
        if self.kms_key_id:
            return {"ServerSideEncryption": "aws:kms", "SSEKMSKeyId": self.kms_key_id}
        return {"ServerSideEncryption": "AES256"}

    def _fail(self, exc: BaseException, action: str, key: str) -> Exception:
        return s3_store_error(exc, action, key, f"s3://{self.bucket}/{self._key(key)}")

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._sse())  # type: ignore[arg-type]
        except _S3_ERRORS as exc:
            raise self._fail(exc, "PutObject", key) from exc

    def create_bytes(self, key: str, data: bytes) -> bool:
        # S3 answers 412 PreconditionFailed when the key exists, and 409 ConditionalRequestConflict when
        # another conditional write of the key was in flight: retry, the next answer decides.
        for _ in range(CONFLICT_ATTEMPTS):
            try:
                self.client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=data,
                    IfNoneMatch="*",
                    **self._sse(),  # type: ignore[arg-type]
                )
            except _S3_ERRORS as exc:
                code = error_code(underlying(exc))
                if code == "PreconditionFailed":
                    return False
                if code != "ConditionalRequestConflict":
                    raise self._fail(exc, "PutObject", key) from exc
            else:
                return True
        return False

    def put_file(self, key: str, path: Path) -> None:
        # upload_file streams and switches to multipart for big objects; a multipart upload becomes
        # visible only when completed, so the key is never half-written.
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=self._sse())
        except _S3_ERRORS as exc:
            raise self._fail(exc, "PutObject", key) from exc

    def get_bytes(self, key: str) -> bytes:
        attempt = 1
        while True:
            with self.open_read(key) as fh:  # a failing GET was already retried by botocore
                try:
                    return fh.read()
                except StoreUnavailable:
                    if attempt >= READ_ATTEMPTS:
                        raise
                    attempt += 1

    def open_read(self, key: str) -> BinaryIO:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except _S3_ERRORS as exc:
            raise self._fail(exc, "GetObject", key) from exc
        reader = _TranslatedReader(resp["Body"], lambda exc: self._fail(exc, "GetObject", key))
        return cast(BinaryIO, io.BufferedReader(reader))

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except _S3_ERRORS as exc:
            err = self._fail(exc, "HeadObject", key)
            if isinstance(err, ObjectNotFound):
                return False
            raise err from exc
        return True

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        paginator = self.client.get_paginator("list_objects_v2")
        try:
            for page in paginator.paginate(Bucket=self.bucket, Prefix=self._key(prefix)):
                for obj in cast(list[dict[str, Any]], page.get("Contents", [])):
                    yield ObjectInfo(
                        key=obj["Key"][len(self.prefix) :],
                        size=int(obj["Size"]),
                        modified=obj["LastModified"].timestamp(),
                    )
        except _S3_ERRORS as exc:
            raise self._fail(exc, "ListObjectsV2", prefix) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except _S3_ERRORS as exc:
            err = self._fail(exc, "DeleteObject", key)
            if not isinstance(err, ObjectNotFound):
                raise err from exc
