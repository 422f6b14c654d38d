"""A TEST DOUBLE of Cognito's documented point-in-time recovery API, for an emulator (moto) that has none.

moto implements neither InitiatePointInTimeRecovery, DescribePointInTimeRecovery, StartPointInTimeRecovery,
CancelPointInTimeRecovery, ListPointInTimeRecoveries nor ListUserImportJobs, and its DescribeUserPool has no
UserPoolTier. This double is a WSGI middleware in front of moto's server (cognito_backup.emulator's
`middleware` parameter): the code under test makes real botocore calls over HTTP and gets genuine JSON
responses and genuine ClientErrors. It models what the botocore service model (1.44) documents:

Modelled:
- Statuses: Initiate -> PREVIEW_GENERATING; after `generating_polls` Describe calls -> PREVIEW_GENERATED with
  a preview (Users create/update/delete counts); Start -> RESTORING; the next Describe applies the recovery
  and says RESTORE_COMPLETED; Cancel -> PREVIEW_CANCELLED; a preview not started within 24 hours of the
  initiation (the double's clock) -> PREVIEW_EXPIRED. `force_final` makes the next recovery end in another
  final status (PREVIEW_GENERATION_FAILED, AWS_ABORTED, ...).
- Limits: tier (LITE -> FeatureUnavailableInTierException); recovery point at least 15 minutes ago, within
  1 day (ESSENTIALS) or 14 days (PLUS), not before the pool's creation (-> InvalidParameterException); one
  active recovery per pool (-> ConcurrentModificationException); one completed recovery per 24 hours and
  3 previews per pool per 24 hours (-> LimitExceededException); a running import job (the service model does
  not name the code: the double answers ConcurrentModificationException); `not_eligible` (a replica's
  secondary Region, an older pool) -> OperationNotEnabledException. Start on a status other than
  PREVIEW_GENERATED and Cancel on a status other than PREVIEW_GENERATING/GENERATED: the service model names
  no code; the double answers ConcurrentModificationException. An unknown RestoreId ->
  ResourceNotFoundException.
- The "restore": the double applies the pool's user data as the test recorded it (`record`) at the latest
  time <= the recovery point, by replaying it into moto (users created/deleted, attributes, enabled state,
  group memberships). Passwords are not modelled (moto's users keep whatever they have).

Not modelled: the write pause itself (moto accepts writes during a recovery), per-account and organization
limits, MFA settings and passkeys in the preview, TriggerTimestamp precision.
"""

from __future__ import annotations

import datetime as dt
import io
import json
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

import boto3

PREFIX = "AWSCognitoIdentityProviderService."
WINDOWS = {"ESSENTIALS": dt.timedelta(days=1), "PLUS": dt.timedelta(days=14)}
DAY = dt.timedelta(hours=24)


class DoubleError(Exception):
    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


@dataclass
class UserRecord:
    attributes: dict[str, str]
    enabled: bool
    groups: frozenset[str]


@dataclass
class Rec:
    restore_id: str
    pool_id: str
    at: dt.datetime
    initiated: dt.datetime
    status: str = "PREVIEW_GENERATING"
    polls: int = 0
    preview: list[dict[str, Any]] = field(default_factory=list)
    target: dict[str, UserRecord] | None = None
    completed: dt.datetime | None = None

    def describe(self, full: bool = True) -> dict[str, Any]:
        out: dict[str, Any] = {
            "RestoreId": self.restore_id,
            "RestoreStatus": self.status,
            "RestoreTimestamp": self.at.timestamp(),
        }
        if full:
            out["TriggerTimestamp"] = self.initiated.timestamp()
            if self.preview:
                out["RestorePreview"] = self.preview
        return out


class PitrDouble:
    def __init__(self, clock: Callable[[], dt.datetime] | None = None) -> None:
        self.clock = clock or (lambda: dt.datetime.now(dt.UTC))
        self.url = ""  # set by the test once the emulator runs (the double reads/writes moto through it)
        self.tiers: dict[str, str] = {}
        self.created: dict[str, dt.datetime] = {}
        self.import_jobs: dict[str, list[dict[str, str]]] = {}
        self.not_eligible: set[str] = set()
        self.recs: list[Rec] = []
        self.recorded: dict[str, list[tuple[dt.datetime, dict[str, UserRecord]]]] = {}
        self.generating_polls = 1
        self.force_final: str | None = None
        # Simulates the 24 hours passing between the preview and the Start call (a prompt left unanswered).
        self.expire_before_start = False
        self.lose_initiate_answer = False  # the next Initiate acts, then answers InternalErrorException
        self.failing_describes = 0  # the next N DescribePointInTimeRecovery calls fail (InternalErrorException)
        self.calls: list[str] = []

    # ---- test controls ---------------------------------------------------------------------------
    def client(self) -> Any:
        return boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=self.url)

    def record(self, pool_id: str, at: dt.datetime) -> None:
        """Remember the pool's user data as it is now, as its state at `at` (what AWS keeps internally)."""
        self.recorded.setdefault(pool_id, []).append((at, self._read(pool_id)))

    def _read(self, pool_id: str) -> dict[str, UserRecord]:
        c = self.client()
        users: dict[str, UserRecord] = {}
        for page in c.get_paginator("list_users").paginate(UserPoolId=pool_id):
            for u in page["Users"]:
                groups = c.admin_list_groups_for_user(UserPoolId=pool_id, Username=u["Username"])["Groups"]
                users[u["Username"]] = UserRecord(
                    {a["Name"]: a["Value"] for a in u.get("Attributes", []) if a["Name"] != "sub"},
                    bool(u.get("Enabled", True)),
                    frozenset(g["GroupName"] for g in groups),
                )
        return users

    # ---- WSGI ------------------------------------------------------------------------------------
    def middleware(self, app: Any) -> Any:
        def served(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            target = str(environ.get("HTTP_X_AMZ_TARGET", ""))
            if not target.startswith(PREFIX):
                return app(environ, start_response)  # type: ignore[no-any-return]
            op = target[len(PREFIX) :]
            length = int(environ.get("CONTENT_LENGTH") or 0)
            body = environ["wsgi.input"].read(length) if length else b""
            handler = getattr(self, "op_" + op, None)
            if handler is None:
                environ["wsgi.input"] = io.BytesIO(body)
                if op == "DescribeUserPool":
                    return self._describe_pool(app, environ, start_response, json.loads(body or b"{}"))
                return app(environ, start_response)  # type: ignore[no-any-return]
            self.calls.append(op)
            try:
                result = handler(json.loads(body or b"{}"))
                status, payload = "200 OK", result
            except DoubleError as err:
                status = "500 Internal Server Error" if err.code == "InternalErrorException" else "400 Bad Request"
                payload = {"__type": err.code, "message": err.message}
            data = json.dumps(payload).encode()
            start_response(status, [("Content-Type", "application/x-amz-json-1.1"), ("Content-Length", str(len(data)))])
            return [data]

        return served

    def _describe_pool(self, app: Any, environ: dict[str, Any], start_response: Any, req: dict[str, Any]) -> Any:
        captured: dict[str, Any] = {}

        def capture(status: str, headers: list[tuple[str, str]], exc_info: Any = None) -> Any:
            captured["status"], captured["headers"] = status, headers
            return lambda data: None

        body = b"".join(app(environ, capture))
        if captured["status"].startswith("200"):
            data = json.loads(body)
            pool_id = req["UserPoolId"]
            data["UserPool"]["UserPoolTier"] = self.tiers.get(pool_id, "ESSENTIALS")
            if pool_id in self.created:
                data["UserPool"]["CreationDate"] = self.created[pool_id].timestamp()
            body = json.dumps(data).encode()
        headers = [(k, v) for k, v in captured["headers"] if k.lower() != "content-length"]
        start_response(captured["status"], [*headers, ("Content-Length", str(len(body)))])
        return [body]

    # ---- operations ------------------------------------------------------------------------------
    def _find(self, req: dict[str, Any]) -> Rec:
        for rec in self.recs:
            if rec.restore_id == req.get("RestoreId") and rec.pool_id == req.get("UserPoolId"):
                self._expire(rec)
                return rec
        raise DoubleError("ResourceNotFoundException", "Recovery not found.")

    def _expire(self, rec: Rec) -> None:
        if rec.status in ("PREVIEW_GENERATING", "PREVIEW_GENERATED") and self.clock() - rec.initiated > DAY:
            rec.status = "PREVIEW_EXPIRED"

    def op_ListUserImportJobs(self, req: dict[str, Any]) -> dict[str, Any]:
        return {"UserImportJobs": self.import_jobs.get(req["UserPoolId"], [])}

    def op_InitiatePointInTimeRecovery(self, req: dict[str, Any]) -> dict[str, Any]:
        pool_id = req["UserPoolId"]
        self.client().describe_user_pool(UserPoolId=pool_id)  # a missing pool: moto's ResourceNotFound
        now = self.clock()
        at = dt.datetime.fromtimestamp(float(req["RestoreTimestamp"]), tz=dt.UTC)
        tier = self.tiers.get(pool_id, "ESSENTIALS")
        if pool_id in self.not_eligible:
            raise DoubleError("OperationNotEnabledException", "Not supported for this user pool.")
        if tier not in WINDOWS:
            raise DoubleError("FeatureUnavailableInTierException", "Feature not available in tier.")
        if at > now - dt.timedelta(minutes=15) or at < now - WINDOWS[tier]:
            raise DoubleError("InvalidParameterException", "RestoreTimestamp is outside the recovery period.")
        if pool_id in self.created and at < self.created[pool_id]:
            raise DoubleError("InvalidParameterException", "RestoreTimestamp is before the pool's creation.")
        mine = [r for r in self.recs if r.pool_id == pool_id]
        for r in mine:
            self._expire(r)
        if any(r.status in ("PREVIEW_GENERATING", "PREVIEW_GENERATED", "RESTORING") for r in mine):
            raise DoubleError("ConcurrentModificationException", "A recovery is already active.")
        if any(j.get("Status") in ("Pending", "InProgress") for j in self.import_jobs.get(pool_id, [])):
            raise DoubleError("ConcurrentModificationException", "An import job is in progress.")
        if any(r.completed and now - r.completed < DAY for r in mine):
            raise DoubleError("LimitExceededException", "One recovery per 24 hours.")
        if len([r for r in mine if now - r.initiated < DAY]) >= 3:
            raise DoubleError("LimitExceededException", "Too many recovery previews.")
        rec = Rec(str(uuid.uuid4()), pool_id, at, now)
        points = [(t, s) for t, s in self.recorded.get(pool_id, []) if t <= at]
        rec.target = max(points, key=lambda p: p[0])[1] if points else None
        self.recs.insert(0, rec)
        if self.lose_initiate_answer:
            self.lose_initiate_answer = False
            raise DoubleError("InternalErrorException", "Internal error.")
        return {"Restoration": rec.describe()}

    def op_DescribePointInTimeRecovery(self, req: dict[str, Any]) -> dict[str, Any]:
        if self.failing_describes > 0:
            self.failing_describes -= 1
            raise DoubleError("InternalErrorException", "Internal error.")
        rec = self._find(req)
        if rec.status == "PREVIEW_GENERATING":
            rec.polls += 1
            if rec.polls >= self.generating_polls:
                if self.force_final in ("PREVIEW_GENERATION_FAILED",):
                    rec.status = self.force_final
                else:
                    rec.preview = self._preview(rec)
                    rec.status = "PREVIEW_GENERATED"
        elif rec.status == "RESTORING":
            if self.force_final in ("AWS_ABORTED", "TEMPORARY_INTERNAL_ERROR_SEE_SUPPORT_CASE"):
                rec.status = self.force_final
            else:
                self._apply(rec)
                rec.status = "RESTORE_COMPLETED"
                rec.completed = self.clock()
        return {"Restoration": rec.describe()}

    def op_ListPointInTimeRecoveries(self, req: dict[str, Any]) -> dict[str, Any]:
        mine = [r for r in self.recs if r.pool_id == req["UserPoolId"]]
        for r in mine:
            self._expire(r)
        return {"Restorations": [r.describe(full=False) for r in mine]}

    def op_StartPointInTimeRecovery(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self._find(req)
        if self.expire_before_start:
            rec.initiated -= DAY + dt.timedelta(seconds=1)
            self._expire(rec)
        if rec.status != "PREVIEW_GENERATED":
            raise DoubleError("ConcurrentModificationException", f"Recovery is {rec.status}.")
        rec.status = "RESTORING"
        return {"Restoration": rec.describe()}

    def op_CancelPointInTimeRecovery(self, req: dict[str, Any]) -> dict[str, Any]:
        rec = self._find(req)
        if rec.status not in ("PREVIEW_GENERATING", "PREVIEW_GENERATED"):
            raise DoubleError("ConcurrentModificationException", f"Recovery is {rec.status}.")
        rec.status = "PREVIEW_CANCELLED"
        return {"Restoration": rec.describe()}

    # ---- the recovery itself ---------------------------------------------------------------------
    def _preview(self, rec: Rec) -> list[dict[str, Any]]:
        if rec.target is None:
            return [{"Entity": "Users", "CreateCount": 0, "UpdateCount": 0, "DeleteCount": 0}]
        now = self._read(rec.pool_id)
        target = rec.target
        return [
            {
                "Entity": "Users",
                "CreateCount": len(set(target) - set(now)),
                "UpdateCount": len([u for u in set(target) & set(now) if target[u] != now[u]]),
                "DeleteCount": len(set(now) - set(target)),
            }
        ]

    def _apply(self, rec: Rec) -> None:
        if rec.target is None:
            return
        c, pool = self.client(), rec.pool_id
        now = self._read(pool)
        for name in set(now) - set(rec.target):
            c.admin_delete_user(UserPoolId=pool, Username=name)
        for name, want in rec.target.items():
            have = now.get(name)
            if have is None:
                c.admin_create_user(
                    UserPoolId=pool,
                    Username=name,
                    UserAttributes=[{"Name": k, "Value": v} for k, v in want.attributes.items()],
                    MessageAction="SUPPRESS",
                )
                have = UserRecord({}, True, frozenset())
            elif have.attributes != want.attributes:
                changed = [{"Name": k, "Value": v} for k, v in want.attributes.items() if have.attributes.get(k) != v]
                if changed:
                    c.admin_update_user_attributes(UserPoolId=pool, Username=name, UserAttributes=changed)
                gone = [k for k in have.attributes if k not in want.attributes]
                if gone:
                    c.admin_delete_user_attributes(UserPoolId=pool, Username=name, UserAttributeNames=gone)
            if have.enabled != want.enabled:
                (c.admin_enable_user if want.enabled else c.admin_disable_user)(UserPoolId=pool, Username=name)
            for g in want.groups - have.groups:
                c.admin_add_user_to_group(UserPoolId=pool, Username=name, GroupName=g)
            for g in have.groups - want.groups:
                c.admin_remove_user_from_group(UserPoolId=pool, Username=name, GroupName=g)
