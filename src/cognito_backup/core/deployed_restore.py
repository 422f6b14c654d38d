"""The deployed restore's request document and progress record: pure data, no I/O.

`restore --deployed STACK` (cli/restore_cmds.py) builds the request document; the restore state
machine (deploy/template.yaml, RestoreStateMachine) is started with `{"request": <document>}` (the same
input works from the Step Functions console) and each bounded step (serverless/restore.py) parses it
here into the RestoreRequest the CLI restore would run. Refused here, with exit 2, is what a restore
without a terminal and without a local disk cannot do: creating a pool, temporary passwords (they would
have to be stored; docs/deploy.md), CSV import jobs, and deletions without an explicit "prune": true.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.core.plan import PlanOptions
from cognito_backup.errors import (
    AccessDenied,
    AwsError,
    CognitoBackupError,
    Interrupted,
    NotRestorable,
    OperationsFailed,
    PlanRefused,
    PoolNotFound,
    RepositoryBusy,
    RepositoryDamaged,
    RepositoryNotFound,
    SnapshotIncomplete,
    StoreUnavailable,
    Throttled,
    UsageError,
)
from cognito_backup.repo.layout import DEPLOYED_RESTORES_PREFIX

# Password modes a deployed restore accepts: neither leaves a secret to keep (docs/deploy.md).
DEPLOYED_PASSWORD_MODES = ("random-permanent", "none")
KEYS = frozenset(
    {
        "target_user_pool_id",
        "snapshot",
        "at",
        "source_user_pool_id",
        "allow_after_coverage",
        "prune",
        "only",
        "only_missing",
        "password_mode",
        "keep_sub_in",
        "map_arn",
        "no_add_attributes",
    }
)
_POOL_ID = re.compile(r"^[\w-]+_[0-9a-zA-Z]+$")

# Execution states as `restore --status` reports them (Step Functions' RUNNING / SUCCEEDED / FAILED /
# TIMED_OUT / ABORTED, in lower case).
RUNNING = "running"
SUCCEEDED = "succeeded"
FAILED = "failed"


@dataclass(frozen=True)
class DeployedRequest:
    target_user_pool_id: str
    snapshot: str | None = None
    at: str | None = None
    source_user_pool_id: str | None = None
    allow_after_coverage: bool = False
    prune: bool = False
    only: tuple[str, ...] = ()
    only_missing: bool = False
    password_mode: str = "random-permanent"
    keep_sub_in: str | None = None
    map_arn: Mapping[str, str] = field(default_factory=dict)
    no_add_attributes: bool = False

    @property
    def region(self) -> str:
        """A user pool id starts with its Region (us-east-1_AbC...)."""
        return self.target_user_pool_id.split("_", 1)[0]

    def to_json(self) -> dict[str, Any]:
        """The document, with the defaults left out (short enough to type in the console)."""
        body: dict[str, Any] = {"target_user_pool_id": self.target_user_pool_id}
        defaults = DeployedRequest(self.target_user_pool_id)
        for key in sorted(KEYS - {"target_user_pool_id"}):
            value = getattr(self, key)
            if value != getattr(defaults, key):
                body[key] = list(value) if isinstance(value, tuple) else dict(value) if key == "map_arn" else value
        return body

    def pinned(self, source_label: str) -> DeployedRequest:
        """The same request with `latest` resolved: a snapshot taken during a days-long restore must not
        change what later steps restore (nor the name of the resume state). A point in time is pinned by
        itself."""
        if self.snapshot is not None or self.at is not None:
            return self
        return DeployedRequest(**{**self.__dict__, "snapshot": source_label.split("+", 1)[0]})


def _text(doc: Mapping[str, Any], key: str) -> str | None:
    value = doc.get(key)
    if value is None:
        return None
    if not isinstance(value, str) or not value:
        raise UsageError(f'The restore request\'s "{key}" must be a non-empty string')
    return value


def _flag(doc: Mapping[str, Any], key: str) -> bool:
    value = doc.get(key, False)
    if not isinstance(value, bool):
        raise UsageError(f'The restore request\'s "{key}" must be true or false')
    return value


def parse_request(doc: Any) -> DeployedRequest:
    """The request document -> DeployedRequest; UsageError (exit 2) names what is wrong or refused."""
    if not isinstance(doc, Mapping):
        raise UsageError('The restore request must be an object such as {"target_user_pool_id": "us-east-1_..."}')
    unknown = sorted(set(doc) - KEYS)
    if unknown:
        raise UsageError(
            f"The restore request has unknown keys: {', '.join(unknown)} (known: {', '.join(sorted(KEYS))})"
        )
    target = _text(doc, "target_user_pool_id")
    if target is None or not _POOL_ID.match(target):
        raise UsageError(
            'The restore request needs "target_user_pool_id": an existing pool id such as us-east-1_AbC123. '
            "A deployed restore does not create pools: create it with `cognito-backup restore --new-pool` "
            "(or by hand) and deploy the stack with RestoreUserPoolId set to it."
        )
    snapshot, at = _text(doc, "snapshot"), _text(doc, "at")
    if snapshot and at:
        raise UsageError('Give "snapshot" or "at", not both')
    if at is not None:
        try:
            dt.datetime.fromisoformat(at.replace("Z", "+00:00"))
        except ValueError:
            raise UsageError(f'"at" {at!r} is not an ISO-8601 time, e.g. 2026-11-21T10:15:30Z') from None
    mode = _text(doc, "password_mode") or "random-permanent"
    if mode not in DEPLOYED_PASSWORD_MODES:
        raise UsageError(
            f'A deployed restore takes "password_mode" {" or ".join(DEPLOYED_PASSWORD_MODES)}, not {mode!r}: '
            "temporary passwords would have to be kept somewhere until handed out. Run temporary-file "
            "restores from the CLI (their passwords stay in an owner-only local file)."
        )
    only = doc.get("only", [])
    if not isinstance(only, list) or not all(isinstance(v, str) for v in only):
        raise UsageError('"only" must be a list such as ["user:alice", "group:admins"]')
    for value in only:
        kind, sep, name = value.partition(":")
        if not sep or not name or kind not in ("user", "group"):
            raise UsageError(f'"only" {value!r}: expected user:NAME or group:NAME')
    only_missing = _flag(doc, "only_missing")
    if only_missing and (_flag(doc, "prune") or any(v.startswith("group:") for v in only)):
        raise UsageError(
            '"only_missing" creates missing users and touches nothing else: not with "prune" or "only" group:NAME'
        )
    arn_map = doc.get("map_arn", {})
    if not isinstance(arn_map, Mapping) or not all(isinstance(v, str) for v in [*arn_map, *arn_map.values()]):
        raise UsageError('"map_arn" must be an object {"OLD_ARN": "NEW_ARN"}')
    keep_sub = _text(doc, "keep_sub_in")
    if keep_sub is not None and (not keep_sub.startswith("custom:") or not 1 <= len(keep_sub) - 7 <= 20):
        raise UsageError(f'"keep_sub_in" {keep_sub!r}: expected custom:NAME with NAME of 1 to 20 characters')
    return DeployedRequest(
        target_user_pool_id=target,
        snapshot=snapshot,
        at=at,
        source_user_pool_id=_text(doc, "source_user_pool_id"),
        allow_after_coverage=_flag(doc, "allow_after_coverage"),
        prune=_flag(doc, "prune"),
        only=tuple(only),
        only_missing=only_missing,
        password_mode=mode,
        keep_sub_in=keep_sub,
        map_arn=dict(arn_map),
        no_add_attributes=_flag(doc, "no_add_attributes"),
    )


# StartExecution's `input`: at most 262,144 characters (botocore's model; "256 KiB of data as a UTF-8 encoded
# string" in Step Functions' quotas). Past it AWS refuses the start, after every check here had passed.
EXECUTION_INPUT_MAX = 262_144


def execution_input(request: DeployedRequest) -> str:
    """The execution's input document as sent to StartExecution; refused (exit 2, nothing started) past Step
    Functions' limit, which a long --only-from list reaches (about 8,000 emails). PURE."""
    text = json.dumps({"request": request.to_json()})
    size = len(text.encode("utf-8"))
    if size > EXECUTION_INPUT_MAX:
        raise UsageError(
            f"The deployed restore's input would be {size:,} bytes, over Step Functions' 256 KiB "
            f"({len(request.only):,} --only / --only-from names). Nothing was started.",
            hint="To bring back every user the target lacks, use --only-missing (it needs no names); else "
            "split the list into several restores, one after the other, or run this restore from here "
            "without --deployed.",
        )
    return text


def plan_options(request: DeployedRequest) -> PlanOptions:
    users = frozenset(v.split(":", 1)[1] for v in request.only if v.startswith("user:"))
    groups = frozenset(v.split(":", 1)[1] for v in request.only if v.startswith("group:"))
    return PlanOptions(
        prune=request.prune,
        only_users=users,
        only_groups=groups,
        password_mode=request.password_mode,
        users_via="admin",
        add_missing_attributes=not request.no_add_attributes,
        keep_sub_in=request.keep_sub_in,
        arn_map=dict(request.map_arn),
        only_missing=request.only_missing,
    )


def report_prefix(execution_name: str) -> str:
    """Where a deployed restore's progress record and reports go (a Lambda has no --report-dir). Apart
    from the resume state's folders (restores/<target>@<source>/), which hold nothing else."""
    safe = re.sub(r"[^A-Za-z0-9_.=-]+", "_", execution_name)
    return f"{DEPLOYED_RESTORES_PREFIX}{safe}/"


def execution_name(execution_arn: str) -> str:
    """arn:aws:states:REGION:ACCOUNT:execution:MACHINE:NAME -> NAME (a bare name stays as it is)."""
    return execution_arn.rsplit(":", 1)[-1]


# The error names a failed step reports (the library's class names) -> the CLI's exit code for them:
# `restore --status` exits as the CLI restore would have.
_ERRORS: tuple[type[CognitoBackupError], ...] = (
    OperationsFailed,
    UsageError,
    AccessDenied,
    PoolNotFound,
    Throttled,
    RepositoryDamaged,
    RepositoryNotFound,
    PlanRefused,
    AwsError,
    StoreUnavailable,
    SnapshotIncomplete,
    NotRestorable,
    RepositoryBusy,
    Interrupted,
)


def error_class(error: str | None) -> type[CognitoBackupError]:
    """A failed step's error name -> the library's error class; anything else (a Lambda timeout, States.*
    errors) is an AWS error."""
    for cls in _ERRORS:
        if cls.__name__ == error:
            return cls
    return AwsError


def exit_code_of(error: str | None) -> int:
    """A failed execution's error name -> exit code: the library's errors keep theirs; anything else
    (a Lambda timeout, States.* errors) is an AWS error (9)."""
    return error_class(error).exit_code
