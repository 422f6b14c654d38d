"""Restore: make a user pool equal to a desired state (a snapshot, or a state folded from a journal).

    reconcile()   read the target, plan, apply: the engine `restore`, point-in-time restore and standby
                  replication share.
    run_restore() the `restore` command: load a snapshot, create the new pool if asked, reconcile, write
                  the report, the sub map and (temporary-file mode) the passwords file.

Nothing is printed here; progress goes to callbacks. Attribute values never reach a message.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import threading
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.writer import EXISTED, Writer, random_password
from cognito_backup.core.deletions import deleted_items
from cognito_backup.core.plan import Op, Plan, PlanOptions, identity_key, plan, username_attributes
from cognito_backup.core.standby import STANDBY_TAG
from cognito_backup.errors import PlanRefused, UsageError
from cognito_backup.model import PoolConfig, PoolState
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState, write_private
from cognito_backup.ops.pitr import select_desired
from cognito_backup.ops.scheduler import BLOCKED, FAILED, OpResult, default_workers, run_ops
from cognito_backup.repo.repository import Repository

USERS_VIA = ("admin", "import-job")


@dataclass
class RestoreOptions:
    plan: PlanOptions = field(default_factory=PlanOptions)
    dry_run: bool = False
    users_via: str = "admin"
    import_role_arn: str | None = None
    import_kwargs: Mapping[str, Any] = field(default_factory=dict)  # ImportRunner extras (tests: put, sleep)
    workers: Mapping[str, int] | None = None  # threads per quota category
    read_back: bool = True  # re-list the target's users afterwards for the sub map


@dataclass
class RestoreProgress:
    stage: Callable[[str], None] = lambda name: None
    applied: Callable[[int, int], None] = lambda done, total: None
    note: Callable[[str], None] = lambda message: None


@dataclass
class RestoreSummary:
    user_pool_id: str | None
    dry_run: bool
    plan: Plan
    results: list[OpResult] = field(default_factory=list)
    sub_map: list[tuple[str, str, str]] = field(default_factory=list)  # old_sub, new_sub, username
    client_id_map: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    temporary_passwords: dict[str, tuple[str, str]] = field(default_factory=dict)  # key -> (username, pw)
    import_report: dict[str, Any] | None = None
    snapshot: str | None = None
    source_pool_id: str | None = None  # the pool the snapshot is of (core/source.py chose it)
    new_pool: bool = False
    seconds: float = 0.0
    calls: dict[str, dict[str, float]] = field(default_factory=dict)

    @property
    def failed_results(self) -> list[OpResult]:
        return [r for r in self.results if r.status in (FAILED, BLOCKED)]

    def detail(self) -> dict[str, dict[str, int]]:
        """Per kind (users, groups, memberships): created / updated / deleted / unchanged / skipped /
        failed, each entity counted once (a user created then disabled is one created user)."""
        outcome: dict[tuple[str, str], str] = {}
        rank = {"failed": 4, "created": 3, "deleted": 2, "updated": 1}
        for r in self.results:
            kind, name = r.op.entity
            if kind == "schema":
                continue
            if not r.ok:
                state = "failed"
            elif r.op.kind in ("create_user", "create_group", "add_membership"):
                state = "updated" if r.status == EXISTED else "created"
            elif r.op.kind in ("delete_user", "delete_group", "remove_membership"):
                state = "deleted"
            else:
                state = "updated"
            key = (kind, name)
            if rank[state] > rank.get(outcome.get(key, ""), 0):
                outcome[key] = state
        out: dict[str, dict[str, int]] = {}
        for plural, kind in (("users", "user"), ("groups", "group"), ("memberships", "membership")):
            counts = dict.fromkeys(("created", "updated", "deleted", "failed"), 0)
            for (k, _), state in outcome.items():
                if k == kind:
                    counts[state] += 1
            counts["unchanged"] = self.plan.unchanged.get(plural, 0)
            counts["skipped"] = sum(1 for n in self.plan.skipped if n.kind == kind)
            out[plural] = counts
        return out

    def counts(self) -> dict[str, int]:
        detail = self.detail()
        return {k: sum(d[k] for d in detail.values()) for k in next(iter(detail.values()))}

    def failures(self) -> list[dict[str, Any]]:
        out = []
        for r in self.failed_results:
            item: dict[str, Any] = {"op": r.op.kind, "call": r.op.operation, "status": r.status, "error": r.error}
            if r.op.user is not None:
                item["user"] = r.op.user
            if r.op.group is not None:
                item["group"] = r.op.group
            out.append(item)
        return out

    def to_json(self) -> dict[str, Any]:
        counts = self.counts()
        return {
            "user_pool_id": self.user_pool_id,
            "snapshot": self.snapshot,
            "source_user_pool_id": self.source_pool_id,
            "new_pool": self.new_pool,
            "dry_run": self.dry_run,
            **counts,
            "detail": self.detail(),
            "failures": self.failures(),
            "deleted_items": deleted_items(r.op for r in self.results if r.ok),
            "skipped_items": [n.to_json() for n in self.plan.skipped],
            "notes": [n.to_json() for n in self.plan.notes],
            "drift": [n.to_json() for n in self.plan.drift],
            "client_id_map": dict(self.client_id_map),
            "warnings": list(self.warnings),
            "import": self.import_report,
            "operations": len(self.plan.ops),
            "seconds": round(self.seconds, 3),
            "calls": self.calls,
        }


class _Recorder:
    """Journals what a re-run cannot learn from the target (see ops/checkpoint.py)."""

    def __init__(self, checkpoint: Checkpoint | None, state: CheckpointState) -> None:
        self.checkpoint = checkpoint
        self.temporary: dict[str, tuple[str, str]] = dict(state.temporary_passwords)
        self.lock = threading.Lock()

    def created(self, op: Op) -> None:
        if self.checkpoint:
            self.checkpoint.record("create", user=op.user)

    def password(self, op: Op, temporary: str | None) -> None:
        key = op.user or ""
        if temporary:
            with self.lock:
                self.temporary[key] = (op.username or key, temporary)
        if self.checkpoint:
            self.checkpoint.record("password", user=key, username=op.username, temporary=temporary)


def read_actual(client: Any, pacer: Pacer, pool_id: str) -> PoolState:
    return PoolReader(client, pacer, pool_id).read_state()


def reconcile(
    client: Any,
    pacer: Pacer,
    target_pool_id: str,
    desired: PoolState,
    options: RestoreOptions | None = None,
    *,
    checkpoint: Checkpoint | None = None,
    progress: RestoreProgress | None = None,
    actual: PoolState | None = None,
    confirm: Callable[[Plan], bool] | None = None,
    clock: Callable[[], float] = time.monotonic,
) -> RestoreSummary:
    """Make pool `target_pool_id` equal to `desired`: read its actual state (unless given), plan, apply.

    `checkpoint` (optional) makes an interrupted run resumable with passwords handled exactly once;
    `confirm(plan)` is asked before a plan with deletions is applied (False cancels, nothing written).
    Raises PlanRefused before writing anything when the target cannot take the desired state; never
    raises for failed operations: they are in the summary (`failed_results`)."""
    opts = options or RestoreOptions()
    prog = progress or RestoreProgress()
    begin = clock()
    state = checkpoint.load() if checkpoint else CheckpointState()
    plan_opts = replace(
        opts.plan,
        owned_users=frozenset(opts.plan.owned_users | state.owned_users),
        passwords_done=frozenset(opts.plan.passwords_done | state.passwords_done),
    )
    if opts.users_via not in USERS_VIA:
        raise UsageError(f"--users-via must be one of {', '.join(USERS_VIA)}")
    if opts.users_via == "import-job" and not opts.import_role_arn:
        raise UsageError("--users-via import-job needs --import-role-arn ARN (the CloudWatch Logs role)")
    if actual is None:
        prog.stage("reading the target pool")
        actual = read_actual(client, pacer, target_pool_id)
    prog.stage("planning")
    the_plan = plan(desired, actual, plan_opts)
    summary = RestoreSummary(user_pool_id=target_pool_id, dry_run=opts.dry_run, plan=the_plan)
    recorder = _Recorder(checkpoint, state)
    summary.temporary_passwords = recorder.temporary
    if opts.dry_run:
        summary.seconds = clock() - begin
        return summary
    if (
        confirm is not None
        and any(op.kind in ("delete_user", "delete_group", "remove_membership") for op in the_plan.ops)
        and not confirm(the_plan)
    ):
        raise UsageError("Restore cancelled: nothing was written.")
    workers = dict(opts.workers or default_workers(pacer.rates))
    writer = Writer(client, pacer, target_pool_id)
    policy = (actual.config.user_pool.get("Policies") or {}).get("PasswordPolicy") or {}
    permanent = plan_opts.password_mode == "random-permanent"

    def execute(op: Op) -> str:
        if op.kind == "create_user":
            recorder.created(op)  # before the call: a crash right after it must still own the user
        if op.kind == "set_password":
            password = random_password(policy)
            status = writer.apply(op, password, permanent=permanent)
            recorder.password(op, None if permanent else password)
            return status
        return writer.apply(op)

    results: list[OpResult] = []
    if opts.users_via == "import-job":
        results, actual, the_plan = _import_users(
            client, pacer, target_pool_id, desired, actual, the_plan, plan_opts, opts, execute, workers, summary, prog
        )
        summary.plan = the_plan
    total = len(the_plan.ops)
    done = [0]

    def on_result(result: OpResult) -> None:
        done[0] += 1
        if done[0] % 100 == 0 or done[0] == total:
            prog.applied(done[0], total)

    prog.stage(f"applying {total} operations")
    results += run_ops(the_plan.ops, execute, workers=workers, on_result=on_result)
    summary.results = results
    if opts.read_back and desired.users:
        prog.stage("reading back new subs")
        summary.sub_map = _sub_map(client, pacer, target_pool_id, desired)
    summary.seconds = clock() - begin
    summary.calls = pacer.summary()
    return summary


def _import_users(
    client: Any,
    pacer: Pacer,
    pool_id: str,
    desired: PoolState,
    actual: PoolState,
    first: Plan,
    plan_opts: PlanOptions,
    opts: RestoreOptions,
    execute: Callable[[Op], str],
    workers: Mapping[str, int],
    summary: RestoreSummary,
    prog: RestoreProgress,
) -> tuple[list[OpResult], PoolState, Plan]:
    """Schema and groups first, then the users to create through CSV import jobs, then a fresh plan for
    the rest (disabled state, memberships, users an import could not create) applied with admin calls."""
    from cognito_backup.aws.import_job import ImportRunner, import_users

    setup = [op for op in first.ops if op.kind in ("add_custom_attributes", "create_group", "update_group")]
    results = run_ops(setup, execute, workers=workers) if setup else []
    attrs = username_attributes(desired.config)
    by_key = {identity_key(u, attrs): u for u in desired.users.values()}
    to_create = [by_key[op.user] for op in first.ops if op.kind == "create_user" and op.user in by_key]
    if to_create:
        prog.stage(f"importing {len(to_create)} users with CSV import jobs")
        runner = ImportRunner(client, pacer, pool_id, str(opts.import_role_arn), **dict(opts.import_kwargs))
        report = import_users(runner, to_create, keep_sub_attribute=plan_opts.keep_sub_in)
        summary.import_report = report.to_dict()
        for job in report.failed_jobs:
            summary.warnings.append(f"import job {job.job_id} ended {job.status}: {job.log_hint}")
        actual = read_actual(client, pacer, pool_id)
    # Users the import could not create come back through AdminCreateUser in this second plan.
    return results, actual, plan(desired, actual, plan_opts)


def _sub_map(client: Any, pacer: Pacer, pool_id: str, desired: PoolState) -> list[tuple[str, str, str]]:
    attrs = username_attributes(desired.config)
    now = {identity_key(u, attrs): u for u in PoolReader(client, pacer, pool_id).iter_users()}
    rows = []
    for user in desired.users.values():
        # Every snapshot user found in the target, also after --only: the file keeps one name per restore
        # (target + snapshot), so a selective run must not shrink the map an earlier full run wrote.
        target = now.get(identity_key(user, attrs))
        if user.sub and target is not None and target.sub:
            rows.append((user.sub, target.sub, target.username))
    return sorted(rows, key=lambda r: r[2])


# ---- the restore command ---------------------------------------------------------------------------


@dataclass
class RestoreRequest:
    snapshot: str = "latest"
    at: dt.datetime | None = None  # point in time: best snapshot + journal up to it
    source_pool_id: str | None = None  # whose journal, when the repository holds several pools
    target_pool_id: str | None = None
    new_pool_name: str | None = None
    options: RestoreOptions = field(default_factory=RestoreOptions)
    report_dir: Path = Path("cognito-backup-restore")
    domain_prefix: str | None = None
    target_region: str | None = None


@dataclass
class RestoreOutcome:
    summary: RestoreSummary
    report_path: Path | None = None
    sub_map_path: Path | None = None
    passwords_path: Path | None = None

    def to_json(self) -> dict[str, Any]:
        body = self.summary.to_json()
        body["report"] = str(self.report_path) if self.report_path else None
        body["sub_map"] = str(self.sub_map_path) if self.sub_map_path else None
        body["passwords_file"] = str(self.passwords_path) if self.passwords_path else None
        return body


def run_restore(
    client: Any,
    pacer: Pacer,
    repo: Repository,
    request: RestoreRequest,
    *,
    progress: RestoreProgress | None = None,
    confirm: Callable[[Plan], bool] | None = None,
) -> RestoreOutcome:
    """The `restore` command as a function (the demo calls it too)."""
    if bool(request.target_pool_id) == bool(request.new_pool_name):
        raise UsageError("Give exactly one of --user-pool-id TARGET and --new-pool NAME")
    prog = progress or RestoreProgress()
    opts = request.options
    prog.stage("loading the snapshot" if request.at is None else "folding the snapshot and the journal")
    chosen = select_desired(
        repo,
        request.snapshot,
        request.at,
        source_pool_id=request.source_pool_id,
        target_pool_id=request.target_pool_id,
        into_existing=bool(request.target_pool_id),
    )
    desired, source_label = chosen.state, chosen.label
    if request.new_pool_name:
        run_key = f"new:{request.new_pool_name}@{source_label}"
    else:
        run_key = f"{request.target_pool_id}@{source_label}"
    # A dry run only reads the checkpoint (to plan against the pool an interrupted run created).
    checkpoint = Checkpoint(request.report_dir, run_key)
    client_id_map: dict[str, str] = {}
    warnings: list[str] = []
    try:
        if request.new_pool_name:
            created = checkpoint.load().pool_id
            if opts.dry_run and not created:
                summary = _dry_run_new_pool(desired, opts)
                summary.snapshot = source_label
                summary.source_pool_id = chosen.source_pool_id
                return RestoreOutcome(summary)
            if opts.dry_run and created:
                pool_id = created
            else:
                pool_id, client_id_map, warnings = _new_pool(
                    client, pacer, desired.config, request, checkpoint, prog, source_pool_id=chosen.source_pool_id
                )
        else:
            pool_id = str(request.target_pool_id)
        summary = reconcile(
            client, pacer, pool_id, desired, opts, checkpoint=checkpoint, progress=prog, confirm=confirm
        )
    finally:
        checkpoint.close()
    summary.snapshot = source_label
    summary.source_pool_id = chosen.source_pool_id
    summary.new_pool = bool(request.new_pool_name)
    summary.client_id_map = client_id_map
    summary.warnings = warnings + summary.warnings
    if opts.dry_run:
        return RestoreOutcome(summary)
    return write_reports(summary, request.report_dir, run_key)


def _dry_run_new_pool(desired: PoolState, opts: RestoreOptions) -> RestoreSummary:
    """What a new pool would get: the plan against an empty pool with the snapshot's schema."""
    empty = PoolState(config=PoolConfig(user_pool=dict(desired.config.user_pool)))
    plan_opts = opts.plan
    if plan_opts.keep_sub_in:
        # The new pool declares it at creation.
        pool = dict(empty.config.user_pool)
        pool["SchemaAttributes"] = [
            *list(pool.get("SchemaAttributes", []) or []),
            {"Name": plan_opts.keep_sub_in, "AttributeDataType": "String", "Mutable": True},
        ]
        empty = PoolState(config=PoolConfig(user_pool=pool))
    the_plan = plan(desired, empty, plan_opts)
    summary = RestoreSummary(user_pool_id=None, dry_run=True, plan=the_plan)
    summary.warnings.append("a new pool would be created first (with its app clients, providers and domain)")
    return summary


def _new_pool(
    client: Any,
    pacer: Pacer,
    config: PoolConfig,
    request: RestoreRequest,
    checkpoint: Checkpoint,
    prog: RestoreProgress,
    *,
    source_pool_id: str,
) -> tuple[str, dict[str, str], list[str]]:
    """Create the pool once: a re-run after a crash finds its id in the checkpoint and reuses it.

    The new pool is tagged as the standby of the snapshot's pool (core/standby.py): `replicate` from that
    pool may then keep it in step, deletions included, without asking."""
    from cognito_backup.aws.pool_creator import create_pool_from_config, created_pool_id

    name = str(request.new_pool_name)
    state = checkpoint.load()
    if state.pool_id:
        prog.note(f"resuming into user pool {state.pool_id}, created by an earlier run of this restore")
        return state.pool_id, state.client_id_map, state.warnings
    if state.pool_creating:
        raise PlanRefused(
            f"An earlier run of this restore was stopped while it created pool {name!r}; it may exist half-configured",
            hint="Find it with `aws cognito-idp list-user-pools --max-results 60`, then delete it and re-run, or "
            "re-run with --user-pool-id ID to restore users and groups into it.",
        )
    prog.stage(f"creating user pool {name!r}")
    checkpoint.record("pool_creating", name=name)
    opts = request.options.plan
    try:
        created = create_pool_from_config(
            client,
            pacer,
            config,
            name,
            arn_map=dict(opts.arn_map),
            domain_prefix=request.domain_prefix,
            keep_sub_attribute=opts.keep_sub_in,
            target_region=request.target_region,
            warn=prog.note,
            tags={STANDBY_TAG: source_pool_id},
        )
    except Exception as exc:
        pool_id = created_pool_id(exc)
        if pool_id:
            checkpoint.record("pool_partial", pool_id=pool_id)
        raise
    checkpoint.record(
        "pool_created",
        pool_id=created.user_pool_id,
        client_id_map=created.client_id_map,
        warnings=created.warnings,
    )
    return created.user_pool_id, dict(created.client_id_map), list(created.warnings)


_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def write_reports(summary: RestoreSummary, report_dir: Path, run_key: str) -> RestoreOutcome:
    """The JSON report, the sub map CSV and (temporary-file mode) the passwords CSV, side by side and
    owner-only. Each run rewrites them whole, so after a resumed restore they cover the whole restore."""
    slug = _SLUG.sub("_", run_key).strip("_")
    report_dir = Path(report_dir)
    outcome = RestoreOutcome(summary)
    outcome.sub_map_path = report_dir / f"sub-map-{slug}.csv"
    write_private(outcome.sub_map_path, _csv([("old_sub", "new_sub", "username"), *summary.sub_map]))
    if summary.temporary_passwords:
        outcome.passwords_path = report_dir / f"passwords-{slug}.csv"
        rows = [("username", "temporary_password")] + [
            (username, pw) for _, (username, pw) in sorted(summary.temporary_passwords.items())
        ]
        write_private(outcome.passwords_path, _csv(rows))
    outcome.report_path = report_dir / f"report-{slug}.json"
    body = outcome.to_json()
    body["plan"] = summary.plan.to_json()["counts"]
    write_private(outcome.report_path, (json.dumps(body, indent=2, sort_keys=True, default=str) + "\n").encode())
    return outcome


def _csv(rows: Sequence[Sequence[str]]) -> bytes:
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    writer.writerows(rows)
    return buf.getvalue().encode("utf-8")


def load_snapshot_state(repo: Repository, snapshot: str = "latest") -> tuple[str, PoolState]:
    manifest = repo.resolve(snapshot)
    return manifest.id, repo.load_state(manifest)
