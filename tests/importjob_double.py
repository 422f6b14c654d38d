"""A TEST DOUBLE of Cognito's documented CSV user import API, for an emulator (moto) that has none of it.

moto implements neither GetCSVHeader, CreateUserImportJob, StartUserImportJob nor DescribeUserImportJob.
This double answers those four operations at botocore's boundary (a `before-call.cognito-idp.<Op>` hook on
the client under test, the technique of tests/helpers.py FaultInjector), so the code under test makes its
real botocore calls and gets genuine responses and genuine ClientErrors. It models the behaviour documented
in the Cognito developer guide ("Importing users into a user pool from a CSV file") and API reference:

Modelled:
- GetCSVHeader: standard attributes, `cognito:mfa_enabled`, `cognito:username`, then the pool's custom
  attributes (read from moto's DescribeUserPool), in the documented order.
- CreateUserImportJob: requires JobName and CloudWatchLogsRoleArn (an ARN); returns JobId (`import-...`),
  PreSignedUrl and Status Created.
- The upload (`DoubleImport.http_put`): the URL must be a job's pre-signed URL, the header
  `x-amz-server-side-encryption: aws:kms` is required (else 403, as S3 refuses the signed request), the body
  must be UTF-8 without a BOM and at most 100 MB (else 400).
- StartUserImportJob: only a Created job with an uploaded file; a second job while one is Pending or
  InProgress gets LimitExceededException (one active import job per account).
- DescribeUserImportJob: Pending -> InProgress -> final status across successive calls. At the final step the
  file is read with a CSV parser: the header must be exactly GetCSVHeader's columns (else the job Fails,
  "cannot parse"); a row without cognito:username, or without email/phone_number set with its *_verified
  true, counts as FailedUsers; an existing username counts as SkippedUsers; every other row creates the
  user in moto (through a second client without this hook) and counts as ImportedUsers. Rows longer than
  16,000 characters count as FailedUsers.
- Imported users end RESET_REQUIRED, as documented. moto cannot create that state directly: the double
  creates the user (MessageAction SUPPRESS), sets a random permanent password, then AdminResetUserPassword,
  which moto turns into RESET_REQUIRED.
- `force_status` lets a test make the next jobs end Failed, Stopped or Expired.

Not modelled: the 15-minute upload window and the real expiry clock, job Stopping/StopUserImportJob,
CloudWatch Logs output, PasswordHashingAlgorithm, attribute value validation against the schema beyond
what moto's AdminCreateUser itself checks, and the per-account (rather than per-pool) scope of the
one-job-at-a-time rule (the double tracks jobs for the client it is installed on).
"""

from __future__ import annotations

import csv
import io
import json
import secrets
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import boto3
from botocore.awsrequest import AWSResponse, HTTPHeaders

from cognito_backup.model import STANDARD_ATTRIBUTE_ORDER

STANDARD_COLUMNS = [*STANDARD_ATTRIBUTE_ORDER, "cognito:mfa_enabled", "cognito:username"]
OPERATIONS = ("GetCSVHeader", "CreateUserImportJob", "StartUserImportJob", "DescribeUserImportJob")
MAX_FILE_BYTES = 100 * 1024 * 1024
MAX_ROW_CHARS = 16_000
URL_PREFIX = "https://cognito-import-double.invalid/upload/"


@dataclass
class Job:
    job_id: str
    name: str
    pool_id: str
    role_arn: str
    status: str = "Created"
    data: bytes | None = None
    imported: int = 0
    skipped: int = 0
    failed: int = 0
    message: str | None = None
    rows_seen: list[str] = field(default_factory=list)  # usernames in file order

    @property
    def url(self) -> str:
        return URL_PREFIX + self.job_id + "?X-Amz-Signature=double"

    def describe(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "JobName": self.name,
            "JobId": self.job_id,
            "UserPoolId": self.pool_id,
            "PreSignedUrl": self.url,
            "Status": self.status,
            "CloudWatchLogsRoleArn": self.role_arn,
            "ImportedUsers": self.imported,
            "SkippedUsers": self.skipped,
            "FailedUsers": self.failed,
        }
        if self.message:
            out["CompletionMessage"] = self.message
        return out


class DoubleImport:
    def __init__(self, client: Any, region: str = "us-east-1") -> None:
        self.client = client
        # A second client, without the hook, reaches moto's real user store.
        self.raw: Any = boto3.client("cognito-idp", region_name=region)
        self.jobs: dict[str, Job] = {}
        self.order: list[str] = []  # job ids in creation order
        self.force_status: list[str] = []  # final statuses forced on the next jobs, in order
        self.max_active_seen = 0
        self.puts: list[dict[str, str]] = []  # headers of every upload
        self._lock = threading.Lock()
        for op in OPERATIONS:
            client.meta.events.register(f"before-call.cognito-idp.{op}", self._hook)

    def remove(self) -> None:
        for op in OPERATIONS:
            self.client.meta.events.unregister(f"before-call.cognito-idp.{op}", self._hook)

    # ---- boundary ----------------------------------------------------------------------------------------
    def _hook(self, model: Any, params: dict[str, Any], **_: Any) -> Any:
        body = params.get("body") or b"{}"
        args = json.loads(body.decode("utf-8") if isinstance(body, bytes) else body)
        with self._lock:
            try:
                parsed = getattr(self, "_" + model.name)(args)
            except _Error as err:
                return _response(400, {"Error": {"Code": err.code, "Message": err.message}})
        return _response(200, parsed)

    def _pool(self, args: Mapping[str, Any]) -> dict[str, Any]:
        try:
            return dict(self.raw.describe_user_pool(UserPoolId=args["UserPoolId"])["UserPool"])
        except self.raw.exceptions.ResourceNotFoundException as exc:
            raise _Error("ResourceNotFoundException", f"User pool {args['UserPoolId']} does not exist.") from exc

    def _job(self, args: Mapping[str, Any]) -> Job:
        job = self.jobs.get(str(args.get("JobId")))
        if job is None or job.pool_id != args.get("UserPoolId"):
            raise _Error("ResourceNotFoundException", "Import job not found.")
        return job

    # ---- operations --------------------------------------------------------------------------------------
    def header(self, pool_id: str) -> list[str]:
        pool = self.raw.describe_user_pool(UserPoolId=pool_id)["UserPool"]
        customs = [a["Name"] for a in pool.get("SchemaAttributes", []) if str(a["Name"]).startswith("custom:")]
        return STANDARD_COLUMNS + customs

    def _GetCSVHeader(self, args: Mapping[str, Any]) -> dict[str, Any]:
        pool = self._pool(args)
        return {"UserPoolId": pool["Id"], "CSVHeader": self.header(pool["Id"])}

    def _CreateUserImportJob(self, args: Mapping[str, Any]) -> dict[str, Any]:
        pool = self._pool(args)
        role = str(args.get("CloudWatchLogsRoleArn", ""))
        if not role.startswith("arn:") or not args.get("JobName"):
            raise _Error("InvalidParameterException", "JobName and a CloudWatchLogsRoleArn are required.")
        job = Job(job_id="import-" + secrets.token_hex(8), name=str(args["JobName"]), pool_id=pool["Id"], role_arn=role)
        self.jobs[job.job_id] = job
        self.order.append(job.job_id)
        return {"UserImportJob": job.describe()}

    def _StartUserImportJob(self, args: Mapping[str, Any]) -> dict[str, Any]:
        job = self._job(args)
        active = [j for j in self.jobs.values() if j.status in ("Pending", "InProgress")]
        if active:
            raise _Error("LimitExceededException", "An import job is already in progress.")
        if job.status != "Created" or job.data is None:
            raise _Error("PreconditionNotMetException", "The import job has no uploaded file or was already started.")
        job.status = "Pending"
        self.max_active_seen = max(self.max_active_seen, 1 + len(active))
        return {"UserImportJob": job.describe()}

    def _DescribeUserImportJob(self, args: Mapping[str, Any]) -> dict[str, Any]:
        job = self._job(args)
        if job.status == "Pending":
            job.status = "InProgress"
        elif job.status == "InProgress":
            forced = self.force_status.pop(0) if self.force_status else None
            if forced:
                job.status = forced
                job.message = f"The import job {forced.lower()} (forced by the test)."
            else:
                self._run(job)
        return {"UserImportJob": job.describe()}

    # ---- the upload --------------------------------------------------------------------------------------
    def http_put(self, url: str, data: bytes, headers: Mapping[str, str]) -> int:
        with self._lock:
            self.puts.append(dict(headers))
            job = next((j for j in self.jobs.values() if j.url == url), None)
            if job is None or job.status != "Created":
                return 403
            lowered = {k.lower(): v for k, v in headers.items()}
            if lowered.get("x-amz-server-side-encryption") != "aws:kms":
                return 403
            if len(data) > MAX_FILE_BYTES or data.startswith(b"\xef\xbb\xbf"):
                return 400
            try:
                data.decode("utf-8")
            except UnicodeDecodeError:
                return 400
            job.data = data
            return 200

    # ---- the import --------------------------------------------------------------------------------------
    def _run(self, job: Job) -> None:
        assert job.data is not None
        reader = csv.reader(io.StringIO(job.data.decode("utf-8"), newline=""))
        header = next(reader, None)
        if header != self.header(job.pool_id):
            job.status = "Failed"
            job.message = "Amazon Cognito is unable to parse the .csv file: the header does not match GetCSVHeader."
            return
        for values in reader:
            row = dict(zip(header, values, strict=False))
            username = row.get("cognito:username", "")
            job.rows_seen.append(username)
            if len(values) != len(header) or not username or sum(len(v) for v in values) > MAX_ROW_CHARS:
                job.failed += 1
                continue
            email_ok = bool(row.get("email")) and row.get("email_verified", "").lower() == "true"
            phone_ok = bool(row.get("phone_number")) and row.get("phone_number_verified", "").lower() == "true"
            if not (email_ok or phone_ok):
                job.failed += 1  # "The User Record does not set any of the auto verified attributes to true."
                continue
            if self._exists(job.pool_id, username):
                job.skipped += 1
                continue
            try:
                self._create(job.pool_id, username, row)
            except Exception:
                job.failed += 1
                continue
            job.imported += 1
        job.status = "Succeeded"

    def _exists(self, pool_id: str, username: str) -> bool:
        try:
            self.raw.admin_get_user(UserPoolId=pool_id, Username=username)
        except self.raw.exceptions.UserNotFoundException:
            return False
        return True

    def _create(self, pool_id: str, username: str, row: Mapping[str, str]) -> None:
        attrs = [{"Name": k, "Value": v} for k, v in row.items() if v != "" and not k.startswith("cognito:")]
        self.raw.admin_create_user(
            UserPoolId=pool_id, Username=username, UserAttributes=attrs, MessageAction="SUPPRESS"
        )
        self.raw.admin_set_user_password(
            UserPoolId=pool_id, Username=username, Password="Aa1!" + secrets.token_urlsafe(16), Permanent=True
        )
        self.raw.admin_reset_user_password(UserPoolId=pool_id, Username=username)


class _Error(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


def _response(status: int, parsed: dict[str, Any]) -> tuple[AWSResponse, dict[str, Any]]:
    parsed.setdefault("ResponseMetadata", {"HTTPStatusCode": status})
    return AWSResponse("https://cognito-idp.invalid", status, HTTPHeaders(), None), parsed
