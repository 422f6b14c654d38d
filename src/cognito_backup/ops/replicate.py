"""Warm standby: keep another pool equal to the source's journaled state through the restore engine.

Each round folds the newest snapshot of the source pool with the journal from its start, and hands the
result to `ops.restore.reconcile` with prune on (deletions and membership removals are replicated):
silent (no messages sent), idempotent (a repeated round plans nothing) and paced like any restore. The
position reached is kept in `replication/<standby-pool-id>.json` in the repository, with the journal
segments applied in the store's WRITE order (core/applied.py): a round that lists no segment it has not
applied does nothing and costs one listing. A segment written late, holding observations older than the
position reached, is applied by the next round like any other (the fold keeps the newest observation of
every entity, whatever order segments arrive in), and that round compares every standby user. Other
rounds after the first read only the standby users the new records name (see `_Touched`); a group or
configuration record makes a round compare everything.

A bounded round (a Lambda call) that compares every standby user stores its plan in the repository
(ops/stored_plan.py, the deployed restore's StoredPlan, under `replication/<standby>/plans/`) before it
writes; when its writes do not fit the call, every later call carries the plan on from the stored
chunks, neither listing the standby nor folding nor planning, until it is done (`Carrying`). Journal
records written meanwhile wait: the round after the stored plan applies them (the plan, judged at its
fold, deletions included, would otherwise write its older values over theirs).

A replicated deletion is undone with a point-in-time restore into the standby (or the source):
`restore --at <time before the deletion>`.

Writes only where asked for: a round writes only into a pool tagged as this source's standby
(core/standby.py). A pool found empty, or confirmed once (`--yes`), is tagged before anything is written;
into any other pool a round that would write anything is refused (PlanRefused), each deletion named.
"""

from __future__ import annotations

import datetime as dt
import json
import threading
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from functools import partial
from typing import Any

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.tags import tag_pool
from cognito_backup.core.applied import AppliedSegments, Listed
from cognito_backup.core.config_plan import STANDBY_KEEPS, STANDBY_SECTIONS
from cognito_backup.core.deletions import deleted_items, describe_deletions
from cognito_backup.core.fold import Folder
from cognito_backup.core.plan import Plan, identity_key, refuse_before_planning, username_attributes
from cognito_backup.core.standby import (
    ADOPT,
    NOT_STANDBY,
    STANDBY_TAG,
    describe_writes,
    kept_sub_attribute,
    pool_tags,
    refuses,
    standby_status,
)
from cognito_backup.errors import OutOfTime, PlanRefused, RepositoryNotFound
from cognito_backup.model import Membership, PoolConfig, PoolState, User, jsonable
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.compact import write_compacted
from cognito_backup.ops.restore import RestoreOptions, read_actual, reconcile
from cognito_backup.ops.standby_listing import list_standby, plan_fits
from cognito_backup.ops.state_at import Folded, choose_base, fold_from, root_of
from cognito_backup.ops.stored_plan import StoredPlan
from cognito_backup.repo.journal import Journal, SegmentRef, record_order
from cognito_backup.repo.layout import snapshot_key
from cognito_backup.repo.leases import holding
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository, format_time, parse_time
from cognito_backup.store.base import ObjectNotFound

CURSOR_PREFIX = "replication/"
# A journal segment stamped (by the store) this long before the newest one listed is taken as applied
# once listed: covers a PUT in flight and S3 Replication Time Control's 15 minutes for a replica bucket.
SETTLE_SECONDS = 15 * 60.0
# At least this often a round compares every standby user, even with nothing new (repairs a segment
# that arrived later than the settle window, e.g. a replica bucket without RTC).
FULL_COMPARISON_SECONDS = 3600.0
# A clean round that folded this many journal records stores its fold as a compacted state, which the
# next rounds start from: a round then reads a state and the journal since it, not the whole journal
# since the last backup. Fewer records are cheaper to fold again than a whole state is to write.
COMPACT_AFTER_RECORDS = 1000


def cursor_key(standby_pool_id: str) -> str:
    return f"{CURSOR_PREFIX}{standby_pool_id}.json"


def stored_plan_prefix(standby_pool_id: str) -> str:
    """The folder of a standby round's stored plan (one at a time per standby, named by its listing)."""
    return f"{CURSOR_PREFIX}{standby_pool_id}/plans/"


@dataclass
class Carrying:
    """A round whose plan is stored and carried out over calls: the plan, and where the cursor goes once
    it is done (as the round that planned it would have moved it)."""

    plan: str  # the stored plan's prefix
    listing: str  # the standby's snapshot it was planned against
    base_snapshot: str
    position: tuple[str, str, int]
    segments: AppliedSegments
    compared_at: str
    records: int
    standby: str

    def to_json(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "listing": self.listing,
            "base_snapshot": self.base_snapshot,
            "position": list(self.position),
            "segments": self.segments.to_record(),
            "compared_at": self.compared_at,
            "records": self.records,
            "standby": self.standby,
        }

    @classmethod
    def from_json(cls, body: dict[str, Any]) -> Carrying:
        pos = body["position"]
        return cls(
            plan=str(body["plan"]),
            listing=str(body["listing"]),
            base_snapshot=str(body["base_snapshot"]),
            position=(str(pos[0]), str(pos[1]), int(pos[2])),
            segments=AppliedSegments.from_record(body.get("segments")),
            compared_at=str(body["compared_at"]),
            records=int(body.get("records", 0)),
            standby=str(body.get("standby", "")),
        )


@dataclass
class Cursor:
    source_pool_id: str
    standby_pool_id: str
    base_snapshot: str | None = None
    position: tuple[str, str, int] | None = None
    applied_at: str | None = None
    segments: AppliedSegments = field(default_factory=AppliedSegments)
    compared_at: str | None = None  # the last round that compared every standby user
    # A bounded round's snapshot of the standby (ops/standby_listing.py): the one being read or read and
    # not compared yet (its backup checkpoint's id until committed), and the one the last comparison used.
    listing: str | None = None
    compared_with: str | None = None
    # A round's stored plan being carried out: every call carries it on before anything else.
    carrying: Carrying | None = None
    # Written by a version that did not check the standby tag (no "standby_checked" key): such a replicate
    # of this source into this pool already deleted freely, so the pool is taken as its standby.
    legacy: bool = False

    def to_json(self) -> bytes:
        body: dict[str, Any] = {
            "source_pool_id": self.source_pool_id,
            "standby_pool_id": self.standby_pool_id,
            "base_snapshot": self.base_snapshot,
            "position": list(self.position) if self.position else None,
            "applied_at": self.applied_at,
            "segments": self.segments.to_record(),
            "compared_at": self.compared_at,
            "listing": self.listing,
            "compared_with": self.compared_with,
            "carrying": self.carrying.to_json() if self.carrying is not None else None,
        }
        if not self.legacy:  # a legacy cursor saved mid-comparison stays legacy until its round adopts the pool
            body["standby_checked"] = True
        return (json.dumps(body, indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def load(cls, repo: Repository, standby: str, source: str) -> Cursor:
        try:
            body = json.loads(repo.store.get_bytes(cursor_key(standby)))
        except ObjectNotFound:
            return cls(source_pool_id=source, standby_pool_id=standby)
        pos = body.get("position")
        recorded_source = str(body.get("source_pool_id") or source)
        return cls(
            source_pool_id=recorded_source,
            standby_pool_id=standby,
            base_snapshot=body.get("base_snapshot"),
            position=(str(pos[0]), str(pos[1]), int(pos[2])) if pos else None,
            applied_at=body.get("applied_at"),
            segments=AppliedSegments.from_record(body.get("segments")),
            compared_at=body.get("compared_at"),
            listing=body.get("listing"),
            compared_with=body.get("compared_with"),
            carrying=Carrying.from_json(body["carrying"]) if body.get("carrying") else None,
            legacy=pos is not None and recorded_source == source and "standby_checked" not in body,
        )


@dataclass
class ReplicateRound:
    applied: bool
    records: int
    operations: int = 0
    failed: int = 0
    position: tuple[str, str, int] | None = None
    lag_seconds: float | None = None
    counts: dict[str, int] = field(default_factory=dict)
    standby: str | None = None  # core/standby.py status; None when the round had nothing to do
    deleted_items: list[dict[str, str]] = field(default_factory=list)  # deleted (dry run: would delete)
    dry_run: bool = False
    refused: bool = False  # dry run: a real round would be refused (it would delete from a non-standby)
    plan: Plan | None = None  # dry run: what a real round would do

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {
            "applied": self.applied,
            "records": self.records,
            "operations": self.operations,
            "failed": self.failed,
            "position": list(self.position) if self.position else None,
            "lag_seconds": self.lag_seconds,
            **self.counts,
            "standby": self.standby,
            "deleted_items": list(self.deleted_items),
            "dry_run": self.dry_run,
            "refused": self.refused,
        }
        if self.plan is not None:
            body["plan"] = self.plan.to_json()
        return body


def replicate_once(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    source_pool_id: str,
    standby_pool_id: str,
    *,
    options: RestoreOptions | None = None,
    clock: Callable[[], dt.datetime] | None = None,
    force: bool = False,
    settle_seconds: float = SETTLE_SECONDS,
    full_every_seconds: float = FULL_COMPARISON_SECONDS,
    confirmed: bool = False,
    compact_after_records: int = COMPACT_AFTER_RECORDS,
    out_of_time: Callable[[], bool] | None = None,
    seconds_left: Callable[[], float] | None = None,
    bounded: bool | None = None,
) -> ReplicateRound:
    """One round. `confirmed`: the operator says the standby is this source's (`--yes`): it is tagged so.
    With `options.dry_run` nothing is written (no tag, no cursor) and the round says what it would do.

    `compact_after_records`: a clean round that folded at least this many records stores its state as
    a compacted state, which the next round starts from. `out_of_time` (a bounded Lambda call): asked
    before each operation; once True the round raises OutOfTime when the running ones finished, its
    cursor unmoved, and the next call carries on (the standby shows what was done; the resume state in
    the repository knows whose password the round set). A bounded round that compares every standby
    user reads the standby as a snapshot taken in steps (ops/standby_listing.py): while that listing is
    in progress every call continues it, then plans from the two snapshots; `seconds_left` (the call's
    time) sends the planning to the next call when too little is left for it (plan_fits). `bounded`
    (default: whether `out_of_time` is given) says the call's time is limited; a CLI round that only
    asks `out_of_time` whether it was told to stop (`replicate --follow`) passes False: it has all the
    time it needs and reads the standby at once.

    A round that writes holds the standby's lease (`restore/<standby>`, the one a restore into that pool
    takes: repo/leases.py) from before it reads until it ends, out of time included (the next call takes
    it again): a second round (a laptop's `replicate --follow` beside the stack's) or a restore into the
    standby meanwhile is refused with exit 13, and this round is refused while one of them runs."""
    run = partial(
        _round,
        repo,
        client,
        pacer,
        source_pool_id,
        standby_pool_id,
        options=options,
        clock=clock,
        force=force,
        settle_seconds=settle_seconds,
        full_every_seconds=full_every_seconds,
        confirmed=confirmed,
        compact_after_records=compact_after_records,
        seconds_left=seconds_left,
        bounded=out_of_time is not None if bounded is None else bounded,
    )
    if options is not None and options.dry_run:
        return run(out_of_time=out_of_time)
    with holding(
        repo.store,
        f"restore/{standby_pool_id}",
        what=f"The standby {standby_pool_id}",
        purpose="standby round",
        took_over="another standby round or a restore into that pool",
        heartbeat=(options or RestoreOptions()).lease_heartbeat_seconds,
    ) as lease:
        # A round whose lease was taken over while it stalled starts no more operations.
        return run(out_of_time=lambda: lease.lost or (out_of_time is not None and out_of_time()))


def _round(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    source_pool_id: str,
    standby_pool_id: str,
    *,
    options: RestoreOptions | None,
    clock: Callable[[], dt.datetime] | None,
    force: bool,
    settle_seconds: float,
    full_every_seconds: float,
    confirmed: bool,
    compact_after_records: int,
    out_of_time: Callable[[], bool] | None,
    seconds_left: Callable[[], float] | None = None,
    bounded: bool = False,
) -> ReplicateRound:
    """`bounded`: the caller's time is limited (a Lambda call); `out_of_time` is also the lease's."""
    now = clock or repo.clock
    snaps = [s for s in repo.list_snapshots() if s.user_pool_id == source_pool_id]
    if not snaps:
        raise RepositoryNotFound(
            f"No snapshot of {source_pool_id} in the repository",
            hint="Run `cognito-backup backup` once: replication starts from a snapshot.",
        )
    cursor = Cursor.load(repo, standby_pool_id, source_pool_id)
    dry_run = options is not None and options.dry_run
    if cursor.carrying is not None and not dry_run:
        carried = _carry_on(repo, client, pacer, cursor, standby_pool_id, options, out_of_time, now)
        if carried is not None:
            return carried
    # The standby's snapshot this round compares against (a bounded round's full comparison).
    listed: Manifest | None = None
    if cursor.listing is not None and not dry_run:
        # A comparison in progress: every call continues it first, folding nothing until the standby is read
        # (the rounds for named users wait for it; the comparison applies their records too).
        listed = _read_standby(repo, client, pacer, cursor, standby_pool_id, out_of_time, seconds_left, snaps)
    journal = Journal(repo.store)
    base = round_base(snaps, source_pool_id, cursor.base_snapshot, cursor.position, force=force)
    same_base = not force and cursor.base_snapshot == root_of(base) and cursor.position is not None
    done = cursor.segments if same_base else AppliedSegments()
    # One listing decides what is new AND what this round folds: nothing read is left unmarked.
    stamped = _listing(journal, source_pool_id, base, settle_seconds)
    new_keys = {seg.key for seg in done.unapplied(_listed(stamped))}
    # A new segment observed at or before the position reached was written late: the records after the
    # position do not name every user it changes, so this round compares them all, and folds it from a
    # state older than its first observation (the fold keeps the newest observation of each entity).
    reached = cursor.position[0] if same_base and cursor.position is not None else ""
    late_first = min(
        (ref.first_observed for ref, _ in stamped if ref.key in new_keys and ref.first_observed <= reached),
        default=None,
    )
    if late_first is not None and late_first <= base.started_at and base.extra.get("compacted"):
        # A listed snapshot read the pool after the segment's observations; a compacted state did not.
        base = state_before(snaps, source_pool_id, late_first)
        stamped = _listing(journal, source_pool_id, base, settle_seconds)
        if cursor.base_snapshot != root_of(base):
            done = AppliedSegments()
            new_keys = {seg.key for seg in done.unapplied(_listed(stamped))}
    listing = _listed(stamped)
    # A segment can still turn up stamped before the watermark (an S3 replica keeps its source's
    # time and may arrive after the settle window): a periodic full comparison repairs that.
    full_due = cursor.compared_at is None or (now() - parse_time(cursor.compared_at)).total_seconds() >= (
        full_every_seconds
    )
    if same_base and not confirmed and cursor.position is not None and not new_keys and not full_due and not listed:
        return ReplicateRound(
            applied=False, records=0, position=cursor.position, lag_seconds=_lag(now(), cursor.position)
        )
    incremental = same_base and late_first is None and not full_due and listed is None
    bounded = bounded and not dry_run
    if bounded and not incremental and listed is None:
        # Known before the fold: the standby is read first, the fold waits for the call that plans.
        listed = _read_standby(repo, client, pacer, cursor, standby_pool_id, out_of_time, seconds_left, snaps)
    touched = _Touched(username_attributes(repo.load_config(base))) if incremental else None

    def note(rec: dict[str, Any], folder: Folder) -> None:
        nonlocal touched
        after_cursor = cursor.position is not None and record_order(rec) > cursor.position
        if touched is not None and after_cursor and not touched.add(rec, folder):
            touched = None  # a group, config or sub-only change: this round compares everything

    # Only the segments that can hold records the base lacks are read (the listing reaches further back,
    # to see late segments): a compacted state holds every record observed up to its start, a listed
    # snapshot may lack one observed at its very start.
    exact = bool(base.extra.get("compacted"))
    needed = [
        ref
        for ref, _ in stamped
        if ref.last_observed > base.started_at or (ref.last_observed == base.started_at and not exact)
    ]
    folded = fold_from(repo, base, segments=needed, on_record=note)
    folder = folded.folder
    desired = whole = folded.state()
    if touched is not None and not touched.cheaper_than_listing(desired):
        touched = None
    opts = options or RestoreOptions()
    opts = replace(opts, plan=replace(opts.plan, prune=True), read_back=False, out_of_time=out_of_time)
    if touched is None and bounded and listed is None:
        listed = _read_standby(repo, client, pacer, cursor, standby_pool_id, out_of_time, seconds_left, snaps)
    if touched is None:
        actual = repo.load_state(listed) if listed is not None else read_actual(client, pacer, standby_pool_id)
        # The standby's whole configuration was read: it follows the source's (journaled config records),
        # keeping what a standby may differ in: its domain, its own triggers, ARNs mapped by --map-arn.
        opts = replace(
            opts, config=replace(opts.config, sections=STANDBY_SECTIONS, keep=STANDBY_KEEPS, refuse_blocked=False)
        )
    else:
        # Only the users the new records name are read from the standby and compared: a round costs
        # a few calls per changed user instead of a listing of the whole standby (which would also eat
        # the UserList quota the capture needs to re-read changed users).
        keys = touched.keys(desired)
        opts = replace(opts, plan=replace(opts.plan, only_users=frozenset(keys)))
        actual = _read_standby_users(client, pacer, standby_pool_id, keys, touched.attrs)
        desired = touched.desired(desired)
    tags = pool_tags(actual.config.user_pool, actual.config.tags)
    kept = kept_sub_attribute(tags, opts.plan.keep_sub_in)
    if kept:
        # A standby made with `restore --new-pool --keep-sub-in`: users created since carry their old sub too.
        opts = replace(opts, plan=replace(opts.plan, keep_sub_in=kept))
    status = standby_status(
        tags,
        source_pool_id,
        empty=touched is None and not actual.users and not actual.groups,
        confirmed=confirmed,
        legacy_cursor=cursor.legacy,
    )
    if status == ADOPT and not opts.dry_run:
        # Refused first, if the plan will be: a pool that cannot take the source's state keeps no claim.
        refuse_before_planning(desired, actual, opts.plan)
        # Before any write: from now on every machine (and the deployed Lambda) sees the pool as the standby.
        arn = str(actual.config.user_pool.get("Arn") or "")
        tag_pool(client, pacer, standby_pool_id, arn, {STANDBY_TAG: source_pool_id})

    def refuse(plan: Plan) -> bool:
        # Asked only for a plan with deletions, before anything is written: a refusal, not a cancel.
        raise refusal(plan, source_pool_id, standby_pool_id)

    if status == NOT_STANDBY and not opts.dry_run:
        # Someone's own pool takes no write at all (core/standby.refuses): planned first, against the state
        # already read, so a refused round writes nothing; a round with nothing to do goes on as a no-op.
        preview = reconcile(client, pacer, standby_pool_id, desired, replace(opts, dry_run=True), actual=actual)
        if refuses(status, preview.plan.count_by_kind()):
            raise refusal(preview.plan, source_pool_id, standby_pool_id)

    # A bounded round keeps what the standby cannot tell the next call (whose password it set).
    checkpoint = (
        Checkpoint(repo.store, resume_key(source_pool_id, standby_pool_id))
        if out_of_time is not None and not opts.dry_run
        else None
    )
    # With no journal record yet, the position is the base snapshot itself (nothing newer applied).
    position = folder.position or (base.started_at, "", -1)
    carry: StoredPlan | None = None
    if listed is not None and bounded and checkpoint is not None:
        # Its writes may not fit this call: the plan is stored, and later calls carry it on from there. Noted
        # in the cursor before it is stored: a call that dies meanwhile is known (and the plan made again).
        StoredPlan(repo.store, stored_plan_prefix(standby_pool_id)).delete()  # one left by a call that died
        cursor.carrying = Carrying(
            plan=f"{stored_plan_prefix(standby_pool_id)}{listed.id}/",
            listing=listed.id,
            base_snapshot=root_of(base),
            position=position,
            segments=done.advance(listing, settle_seconds),
            compared_at=format_time(now()),
            records=folder.applied,
            standby=status,
        )
        repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())
        carry = StoredPlan(repo.store, cursor.carrying.plan)
        opts = replace(opts, carry=carry)
    try:
        summary = reconcile(
            client,
            pacer,
            standby_pool_id,
            desired,
            opts,
            actual=actual,
            confirm=refuse if status == NOT_STANDBY else None,
            checkpoint=checkpoint,
        )
    finally:
        if checkpoint is not None:
            checkpoint.close()
        if carry is not None and not carry.exists():
            carry.delete()  # refused, or failed before it was stored whole: nothing to carry on
            cursor.carrying = None
        if listed is not None:
            # Compared once, whatever the outcome: once written to, the standby no longer matches it.
            _compared(repo, cursor, listed.id, standby_pool_id)
    if opts.dry_run:
        would_delete = deleted_items(summary.plan.ops)
        return ReplicateRound(
            applied=False,
            records=folder.applied,
            operations=len(summary.plan.ops),
            position=position,
            lag_seconds=_lag(now(), position),
            standby=status,
            deleted_items=would_delete,
            dry_run=True,
            refused=refuses(status, summary.plan.count_by_kind()),
            plan=summary.plan,
        )
    failed = len(summary.failed_results)
    if failed == 0:
        # Only a clean round moves the cursor: a failed operation is retried by the next round.
        written = _advance(repo, cursor, folded, whole, standby_pool_id, compact_after_records)
        cursor.carrying = None
        cursor.position = position
        cursor.segments = done.advance(listing, settle_seconds)
        if touched is None:
            cursor.compared_at = format_time(now())
        cursor.applied_at = format_time(now())
        cursor.legacy = False
        repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())
        if written is not None:
            # Only now: until the cursor has moved past the new state, a crashed round restarts from an older.
            for old in snaps:
                if old.id != written.id and written_by_round(old, standby_pool_id):
                    repo.delete_snapshot(old)
        if checkpoint is not None:
            checkpoint.clear()  # the round is whole: nothing is left to resume
    if carry is not None:
        _carried(repo, cursor, carry, standby_pool_id)
    return ReplicateRound(
        applied=True,
        records=folder.applied,
        operations=summary.operation_count(),
        failed=failed,
        position=position,
        lag_seconds=_lag(now(), position),
        counts=summary.counts(),
        standby=status,
        deleted_items=deleted_items(r.op for r in summary.results if r.ok),
    )


def _carry_on(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    cursor: Cursor,
    standby_pool_id: str,
    options: RestoreOptions | None,
    out_of_time: Callable[[], bool] | None,
    now: Callable[[], dt.datetime],
) -> ReplicateRound | None:
    """A call while a round's stored plan is being carried out: it carries the plan on from the stored
    chunks (ops/stored_plan.py carry_out, through `reconcile`): no listing, no fold, no plan. Raises
    OutOfTime while chunks are left. None: the plan was never stored whole (the call that planned it died
    meanwhile): it is dropped, and this call makes the round again."""
    carrying = cursor.carrying
    if carrying is None:  # the caller checked: nothing is being carried on
        return None
    carry = StoredPlan(repo.store, carrying.plan)
    if not carry.exists():
        # Nothing was written from it: the round plans again (from the same listing, if still named).
        carry.delete()
        cursor.carrying = None
        repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())
        return None
    if cursor.listing == carrying.listing:
        # The call that planned died before noting its comparison: the standby may have been written to since.
        _compared(repo, cursor, carrying.listing, standby_pool_id)
    opts = options or RestoreOptions()
    opts = replace(opts, plan=replace(opts.plan, prune=True), read_back=False, out_of_time=out_of_time, carry=carry)
    checkpoint = Checkpoint(repo.store, resume_key(cursor.source_pool_id, standby_pool_id))
    try:
        # The plan holds everything the writes need: the desired state is not built again.
        summary = reconcile(client, pacer, standby_pool_id, PoolState(), opts, checkpoint=checkpoint)
    finally:
        checkpoint.close()
    failed = len(summary.failed_results)
    if failed == 0:
        cursor.position = carrying.position
        cursor.segments = carrying.segments
        cursor.base_snapshot = carrying.base_snapshot
        cursor.compared_at = carrying.compared_at
        cursor.applied_at = format_time(now())
        cursor.legacy = False
    _carried(repo, cursor, carry, standby_pool_id)
    if failed == 0:
        checkpoint.clear()  # the round is whole: nothing is left to resume
    return ReplicateRound(
        applied=True,
        records=carrying.records,
        operations=summary.operation_count(),
        failed=failed,
        position=carrying.position,
        lag_seconds=_lag(now(), carrying.position),
        counts=summary.counts(),
        standby=carrying.standby,
        deleted_items=deleted_items(r.op for r in summary.results if r.ok),
    )


def _carried(repo: Repository, cursor: Cursor, carry: StoredPlan, standby_pool_id: str) -> None:
    """A stored plan carried out to its end: the cursor stops naming it, then it goes (a call that dies in
    between leaves objects the next stored plan of this standby clears). With failures the cursor's
    position stays: the next round plans again and retries them."""
    cursor.carrying = None
    repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())
    carry.delete()


def round_base(
    snaps: list[Manifest], source_pool_id: str, root: str | None, position: tuple[str, str, int] | None, *, force: bool
) -> Manifest:
    """Where a round's fold starts. PURE. The latest state (ops/state_at.py's rule); while it descends
    from the snapshot the cursor follows, the latest one the standby already holds (started at or before
    the cursor's position): the records after it then name every user changed since the last round."""
    latest = choose_base(snaps, source_pool_id)
    if force or position is None or root != root_of(latest):
        return latest
    return choose_base(snaps, source_pool_id, started_by=position[0])


def state_before(snaps: list[Manifest], source_pool_id: str, observed: str) -> Manifest:
    """The latest state started before `observed` (a late segment's first observation); the oldest
    state when none is (its fold is then as good as the journal since it)."""
    earlier = format_time(parse_time(observed) - dt.timedelta(microseconds=1))
    try:
        return choose_base(snaps, source_pool_id, started_by=earlier)
    except RepositoryNotFound:
        return min((s for s in snaps if s.user_pool_id == source_pool_id), key=lambda s: (s.started_at, s.id))


def written_by_round(manifest: Manifest, standby_pool_id: str) -> bool:
    return bool(manifest.extra.get("compacted")) and manifest.extra.get("replica_state_of") == standby_pool_id


def resume_key(source_pool_id: str, standby_pool_id: str) -> str:
    """The resume state of a bounded round that ran out of time (ops/checkpoint.py, restores/ folder)."""
    return f"{standby_pool_id}@replicate:{source_pool_id}"


def _read_standby(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    cursor: Cursor,
    standby_pool_id: str,
    out_of_time: Callable[[], bool] | None,
    seconds_left: Callable[[], float] | None,
    snaps: list[Manifest],
) -> Manifest:
    """The standby's snapshot, read in bounded steps across calls; raises OutOfTime (the cursor naming the
    listing to continue) until it is committed and there is time left to plan from it. The planning's
    size is the bigger side: the standby's, or the source's (`snaps`: an empty standby's plan creates
    every source user)."""
    step = list_standby(
        repo, client, pacer, standby_pool_id, cursor.source_pool_id, cursor.listing, out_of_time=out_of_time
    )
    listing = step.manifest.id if step.manifest is not None else step.checkpoint_id
    if listing != cursor.listing:
        cursor.listing = listing
        repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())  # the position does not move
    if step.manifest is None:
        raise OutOfTime(f"The standby's listing continues on the next call ({step.users_so_far} users read so far).")
    users = max([step.manifest.counts.get("users", 0), *(s.counts.get("users", 0) for s in snaps)])
    if seconds_left is not None and not step.committed_before and not plan_fits(users, seconds_left()):
        raise OutOfTime("The standby is read; the next call plans from it.")
    return step.manifest


def _compared(repo: Repository, cursor: Cursor, listed: str, standby_pool_id: str) -> None:
    """A comparison used the standby's snapshot `listed`: the next one lists again; the one before it is no
    longer needed."""
    previous, cursor.listing, cursor.compared_with = cursor.compared_with, None, listed
    repo.store.put_bytes(cursor_key(standby_pool_id), cursor.to_json())
    if previous is not None and previous != listed:
        repo.store.delete(snapshot_key(previous))  # its objects go with the next prune, unless shared


def _listing(journal: Journal, pool_id: str, base: Manifest, settle_seconds: float) -> list[tuple[SegmentRef, float]]:
    # From a settle window before the base: a late segment older than a compacted base must be seen.
    since = parse_time(base.started_at) - dt.timedelta(seconds=settle_seconds)
    return journal.list_segments_stamped(pool_id, since=since)


def _listed(stamped: list[tuple[SegmentRef, float]]) -> list[Listed]:
    return [Listed(ref.key, modified) for ref, modified in stamped]


def _advance(
    repo: Repository, cursor: Cursor, folded: Folded, whole: PoolState, standby_pool_id: str, compact_after: int
) -> Manifest | None:
    """Note the round's base in the cursor; after enough records, store the fold as the compacted state
    the next round starts from (written before the cursor names it) and return it."""
    base, folder = folded.base, folded.folder
    cursor.base_snapshot = root_of(base)
    if folder.position is None or folder.position[0] <= base.started_at or folder.applied < compact_after:
        return None
    return write_compacted(repo, folded, extra={"replica_state_of": standby_pool_id}, state=whole)


def refusal(plan: Plan, source_pool_id: str, standby_pool_id: str) -> PlanRefused:
    """Why a round that would write into a pool not tagged as this source's standby is refused."""
    deletions = describe_deletions(deleted_items(plan.ops))
    return PlanRefused(
        f"{standby_pool_id} is not a standby of {source_pool_id} (not tagged {STANDBY_TAG}={source_pool_id}), "
        f"and this round would write into it: {describe_writes(plan.count_by_kind())}"
        + (f"; it would delete {deletions}" if deletions else "")
        + ". Refused: nothing was written.",
        hint=f"If {standby_pool_id} is meant to follow {source_pool_id} (its users, groups and settings made "
        f"{source_pool_id}'s, deletions included), run this replicate once with --yes: it tags the pool "
        f"{STANDBY_TAG}={source_pool_id}, and later rounds (and the deployed Lambda) need no --yes. "
        "`replicate --dry-run` shows the whole plan.",
    )


class _Touched:
    """The source users that journal records after the cursor name, and every key they may go by in
    the standby (username, and the email/phone an email- or phone-username pool signs them in with,
    before and after the change)."""

    def __init__(self, attrs: tuple[str, ...]) -> None:
        self.attrs = attrs
        self.usernames: set[str] = set()
        self.prior_keys: set[str] = set()

    def add(self, rec: dict[str, Any], folder: Folder) -> bool:
        """Note the user `rec` changes; False when the record is not about one named user."""
        kind, key = rec.get("type"), rec.get("key")
        if not key or kind not in ("user_upsert", "user_delete", "user_groups", "membership_add", "membership_remove"):
            return False
        username = str(key).partition("\u0000")[2] if kind.startswith("membership_") else str(key)
        if username not in self.usernames:
            before = folder.users.get(username)
            if before is not None:
                self.prior_keys.add(identity_key(before, self.attrs))
            self.usernames.add(username)
        return True

    def cheaper_than_listing(self, desired: PoolState) -> bool:
        """Whether looking the named users up takes fewer UserList calls than listing the standby (one
        filtered ListUsers per key it may go by, against one page per 60 users and per group)."""
        lookups = len(self.usernames) * (len(self.attrs) + 1)
        listing = len(desired.users) / 60 + len(desired.groups)
        return lookups < listing

    def keys(self, desired: PoolState) -> set[str]:
        now = {identity_key(desired.users[u], self.attrs) for u in self.usernames if u in desired.users}
        return self.usernames | self.prior_keys | now

    def desired(self, desired: PoolState) -> PoolState:
        return PoolState(
            config=desired.config,
            groups=desired.groups,
            users={u: desired.users[u] for u in self.usernames if u in desired.users},
            memberships={m for m in desired.memberships if m.username in self.usernames},
        )


def _read_standby_users(
    client: Any, pacer: Pacer, standby_pool_id: str, keys: set[str], attrs: tuple[str, ...]
) -> PoolState:
    """The standby's pool settings, groups, and the users going by any of `keys` with their groups."""
    reader = PoolReader(client, pacer, standby_pool_id, chains=1)
    config = PoolConfig(user_pool=jsonable(reader.call("DescribeUserPool", UserPoolId=standby_pool_id)["UserPool"]))
    users: dict[str, User] = {}
    for key in sorted(keys):
        for attr in (*attrs, "username"):
            found = reader.find_user(attr, key)
            if found is not None:
                users[found.username] = found
                break
    memberships = [Membership(group, name) for name in users for group in reader.user_groups(name)]
    return PoolState.build(config, list(reader.iter_groups()), users.values(), memberships)


def _lag(now: dt.datetime, position: tuple[str, str, int] | None) -> float | None:
    if position is None:
        return None
    return round(max(0.0, (now - parse_time(position[0])).total_seconds()), 3)


def replicate(
    repo: Repository,
    client: Any,
    pacer: Pacer,
    source_pool_id: str,
    standby_pool_id: str,
    *,
    follow: bool = False,
    interval: float = 10.0,
    stop: threading.Event | None = None,
    options: RestoreOptions | None = None,
    on_round: Callable[[ReplicateRound], None] | None = None,
    confirmed: bool = False,
) -> ReplicateRound:
    """One round, or (follow) rounds every `interval` seconds until `stop` is set. Returns the last round;
    a round running when `stop` is set raises OutOfTime (its position unmoved, its progress saved).
    `confirmed` applies to the first round: it tags the standby, which later rounds then find."""
    stop = stop or threading.Event()
    # A stop during a round ends it like a bounded step's deadline (OutOfTime, progress saved): a long
    # catch-up round must not outlive a scheduler's stop grace (docker stop: 10 s).
    once = partial(
        replicate_once,
        repo,
        client,
        pacer,
        source_pool_id,
        standby_pool_id,
        options=options,
        out_of_time=stop.is_set,
        bounded=False,  # a stop, not a deadline: the CLI round reads the standby at once
    )
    last = once(confirmed=confirmed)
    if on_round:
        on_round(last)
    while follow and not stop.wait(interval):
        last = once()
        if on_round:
            on_round(last)
    return last
