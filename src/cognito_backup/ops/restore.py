"""Restore: make a user pool equal to a desired state (a snapshot, or a state folded from a journal).

    reconcile()   read the target, plan, apply: the engine `restore`, point-in-time restore and standby
                  replication share.
    run_restore() the `restore` command: load a snapshot, create the new pool if asked, reconcile, write
                  the report, the sub map and (temporary-file mode) the passwords file.

Nothing is printed here; progress goes to callbacks. Attribute values never reach a message.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import itertools
import json
import re
import secrets
import threading
import time
from collections.abc import Callable, Collection, Iterable, Iterator, Mapping, Sequence
from collections.abc import Set as AbstractSet
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PAGE, PoolReader
from cognito_backup.aws.writer import DONE, EXISTED, Writer, random_password
from cognito_backup.core.config_plan import ConfigOp, ConfigOptions, plan_config
from cognito_backup.core.csv_cells import spreadsheet_csv_chunks
from cognito_backup.core.deletions import deleted_items
from cognito_backup.core.ownership import FORCE_CHANGE_PASSWORD, REASON_UNSET, ours, passwords_to_set
from cognito_backup.core.plan import (
    PRUNE_KINDS,
    Op,
    Plan,
    PlanOptions,
    identity_key,
    lookup_attribute,
    missing_selection,
    plan,
    username_attributes,
)
from cognito_backup.core.plan_chunks import KEPT, Outcome
from cognito_backup.core.report_parts import RANKS, Joined, Part, chunk_part, outcome_name, sub_map_row
from cognito_backup.core.spill import SortedTable, SpillList, SpillSet, UserTable, open_db
from cognito_backup.core.standby import KEEP_SUB_TAG, STANDBY_TAG
from cognito_backup.errors import (
    CognitoBackupError,
    NotRestorable,
    OperationsFailed,
    OutOfTime,
    PlanRefused,
    RepositoryDamaged,
    RepositoryNotFound,
    UsageError,
)
from cognito_backup.model import PoolConfig, PoolState, User
from cognito_backup.ops import plan_pieces
from cognito_backup.ops.checkpoint import Checkpoint, CheckpointState, write_private
from cognito_backup.ops.pitr import Desired, select_desired
from cognito_backup.ops.plan_pieces import PieceBudget
from cognito_backup.ops.restore_runs import unfinished_elsewhere_warnings
from cognito_backup.ops.scheduler import BLOCKED, FAILED, WINDOW, OpResult, default_workers, run_ops
from cognito_backup.ops.stored_plan import StoredMeta, StoredPlan, carry_out
from cognito_backup.repo.leases import HEARTBEAT_SECONDS, holding
from cognito_backup.repo.repository import Repository, format_time

USERS_VIA = ("admin", "import-job")
RESTORE_TAG = "cognito-backup:restore-id"  # on a pool --new-pool created: which restore made it


@dataclass
class RestoreOptions:
    plan: PlanOptions = field(default_factory=PlanOptions)
    dry_run: bool = False
    users_via: str = "admin"
    import_role_arn: str | None = None
    import_kwargs: Mapping[str, Any] = field(default_factory=dict)  # ImportRunner extras (tests: put, sleep)
    workers: Mapping[str, int] | None = None  # threads per quota category
    window: int = WINDOW  # operations admitted and unfinished at most (ops/scheduler.py run_ops)
    read_back: bool = True  # re-list the target's users afterwards for the sub map
    # Configuration sections to make equal too (restore --config, a standby); none by default.
    config: ConfigOptions = field(default_factory=ConfigOptions)
    # A bounded step (serverless/restore.py): asked before each operation starts; True stops scheduling and
    # reconcile raises OutOfTime once the running operations finished (the checkpoint keeps the progress).
    out_of_time: Callable[[], bool] | None = None
    # How often the run renews its target's lease (repo/leases.py).
    lease_heartbeat_seconds: float = HEARTBEAT_SECONDS
    # A deployed restore's steps: the plan is made once, stored in the repository and carried out from
    # there by every later step (ops/stored_plan.py).
    carry: StoredPlan | None = None
    # With `carry`: a plan too big for one step is made in pieces across steps, sized by this budget
    # (ops/plan_pieces.py); None: always at once.
    pieces: PieceBudget | None = None


@dataclass
class RestoreProgress:
    stage: Callable[[str], None] = lambda name: None
    applied: Callable[[int, int], None] = lambda done, total: None
    note: Callable[[str], None] = lambda message: None
    # The run key (the resume state's name) and the source label, once the source is chosen.
    source: Callable[[str, str], None] = lambda run_key, label: None


@dataclass
class RestoreSummary:
    user_pool_id: str | None
    dry_run: bool
    plan: Plan
    results: Sequence[OpResult] = field(default_factory=list)  # on disk past a few thousand
    # old_sub, new_sub, username; sorted by username (on disk past a few thousand)
    sub_map: Collection[tuple[str, str, str]] = field(default_factory=list)
    client_id_map: dict[str, str] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)
    # key -> (username, pw): the resume state's table (on disk past a few thousand), this run's added
    temporary_passwords: UserTable[tuple[str, str]] = field(default_factory=UserTable)
    # Users an earlier run of this restore created that got a (new) password from this run, with why.
    new_passwords: list[dict[str, str]] = field(default_factory=list)
    kept_passwords: list[str] = field(default_factory=list)  # usernames found already there: left alone
    import_report: dict[str, Any] | None = None
    snapshot: str | None = None
    source_pool_id: str | None = None  # the pool the snapshot is of (core/source.py chose it)
    new_pool: bool = False
    seconds: float = 0.0
    calls: dict[str, dict[str, float]] = field(default_factory=dict)
    # Users the plan created that the target does not hold when read back afterwards.
    missing_after: list[str] = field(default_factory=list)
    # Point in time: up to which second the repository knows the source pool's state exactly.
    known_exactly_until: str | None = None
    # A deployed restore's end (ops/stored_plan.py): what its chunks' report parts add up to, the entities
    # per outcome and the operations per kind; `results` then holds only the failed and the deletions.
    entity_counts: dict[str, dict[str, int]] | None = None
    op_counts: dict[str, int] | None = None

    @property
    def failed_results(self) -> list[OpResult]:
        return [r for r in self.results if r.status in (FAILED, BLOCKED)]

    def detail(self) -> dict[str, dict[str, int]]:
        """Per kind (users, groups, memberships): created / updated / deleted / unchanged / skipped /
        failed, each entity counted once (a user created then disabled is one created user)."""
        per_kind = self.entity_counts if self.entity_counts is not None else _entity_outcomes(self.results)
        out: dict[str, dict[str, int]] = {}
        plural_kinds = (("users", "user"), ("groups", "group"), ("memberships", "membership"), ("config", "config"))
        for plural, kind in plural_kinds:
            counts = dict.fromkeys(("created", "updated", "deleted", "failed"), 0)
            counts.update(per_kind.get(kind, {}))
            counts["unchanged"] = self.plan.unchanged.get(plural, 0)
            counts["skipped"] = sum(1 for n in self.plan.skipped if n.kind == kind)
            out[plural] = counts
        return out

    def counts(self) -> dict[str, int]:
        detail = self.detail()
        return {k: sum(d[k] for d in detail.values()) for k in next(iter(detail.values()))}

    def plan_counts(self) -> dict[str, int]:
        """Operations per kind."""
        return dict(self.op_counts) if self.op_counts is not None else self.plan.count_by_kind()

    def operation_count(self) -> int:
        """Operations planned (a stored plan's end holds counts, not the operations)."""
        return sum(self.op_counts.values()) if self.op_counts is not None else len(self.plan.ops)

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
            "known_exactly_until": self.known_exactly_until,
            "source_user_pool_id": self.source_pool_id,
            "new_pool": self.new_pool,
            "dry_run": self.dry_run,
            **counts,
            "detail": self.detail(),
            "failures": self.failures(),
            "deleted_items": deleted_items(r.op for r in self.results if r.ok),
            "skipped_items": [n.to_json() for n in self.plan.skipped],
            "not_restorable": [n.to_json() for n in self.plan.unrestorable],
            "missing_after_restore": list(self.missing_after),
            "notes": [n.to_json() for n in self.plan.notes],
            "drift": [n.to_json() for n in self.plan.drift],
            # --only-missing: what differs in the target but was left as it is (counts).
            "left_as_is": dict(self.plan.left_as_is),
            "client_id_map": dict(self.client_id_map),
            # Configuration settings this run changed (section, path, old -> new; secrets masked).
            "config_changes": [
                c.to_json() for r in self.results if r.ok and isinstance(r.op, ConfigOp) for c in r.op.changes
            ],
            "new_passwords": list(self.new_passwords),
            "kept_passwords": sorted(self.kept_passwords),
            "warnings": list(self.warnings),
            "import": self.import_report,
            "operations": self.operation_count(),
            "seconds": round(self.seconds, 3),
            "calls": self.calls,
        }


def _entity_outcomes(results: Iterable[OpResult]) -> dict[str, dict[str, int]]:
    """kind (user / group / membership) -> outcome -> entities. Grouped by sqlite on disk: a restore
    of a million users has a million entities (flat memory)."""
    db = open_db()
    try:
        db.execute("CREATE TABLE o(kind TEXT, name TEXT, rank INTEGER)")
        rows = ((kind, name, RANKS.index(_outcome(r))) for r in results for kind, name in (r.op.entity,))
        db.executemany("INSERT INTO o VALUES (?, ?, ?)", ((k, n, rank) for k, n, rank in rows if k != "schema"))
        out: dict[str, dict[str, int]] = {}
        for kind, rank, count in db.execute(
            "SELECT kind, r, count(*) FROM (SELECT kind, max(rank) AS r FROM o GROUP BY kind, name) GROUP BY kind, r"
        ):
            out.setdefault(kind, {})[RANKS[rank]] = count
        return out
    finally:
        db.close()


def _outcome(r: OpResult) -> str:
    return outcome_name(r.op, r.ok, r.status == EXISTED)


def outcome_error(summary: RestoreSummary, report: str | None = None) -> CognitoBackupError | None:
    """What a finished restore must exit with, or None for success: failed operations or users missing
    afterwards (exit 1: a re-run can fix them) come first, then items the target cannot take (exit 12).
    A dry run wrote nothing, so it has nothing to fail."""
    if summary.dry_run:
        return None
    where = f" (named above and in {report})" if report else " (named above)"
    if summary.failed_results or summary.missing_after:
        parts = []
        if summary.failed_results:
            parts.append(f"{len(summary.failed_results)} operations did not succeed")
        if summary.missing_after:
            parts.append(
                f"{len(summary.missing_after)} users are not in the target after the restore: "
                + ", ".join(summary.missing_after[:20])
                + (" ..." if len(summary.missing_after) > 20 else "")
            )
        return OperationsFailed(
            "; ".join(parts) + where,
            hint="Fix the cause and run the same command again: it redoes only what is missing.",
        )
    items = summary.plan.unrestorable
    if items:
        names = ", ".join(f"{n.kind} {n.name}" for n in items[:20]) + (" ..." if len(items) > 20 else "")
        return NotRestorable(
            f"The target cannot take {len(items)} items of the snapshot{where}: {names}",
            hint="Everything else was restored. Each item says why; re-running will not change it.",
        )
    return None


MISSING_NAMED = 20  # names an --only / --only-from refusal lists; past it, the count


def require_selection(desired: PoolState, options: PlanOptions, at: dt.datetime | None = None) -> None:
    """`--only` names the desired state does not hold: refused before anything is written. With --at that
    state is the snapshot plus the journal: a user the snapshot holds may be gone by then."""
    missing = missing_selection(desired, options)
    if missing:
        # A list from the wrong pool can hold every name: the count and the first few are what a person
        # can act on, not a line of millions.
        named = ", ".join(missing[:MISSING_NAMED])
        what = named if len(missing) <= MISSING_NAMED else f"{len(missing):,} of the names asked for: {named} ..."
        state = "The snapshot" if at is None else f"The state at {format_time(at)} (snapshot and journal)"
        raise RepositoryNotFound(
            f"{state} has no {what}. Nothing was written.",
            hint="`cognito-backup show --repo ... SNAPSHOT` lists its users and groups; in email sign-in "
            "pools a user may be named by its email."
            + ("" if at is None else " A user the snapshot holds may have been deleted before that time."),
        )


class _Recorder:
    """Records what a re-run cannot learn from the target (see ops/checkpoint.py), and which users this run
    found already there (their password is not the restore's to set)."""

    def __init__(self, checkpoint: Checkpoint | None, temporary: UserTable[tuple[str, str]], mode: str) -> None:
        self.checkpoint = checkpoint
        self.mode = mode
        self.temporary = temporary  # the resume state's: this run adds to it (facts were taken before)
        self.kept: SpillSet[str] = SpillSet()  # per user found already there: may be millions on a re-run
        # key -> (new sub, username) of the users this run's creates answered (or a lookup found): the sub
        # map's rows for them, without reading the target back (a table that moves to disk).
        self.subs: UserTable[tuple[str, str]] = UserTable()
        self.lock = threading.Lock()

    def created(self, op: Op, status: str, user: User | None = None) -> None:
        """A create's outcome, with the user Cognito answered (DONE) or a lookup found, when known."""
        key = op.user or ""
        if status == EXISTED:
            with self.lock:
                self.kept.add(key)
        if user is not None and user.sub:
            self.subs.put(key, (user.sub, user.username))
        if not self.checkpoint:
            return
        if status != EXISTED and user is not None and user.sub:
            self.checkpoint.record_created(key, user.sub, user.username)
        else:
            self.checkpoint.record("existed" if status == EXISTED else "created", user=key)

    def is_kept(self, op: Op) -> bool:
        with self.lock:
            return (op.user or "") in self.kept

    def password(self, op: Op, temporary: str | None) -> None:
        key = op.user or ""
        if temporary:
            with self.lock:
                self.temporary.put(key, (op.username or key, temporary))
            if self.checkpoint:
                self.checkpoint.remember_temporary(key, op.username or key, temporary)
        if self.checkpoint:
            self.checkpoint.record("password", user=key, mode=self.mode)


def read_actual(client: Any, pacer: Pacer, pool_id: str) -> PoolState:
    return PoolReader(client, pacer, pool_id).read_state()


def _earlier_users(state: CheckpointState, actual: PoolState, attrs: tuple[str, ...]) -> Mapping[str, User]:
    """The target's users (by identity key) an earlier run of this restore meant to create: only those,
    not the whole pool, in a table that moves to disk (a resumed restore may have created millions)."""
    if not state.intents and not state.created:
        return {}
    return UserTable((key, u) for u in actual.users.values() if state.planned(key := identity_key(u, attrs)))


@dataclass
class Planned:
    """What the plan phase hands the apply phase."""

    summary: RestoreSummary  # with the plan; results come from the apply phase
    state: CheckpointState  # the resume state as it was before this plan
    resumed: dict[str, str]  # users an earlier run created whose password this run (re)sets, with why
    plan_opts: PlanOptions
    password_policy: Mapping[str, Any]
    actual: PoolState | None = None  # the target as read (the import path plans again from it)
    # A plan being stored: its configuration writes (a few, whole requests a stored plan does not hold),
    # carried out at once by the step that stores the rest (a standby round's: ops/replicate.py).
    at_once: list[Op] = field(default_factory=list)


def _check_options(opts: RestoreOptions) -> None:
    if opts.users_via not in USERS_VIA:
        raise UsageError(f"--users-via must be one of {', '.join(USERS_VIA)}")
    if opts.users_via == "import-job" and not opts.import_role_arn:
        raise UsageError("--users-via import-job needs --import-role-arn ARN (the CloudWatch Logs role)")
    if opts.carry is not None and (opts.users_via != "admin" or opts.dry_run):
        raise UsageError("A stored plan carries admin writes only (no import jobs or dry run)")


def plan_restore(
    client: Any,
    pacer: Pacer,
    target_pool_id: str,
    desired: PoolState,
    opts: RestoreOptions,
    state: CheckpointState,
    prog: RestoreProgress,
    actual: PoolState | None = None,
) -> Planned:
    """The plan phase: read the target (unless given) and plan what makes it equal to `desired`; nothing
    is written. Raises PlanRefused when the target cannot take the desired state."""
    if actual is None:
        prog.stage("reading the target pool")
        actual = read_actual(client, pacer, target_pool_id)
    prog.stage("planning")
    attrs = username_attributes(desired.config)
    resumed = passwords_to_set(state.facts(), _earlier_users(state, actual, attrs), opts.plan.password_mode)
    plan_opts = replace(
        opts.plan, owned_users=frozenset(opts.plan.owned_users | set(resumed)), users_via=opts.users_via
    )
    the_plan = plan(desired, actual, plan_opts)
    config_warnings: list[str] = []
    if opts.config.sections:
        # Same engine: the configuration writes run beside the users' (other quota categories).
        config_opts = replace(opts.config, arn_map=opts.config.arn_map or plan_opts.arn_map)
        config_plan = plan_config(desired.config, actual.config, config_opts)
        the_plan.add(config_plan.ops)
        the_plan.drift = SpillList(itertools.chain(the_plan.drift, config_plan.notices))
        config_warnings = config_plan.warnings
    summary = RestoreSummary(user_pool_id=target_pool_id, dry_run=opts.dry_run, plan=the_plan)
    summary.warnings.extend(config_warnings)
    policy = (actual.config.user_pool.get("Policies") or {}).get("PasswordPolicy") or {}
    return Planned(summary, state, resumed, plan_opts, policy, actual)


def _stored_planned(target_pool_id: str, opts: RestoreOptions, state: CheckpointState, meta: StoredMeta) -> Planned:
    """A later step of a deployed restore: the plan phase's outcome as the first step stored it."""
    summary = RestoreSummary(user_pool_id=target_pool_id, dry_run=False, plan=Plan())
    summary.warnings.extend(meta.warnings)
    plan_opts = replace(opts.plan, owned_users=frozenset(opts.plan.owned_users | set(meta.resumed)))
    return Planned(summary, state, dict(meta.resumed), plan_opts, meta.password_policy)


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
    raises for failed operations: they are in the summary (`failed_results`).

    With `options.carry` (a deployed restore's steps) the plan is stored once and carried out from the
    store: a step that finds it stored neither reads the target nor plans (ops/stored_plan.py)."""
    opts = options or RestoreOptions()
    prog = progress or RestoreProgress()
    begin = clock()
    _check_options(opts)
    state = checkpoint.load() if checkpoint else CheckpointState()
    carry = opts.carry
    # Taken before the read: a user absent from it and created later is judged against this time.
    intent_at = checkpoint.intent_time() if checkpoint else ""
    if carry is not None and checkpoint is not None and opts.pieces is not None and not carry.exists():
        actual = _plan_in_pieces(
            client, pacer, target_pool_id, desired, opts, carry, opts.pieces, checkpoint, state, prog, actual, intent_at
        )
    if carry is not None and carry.exists():
        meta = carry.meta()
        if checkpoint is None or meta.run_key != checkpoint.run_key:
            raise RepositoryDamaged(f"The stored plan {carry.prefix} is of another restore ({meta.run_key})")
        if checkpoint:
            checkpoint.compact(state)
        planned = _stored_planned(target_pool_id, opts, state, meta)
        return _apply(
            client,
            pacer,
            target_pool_id,
            desired,
            planned,
            opts,
            checkpoint,
            prog,
            fresh=False,
            began=begin,
            clock=clock,
        )
    planned = plan_restore(client, pacer, target_pool_id, desired, opts, state, prog, actual)
    summary = planned.summary
    if opts.dry_run:
        summary.temporary_passwords = state.temporary_passwords
        summary.seconds = clock() - begin
        return summary
    if (
        confirm is not None
        and any(summary.plan.count_by_kind().get(kind) for kind in PRUNE_KINDS)
        and not confirm(summary.plan)
    ):
        raise UsageError("Restore cancelled: nothing was written.")
    if checkpoint:
        checkpoint.compact(state)  # only now: a refused or cancelled plan writes nothing
        # Stored before the first create call: a run killed after it still knows whom it meant to create
        # (read from the plan on disk as a stream).
        checkpoint.record_intent(intent_at, (op.user or "" for op in summary.plan.of_kind("create_user")))
    if carry is not None and checkpoint is not None:
        prog.stage("storing the plan")
        planned.at_once = summary.plan.take_configuration()
        if opts.read_back and planned.actual is not None:
            # The sub map rows of the users the target holds already: their new sub is only this read's.
            # Stored before the plan (whose position says it is whole), so a later step never lacks them.
            attrs = username_attributes(desired.config)
            carry.write_base_rows(
                keyed_sub_map_rows(desired.users.values(), _by_identity(planned.actual, attrs), attrs)
            )
        carry.write(
            summary.plan,
            run_key=checkpoint.run_key,
            resumed=planned.resumed,
            password_policy=planned.password_policy,
            warnings=summary.warnings,
        )
    return _apply(
        client, pacer, target_pool_id, desired, planned, opts, checkpoint, prog, fresh=True, began=begin, clock=clock
    )


def _plan_in_pieces(
    client: Any,
    pacer: Pacer,
    target_pool_id: str,
    desired: PoolState,
    opts: RestoreOptions,
    carry: StoredPlan,
    budget: PieceBudget,
    checkpoint: Checkpoint,
    state: CheckpointState,
    prog: RestoreProgress,
    actual: PoolState | None,
    intent_at: str,
) -> PoolState | None:
    """A deployed restore's plan too big for one step: plan its next piece (ops/plan_pieces.py). Returns
    None once the plan is whole (stored: carried out as any stored plan), raises OutOfTime when a later
    step plans on, and returns the target as read when the plan is made at once after all."""
    pieces = plan_pieces.load(carry)
    plan_opts = replace(opts.plan, users_via=opts.users_via)
    if pieces is None:
        if actual is None:
            prog.stage("reading the target pool")
            actual = read_actual(client, pacer, target_pool_id)
        pieces = plan_pieces.start(carry, desired, actual, plan_opts, intent_at=intent_at, budget=budget)
        if pieces is None:
            return actual
    if not pieces.complete:
        prog.stage(f"planning piece {pieces.piece + 1} (from block {pieces.next + 1} of {pieces.blocks})")
        plan_pieces.plan_piece(carry, pieces, desired, plan_opts, checkpoint, state, users=budget.users())
    if not pieces.complete:
        raise OutOfTime("This step planned a piece of the restore's plan; the next step plans on.")
    prog.stage("storing the plan")
    plan_pieces.finish(carry, pieces, checkpoint.run_key)
    return None


def _apply(
    client: Any,
    pacer: Pacer,
    target_pool_id: str,
    desired: PoolState,
    planned: Planned,
    opts: RestoreOptions,
    checkpoint: Checkpoint | None,
    prog: RestoreProgress,
    *,
    fresh: bool,
    began: float,
    clock: Callable[[], float],
) -> RestoreSummary:
    """The apply phase: carry out the plan (at once, or from the stored plan), then the report's
    password notes and the read-back."""
    summary, state, resumed, plan_opts = planned.summary, planned.state, planned.resumed, planned.plan_opts
    recorder = _Recorder(checkpoint, state.temporary_passwords, plan_opts.password_mode)
    summary.temporary_passwords = recorder.temporary
    workers = dict(opts.workers or default_workers(pacer.rates))
    writer = Writer(client, pacer, target_pool_id)
    policy = planned.password_policy
    permanent = plan_opts.password_mode == "random-permanent"

    facts = state.facts()
    reader = PoolReader(client, pacer, target_pool_id)

    def make_execute(
        planned_before: Callable[[Op], bool], recheck: Callable[[Op], bool] = lambda op: False
    ) -> Callable[[Op], str]:
        """`planned_before(op)`: an earlier run may have sent this create (so finding its user already
        there may be the earlier run's own doing). `recheck(op)`: an earlier step of a stored plan may
        have sent this password and been killed before recording it (ops/stored_plan.py)."""

        def execute(op: Op) -> str:
            if op.kind == "create_user":
                made = writer.create_user(op)
                status = made.status
                key = op.user or ""
                if status == EXISTED and planned_before(op) and op.username:
                    # ListUsers may not have shown yet a user an earlier run created just before it
                    # stopped: the user's own state decides, as for the users the read did show.
                    found = reader.find_user("username", op.username)
                    if found is not None and ours(key, found, facts) and found.status == FORCE_CHANGE_PASSWORD:
                        with recorder.lock:
                            resumed[key] = REASON_UNSET
                        recorder.created(op, DONE, found)
                        return status
                    recorder.created(op, status, found)
                    return status
                recorder.created(op, status, made.user)
                return status
            if op.kind == "set_password":
                if recorder.is_kept(op):
                    return KEPT  # someone else's user: its password and status stay as they are
                if recheck(op) and op.username:
                    # The user's own state decides, as a re-run's read of the target would: a password set
                    # already (by the killed step, or by the user since) is not set again.
                    found = reader.find_user("username", op.username)
                    if found is not None and found.status != FORCE_CHANGE_PASSWORD:
                        return KEPT
                password = random_password(policy)
                status = writer.apply(op, password, permanent=permanent)
                recorder.password(op, None if permanent else password)
                return status
            return writer.apply(op)

        return execute

    done = [0]

    def on_result(result: OpResult) -> None:
        done[0] += 1
        if done[0] % 100 == 0 or done[0] == total:
            prog.applied(done[0], total)

    def out_of_time_after(ran_any: bool) -> None:
        if ran_any and opts.out_of_time is not None and opts.out_of_time():
            # The sub map may still need lookups or a read-back: left to the next step, which has nothing else to do.
            raise OutOfTime("This step's time is up; progress is saved and the next step carries on.")

    carry = opts.carry
    reasons: Iterable[tuple[OpResult, str | None]]
    if carry is None:
        the_plan = summary.plan
        # The users to create are read from the plan (on disk) as streams, never copied: here, and after
        # the run to verify they are there (the import path plans again: the first plan's creates count).
        creates = the_plan.of_kind("create_user")
        results: Sequence[OpResult] = []
        if opts.users_via == "import-job":
            results, _, the_plan = _import_users(
                client,
                pacer,
                target_pool_id,
                desired,
                planned.actual or read_actual(client, pacer, target_pool_id),
                the_plan,
                plan_opts,
                opts,
                make_execute(lambda op: state.planned(op.user or "")),
                workers,
                summary,
                prog,
            )
            summary.plan = the_plan
        total = len(the_plan.ops)
        prog.stage(f"applying {total} operations")
        ran = run_ops(
            the_plan.run_order(),
            make_execute(lambda op: state.planned(op.user or "")),
            workers=workers,
            on_result=on_result,
            window=opts.window,
            out_of_time=opts.out_of_time,
        )
        summary.results = SpillList(itertools.chain(results, ran)) if results else ran
        out_of_time_after(bool(summary.results))
        reasons = ((r, resumed.get(r.op.user or "")) for r in summary.results)
    else:
        meta = carry.meta()
        total = meta.ops + len(planned.at_once)
        prog.stage(f"applying {total} operations (a stored plan, from where the last step left it)")
        # Not stored: a configuration write that failed, or did not run before this step's time was up, is
        # planned again by the next comparison of the configuration (a standby's: hourly).
        at_once = run_ops(
            planned.at_once,
            make_execute(lambda op: False),
            workers=workers,
            on_result=on_result,
            window=opts.window,
            out_of_time=opts.out_of_time,
        )
        attrs = username_attributes(desired.config)
        # A create's answer: this step's, else an earlier step's (the resume state), as _KnownTarget.
        summed = chunk_summer(lambda key: recorder.subs.get(key) or state.subs.get(key), attrs)
        carried = carry_out(
            carry,
            meta,
            state,
            make_execute,
            lambda op: resumed.get(op.user or ""),
            fresh=fresh,
            workers=workers,
            window=opts.window,
            out_of_time=opts.out_of_time,
            on_result=on_result,
            summed=summed,
        )
        out_of_time_after(carried > 0)
        prog.applied(total, total)
        prog.stage("joining the report")
        join_parts(summary, carry, meta, reader, attrs, read_back=opts.read_back, note=prog.note)
        _add_at_once(summary, planned.at_once, at_once)
        summary.client_id_map.update(writer.client_ids)
        summary.seconds = clock() - began
        summary.calls = pacer.summary()
        return summary
    summary.client_id_map.update(writer.client_ids)
    for r, reason in reasons:
        if r.op.kind == "set_password" and r.ok and r.status != KEPT and reason is not None:
            key = r.op.user or ""
            summary.new_passwords.append({"user": key, "username": r.op.username or key, "reason": reason})
        if r.op.kind == "create_user" and r.status == EXISTED and reason is None:
            summary.kept_passwords.append(r.op.username or r.op.user or "")
    summary.new_passwords.sort(key=lambda n: n["user"])
    if opts.read_back and desired.users and opts.users_via == "import-job":
        # Import jobs answer no user: the new subs of the users they created are only learnt by reading.
        prog.stage("reading back new subs")
        summary.sub_map, present = _sub_map(client, pacer, target_pool_id, desired)
        summary.missing_after = [key for op in creates if (key := str(op.user)) not in present]
    elif opts.read_back and desired.users:
        prog.stage("making the sub map")
        summary.sub_map, summary.missing_after = _sub_map_from_answers(
            reader, desired, planned.actual or PoolState(), creates, recorder.subs, state.subs, prog.note
        )
    summary.seconds = clock() - began
    summary.calls = pacer.summary()
    return summary


def chunk_summer(
    answered: Callable[[str], tuple[str, str] | None], attrs: tuple[str, ...]
) -> Callable[[Sequence[Op], Sequence[Outcome]], Part]:
    """What a stored plan's finished chunk leaves for the report (core/report_parts.py chunk_part), with
    this module's statuses; `answered(key)`: the (new sub, username) a create of the restore got back."""

    def summed(ops: Sequence[Op], outcomes: Sequence[Outcome]) -> Part:
        return chunk_part(
            ops,
            outcomes,
            ok=lambda status: status not in (FAILED, BLOCKED),
            existed=EXISTED,
            kept=KEPT,
            answered=answered,
            username_attrs=attrs,
        )

    return summed


def _add_at_once(summary: RestoreSummary, ops: Sequence[Op], results: Sequence[OpResult]) -> None:
    """The configuration writes a stored plan's step ran at once (not stored: a standby's), added to the
    counts the parts gave and, when failed, to the results the report names."""
    if not ops:
        return
    summary.plan.add(ops)
    counts = summary.entity_counts if summary.entity_counts is not None else {}
    for kind, outcomes in _entity_outcomes(results).items():
        for outcome, n in outcomes.items():
            counts.setdefault(kind, {})[outcome] = counts.get(kind, {}).get(outcome, 0) + n
    summary.entity_counts = counts
    kinds = summary.op_counts if summary.op_counts is not None else {}
    for op in ops:
        kinds[op.kind] = kinds.get(op.kind, 0) + 1
    summary.op_counts = kinds
    summary.results = [*(r for r in results if not r.ok), *summary.results]


def join_parts(
    summary: RestoreSummary,
    carry: StoredPlan,
    meta: StoredMeta,
    reader: PoolReader,
    attrs: tuple[str, ...],
    *,
    read_back: bool,
    note: Callable[[str], None],
) -> None:
    """A stored plan carried out to its end: the report and the sub map from the parts its chunks left
    (core/report_parts.py) and the rows the first step stored, read one part at a time. Neither the plan's
    operations nor the snapshot are read; the users whose create got no answer are looked up (or the
    target read back) as a CLI restore does (`_sub_map_from_answers`)."""
    joined = Joined()
    kept: list[OpResult] = []  # the failed and the deletions: what the report names one by one
    rows: SortedTable[tuple[str, str, str]] = SortedTable()
    unresolved: SpillList[tuple[str, str, str | None]] = SpillList()
    if read_back:
        for key, row in carry.base_rows():
            rows.put(key, row)
    for part in carry.parts(meta):
        joined.add(part)
        kept.extend(OpResult(op, status, error) for op, status, error in part.failures)
        kept.extend(OpResult(op, DONE) for op in part.pruned)
        summary.new_passwords.extend(part.new_passwords)
        summary.kept_passwords.extend(part.kept_passwords)
        if read_back:
            for key, row in part.sub_rows:
                rows.put(key, row)
            unresolved.extend(part.unresolved)
    summary.plan = carry.notices(meta)
    summary.results = kept
    summary.entity_counts, summary.op_counts = joined.entities, joined.kinds
    summary.new_passwords.sort(key=lambda n: n["user"])
    if not read_back:
        return
    found: Mapping[str, User]
    if lookups_or_read_back(len(unresolved), len(rows) + len(unresolved), chains=reader.chains) == READ_BACK:
        note(
            f"{len(unresolved)} users this restore meant to create got no answer from their create call (found "
            "already there, failed or interrupted): reading the whole target back for the sub map, fewer "
            "calls than looking each up"
        )
        found = _target_by_key(reader, attrs)
    else:
        table: UserTable[User] = UserTable()
        pending = ((attr, key) for key, attr, _ in unresolved)
        while batch := list(itertools.islice(pending, LOOKUP_BATCH)):
            for (_, key), user in reader.find_users(batch):
                if user is not None:
                    table.put(key, user)
        found = table
    for key, _, old_sub in unresolved:
        user = found.get(key)
        if user is None:
            summary.missing_after.append(key)
        elif (looked_up := sub_map_row(old_sub, key, user.sub, user.username)) is not None:
            rows.put(*looked_up)
    summary.sub_map = rows


def _by_identity(state: PoolState, attrs: tuple[str, ...]) -> Mapping[str, User]:
    """A state's users by identity key: as they are where the username is the key (no copy: 6 s per
    100k users), else in a table that spills to disk."""
    return state.users if not attrs else UserTable((identity_key(u, attrs), u) for u in state.users.values())


def _target_by_key(reader: PoolReader, attrs: tuple[str, ...]) -> UserTable[User]:
    """The target's users by identity key, read whole into a table that spills to disk."""
    return UserTable((identity_key(u, attrs), u) for u in reader.iter_users())


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
) -> tuple[Sequence[OpResult], PoolState, Plan]:
    """Schema and groups first, then the users to create through CSV import jobs, then a fresh plan for
    the rest (disabled state, memberships, users an import could not create) applied with admin calls."""
    from cognito_backup.aws.import_job import ImportRunner, import_users

    setup = [
        op
        for op in first.ops
        if isinstance(op, ConfigOp) or op.kind in ("add_custom_attributes", "create_group", "update_group")
    ]
    results = run_ops(setup, execute, workers=workers) if setup else []
    creates = first.of_kind("create_user")
    if creates:
        prog.stage(f"importing {len(creates)} users with CSV import jobs")
        runner = ImportRunner(client, pacer, pool_id, str(opts.import_role_arn), **dict(opts.import_kwargs))
        to_create = users_to_create(desired, creates)
        report = import_users(runner, to_create, keep_sub_attribute=plan_opts.keep_sub_in)
        summary.import_report = report.to_dict()
        for job in report.failed_jobs:
            summary.warnings.append(f"import job {job.job_id} ended {job.status}: {job.log_hint}")
        actual = read_actual(client, pacer, pool_id)
    # Users the import could not create come back through AdminCreateUser in this second plan; what the
    # first plan said about the users the import created (status, recovery) still holds.
    second = plan(desired, actual, replace(plan_opts, users_via="admin"))
    recreated = {op.user for op in second.ops if op.kind == "create_user"}
    second.notes = [n for n in first.notes if n.name not in recreated] + list(second.notes)
    second.skipped = list(first.skipped) + [n for n in second.skipped if n not in first.skipped]
    return results, actual, second


def users_to_create(desired: PoolState, creates: Iterable[Op]) -> Iterator[User]:
    """The desired users the `create_user` operations create, in their order, read as a stream (the
    import job's CSV files are written from it): the desired users are looked up by identity key in a
    table that moves to disk."""
    attrs = username_attributes(desired.config)
    by_key = UserTable((identity_key(u, attrs), u) for u in desired.users.values())
    for op in creates:
        user = by_key.get(op.user or "")
        if user is not None:
            yield user


def _sub_map(
    client: Any, pacer: Pacer, pool_id: str, desired: PoolState
) -> tuple[SortedTable[tuple[str, str, str]], AbstractSet[str]]:
    """The sub map rows, and the identity keys the target holds now (to verify the restore). The target's
    users are read into a table that spills to disk, the rows into a sort that does (flat memory)."""
    attrs = username_attributes(desired.config)
    now = _target_by_key(PoolReader(client, pacer, pool_id), attrs)
    return sub_map_rows(desired.users.values(), now, attrs), now.keys()


READ_BACK = "read-back"
LOOKUPS = "lookups"
LOOKUP_BATCH = 10_000  # queries handed to the reader's chains at once (flat memory)


def lookups_or_read_back(unresolved: int, target_users: int, *, chains: int = 16, page: int = PAGE) -> str:
    """How to learn the subs of `unresolved` users (a filtered ListUsers each) in a target of about
    `target_users`: LOOKUPS while they cost no more calls than listing the whole target (one call per
    chain at least, one per page of `page` users), READ_BACK above. Pure."""
    return LOOKUPS if unresolved <= max(chains, -(-target_users // page)) else READ_BACK


def lookup_query(op: Op, attrs: tuple[str, ...]) -> tuple[str, str]:
    """The (attribute, value) that finds the user a create_user operation is for: its identity key is
    the value of a username attribute (email / phone sign-in pools) or its username. Pure."""
    return lookup_attribute(op, attrs), op.user or ""


class _KnownTarget(Mapping[str, User]):
    """The target's users by identity key as the restore knows them at its end, without listing it (for
    `sub_map_rows`): what this run's creates answered, then what its lookups found, then the read the plan
    was made from, then what earlier runs' creates answered (recorded in the resume state). Users this
    run meant to create and did not find are absent, whatever older layers say."""

    def __init__(
        self,
        made: Mapping[str, tuple[str, str]],
        found: Mapping[str, User],
        missing: AbstractSet[str],
        start: Mapping[str, User],
        earlier: Mapping[str, tuple[str, str]],
    ) -> None:
        self.made, self.found, self.missing, self.start, self.earlier = made, found, missing, start, earlier

    def __getitem__(self, key: str) -> User:
        if key in self.missing:
            raise KeyError(key)
        answered = self.made.get(key)
        if answered is None:
            user = self.found.get(key) or self.start.get(key)
            if user is not None:
                return user
            answered = self.earlier.get(key)
        if answered is None:
            raise KeyError(key)
        return User(username=answered[1], attributes={"sub": answered[0]})

    def __iter__(self) -> Iterator[str]:
        seen: SpillSet[str] = SpillSet()
        for layer in (self.made, self.found, self.start, self.earlier):
            for key in layer:
                if key not in seen and key not in self.missing:
                    seen.add(key)
                    yield key

    def __len__(self) -> int:
        return sum(1 for _ in self)


def _sub_map_from_answers(
    reader: PoolReader,
    desired: PoolState,
    actual: PoolState,
    creates: Iterable[Op],
    made: Mapping[str, tuple[str, str]],
    earlier: Mapping[str, tuple[str, str]],
    note: Callable[[str], None],
) -> tuple[SortedTable[tuple[str, str, str]], list[str]]:
    """The sub map rows and the users this run meant to create that are not in the target
    (`missing_after`), without listing the target: a create's answer proves the user is there (a user
    someone else deletes during the restore is not noticed: docs/restore.md). Users whose create gave
    no answer (found already there, failed, killed) are looked up one by one while they are few
    (`lookups_or_read_back`); above that the target is read back whole, as the import path does."""
    attrs = username_attributes(desired.config)

    def answered(op: Op) -> bool:
        # An earlier run's or step's create answer (the resume state's `created` records) counts as this run's.
        return (op.user or "") in made or (op.user or "") in earlier

    unresolved = sum(1 for op in creates if not answered(op))
    if lookups_or_read_back(unresolved, len(actual.users) + len(made), chains=reader.chains) == READ_BACK:
        note(
            f"{unresolved} users this restore meant to create got no answer from their create call (found "
            "already there, failed or interrupted): reading the whole target back for the sub map, fewer "
            "calls than looking each up"
        )
        rows, present = _sub_map(reader.client, reader.pacer, reader.pool_id, desired)
        return rows, [key for op in creates if (key := str(op.user)) not in present]
    found: UserTable[User] = UserTable()
    absent: set[str] = set()  # at most as many as a listing's calls (above: the read-back)
    pending = (lookup_query(op, attrs) for op in creates if not answered(op))
    while batch := list(itertools.islice(pending, LOOKUP_BATCH)):
        for (_, key), user in reader.find_users(batch):
            if user is None:
                absent.add(key)
            else:
                found.put(key, user)
    missing = [key for op in creates if (key := str(op.user)) in absent]  # in the plan's order, as before
    # Keyed by username already where the username is the identity key (no copy: 6 s per 100k users).
    known = _KnownTarget(made, found, absent, _by_identity(actual, attrs), earlier)
    return sub_map_rows(desired.users.values(), known, attrs), missing


def sub_map_rows(
    desired: Iterable[User], target: Mapping[str, User], attrs: tuple[str, ...]
) -> SortedTable[tuple[str, str, str]]:
    """(old sub, new sub, username) of every desired user the target holds (by identity key), sorted by
    username. Pure."""
    return SortedTable(keyed_sub_map_rows(desired, target, attrs))


def keyed_sub_map_rows(
    desired: Iterable[User], target: Mapping[str, User], attrs: tuple[str, ...]
) -> Iterator[tuple[str, tuple[str, str, str]]]:
    """`sub_map_rows` unsorted, each with its sort key. Pure."""
    for user in desired:
        # Every snapshot user found in the target, also after --only: the file keeps one name per restore
        # (target + snapshot), so a selective run must not shrink the map an earlier full run wrote.
        key = identity_key(user, attrs)
        found = target.get(key)
        if found is not None and (row := sub_map_row(user.sub, key, found.sub, found.username)) is not None:
            yield row


# ---- the restore command ---------------------------------------------------------------------------


@dataclass
class RestoreRequest:
    snapshot: str | None = None  # None: the latest (or, with `at`, the one `at` picks)
    at: dt.datetime | None = None  # point in time: best snapshot + journal up to it
    source_pool_id: str | None = None  # whose journal, when the repository holds several pools
    target_pool_id: str | None = None
    new_pool_name: str | None = None
    options: RestoreOptions = field(default_factory=RestoreOptions)
    report_dir: Path = Path("cognito-backup-restore")
    domain_prefix: str | None = None
    target_region: str | None = None
    allow_after_coverage: bool = False  # with `at`: accept a time later than the repository knows
    # Who holds the target's lease (repo/leases.py): a deployed restore's execution, so that its next
    # step re-enters the lease this one kept; None: this run alone (a fresh holder, released at its end).
    lease_holder: str | None = None


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
    # A deployed restore's later step carries out the plan its first step stored: the chunks hold what
    # their operations need, so the snapshot's users are not loaded (its time would grow with the pool).
    carried = opts.carry is not None and not opts.dry_run and opts.carry.exists()
    prog.stage("loading the snapshot" if request.at is None else "folding the snapshot and the journal")
    chosen = select_desired(
        repo,
        request.snapshot,
        request.at,
        source_pool_id=request.source_pool_id,
        target_pool_id=request.target_pool_id,
        into_existing=bool(request.target_pool_id),
        allow_after_coverage=request.allow_after_coverage,
        users=not carried,
    )
    desired, source_label = chosen.state, chosen.label
    if not carried:  # the first step checked the selection against the snapshot's users
        require_selection(desired, opts.plan, request.at)
    if request.new_pool_name:
        run_key = f"new:{request.new_pool_name}@{source_label}"
    else:
        run_key = f"{request.target_pool_id}@{source_label}"
    prog.source(run_key, source_label)
    if request.target_pool_id:
        implicit = request.snapshot is None and request.at is None
        stopped = unfinished_elsewhere_warnings(
            repo.store, request.target_pool_id, run_key, source_label, implicit=implicit
        )
        chosen = replace(chosen, warnings=(*chosen.warnings, *stopped))
    if opts.dry_run:
        return _restore(client, pacer, repo, request, chosen, run_key, prog, confirm)
    # One writer per target: a second restore into the same pool (or the same new pool's name), from
    # this machine, another one or the deployed stack, is refused before it reads or writes anything.
    target = f"new={request.new_pool_name}" if request.new_pool_name else str(request.target_pool_id)
    with holding(
        repo.store,
        f"restore/{target}",
        what=f"The restore target {target}",
        purpose="deployed restore" if request.lease_holder else "restore",
        holder=request.lease_holder,
        heartbeat=opts.lease_heartbeat_seconds,
    ) as lease:
        # A run that stalled past the lease's life (a suspended laptop) and was taken over starts no more
        # operations once its heartbeat finds the newer holder: the two never write together for long.
        step_ends = opts.out_of_time
        guarded = replace(
            request,
            options=replace(opts, out_of_time=lambda: lease.lost or (step_ends is not None and step_ends())),
        )
        return _restore(client, pacer, repo, guarded, chosen, run_key, prog, confirm)


def _restore(
    client: Any,
    pacer: Pacer,
    repo: Repository,
    request: RestoreRequest,
    chosen: Desired,
    run_key: str,
    prog: RestoreProgress,
    confirm: Callable[[Plan], bool] | None,
) -> RestoreOutcome:
    opts = request.options
    desired = chosen.state
    # The resume state lives in the repository (a re-run from anywhere finds it); a dry run only reads it.
    checkpoint = Checkpoint(repo.store, run_key, request.report_dir, password_mode=opts.plan.password_mode)
    client_id_map: dict[str, str] = {}
    warnings: list[str] = []
    actual: PoolState | None = None
    try:
        if request.new_pool_name:
            state = checkpoint.load()
            if not (state.pool_id or state.pool_partial or state.pool_creating):
                _refuse_name_in_use(client, pacer, request.new_pool_name)
            if opts.dry_run and not state.pool_id:
                summary = _dry_run_new_pool(desired, opts)
                _describe_source(summary, chosen)
                return RestoreOutcome(summary)
            if opts.dry_run and state.pool_id:
                pool_id = state.pool_id
            else:
                pool_id, client_id_map, warnings, fresh = _new_pool(
                    client,
                    pacer,
                    desired.config,
                    request,
                    checkpoint,
                    state,
                    prog,
                    source_pool_id=chosen.source_pool_id,
                )
                if fresh:
                    # Created by this very run: empty. Listing it (16 ListUsers chains, the groups) would
                    # only spend the quota the restore's reads share; its settings are all the plan needs.
                    actual = PoolState(config=PoolConfig(user_pool=PoolReader(client, pacer, pool_id).describe_pool()))
        else:
            pool_id = str(request.target_pool_id)
        summary = reconcile(
            client, pacer, pool_id, desired, opts, checkpoint=checkpoint, progress=prog, confirm=confirm, actual=actual
        )
        if not opts.dry_run and not opts.plan.selective and not summary.failures() and not summary.missing_after:
            # Stored by close(); ops/restore_runs.py reads it. Not after --only: users an earlier, wider
            # run of this restore planned may still wait.
            checkpoint.record("finished")
    except BaseException:
        # Store what this run learnt (also on ^C); a failing store must not hide the original error.
        with contextlib.suppress(Exception):
            checkpoint.close()
        raise
    checkpoint.close()
    summary.new_pool = bool(request.new_pool_name)
    summary.client_id_map = {**client_id_map, **summary.client_id_map}
    summary.warnings = warnings + summary.warnings
    _describe_source(summary, chosen)
    if opts.dry_run:
        return RestoreOutcome(summary)
    return write_reports(summary, request.report_dir, run_key)


def _describe_source(summary: RestoreSummary, chosen: Desired) -> None:
    summary.snapshot = chosen.label
    summary.source_pool_id = chosen.source_pool_id
    summary.known_exactly_until = chosen.known_exactly_until
    summary.warnings = summary.warnings + list(chosen.warnings)


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
    state: CheckpointState,
    prog: RestoreProgress,
    *,
    source_pool_id: str,
) -> tuple[str, dict[str, str], list[str], bool]:
    """Create the pool once. Its id is recorded in the repository; a run killed before that finds the
    pool by name and the restore-id tag it was created with, and finishes its configuration. The flag
    returned says the pool was created by this call (so it is still empty).

    The new pool is also tagged as the standby of the snapshot's pool (core/standby.py): `replicate` from
    that pool may then keep it in step, deletions included, without asking."""
    from cognito_backup.aws.pool_creator import (
        create_prepared_pool,
        created_pool_id,
        find_tagged_pool,
        finish_pool,
        pool_tags,
        prepare_pool,
    )

    name = str(request.new_pool_name)
    recorded = state.pool_id or state.pool_partial
    tags = pool_tags(client, pacer, recorded) if recorded else None
    if recorded and tags is None:
        # Deleted since (to start over): its users went with it, so does what the state says of them
        # (a new pool is empty: every user is planned, recorded and judged afresh).
        prog.note(f"user pool {recorded}, created by an earlier run of this restore, is gone: creating a new one")
        state = CheckpointState()
    elif recorded and (state.pool_tagged or not state.pool_id):
        _check_ours(tags or {}, recorded, state.restore_id, name)
    if state.pool_id:
        prog.note(f"resuming into user pool {state.pool_id}, created by an earlier run of this restore")
        return state.pool_id, state.client_id_map, state.warnings, False
    restore_id = state.restore_id or secrets.token_hex(8)
    adopt: str | None = None
    if state.pool_partial:
        adopt = state.pool_partial
    elif state.pool_creating:
        adopt = find_tagged_pool(client, pacer, name, RESTORE_TAG, restore_id)
    opts = request.options.plan
    # Everything refusable is refused here, before any state is recorded or any pool created.
    prepared = prepare_pool(
        client,
        pacer,
        config,
        name,
        arn_map=dict(opts.arn_map),
        domain_prefix=request.domain_prefix,
        keep_sub_attribute=opts.keep_sub_in,
        target_region=request.target_region,
        warn=prog.note,
        adopting=adopt,
    )

    def resume_hint(pool_id: str) -> str:
        return (
            f"Then run the same restore command again: it carries on into user pool {pool_id}, which the "
            "repository records (or delete that pool: aws cognito-idp delete-user-pool --user-pool-id "
            f"{pool_id})."
        )

    if adopt:
        prog.note(f"adopting user pool {adopt}, created by an earlier run of this restore (tag {RESTORE_TAG})")
        prog.stage(f"finishing the configuration of user pool {adopt}")
        created = finish_pool(client, pacer, adopt, prepared, prog.note, resume_hint=resume_hint)
    else:
        prog.stage(f"creating user pool {name!r}")
        checkpoint.record("pool_creating", durable=True, name=name, restore_id=restore_id)
        try:
            created = create_prepared_pool(
                client,
                pacer,
                prepared,
                name,
                prog.note,
                tags={
                    RESTORE_TAG: restore_id,
                    STANDBY_TAG: source_pool_id,
                    **({KEEP_SUB_TAG: opts.keep_sub_in} if opts.keep_sub_in else {}),
                },
                resume_hint=resume_hint,
            )
        except Exception as exc:
            pool_id = created_pool_id(exc)
            if pool_id:
                checkpoint.record("pool_partial", durable=True, pool_id=pool_id)
            raise
    checkpoint.record(
        "pool_created",
        durable=True,
        pool_id=created.user_pool_id,
        tagged=created.tagged,
        client_id_map=created.client_id_map,
        warnings=created.warnings,
    )
    return created.user_pool_id, dict(created.client_id_map), list(created.warnings), not adopt


def _refuse_name_in_use(client: Any, pacer: Pacer, name: str) -> None:
    """--new-pool never makes a second pool of a name in use: Cognito would allow it, but on an incident
    day two pools of one name are a trap (which is the restored one?). It is also what a re-run after a
    newer backup would do: `latest` is then another snapshot, so another restore that knows no pool."""
    from cognito_backup.aws.pool_creator import pools_named

    existing = pools_named(client, pacer, name)
    if existing:
        raise PlanRefused(
            f"A user pool named {name!r} already exists ({', '.join(existing)}): --new-pool creates a new pool, "
            "and a second one of the same name would be easy to mistake for it. Nothing was written.",
            hint="If an earlier restore created it, run that restore again with the same --snapshot (or --at): "
            "it carries on into that pool (`latest` may be a newer snapshot now). Otherwise restore into it with "
            "--user-pool-id ID, or give --new-pool another name.",
        )


def _check_ours(tags: Mapping[str, str], pool_id: str, restore_id: str | None, name: str) -> None:
    """The pool recorded for this restore must carry this restore's tag."""
    if restore_id and tags.get(RESTORE_TAG) == restore_id:
        return
    raise PlanRefused(
        f"user pool {pool_id}, which an earlier run of this restore created as {name!r}, no longer carries its "
        f"tag {RESTORE_TAG}={restore_id}; nothing was written",
        hint="Put the tag back (aws cognito-idp tag-resource) to carry on into it, or restore under another "
        "--new-pool NAME.",
    )


_SLUG = re.compile(r"[^A-Za-z0-9_.-]+")


def write_reports(summary: RestoreSummary, report_dir: Path, run_key: str) -> RestoreOutcome:
    """The JSON report, the sub map CSV and (temporary-file mode) the passwords CSV, side by side and
    owner-only. Each run rewrites them whole, so after a resumed restore they cover the whole restore."""
    slug = _SLUG.sub("_", run_key).strip("_")
    report_dir = Path(report_dir)
    outcome = RestoreOutcome(summary)
    outcome.sub_map_path = report_dir / f"sub-map-{slug}.csv"
    header = [("old_sub", "new_sub", "username")]
    write_private(outcome.sub_map_path, spreadsheet_csv_chunks(itertools.chain(header, summary.sub_map)))
    if summary.temporary_passwords:
        outcome.passwords_path = report_dir / f"passwords-{slug}.csv"
        rows = itertools.chain([("username", "temporary_password")], summary.temporary_passwords.values_by_key())
        write_private(outcome.passwords_path, spreadsheet_csv_chunks(rows))
    outcome.report_path = report_dir / f"report-{slug}.json"
    write_private(outcome.report_path, report_json(outcome.to_json(), summary))
    return outcome


def report_json(body: dict[str, Any], summary: RestoreSummary) -> bytes:
    """The report file's content: the outcome's JSON with the plan's counts."""
    body = {**body, "plan": summary.plan_counts()}
    return (json.dumps(body, indent=2, sort_keys=True, default=str) + "\n").encode()


def load_snapshot_state(repo: Repository, snapshot: str = "latest") -> tuple[str, PoolState]:
    manifest = repo.resolve(snapshot)
    return manifest.id, repo.load_state(manifest)
