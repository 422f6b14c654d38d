"""S3 backend: every write is server-side encrypted (SSE-KMS with --sse-kms-key-id, else SSE-S3)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from botocore.exceptions import ClientError

from cognito_backup.aws.errors import translate_client_error
from cognito_backup.store.base import ObjectInfo, ObjectNotFound

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

_MISSING = {"NoSuchKey", "404", "NotFound"}


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

    def _fail(self, exc: ClientError, action: str, key: str) -> Exception:
        code = exc.response.get("Error", {}).get("Code", "")
        if code in _MISSING:
            return ObjectNotFound(key)
        return translate_client_error(exc, f"S3 {action} s3://{self.bucket}/{self._key(key)}")

    def put_bytes(self, key: str, data: bytes) -> None:
        try:
            self.client.put_object(Bucket=self.bucket, Key=self._key(key), Body=data, **self._sse())  # type: ignore[arg-type]
        except ClientError as exc:
            raise self._fail(exc, "PutObject", key) from exc

    def put_file(self, key: str, path: Path) -> None:
        # upload_file streams and switches to multipart for big objects; a multipart upload becomes
        # visible only when completed, so the key is never half-written.
        try:
            self.client.upload_file(str(path), self.bucket, self._key(key), ExtraArgs=self._sse())
        except ClientError as exc:
            raise self._fail(exc, "PutObject", key) from exc

    def get_bytes(self, key: str) -> bytes:
        with self.open_read(key) as fh:
            return fh.read()

    def open_read(self, key: str) -> BinaryIO:
        try:
            resp = self.client.get_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            raise self._fail(exc, "GetObject", key) from exc
        return cast(BinaryIO, resp["Body"])

    def exists(self, key: str) -> bool:
        try:
            self.client.head_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
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
        except ClientError as exc:
            raise self._fail(exc, "ListObjectsV2", prefix) from exc

    def delete(self, key: str) -> None:
        try:
            self.client.delete_object(Bucket=self.bucket, Key=self._key(key))
        except ClientError as exc:
            err = self._fail(exc, "DeleteObject", key)
            if not isinstance(err, ObjectNotFound):
                raise err from exc
