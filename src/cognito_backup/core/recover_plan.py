"""AWS's native point-in-time recovery of a user pool: the checks and decisions, without I/O.

What AWS documents (botocore service model, InitiatePointInTimeRecovery and RestorationType):
the pool must be on the Essentials (1 day back) or Plus (14 days back) feature plan; the recovery point
must be at least 15 minutes ago and not before the pool was created; one active recovery per pool; one
completed recovery per pool in 24 hours; no import job may be running; writes to the pool are paused
from initiation until the recovery ends; the preview expires 24 hours after initiation. It restores user
data (profiles, attributes, memberships, passwords, MFA settings, passkeys), never configuration.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.core.plan import Plan
from cognito_backup.errors import (
    AwsError,
    CognitoBackupError,
    OperationsFailed,
    PlanRefused,
    PoolNotFound,
    RepositoryNotFound,
    UsageError,
)

WINDOWS = {"ESSENTIALS": dt.timedelta(days=1), "PLUS": dt.timedelta(days=14)}
MIN_AGE = dt.timedelta(minutes=15)
ONE_RECOVERY_PER = dt.timedelta(hours=24)
PREVIEW_LIFETIME = dt.timedelta(hours=24)

GENERATING = "PREVIEW_GENERATING"
GENERATED = "PREVIEW_GENERATED"
CANCELLED = "PREVIEW_CANCELLED"
GENERATION_FAILED = "PREVIEW_GENERATION_FAILED"
EXPIRED = "PREVIEW_EXPIRED"
RESTORING = "RESTORING"
COMPLETED = "RESTORE_COMPLETED"
INTERNAL_ERROR = "TEMPORARY_INTERNAL_ERROR_SEE_SUPPORT_CASE"
ABORTED = "AWS_ABORTED"

# Statuses in which the pool's writes are paused (the service model's RestoreStatus documentation).
WRITES_PAUSED = frozenset({GENERATING, GENERATED, RESTORING, INTERNAL_ERROR, ABORTED})
CANCELLABLE = frozenset({GENERATING, GENERATED})
FINAL = frozenset({CANCELLED, GENERATION_FAILED, EXPIRED, COMPLETED, INTERNAL_ERROR, ABORTED})

STATUS_SENTENCES = {
    GENERATING: "AWS is generating the preview; writes to the pool are paused.",
    GENERATED: "The preview is ready; writes to the pool are paused until you start or cancel the recovery "
    "(or it expires 24 hours after initiation).",
    CANCELLED: "The recovery was cancelled; writes resumed and the pool's data did not change.",
    GENERATION_FAILED: "AWS could not generate the preview; writes resumed and the pool's data did not change.",
    EXPIRED: "The preview expired (not started or cancelled within 24 hours); writes resumed and the pool's "
    "data did not change.",
    RESTORING: "AWS is restoring the pool's user data; writes to the pool are paused.",
    COMPLETED: "AWS restored the pool's user data to the recovery point; writes resumed.",
    INTERNAL_ERROR: "The recovery met an internal error; writes remain paused. AWS Support contacts you "
    "through a support case.",
    ABORTED: "AWS stopped the recovery after an internal failure; writes remain paused and it can be neither "
    "cancelled nor retried. AWS Support contacts you through a support case.",
}

NOT_RESTORED_BY_AWS = (
    "AWS's recovery restores user data only (users, attributes, groups, memberships, passwords, MFA settings, "
    "passkeys), never configuration: app clients, the attribute schema, identity providers, resource servers, "
    "domain, triggers, MFA and password policies, encryption and replication settings stay as they are now."
)


def after_recovery(pool_id: str, repo: str | None) -> str:
    """What to do once AWS's recovery completed: its changes are not API calls that capture journals."""
    return (
        f"Take a fresh snapshot now (`cognito-backup backup --user-pool-id {pool_id} --repo {repo or 'REPO'}`): "
        "AWS documents no per-user events for the recovery's changes, so the journal (and a standby that follows "
        "it) may not know them; a point-in-time restore to a later time needs a snapshot taken after the recovery."
    )


def config_hint(pool_id: str, at: dt.datetime, repo: str | None) -> str:
    """How to see and rebuild, from the repository, the configuration AWS's recovery leaves alone."""
    where = repo or "REPO"
    stamp = _stamp(at)
    return (
        f"configuration changed since {stamp} shows in `cognito-backup diff --repo {where} --user-pool-id {pool_id} "
        f"--at {stamp}`; `cognito-backup restore --repo {where} --at {stamp} --new-pool NAME` recreates the whole "
        "pool, configuration included, from the repository."
    )


@dataclass(frozen=True)
class PreviewCount:
    entity: str
    create: int = 0
    update: int = 0
    delete: int = 0

    def to_json(self) -> dict[str, Any]:
        return {"entity": self.entity, "create": self.create, "update": self.update, "delete": self.delete}


@dataclass(frozen=True)
class Recovery:
    """One recovery as AWS describes it (RestorationType / RestorationDescriptionType)."""

    restore_id: str
    status: str
    restore_timestamp: dt.datetime | None = None
    trigger_timestamp: dt.datetime | None = None
    preview: tuple[PreviewCount, ...] = ()

    @classmethod
    def from_aws(cls, data: Mapping[str, Any]) -> Recovery:
        return cls(
            restore_id=str(data.get("RestoreId", "")),
            status=str(data.get("RestoreStatus", "")),
            restore_timestamp=to_utc(data.get("RestoreTimestamp")),
            trigger_timestamp=to_utc(data.get("TriggerTimestamp")),
            preview=tuple(
                PreviewCount(
                    str(p.get("Entity", "")),
                    int(p.get("CreateCount", 0) or 0),
                    int(p.get("UpdateCount", 0) or 0),
                    int(p.get("DeleteCount", 0) or 0),
                )
                for p in data.get("RestorePreview", []) or []
            ),
        )

    @property
    def writes_paused(self) -> bool:
        return self.status in WRITES_PAUSED

    @property
    def sentence(self) -> str:
        return STATUS_SENTENCES.get(self.status, f"Status {self.status} (not documented when this tool was built).")

    def to_json(self) -> dict[str, Any]:
        return {
            "restore_id": self.restore_id,
            "status": self.status,
            "restore_timestamp": _stamp(self.restore_timestamp),
            "trigger_timestamp": _stamp(self.trigger_timestamp),
            "writes_paused": self.writes_paused,
            "preview": [p.to_json() for p in self.preview],
            "meaning": self.sentence,
        }


@dataclass(frozen=True)
class PoolFacts:
    """What AWS says about the pool before a recovery: read by aws/native_pitr.py."""

    user_pool_id: str
    tier: str  # UserPoolTier; Cognito's default is ESSENTIALS
    created: dt.datetime | None
    active_import_jobs: tuple[str, ...] = ()
    recoveries: tuple[Recovery, ...] = ()  # most recent first, completed ones with their trigger time


def to_utc(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
    return dt.datetime.fromtimestamp(float(value), tz=dt.UTC)


def _stamp(value: dt.datetime | None) -> str | None:
    return value.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ") if value else None


def active_recovery(recoveries: Iterable[Recovery]) -> Recovery | None:
    """The recovery that still holds the pool (writes paused), if any."""
    return next((r for r in recoveries if r.writes_paused), None)


def refusals(facts: PoolFacts, at: dt.datetime, now: dt.datetime) -> list[str]:
    """Every reason AWS would refuse to recover `facts.user_pool_id` to `at`, checked before any call
    that pauses the pool's writes. Empty: AWS's documented requirements are met."""
    out: list[str] = []
    window = WINDOWS.get(facts.tier)
    if window is None:
        out.append(
            f"the pool is on the {facts.tier or 'unknown'} feature plan; point-in-time recovery needs Essentials "
            "(1 day back) or Plus (14 days back)"
        )
    elif at < now - window:
        out.append(
            f"{_stamp(at)} is older than the {facts.tier.title()} plan's recovery window "
            f"({window.days} day{'s' if window.days > 1 else ''}: nothing before {_stamp(now - window)})"
        )
    if at > now - MIN_AGE:
        out.append(f"{_stamp(at)} is less than 15 minutes ago (the latest possible point is {_stamp(now - MIN_AGE)})")
    if facts.created is not None and at < facts.created:
        out.append(f"{_stamp(at)} is before the pool was created ({_stamp(facts.created)})")
    if facts.active_import_jobs:
        out.append("a user import job is running (" + ", ".join(facts.active_import_jobs) + "); wait for it or stop it")
    active = active_recovery(facts.recoveries)
    if active is not None:
        out.append(f"recovery {active.restore_id} is already {active.status}; a pool has one recovery at a time")
    recent = sorted(
        (r.trigger_timestamp for r in facts.recoveries if r.status == COMPLETED and r.trigger_timestamp is not None),
        reverse=True,
    )
    if recent and now - recent[0] < ONE_RECOVERY_PER:
        out.append(
            "a recovery completed within the last 24 hours; AWS allows one per pool per 24 hours (next after about "
            f"{_stamp(recent[0] + ONE_RECOVERY_PER)})"
        )
    return out


def adopt_after_failed_initiate(
    before: Iterable[Recovery], after: Iterable[Recovery], at: dt.datetime
) -> Recovery | None:
    """An initiation whose answer was lost (a 5xx after AWS acted, then a retry refused because a recovery
    is active) still paused the pool: the active recovery to `at` that was not there before is ours."""
    known = {r.restore_id for r in before}
    active = active_recovery(after)
    if active is None or active.restore_id in known or active.restore_timestamp != at:
        return None
    return active


def check_request(facts: PoolFacts, at: dt.datetime, now: dt.datetime) -> None:
    found = refusals(facts, at, now)
    if found:
        raise PlanRefused(
            f"AWS would refuse to recover {facts.user_pool_id} to {_stamp(at)}: " + "; ".join(found) + ". Nothing "
            "was initiated; writes to the pool were not paused.",
            hint="`cognito-backup restore --repo REPO --at T` restores from this tool's repository instead "
            "(no plan, window or 24-hour limit; passwords are not kept).",
        )


# The documented errors of the five operations, each with a sentence (never AWS's message: it may echo
# request values).
_ERRORS: dict[str, tuple[type[CognitoBackupError], str]] = {
    "FeatureUnavailableInTierException": (
        PlanRefused,
        "point-in-time recovery is not offered on the pool's feature plan (it needs Essentials or Plus, and the "
        "pool must have been on it at the recovery point)",
    ),
    "LimitExceededException": (
        PlanRefused,
        "an AWS limit was reached: one completed recovery per pool per 24 hours; 3 previews per pool per 24 hours "
        "and 10 per 30 days; 5 active recoveries per account, 10 per organization",
    ),
    "ConcurrentModificationException": (
        PlanRefused,
        "another recovery or a user import job holds the pool, or the recovery changed status meanwhile",
    ),
    "OperationNotEnabledException": (
        PlanRefused,
        "the operation is not available here: a replicated pool recovers only in its primary Region after "
        "replication completed, and some older pools (or pools with unsupported data) are not eligible "
        "(AWS Support can help)",
    ),
    "InvalidParameterException": (
        PlanRefused,
        "AWS refused the request's parameters (a recovery point outside the window, or a recovery that is not "
        "in a status that allows this call)",
    ),
    "InternalErrorException": (AwsError, "AWS had an internal error; retry later"),
}


def error_for(operation: str, code: str, pool_id: str, restore_id: str | None = None) -> CognitoBackupError | None:
    """The tool's error for a documented AWS error of a recovery call; None: not one of them (the
    caller's general translation applies: access denied, throttled...)."""
    if code == "ResourceNotFoundException":
        if restore_id:
            return RepositoryNotFound(
                f"{operation}: no recovery {restore_id} in user pool {pool_id} (or no such pool)",
                hint="`cognito-backup recover --status --user-pool-id POOL` lists the pool's recoveries.",
            )
        return PoolNotFound(f"{operation}: user pool {pool_id} does not exist in this account and Region")
    known = _ERRORS.get(code)
    if known is None:
        return None
    cls, sentence = known
    err = cls(f"{operation} on user pool {pool_id}: {sentence} ({code}).")
    err.aws_code = code  # type: ignore[attr-defined]
    return err


def outcome_error(recovery: Recovery, pool_id: str) -> CognitoBackupError | None:
    """The error a final status other than success means, for the command's exit code."""
    status = recovery.status
    prefix = f"Recovery {recovery.restore_id} of {pool_id}: "
    if status in (INTERNAL_ERROR, ABORTED, GENERATION_FAILED):
        return AwsError(prefix + recovery.sentence, hint="Open the AWS Support case; `recover --status` follows it.")
    if status == EXPIRED:
        return PlanRefused(
            prefix + recovery.sentence + " The write pause ended without a start.",
            hint="Initiate a new recovery (AWS allows 3 previews per pool per 24 hours).",
        )
    if status == CANCELLED:
        return OperationsFailed(prefix + recovery.sentence)
    return None


RESTORE_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def parse_restore_id(value: str) -> str:
    """RestoreIdType: a lowercase UUID, 36 characters."""
    if not RESTORE_ID.fullmatch(value):
        raise UsageError(
            f"{value!r} is not a recovery id (a lowercase UUID such as 0f8fad5b-d9cb-469f-a165-70867728950e)"
        )
    return value


def native_alternative(at: dt.datetime, now: dt.datetime, target_pool: str, source_pool: str) -> str | None:
    """For `restore --at T` into the pool the repository backs up: a sentence when AWS's own recovery
    could do the same in place and keep what a restore cannot (passwords, MFA, passkeys, sub). The
    feature plan is not known from here (the restore reads no tier), so the sentence names it."""
    age = now - at
    if target_pool != source_pool or age < MIN_AGE or age > WINDOWS["PLUS"]:
        return None
    plans = "Essentials or Plus" if age <= WINDOWS["ESSENTIALS"] else "Plus"
    return (
        f"AWS's own point-in-time recovery could restore {target_pool} to {_stamp(at)} in place and keep "
        f"passwords, MFA settings, passkeys and each user's sub, if the pool is on the {plans} feature plan (it "
        "reverts every user change after that time, deletes later sign-ups, restores no configuration and runs "
        f"once per 24 hours): cognito-backup recover --user-pool-id {target_pool} --at {_stamp(at)} --repo REPO "
        "--dry-run"
    )


# ---- this tool's own per-user view of the same recovery ------------------------------------------


@dataclass
class ToolView:
    """Who the recovery would recreate, revert and delete, from the repository's state at T."""

    recreated: list[str] = field(default_factory=list)
    reverted: list[str] = field(default_factory=list)
    deleted: list[str] = field(default_factory=list)
    groups: dict[str, list[str]] = field(default_factory=lambda: {"create": [], "update": [], "delete": []})

    def counts(self) -> list[PreviewCount]:
        return [
            PreviewCount("Users", len(self.recreated), len(self.reverted), len(self.deleted)),
            PreviewCount("Groups", len(self.groups["create"]), len(self.groups["update"]), len(self.groups["delete"])),
        ]

    def to_json(self) -> dict[str, Any]:
        return {
            "recreated": self.recreated,
            "reverted": self.reverted,
            "deleted": self.deleted,
            "groups": self.groups,
            "counts": [c.to_json() for c in self.counts()],
        }


_USER_REVERTS = frozenset(
    {
        "update_user_attributes",
        "delete_user_attributes",
        "disable_user",
        "enable_user",
        "add_membership",
        "remove_membership",
    }
)


def tool_view(the_plan: Plan) -> ToolView:
    """Sort a plan (live pool -> state at T, with pruning) into AWS's preview terms."""
    view = ToolView()
    created = {op.user for op in the_plan.ops if op.kind == "create_user"}
    deleted = {op.user for op in the_plan.ops if op.kind == "delete_user"}
    reverted = {op.user for op in the_plan.ops if op.kind in _USER_REVERTS} - created - deleted
    view.recreated = sorted(u for u in created if u)
    view.deleted = sorted(u for u in deleted if u)
    view.reverted = sorted(u for u in reverted if u)
    for op in the_plan.ops:
        verb = {"create_group": "create", "update_group": "update", "delete_group": "delete"}.get(op.kind)
        if verb and op.group:
            view.groups[verb].append(op.group)
    return view


def side_by_side(aws: Sequence[PreviewCount], tool: Sequence[PreviewCount]) -> list[dict[str, Any]]:
    """One row per entity type: AWS's counts and this tool's, None where one side has no figure."""
    entities = [p.entity for p in aws] + [p.entity for p in tool if p.entity not in {a.entity for a in aws}]
    by_aws = {p.entity: p for p in aws}
    by_tool = {p.entity: p for p in tool}
    rows = []
    for entity in entities:
        a, t = by_aws.get(entity), by_tool.get(entity)
        rows.append(
            {
                "entity": entity,
                "aws": a.to_json() if a else None,
                "tool": t.to_json() if t else None,
            }
        )
    return rows
