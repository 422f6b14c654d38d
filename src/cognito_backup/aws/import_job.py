"""Bulk user restore through Cognito CSV import jobs (`restore --users-via import-job --import-role-arn ARN`).

Why: imported users are not billed as monthly active users (AdminCreateUser users are), and one job
imports up to 500,000 users without spending the UserCreation request quota.

Flow, per file (cognito-facts.md section 4): GetCSVHeader once -> rows written with Python's csv module to
a temporary file as users arrive (UTF-8 without BOM) -> when the file reaches `max_rows` or `max_bytes` it
is imported: CreateUserImportJob -> HTTP PUT of the file to the job's pre-signed URL with
`x-amz-server-side-encryption: aws:kms` -> StartUserImportJob -> DescribeUserImportJob polled until a final
status. Cognito runs one import job at a time per account, so files are imported one after another, and
only one file exists on disk at a time. Memory holds one row plus, during the upload, one file's bytes
(at most `max_bytes`).

Not done here, by design: imported users are RESET_REQUIRED, enabled and in no group. The caller applies
disabled state (AdminDisableUser) and memberships (AdminAddUserToGroup) afterwards, and creates the users
returned in `ImportReport.not_importable` with AdminCreateUser.

The pre-signed URL is a bearer credential: it is never logged or put in an error message.
"""

from __future__ import annotations

import csv
import http.client
import io
import os
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError

from cognito_backup.aws.errors import error_code, translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.errors import AwsError
from cognito_backup.model import STATUS_EXTERNAL, User

MAX_ROWS = 500_000
MAX_BYTES = 100 * 1024 * 1024
MAX_ROW_CHARS = 16_000
FINAL_STATUSES = frozenset({"Succeeded", "Failed", "Stopped", "Expired"})
KMS_HEADER = {"x-amz-server-side-encryption": "aws:kms"}
USERNAME_COLUMN = "cognito:username"
MFA_COLUMN = "cognito:mfa_enabled"
# Never written by an import: Cognito owns them.
_NOT_WRITTEN = frozenset({"sub", "identities", "cognito:user_status"})

HttpPut = Callable[[str, bytes, Mapping[str, str]], int]


# ---- report ---------------------------------------------------------------------------------------------
@dataclass
class ImportJobResult:
    job_id: str
    job_name: str
    status: str
    rows: int  # users written to this job's file
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    completion_message: str | None = None
    log_hint: str = ""

    @property
    def succeeded(self) -> bool:
        return self.status == "Succeeded"

    def to_dict(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "job_name": self.job_name,
            "status": self.status,
            "rows": self.rows,
            "imported": self.imported,
            "skipped": self.skipped,
            "failed": self.failed,
            "completion_message": self.completion_message,
            "log_hint": self.log_hint,
        }


@dataclass
class ImportReport:
    jobs: list[ImportJobResult] = field(default_factory=list)
    # Users a CSV import cannot create as they were: the caller creates them with AdminCreateUser.
    not_importable: list[str] = field(default_factory=list)
    not_importable_reasons: dict[str, str] = field(default_factory=dict)

    @property
    def imported(self) -> int:
        return sum(j.imported for j in self.jobs)

    @property
    def skipped(self) -> int:
        return sum(j.skipped for j in self.jobs)

    @property
    def failed(self) -> int:
        return sum(j.failed for j in self.jobs)

    @property
    def failed_jobs(self) -> list[ImportJobResult]:
        return [j for j in self.jobs if not j.succeeded]

    def to_dict(self) -> dict[str, Any]:
        return {
            "jobs": [j.to_dict() for j in self.jobs],
            "imported": self.imported,
            "skipped": self.skipped,
            "failed": self.failed,
            "failed_jobs": len(self.failed_jobs),
            "not_importable": list(self.not_importable),
        }


# ---- rows (pure) ----------------------------------------------------------------------------------------
def _true(value: str | None) -> bool:
    return str(value or "").strip().lower() == "true"


def not_importable_reason(user: User) -> str | None:
    """Why a CSV import cannot create this user, or None. Documented rule: every row needs
    email_verified or phone_number_verified true, with the matching value."""
    if user.status == STATUS_EXTERNAL:
        return "federated user (EXTERNAL_PROVIDER): an import would make a native user"
    attrs = user.attributes
    if attrs.get("email") and _true(attrs.get("email_verified")):
        return None
    if attrs.get("phone_number") and _true(attrs.get("phone_number_verified")):
        return None
    return "no verified email or phone number"


def build_row(user: User, header: list[str], *, keep_sub_attribute: str | None = None) -> list[str]:
    """One CSV row in `header` order. Attributes the header (the target schema) lacks are not written;
    verified flags are written as the snapshot has them ("true" only with a value); MFA enrolment cannot
    be imported, so cognito:mfa_enabled is false."""
    attrs = user.attributes
    row: list[str] = []
    for column in header:
        if column == USERNAME_COLUMN:
            row.append(user.username)
        elif column == MFA_COLUMN:
            row.append("false")
        elif keep_sub_attribute and column == keep_sub_attribute:
            row.append(user.sub or "")
        elif column in ("email_verified", "phone_number_verified"):
            value_attr = column.removesuffix("_verified")
            row.append("true" if attrs.get(value_attr) and _true(attrs.get(column)) else "false")
        elif column in _NOT_WRITTEN:
            row.append("")
        else:
            row.append(attrs.get(column, ""))
    return row


def encode_row(row: list[str]) -> bytes:
    """The row as CSV bytes (quoting commas, quotes and newlines), UTF-8, no BOM."""
    buf = io.StringIO()
    csv.writer(buf, lineterminator="\n").writerow(row)
    return buf.getvalue().encode("utf-8")


# ---- files ----------------------------------------------------------------------------------------------
class _CsvFile:
    """One import file on disk, filled row by row."""

    def __init__(self, header: list[str], directory: str | None) -> None:
        fd, self.path = tempfile.mkstemp(prefix="cognito-import-", suffix=".csv", dir=directory)
        self._file = os.fdopen(fd, "wb")
        self.rows = 0
        self.size = 0
        self._write(encode_row(header))

    def _write(self, data: bytes) -> None:
        self._file.write(data)
        self.size += len(data)

    def fits(self, data: bytes, max_rows: int, max_bytes: int) -> bool:
        return self.rows < max_rows and self.size + len(data) <= max_bytes

    def add(self, data: bytes) -> None:
        self._write(data)
        self.rows += 1

    def read_and_remove(self) -> bytes:
        self._file.close()
        with open(self.path, "rb") as handle:
            data = handle.read()
        os.unlink(self.path)
        return data

    def discard(self) -> None:
        self._file.close()
        if os.path.exists(self.path):
            os.unlink(self.path)


# ---- HTTP -----------------------------------------------------------------------------------------------
def http_put(url: str, data: bytes, headers: Mapping[str, str]) -> int:
    """PUT `data` to a pre-signed S3 URL; returns the HTTP status.

    http.client rather than urllib.request: urllib adds a form Content-Type to every request with a body,
    and a header the pre-signed signature does not expect can make S3 refuse the upload."""
    parts = urllib.parse.urlsplit(url)
    conn_cls = http.client.HTTPSConnection if parts.scheme == "https" else http.client.HTTPConnection
    conn = conn_cls(parts.netloc, timeout=300)
    try:
        path = parts.path + ("?" + parts.query if parts.query else "")
        conn.request("PUT", path, body=data, headers=dict(headers))
        resp = conn.getresponse()
        resp.read()
        return int(resp.status)
    finally:
        conn.close()


# ---- jobs -----------------------------------------------------------------------------------------------
class ImportRunner:
    """Runs CSV import jobs into one pool, one at a time."""

    def __init__(
        self,
        client: Any,
        pacer: Pacer,
        user_pool_id: str,
        role_arn: str,
        *,
        put: HttpPut = http_put,
        sleep: Callable[[float], None] = time.sleep,
        poll_interval: float = 15.0,
        max_wait: float = 6 * 3600.0,
        job_name_prefix: str = "cognito-backup-restore",
        pool_name: str = "USER_POOL_NAME",
        on_job: Callable[[ImportJobResult], None] = lambda job: None,
    ) -> None:
        self.client = client
        self.pacer = pacer
        self.pool_id = user_pool_id
        self.role_arn = role_arn
        self.put = put
        self.sleep = sleep
        self.poll_interval = poll_interval
        self.max_wait = max_wait
        self.job_name_prefix = job_name_prefix
        self.pool_name = pool_name
        self.on_job = on_job

    def _call(self, operation: str, **kwargs: Any) -> dict[str, Any]:
        method = getattr(self.client, "get_csv_header" if operation == "GetCSVHeader" else _snake(operation))
        try:
            result: dict[str, Any] = self.pacer.call(
                operation, method, pool_id=self.pool_id, UserPoolId=self.pool_id, **kwargs
            )
        except ClientError as exc:
            err = translate_client_error(exc, f"{operation} on user pool {self.pool_id}")
            if error_code(exc) == "LimitExceededException" and operation == "StartUserImportJob":
                err.hint = "Another import job is running in this account and Region; Cognito runs one at a time."
            raise err from exc
        return result

    def csv_header(self) -> list[str]:
        return [str(c) for c in self._call("GetCSVHeader")["CSVHeader"]]

    def run_file(self, data: bytes, rows: int, number: int) -> ImportJobResult:
        name = f"{self.job_name_prefix}-{number:04d}"
        job = self._call("CreateUserImportJob", JobName=name, CloudWatchLogsRoleArn=self.role_arn)["UserImportJob"]
        job_id = str(job["JobId"])
        result = ImportJobResult(
            job_id=job_id,
            job_name=name,
            status=str(job.get("Status", "Created")),
            rows=rows,
            log_hint=f"CloudWatch Logs group /aws/cognito/userpools/{self.pool_id}/{self.pool_name}, "
            f"stream {job_id}/{name} (results by CSV line number)",
        )
        status = self.put(str(job["PreSignedUrl"]), data, dict(KMS_HEADER))
        if not 200 <= status < 300:
            raise AwsError(f"import job {job_id}: uploading the CSV file failed with HTTP {status}")
        self._call("StartUserImportJob", JobId=job_id)
        waited = 0.0
        while True:
            job = self._call("DescribeUserImportJob", JobId=job_id)["UserImportJob"]
            result.status = str(job.get("Status", ""))
            if result.status in FINAL_STATUSES:
                break
            if waited >= self.max_wait:
                raise AwsError(
                    f"import job {job_id} still {result.status} after {waited:.0f}s",
                    hint="Follow it with aws cognito-idp describe-user-import-job; re-running skips users it imported.",
                )
            self.sleep(self.poll_interval)
            waited += self.poll_interval
        result.imported = int(job.get("ImportedUsers", 0) or 0)
        result.skipped = int(job.get("SkippedUsers", 0) or 0)
        result.failed = int(job.get("FailedUsers", 0) or 0)
        result.completion_message = job.get("CompletionMessage")
        self.on_job(result)
        return result


def import_users(
    runner: ImportRunner,
    users: Iterable[User],
    *,
    keep_sub_attribute: str | None = None,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
    temp_dir: str | None = None,
) -> ImportReport:
    """Import `users` (any iterable: read lazily) through as many jobs as the limits need.

    A job that ends Failed/Stopped/Expired is reported, and the next file still runs: the users in it are
    independent. The caller decides what a failed job means (its users are not in the pool; a re-run with
    AdminCreateUser or another import creates them, and an import skips users that already exist)."""
    if max_rows < 1 or max_bytes < 1:
        raise ValueError("max_rows and max_bytes must be positive")
    header = runner.csv_header()
    if USERNAME_COLUMN not in header:
        raise AwsError(f"GetCSVHeader on user pool {runner.pool_id}: no {USERNAME_COLUMN} column")
    if len(encode_row(header)) >= max_bytes:
        raise ValueError("max_bytes is smaller than the CSV header")
    report = ImportReport()
    current: _CsvFile | None = None
    number = 0

    def flush() -> None:
        nonlocal current, number
        if current is None:
            return
        done, current = current, None
        if done.rows == 0:
            done.discard()
            return
        number += 1
        rows = done.rows
        report.jobs.append(runner.run_file(done.read_and_remove(), rows, number))

    try:
        for user in users:
            reason = not_importable_reason(user)
            data = b""
            if reason is None:
                row = build_row(user, header, keep_sub_attribute=keep_sub_attribute)
                data = encode_row(row)
                if len(data.decode("utf-8")) > MAX_ROW_CHARS:
                    reason = f"row longer than {MAX_ROW_CHARS} characters"
                elif len(encode_row(header)) + len(data) > max_bytes:
                    reason = "row larger than the file size limit"
            if reason is not None:
                report.not_importable.append(user.username)
                report.not_importable_reasons[user.username] = reason
                continue
            if current is not None and not current.fits(data, max_rows, max_bytes):
                flush()
            if current is None:
                current = _CsvFile(header, temp_dir)
            current.add(data)
        flush()
    finally:
        if current is not None:
            current.discard()
    return report


def run_user_import(
    client: Any,
    pacer: Pacer,
    user_pool_id: str,
    users: Iterable[User],
    *,
    role_arn: str,
    keep_sub_attribute: str | None = None,
    put: HttpPut = http_put,
    sleep: Callable[[float], None] = time.sleep,
    max_rows: int = MAX_ROWS,
    max_bytes: int = MAX_BYTES,
    poll_interval: float = 15.0,
    pool_name: str = "USER_POOL_NAME",
    on_job: Callable[[ImportJobResult], None] = lambda job: None,
) -> ImportReport:
    """One call for the restore engine: ImportRunner + import_users with the documented limits."""
    runner = ImportRunner(
        client,
        pacer,
        user_pool_id,
        role_arn,
        put=put,
        sleep=sleep,
        poll_interval=poll_interval,
        pool_name=pool_name,
        on_job=on_job,
    )
    return import_users(runner, users, keep_sub_attribute=keep_sub_attribute, max_rows=max_rows, max_bytes=max_bytes)


def _snake(operation: str) -> str:
    out = []
    for i, ch in enumerate(operation):
        if ch.isupper() and i and not operation[i - 1].isupper():
            out.append("_")
        out.append(ch.lower())
    return "".join(out)
