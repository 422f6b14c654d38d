"""`migrate`: move a pool's users into another pool with their passwords (docs/migrate.md).

    run_start()   fresh snapshot of A, B prepared (created with --new-pool, groups), an admin-auth-only
                  client on A, the user-migration trigger attached to B, the migration recorded.
    run_sync()    memberships and disabled state of the users who moved, from a filtered read of A.
    run_status()  how many moved, how many remain, per day.
    run_finish()  the users who never signed in restored by the restore engine, trigger and client
                  removed, the report with the sub map of every user.

The decisions are core/migrate_plan.py's; nothing is printed here. Attribute values never reach a message.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from cognito_backup.aws.errors import aws_code, translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.pool_creator import create_pool_from_config, find_tagged_pool, pools_named
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.migrate_plan import (
    FINISHED,
    MigrationState,
    StartPlan,
    finish_desired,
    groups_only,
    held_refusal,
    lambda_config_with,
    migration_key,
    moved_since,
    moved_users,
    now_iso,
    sign_up_warning,
    source_subs,
    start_refusals,
    status_counts,
    sync_desired,
    triggers_for,
)
from cognito_backup.core.plan import PlanOptions
from cognito_backup.core.pool_translate import update_user_pool_kwargs
from cognito_backup.errors import (
    CognitoBackupError,
    PlanRefused,
    PoolNotFound,
    RepositoryNotFound,
    UsageError,
)
from cognito_backup.model import PoolConfig, PoolState
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.restore import RestoreOptions, RestoreOutcome, RestoreSummary, reconcile, write_reports
from cognito_backup.repo.repository import Repository, parse_time, utcnow
from cognito_backup.serverless.migrate_trigger import CLIENT_NAME
from cognito_backup.store.base import ObjectNotFound

MIGRATE_TAG = "cognito-backup:migrate-from"  # on a pool `start --new-pool` created: whose users it takes


@dataclass
class Pools:
    """The clients of the two pools (A and B may be in two Regions), and the pacer both share."""

    source: Any
    target: Any
    pacer: Pacer
    functions: Any = None  # a Lambda client in B's Region: finds the deployed trigger without --trigger-arn


def _call(pools: Pools, client: Any, operation: str, action: str, **kwargs: Any) -> Any:
    method = getattr(client, "".join("_" + c.lower() if c.isupper() else c for c in operation).lstrip("_"))
    try:
        return pools.pacer.call(operation, method, **kwargs)
    except CognitoBackupError:
        raise
    except Exception as exc:
        raise translate_client_error(exc, action) from exc


def _describe(pools: Pools, client: Any, pool_id: str, role: str) -> dict[str, Any]:
    try:
        pool = _call(pools, client, "DescribeUserPool", f"DescribeUserPool {pool_id}", UserPoolId=pool_id)
    except PoolNotFound:
        raise PoolNotFound(f"The {role} pool {pool_id} does not exist in this account and Region.") from None
    return dict(pool["UserPool"])


# ---- the record ------------------------------------------------------------------------------------------


def load_state(repo: Repository, from_pool_id: str) -> MigrationState | None:
    try:
        return MigrationState.from_bytes(repo.store.get_bytes(migration_key(from_pool_id)))
    except ObjectNotFound:
        return None


def require_state(repo: Repository, from_pool_id: str) -> MigrationState:
    state = load_state(repo, from_pool_id)
    if state is None:
        raise RepositoryNotFound(
            f"No migration from {from_pool_id} is recorded in this repository.",
            hint="Start one with `cognito-backup migrate start`.",
        )
    return state


def save_state(repo: Repository, state: MigrationState) -> None:
    repo.store.put_bytes(migration_key(state.from_user_pool_id), state.to_bytes())


# ---- start -----------------------------------------------------------------------------------------------


@dataclass
class StartRequest:
    from_pool_id: str
    trigger_arn: str | None
    to_pool_id: str | None = None
    new_pool_name: str | None = None
    to_region: str | None = None
    dry_run: bool = False


@dataclass
class StartOutcome:
    plan: StartPlan
    state: MigrationState | None = None
    warnings: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return {
            "dry_run": self.state is None,
            "plan": self.plan.to_json(),
            "migration": self.state.to_json() if self.state else None,
            "warnings": self.warnings,
        }


def plan_start(pools: Pools, repo: Repository, request: StartRequest) -> tuple[StartPlan, dict[str, Any]]:
    """Read A and B, refuse what cannot work (PlanRefused, nothing written), and say what start will do."""
    if bool(request.to_pool_id) == bool(request.new_pool_name):
        raise UsageError("Give exactly one of --to-user-pool-id B and --new-pool NAME.")
    same_region = (request.to_region or "") in ("", request.from_pool_id.split("_", 1)[0])
    if request.to_pool_id == request.from_pool_id and same_region:
        raise UsageError(
            f"{request.from_pool_id} is both the source and the target: give another pool, or --new-pool NAME."
        )
    a_pool = _describe(pools, pools.source, request.from_pool_id, "source")
    trigger_arn = request.trigger_arn or find_trigger(pools, request.from_pool_id)
    earlier = load_state(repo, request.from_pool_id)
    b_pool: dict[str, Any] | None = None
    to_pool_id = request.to_pool_id
    if earlier is not None and earlier.status != FINISHED:
        wanted = request.to_pool_id or earlier.to_user_pool_id
        if (request.new_pool_name and earlier.new_pool != request.new_pool_name) or wanted != earlier.to_user_pool_id:
            raise PlanRefused(
                f"A migration from {request.from_pool_id} into {earlier.to_user_pool_id} is already under way.",
                hint="Finish it (`migrate finish`) before starting another.",
            )
        to_pool_id = earlier.to_user_pool_id  # a re-run resumes into the same pool
    if to_pool_id and b_pool is None:
        b_pool = _describe(pools, pools.target, to_pool_id, "target")
    elif request.new_pool_name and (
        found := find_tagged_pool(pools.target, pools.pacer, request.new_pool_name, MIGRATE_TAG, request.from_pool_id)
    ):
        # An earlier run created it and stopped before recording the migration: resume into it.
        to_pool_id = found
        b_pool = _describe(pools, pools.target, found, "target")
    elif request.new_pool_name and pools_named(pools.target, pools.pacer, request.new_pool_name):
        raise PlanRefused(
            f"A pool named {request.new_pool_name!r} already exists: give --to-user-pool-id, or another name."
        )
    refusals = start_refusals(request.from_pool_id, to_pool_id, a_pool, b_pool, trigger_arn, same_region)
    if request.to_pool_id and to_pool_id and (earlier is None or earlier.status == FINISHED):
        # A first start into an existing pool: nobody has moved yet, so every user of A it holds is
        # someone else's (or a collision of a merge). Read A only when B holds anyone.
        held = _held_users(pools, request.from_pool_id, to_pool_id, a_pool)
        refusal = held_refusal(request.from_pool_id, to_pool_id, held)
        if refusal:
            refusals.append(refusal)
    if refusals:
        raise PlanRefused(" ".join(refusals), hint="Nothing was written.")
    plan = StartPlan(request.from_pool_id, to_pool_id, request.new_pool_name, trigger_arn)
    plan.steps = [
        f"take a fresh snapshot of {request.from_pool_id}",
        f"create pool {request.new_pool_name!r} from its configuration"
        if not to_pool_id
        else f"use pool {to_pool_id} (its settings are kept)",
        "create the groups it lacks (no users: they move at sign-in, or at `migrate finish`)",
        f"create app client {CLIENT_NAME!r} on {request.from_pool_id}: admin password auth only, no secret",
        f"attach {trigger_arn} as the user-migration trigger (every other setting kept)",
        "record the migration in the repository",
    ]
    return plan, a_pool


def _held_users(pools: Pools, from_pool_id: str, to_pool_id: str, a_pool: dict[str, Any]) -> list[str]:
    """B's usernames of the users of A that B holds (by moved_users' identity)."""
    in_b = list(PoolReader(pools.target, pools.pacer, to_pool_id).iter_users())
    if not in_b:
        return []
    in_a = PoolReader(pools.source, pools.pacer, from_pool_id).iter_users()
    return [pair[1].username for pair in moved_users(in_a, in_b, PoolConfig(user_pool=a_pool)).values()]


def find_trigger(pools: Pools, from_pool_id: str) -> str:
    """The migration trigger this project's stack deployed for pool A in B's Region (its environment names
    A), when --trigger-arn is not given."""
    hint = (
        "Deploy deploy/template.yaml with MigrateSourceUserPoolId set to the source pool, in the target's "
        "Region, or give --trigger-arn."
    )
    if pools.functions is None:
        raise UsageError("--trigger-arn is required here.", hint=hint)
    functions: list[dict[str, Any]] = []
    marker: str | None = None
    try:
        while True:
            page = pools.functions.list_functions(**({"Marker": marker} if marker else {}))
            functions += page.get("Functions", [])
            marker = page.get("NextMarker")
            if not marker:
                break
    except Exception as exc:
        raise translate_client_error(exc, "lambda ListFunctions (finding the migration trigger)") from exc
    found = triggers_for(functions, from_pool_id)
    if len(found) != 1:
        what = "No deployed migration trigger reads" if not found else f"{len(found)} deployed triggers read"
        raise UsageError(f"{what} {from_pool_id}{': ' + ', '.join(found) if found else ''}.", hint=hint)
    return found[0]


def run_start(
    pools: Pools,
    repo: Repository,
    request: StartRequest,
    *,
    stage: Callable[[str], None] = lambda name: None,
    clock: Callable[[], dt.datetime] = utcnow,
) -> StartOutcome:
    plan, _ = plan_start(pools, repo, request)
    outcome = StartOutcome(plan)
    if request.dry_run:
        return outcome
    earlier = load_state(repo, request.from_pool_id)
    if earlier is not None and earlier.status == FINISHED:
        earlier = None  # a new migration out of A: the last one's client is gone, its dates are its own
    stage("snapshot of the source pool")
    repo.init_if_needed()
    reader = PoolReader(pools.source, pools.pacer, request.from_pool_id)
    backup = run_backup(reader, repo, request.from_pool_id.split("_", 1)[0])
    state = repo.load_state(backup.manifest)
    to_pool_id = plan.to_user_pool_id
    if to_pool_id is None:
        stage("creating the target pool")
        created = create_pool_from_config(
            pools.target,
            pools.pacer,
            state.config,
            str(request.new_pool_name),
            arn_map={},
            domain_prefix=None,
            keep_sub_attribute=None,
            target_region=request.to_region,
            warn=outcome.warnings.append,
            tags={MIGRATE_TAG: request.from_pool_id},
        )
        to_pool_id = created.user_pool_id
        plan.to_user_pool_id = to_pool_id
    stage("groups")
    summary = reconcile(pools.target, pools.pacer, to_pool_id, groups_only(state), RestoreOptions(read_back=False))
    if summary.failed_results:
        outcome.warnings.append(f"{len(summary.failed_results)} group operation(s) failed; re-run start to retry")
    stage("admin-auth client on the source pool")
    client_id = (earlier.client_id if earlier else None) or _ensure_client(pools, request.from_pool_id)
    stage("attaching the trigger")
    described = _set_trigger(pools, to_pool_id, plan.trigger_arn)
    if (open_to_sign_up := sign_up_warning(to_pool_id, described)) is not None:
        outcome.warnings.append(open_to_sign_up)
    record = MigrationState(
        from_user_pool_id=request.from_pool_id,
        to_user_pool_id=to_pool_id,
        trigger_arn=plan.trigger_arn,
        client_id=client_id,
        snapshot=backup.manifest.id,
        started_at=earlier.started_at if earlier else now_iso(clock()),
        to_region=request.to_region,
        new_pool=request.new_pool_name,
    )
    save_state(repo, record)
    outcome.state = record
    return outcome


def _ensure_client(pools: Pools, pool_id: str) -> str:
    token: str | None = None
    while True:
        paging = {"NextToken": token} if token else {}
        page = _call(
            pools, pools.source, "ListUserPoolClients", f"ListUserPoolClients {pool_id}", UserPoolId=pool_id,
            MaxResults=60, **paging,
        )  # fmt: skip
        for item in page.get("UserPoolClients", []):
            if item.get("ClientName") == CLIENT_NAME:
                return str(item["ClientId"])
        token = page.get("NextToken")
        if not token:
            break
    created = _call(
        pools,
        pools.source,
        "CreateUserPoolClient",
        f"CreateUserPoolClient {pool_id}",
        UserPoolId=pool_id,
        ClientName=CLIENT_NAME,
        GenerateSecret=False,
        ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"],
    )
    return str(created["UserPoolClient"]["ClientId"])


def _set_trigger(pools: Pools, pool_id: str, trigger_arn: str | None) -> Mapping[str, Any]:
    """Attach (or with None, remove) the trigger; returns the pool as described before."""
    pool = _describe(pools, pools.target, pool_id, "target")
    kwargs = update_user_pool_kwargs(pool, LambdaConfig=lambda_config_with(pool, trigger_arn))
    _call(pools, pools.target, "UpdateUserPool", f"UpdateUserPool {pool_id}", **kwargs)
    return pool


# ---- sync / status ---------------------------------------------------------------------------------------


def _read_source(pools: Pools, state: MigrationState) -> PoolReader:
    reader = PoolReader(pools.source, pools.pacer, state.from_user_pool_id)
    try:
        reader.describe_pool()
    except PoolNotFound:
        raise PoolNotFound(
            f"The source pool {state.from_user_pool_id} no longer exists: users who have not signed in "
            "since cannot move with their password.",
            hint="Run `migrate finish`: it restores them from the migration's last snapshot of the source "
            "(passwords per --password-mode); nothing recorded is lost.",
        ) from None
    return reader


def _moved(pools: Pools, state: MigrationState, source: PoolState) -> Any:
    target = list(PoolReader(pools.target, pools.pacer, state.to_user_pool_id).iter_users())
    return moved_users(source.users.values(), target, source.config)


def run_sync(
    pools: Pools,
    repo: Repository,
    from_pool_id: str,
    *,
    everyone: bool = False,
    clock: Callable[[], dt.datetime] = utcnow,
) -> RestoreSummary:
    """Memberships and disabled state of the users who moved since the last sync (`everyone`: of all who
    moved), read from A user by user (filtered, paced)."""
    began = clock()
    state = require_state(repo, from_pool_id)
    reader = _read_source(pools, state)
    # Who exists in A: the start snapshot lists them (a fresh listing of A is `finish`'s job).
    snapshot = repo.load_state(repo.resolve(state.snapshot))
    since = None if everyone or not state.last_sync_at else parse_time(state.last_sync_at)
    moved = moved_since(_moved(pools, state, snapshot), since)
    fresh: dict[str, tuple[Any, Any]] = {}
    groups_of: dict[str, list[str]] = {}
    for key, (old, new) in moved.items():
        now = reader.find_user("username", old.username)
        if now is None:
            continue  # deleted in A since: B's copy is the user's now
        fresh[key] = (now, new)
        groups_of[now.username] = reader.user_groups(now.username)
    target_state = PoolReader(pools.target, pools.pacer, state.to_user_pool_id).read_state()
    desired = sync_desired(target_state.config, target_state.groups, fresh, groups_of)
    summary = reconcile(
        pools.target, pools.pacer, state.to_user_pool_id, desired, RestoreOptions(read_back=False), actual=target_state
    )
    if not summary.failed_results:  # a failed one is retried by the next sync
        state.last_sync_at = now_iso(began)
        save_state(repo, state)
    return summary


def run_status(pools: Pools, repo: Repository, from_pool_id: str) -> dict[str, Any]:
    state = require_state(repo, from_pool_id)
    snapshot = repo.load_state(repo.resolve(state.snapshot))
    counts = status_counts(len(snapshot.users), _moved(pools, state, snapshot))
    return {"migration": state.to_json(), **counts}


# ---- finish ----------------------------------------------------------------------------------------------


@dataclass
class FinishOutcome:
    restore: RestoreOutcome
    state: MigrationState
    moved: int
    restored: int
    source_gone: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            **self.restore.to_json(),
            "migration": self.state.to_json(),
            "moved_with_password": self.moved,
            "restored": self.restored,
            "source_gone": self.source_gone,
        }


def run_finish(
    pools: Pools,
    repo: Repository,
    from_pool_id: str,
    *,
    password_mode: str,
    report_dir: Path,
    clock: Callable[[], dt.datetime] = utcnow,
) -> FinishOutcome:
    state = require_state(repo, from_pool_id)
    # The trigger goes first: a user moved while the rest is restored would be created twice.
    _set_trigger(pools, state.to_user_pool_id, None)
    source_gone = False
    try:
        reader = _read_source(pools, state)
        backup = run_backup(reader, repo, from_pool_id.split("_", 1)[0])
        state.snapshot = backup.manifest.id
        source = repo.load_state(backup.manifest)
    except PoolNotFound:
        # A was deleted mid-migration: its last snapshot is the best record of who remains.
        source_gone = True
        source = repo.load_state(repo.resolve(state.snapshot))
    moved = _moved(pools, state, source)
    desired = finish_desired(source, moved)
    options = RestoreOptions(plan=PlanOptions(password_mode=password_mode))
    summary = reconcile(pools.target, pools.pacer, state.to_user_pool_id, desired, options)
    summary.source_pool_id = from_pool_id
    summary.sub_map = source_subs(summary.sub_map, moved)
    summary.snapshot = state.snapshot
    if source_gone:
        summary.warnings.append(f"source pool {from_pool_id} no longer exists: restored from snapshot {state.snapshot}")
    else:
        _delete_client(pools, state)
    state.status = FINISHED
    state.finished_at = now_iso(clock())
    save_state(repo, state)
    outcome = write_reports(summary, report_dir, f"migrate-{from_pool_id}-to-{state.to_user_pool_id}")
    return FinishOutcome(
        outcome, state, moved=len(moved), restored=len(source.users) - len(moved), source_gone=source_gone
    )


def _delete_client(pools: Pools, state: MigrationState) -> None:
    try:
        _call(
            pools,
            pools.source,
            "DeleteUserPoolClient",
            f"DeleteUserPoolClient {state.from_user_pool_id}",
            UserPoolId=state.from_user_pool_id,
            ClientId=state.client_id,
        )
    except CognitoBackupError as exc:
        if aws_code(exc) != "ResourceNotFoundException":
            raise
