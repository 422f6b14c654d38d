"""Capture: turn change hints into journal records by re-reading current state, and consume an SQS
queue of Cognito events (EventBridge -> SQS) so that a message is deleted only once its records are
durable in the journal.

A user who made the change themselves is re-read with AdminGetUser (they are a monthly active user
already; UserRead quota); anyone else with ListUsers and a `sub`/`username` filter, which bills no one
(core/capture_reads.py decides; all changes of one user in a batch share one read). Its groups are read
with AdminListGroupsForUser, a group with GetGroup,
the configuration with the same reads as a backup. A change of a user the event does not name is a
rescan job kept in the repository (core/rescan.py): every call spends at most `rescan_pages` ListUsers
pages on pending jobs and the next one continues. Every call goes through the Pacer.

What a record promises: the state *as observed at observed_at* (the moment the re-read returned), not
at the moment of the event. docs/capture.md explains why folding such observations converges.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from queue import SimpleQueue
from typing import Any

from cognito_backup.aws.errors import aws_code, error_code, translate_client_error
from cognito_backup.aws.reader import PAGE, PoolReader
from cognito_backup.core.capture_reads import GET, IMAGE, UserRead, plan_user_read
from cognito_backup.core.events import ChangeHint, EventParseError, hints_from_sqs_body
from cognito_backup.core.rescan import RescanJob, marker_cap, modified_since, plan_job, superseded
from cognito_backup.errors import CognitoBackupError, RepositoryNotFound
from cognito_backup.model import Group, User
from cognito_backup.repo.journal import Journal
from cognito_backup.repo.repository import format_time, parse_time, utcnow
from cognito_backup.repo.rescan_jobs import RescanJobs

log = logging.getLogger("cognito_backup.capture")

Record = dict[str, Any]


# A capture paces its ListUsers calls (admin-made changes, rescans) at this share of the account's
# UserList quota at most: a backup running at the same time keeps the rest, however busy the pool.
CAPTURE_USER_LIST_SHARE = 0.5


def capture_rates(rates: Mapping[str, float]) -> dict[str, float]:
    """The quota rates a capture's Pacer uses: `rates` with UserList cut to CAPTURE_USER_LIST_SHARE."""
    return {**rates, "UserList": rates["UserList"] * CAPTURE_USER_LIST_SHARE}


def capture_burst(instances: int) -> dict[str, float]:
    """The Pacer bursts (seconds, see aws/pacing.py) of one of `instances` captures running at once (PURE).

    Each instance paces at 1/instances of the quotas (the deployed function's instances share nothing), so
    spaced evenly a batch's reads would wait instances/rate s each: 10 users' own changes at a tenth of
    UserRead took 0.75 s of pacing alone, and 10 instances carried 82 changes/s, not 100
    (bench/bench_capture_lambda.py). An idle instance may instead spend one second of its UserRead share
    at once; together the instances burst at most one second of UserRead, which the capture has whole.
    UserList stays evenly spaced: a backup keeps its half of it every second. One capture alone (the CLI,
    streaming) needs no burst: its reads are 1/120 s apart."""
    return {"UserRead": 1.0} if instances > 1 else {}


@dataclass
class CaptureOptions:
    # Events that name no pool (public API calls such as UpdateUserAttributes may not) go to this pool.
    default_pool_id: str | None = None
    # Only these pools are captured; events of other pools are acknowledged and ignored.
    pools: frozenset[str] | None = None
    # ListUsers is eventually consistent: a user missing right after a create event is retried (the
    # message stays in the queue) until the event is this old; then "missing" is believed.
    consistency_window: float = 30.0
    # Unknown-user re-scans take users modified this long before the event too (clock skew, delays).
    rescan_skew: float = 300.0
    # ListUsers pages one capture call (a poll, a Lambda invocation) spends on rescan jobs at most:
    # 10 pages (600 users) take a third of a second of the whole account's UserList quota (30/s).
    rescan_pages: int = 10
    # Pending rescans are looked for (one LIST of the repository) at most this often by busy batches;
    # a batch that starts a job, and a quiet poll, always continue them.
    rescan_interval: float = 5.0
    # Re-reads in flight at once. At 100-150 ms per call, 8 would cap a batch at 53-80 reads/s, under the
    # UserRead quota (120/s): the Pacer, not the thread count, must be what bounds the capture.
    workers: int = 32


@dataclass
class HintOutcome:
    status: str = "ok"  # ok | deferred | failed | unresolved | ignored
    reason: str = ""


@dataclass
class Observed:
    records: dict[str, list[Record]] = field(default_factory=dict)  # pool -> records
    outcomes: dict[int, HintOutcome] = field(default_factory=dict)  # id(hint) -> outcome
    pools_of: dict[int, str] = field(default_factory=dict)  # id(hint) -> pool
    rescans: dict[str, list[ChangeHint]] = field(default_factory=dict)  # pool -> unknown_user hints


class Capturer:
    """Re-reads what hints point at and turns the answers into journal records."""

    def __init__(
        self,
        reader_for: Callable[[str], PoolReader],
        options: CaptureOptions | None = None,
        clock: Callable[[], dt.datetime] = utcnow,
    ) -> None:
        self.reader_for = reader_for
        self.options = options or CaptureOptions()
        self.clock = clock
        self._lock = threading.Lock()
        self._clients: dict[str, frozenset[str]] = {}
        self._rescans_checked: dt.datetime | None = None

    def _client_ids(self, pool: str) -> frozenset[str]:
        """App client ids of a pool (cached; re-read when an unknown id shows up)."""
        reader = self.reader_for(pool)
        ids: set[str] = set()
        token: str | None = None
        while True:
            args: dict[str, Any] = {"UserPoolId": pool, "MaxResults": PAGE}
            if token:
                args["NextToken"] = token
            resp = reader.call("ListUserPoolClients", **args)
            ids.update(str(c["ClientId"]) for c in resp.get("UserPoolClients", []))
            token = resp.get("NextToken")
            if not token:
                break
        return frozenset(ids)

    def _owns_client(self, pool: str, client_id: str) -> bool:
        with self._lock:
            known = self._clients.get(pool)
        if known is None or client_id not in known:
            known = self._client_ids(pool)
            with self._lock:
                self._clients[pool] = known
        return client_id in known

    # ---- records --------------------------------------------------------------------------------
    def _record(
        self,
        kind: str,
        pool: str,
        key: str | None,
        hint: ChangeHint,
        observed: dt.datetime,
        seq: int,
        *,
        after: dict[str, Any] | None = None,
        sub: str | None = None,
        source: str | None = None,
    ) -> Record:
        changed = format_time(parse_time(hint.changed_at)) if hint.changed_at else format_time(observed)
        return {
            "type": kind,
            "pool": pool,
            "key": key,
            "sub": sub,
            "changed_at": changed,
            "observed_at": format_time(observed),
            "event_id": hint.event_id,
            "event_name": hint.event_name,
            "source": source or hint.source,
            "seq": seq,
            "after": after,
        }

    def _age(self, hint: ChangeHint) -> float:
        if not hint.changed_at:
            return float("inf")
        return (self.clock() - parse_time(hint.changed_at)).total_seconds()

    # ---- one target -----------------------------------------------------------------------------
    def _image_user(self, pool: str, hint: ChangeHint, image: Mapping[str, Any]) -> list[Record]:
        """A trigger handed us the user's current attributes: no read."""
        user = User(
            username=str(image["username"]),
            attributes=dict(image["attributes"]),
            status=str(image.get("status", "CONFIRMED")),
        )
        return [
            self._record(
                "user_upsert", pool, user.username, hint, self.clock(), 0, after=user.to_record(), sub=user.sub
            )
        ]

    def _get_user(self, reader: PoolReader, read: UserRead) -> User | None:
        """AdminGetUser (the user is already a monthly active user: see core/capture_reads.py). Cognito
        accepts the sub as Username; an answer for another user (a username that is someone's sub) or
        UserNotFoundException is not believed on its own: the non-billing lookup by sub confirms it."""
        try:
            resp = reader.call("AdminGetUser", UserPoolId=reader.pool_id, Username=read.username or read.sub)
        except CognitoBackupError as err:
            if aws_code(err) != "UserNotFoundException":
                raise
        else:
            user = User.from_api(resp)
            if read.sub is None or user.sub == read.sub:
                return user
        return self._list_user(reader, read)

    @staticmethod
    def _list_user(reader: PoolReader, read: UserRead) -> User | None:
        if read.sub:
            return reader.find_user("sub", read.sub)
        if read.username:
            return reader.find_user("username", read.username)
        raise ValueError("a user read needs a sub or a username")

    def _observe_user(self, pool: str, hints: Sequence[ChangeHint]) -> tuple[list[Record], HintOutcome]:
        read = plan_user_read(hints, self.clock())
        hint = read.rep
        if read.how == IMAGE and hint.image is not None:
            return self._image_user(pool, hint, hint.image), HintOutcome()
        reader = self.reader_for(pool)
        found = self._get_user(reader, read) if read.how == GET else self._list_user(reader, read)
        if found is not None:
            records = [
                self._record(
                    "user_upsert", pool, found.username, hint, self.clock(), 0, after=found.to_record(), sub=found.sub
                )
            ]
            if not read.groups:
                return records, HintOutcome()
            try:
                groups = sorted(reader.user_groups(found.username))
            except CognitoBackupError as err:
                if aws_code(err) != "UserNotFoundException":
                    raise
                found = None  # deleted between the two reads: record the deletion instead
            else:
                after = {"groups": groups}
                records.append(
                    self._record("user_groups", pool, found.username, hint, self.clock(), 1, after=after, sub=found.sub)
                )
                return records, HintOutcome()
        if not hint.deleting and self._age(hint) < self.options.consistency_window:
            return [], HintOutcome("deferred", "user not visible to ListUsers yet")
        rec = self._record("user_delete", pool, read.username, hint, self.clock(), 0, sub=read.sub)
        return [rec], HintOutcome()

    def _observe_group(self, pool: str, hint: ChangeHint) -> tuple[list[Record], HintOutcome]:
        reader = self.reader_for(pool)
        try:
            resp = reader.call("GetGroup", UserPoolId=pool, GroupName=hint.group)
        except CognitoBackupError as err:
            if aws_code(err) != "ResourceNotFoundException":
                raise
            if not hint.deleting and self._age(hint) < self.options.consistency_window:
                return [], HintOutcome("deferred", "group not visible yet")
            return [self._record("group_delete", pool, hint.group, hint, self.clock(), 0)], HintOutcome()
        group = Group.from_api(resp["Group"])
        return [
            self._record("group_upsert", pool, group.name, hint, self.clock(), 0, after=group.to_record())
        ], HintOutcome()

    def _observe_config(self, pool: str, hint: ChangeHint) -> tuple[list[Record], HintOutcome]:
        config = self.reader_for(pool).read_config()
        return [
            self._record("config_changed", pool, None, hint, self.clock(), 0, after=config.to_record())
        ], HintOutcome()

    def rescan_page(self, job: RescanJob) -> tuple[list[Record], str | None]:
        """One ListUsers page of a rescan job: records of the users it shows modified since the job's
        `since`, and the next page token (None: the listing is complete)."""
        reader = self.reader_for(job.pool_id)
        users, token = reader.list_users_page(job.filter, job.token)
        observed = self.clock()
        rep = ChangeHint(
            kind="unknown_user",
            pool_id=job.pool_id,
            event_id=job.event_id,
            event_name=job.event_name,
            changed_at=job.event_at,
            source="poll",
        )
        records: list[Record] = []
        for user in users:
            if modified_since(user.modified or user.created, job.since):
                records.append(
                    self._record(
                        "user_upsert",
                        job.pool_id,
                        user.username,
                        rep,
                        observed,
                        0,
                        after=user.to_record(),
                        sub=user.sub,
                        source="poll",
                    )
                )
        return records, token

    def rescans_due(self) -> bool:
        """Whether a busy batch should look for pending rescans now (see CaptureOptions.rescan_interval)."""
        now = self.clock()
        with self._lock:
            last = self._rescans_checked
            if last is not None and (now - last).total_seconds() < self.options.rescan_interval:
                return False
            self._rescans_checked = now
            return True

    def home_pools(self) -> frozenset[str]:
        """The pools this capture serves whatever the batch holds (their rescans continue every call)."""
        pools = set(self.options.pools or ())
        if self.options.default_pool_id:
            pools.add(self.options.default_pool_id)
        return frozenset(pools)

    def read_target(self, hint: ChangeHint) -> tuple[str, str, str]:
        """What re-reading `hint` reads: hints with one target are served by one read."""
        pool = hint.pool_id or self.options.default_pool_id or ""
        _, kind, who = hint.target
        # One read of the user serves its own and its groups' changes.
        return (pool, "user" if kind == "membership" else kind, who)

    # ---- a batch of hints -----------------------------------------------------------------------
    def observe(self, hints: Iterable[ChangeHint]) -> Observed:
        """Re-read every target once (duplicates and repeats within the batch coalesce)."""
        result = Observed()
        by_target: dict[tuple[str, str, str], list[ChangeHint]] = {}
        for hint in hints:
            pool = hint.pool_id or self.options.default_pool_id
            if pool is None:
                result.outcomes[id(hint)] = HintOutcome("failed", f"{hint.event_name}: the event names no user pool")
                continue
            if self.options.pools is not None and pool not in self.options.pools:
                result.outcomes[id(hint)] = HintOutcome("ignored", "another pool")
                continue
            if hint.pool_id is None and hint.client_id:
                try:
                    ours = self._owns_client(pool, hint.client_id)
                except CognitoBackupError as err:
                    result.outcomes[id(hint)] = HintOutcome("failed", err.message)
                    continue
                if not ours:  # a user-side call of another pool's app client
                    result.outcomes[id(hint)] = HintOutcome("ignored", "another pool's app client")
                    continue
            result.pools_of[id(hint)] = pool
            target = self.read_target(hint)
            if hint.kind == "unknown_user":  # a rescan job (capture_batch stores it; see core/rescan.py)
                result.rescans.setdefault(pool, []).append(hint)
                result.outcomes[id(hint)] = (
                    HintOutcome("unresolved", "a deletion that names neither username nor sub cannot be re-read")
                    if hint.deleting
                    else HintOutcome()
                )
                continue
            by_target.setdefault(target, []).append(hint)

        def work(
            item: tuple[tuple[str, str, str], list[ChangeHint]],
        ) -> tuple[list[ChangeHint], list[Record], HintOutcome]:
            (pool, kind, _), group = item
            # The newest event of a target is its representative (plan_user_read chooses for users).
            rep = max(group, key=lambda h: (h.changed_at or "", h.event_id))
            try:
                if kind == "user":
                    records, outcome = self._observe_user(pool, group)
                elif kind == "group":
                    records, outcome = self._observe_group(pool, rep)
                else:
                    records, outcome = self._observe_config(pool, rep)
            except CognitoBackupError as err:
                # The message stays in the queue and is retried; the reason names no attribute value.
                return group, [], HintOutcome("failed", err.message)
            return group, records, outcome

        items = list(by_target.items())
        workers = max(1, min(self.options.workers, len(items)))
        if workers == 1:
            results = [work(item) for item in items]
        else:
            with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="cognito-capture") as pool_exec:
                results = list(pool_exec.map(work, items))
        for group, records, outcome in results:
            for hint in group:
                result.outcomes[id(hint)] = outcome
            for rec in records:
                result.records.setdefault(rec["pool"], []).append(rec)
        return result


# ---- messages -----------------------------------------------------------------------------------
@dataclass
class Message:
    id: str
    body: str
    receipt: str | None = None
    sent_at: dt.datetime | None = None
    # Its timeline in run_capture (bench_capture's per-stage delays): received from the queue, re-read.
    received_at: dt.datetime | None = None
    observed_at: dt.datetime | None = None


@dataclass
class BatchResult:
    messages: int = 0
    records: int = 0
    segments: int = 0
    done: list[Message] = field(default_factory=list)  # durable or nothing to record: safe to delete
    failed: dict[str, str] = field(default_factory=dict)  # message id -> reason (retried, then DLQ)
    deferred: list[str] = field(default_factory=list)  # retried after the visibility timeout
    poison: dict[str, str] = field(default_factory=dict)  # unparseable: never deleted, left for the DLQ
    unresolved: dict[str, str] = field(default_factory=dict)
    ignored: int = 0
    journal_started_at: dt.datetime | None = None  # the journal put began (its end: durable_at)
    durable_at: dt.datetime | None = None
    rescan: RescanProgress | None = None  # the pending rescan jobs this call continued
    pools: frozenset[str] = frozenset()  # the pools the batch's messages concern
    store_error: CognitoBackupError | None = None  # the first journal write that failed (exit code)

    @property
    def not_done_ids(self) -> list[str]:
        return sorted(set(self.failed) | set(self.deferred) | set(self.poison))


def capture_batch(
    capturer: Capturer,
    journal: Journal,
    messages: Sequence[Message],
    writer_info: dict[str, Any] | None = None,
) -> BatchResult:
    """Parse, re-read and journal one batch: one segment per pool, written before anything is acked."""
    observation = observe_messages(capturer, journal, messages)
    result = journal_observations(capturer, journal, [observation], writer_info)
    if observation.observed.rescans or capturer.rescans_due():
        pools = capturer.home_pools() | result.pools
        result.rescan = continue_rescans(capturer, journal, pools, writer_info=writer_info)
    return result


@dataclass
class Observation:
    """Messages re-read, not journaled yet."""

    messages: list[Message]
    hints_of: dict[str, list[ChangeHint]]  # message id -> its hints (parsed)
    poison: dict[str, str]  # message id -> why it could not be parsed
    observed: Observed


def observe_messages(capturer: Capturer, journal: Journal, messages: Sequence[Message]) -> Observation:
    """Parse and re-read messages (one read per target), and store a rescan job for changes of users
    no event names. Nothing is journaled yet: see journal_observations."""
    hints_of: dict[str, list[ChangeHint]] = {}
    poison: dict[str, str] = {}
    for msg in messages:
        try:
            hints_of[msg.id] = hints_from_sqs_body(msg.body, msg.id)
        except EventParseError as exc:
            poison[msg.id] = str(exc)
    observed = capturer.observe(h for hs in hints_of.values() for h in hs)
    _start_rescans(capturer, RescanJobs(journal.store), observed)
    now = capturer.clock()
    for msg in messages:
        msg.observed_at = now
    return Observation(list(messages), hints_of, poison, observed)


def journal_observations(
    capturer: Capturer,
    journal: Journal,
    observations: Sequence[Observation],
    writer_info: dict[str, Any] | None = None,
) -> BatchResult:
    """Journal the records of several observations together (one segment per pool for all of them),
    then say which of their messages may be acknowledged: only those whose records are durable."""
    messages = [m for obs in observations for m in obs.messages]
    result = BatchResult(messages=len(messages), journal_started_at=capturer.clock())
    by_pool: dict[str, list[Record]] = {}
    for obs in observations:
        result.poison.update(obs.poison)
        for pool, records in obs.observed.records.items():
            by_pool.setdefault(pool, []).extend(records)
    result.pools = frozenset(pool for obs in observations for pool in obs.observed.pools_of.values())
    failed_pools: dict[str, str] = {}
    for pool, records in sorted(by_pool.items()):
        try:
            segments = journal.append(pool, records, writer=writer_info or {"source": "capture"})
        except Exception as exc:  # the store is down: nothing of this pool may be acknowledged
            reason = exc.message if isinstance(exc, CognitoBackupError) else f"{type(exc).__name__}"
            failed_pools[pool] = f"journal write failed: {reason}"
            if isinstance(exc, CognitoBackupError) and result.store_error is None:
                result.store_error = exc
            log.error("journal write for pool %s failed (%s); %d records not stored", pool, reason, len(records))
            continue
        result.records += len(records)
        result.segments += len(segments)
    result.durable_at = capturer.clock()
    for obs in observations:
        _settle(obs, failed_pools, result)
    return result


def _settle(obs: Observation, failed_pools: Mapping[str, str], result: BatchResult) -> None:
    """Sort an observation's messages into done / failed / deferred once its records' fate is known."""
    observed = obs.observed
    for msg in obs.messages:
        if msg.id in obs.poison:
            continue
        hints = obs.hints_of[msg.id]
        if not hints:
            result.ignored += 1
            result.done.append(msg)
            continue
        status = "ok"
        for hint in hints:
            outcome = observed.outcomes.get(id(hint), HintOutcome("failed", "not processed"))
            hint_pool = observed.pools_of.get(id(hint))
            if hint_pool is not None and hint_pool in failed_pools:
                outcome = HintOutcome("failed", failed_pools[hint_pool])
            if outcome.status == "failed":
                result.failed[msg.id] = outcome.reason
                status = "failed"
                break
            if outcome.status == "deferred":
                status = "deferred"
            elif outcome.status == "unresolved":
                result.unresolved[msg.id] = outcome.reason
            elif outcome.status == "ignored" and len(hints) == 1:
                result.ignored += 1
        if status == "deferred":
            result.deferred.append(msg.id)
        elif status == "ok":
            result.done.append(msg)


def _start_rescans(capturer: Capturer, jobs: RescanJobs, observed: Observed) -> None:
    """Store one rescan job per pool for the batch's unidentified changes; their messages may be
    acknowledged once it is stored (a failed write sends them back)."""
    for pool, hints in sorted(observed.rescans.items()):
        try:
            pending = [job for _, job in jobs.pending(pool)]
            skew = dt.timedelta(seconds=capturer.options.rescan_skew)
            jobs.create(plan_job(pool, hints, capturer.clock(), skew, pending))
        except CognitoBackupError as exc:
            for hint in hints:
                observed.outcomes[id(hint)] = HintOutcome("failed", f"rescan job not stored: {exc.message}")


@dataclass
class RescanProgress:
    pages: int = 0  # ListUsers pages this call spent (at most CaptureOptions.rescan_pages)
    records: int = 0
    finished: int = 0  # jobs completed (or retired by a completed one)
    pending: list[RescanJob] = field(default_factory=list)  # jobs left for the next call
    error: str | None = None  # why the call stopped early (the jobs stay; the next call retries)


def continue_rescans(
    capturer: Capturer,
    journal: Journal,
    pools: Iterable[str],
    writer_info: dict[str, Any] | None = None,
) -> RescanProgress:
    """Spend at most `rescan_pages` ListUsers pages on the pools' pending rescan jobs, oldest first.

    Each job's records are durable in the journal before its new page token is saved, so a crash
    between the two lists those pages again (duplicate observations), never skips one.
    """
    jobs = RescanJobs(journal.store)
    progress = RescanProgress()
    budget = max(1, capturer.options.rescan_pages)
    for pool in sorted(pools):
        try:
            pending = jobs.pending(pool)
        except CognitoBackupError as exc:
            progress.error = progress.error or exc.message
            continue
        retired: set[str] = set()
        for key, job in pending:
            if key in retired:
                continue
            if progress.pages >= budget:
                progress.pending.append(job)
                continue
            records: list[Record] = []
            try:
                while progress.pages < budget:
                    requested = capturer.clock()
                    try:
                        page, token = capturer.rescan_page(job)
                    except CognitoBackupError as exc:
                        # A page token that no longer works (expired): list again from the start.
                        if job.token is None or aws_code(exc) != "InvalidParameterException":
                            raise
                        job = job.restarted()
                        continue
                    progress.pages += 1
                    records.extend(page)
                    job = job.advanced(token, requested)
                    if token is None:
                        break
                if records:
                    journal.append(pool, records, writer=writer_info or {"source": "capture"})
                    progress.records += len(records)
                if job.token is None:
                    done = [key, *superseded(job, [(k, j) for k, j in pending if k != key and k not in retired])]
                    for gone in done:
                        jobs.finish(gone)
                    retired.update(done)
                    progress.finished += len(done)
                else:
                    jobs.save(key, job)
                    progress.pending.append(job)
            except CognitoBackupError as exc:
                log.warning("rescan of pool %s paused (%s); it continues on the next call", pool, exc.message)
                progress.error = progress.error or exc.message
                progress.pending.append(job)
    return progress


# ---- the SQS consumer ----------------------------------------------------------------------------
# GetQueueAttributes: the approximate counts "may not achieve consistency until at least 1 minute after
# the producers stop sending messages" (SQS API reference): counts of zero prove only that messages sent
# this long before are done.
SQS_COUNTS_SETTLE = dt.timedelta(minutes=2)
_COUNTS = ("ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "ApproximateNumberOfMessagesDelayed")


# What SQS answers for a queue URL that names no queue (query and JSON protocols).
MISSING_QUEUE_CODES = frozenset({"AWS.SimpleQueueService.NonExistentQueue", "QueueDoesNotExist"})


class SqsQueue:
    def __init__(self, client: Any, url: str) -> None:
        self.client = client
        self.url = url

    def check(self) -> None:
        """The queue exists and may be read: one GetQueueAttributes before anything is written, so a
        mistyped URL is named at once (not as a traceback from the first receive)."""
        try:
            self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=["QueueArn"])
        except Exception as exc:
            if error_code(exc) in MISSING_QUEUE_CODES:
                raise RepositoryNotFound(
                    f"The queue {self.url} does not exist in this account and Region ({error_code(exc)})",
                    hint="--queue takes the queue's URL: `aws sqs get-queue-url --queue-name NAME` prints it; "
                    "the deployed stack's is its CaptureQueueUrl output.",
                ) from None
            raise translate_client_error(exc, f"GetQueueAttributes on {self.url}") from None

    def drained(self) -> bool:
        """No message waiting, in flight or delayed, by the queue's approximate counts."""
        attrs = self.client.get_queue_attributes(QueueUrl=self.url, AttributeNames=list(_COUNTS))["Attributes"]
        return all(int(attrs.get(name, "0")) == 0 for name in _COUNTS)

    def receive(self, max_messages: int, wait: int) -> list[Message]:
        resp = self.client.receive_message(
            QueueUrl=self.url,
            MaxNumberOfMessages=max(1, min(10, max_messages)),
            WaitTimeSeconds=wait,
            AttributeNames=["SentTimestamp", "ApproximateReceiveCount"],
        )
        out = []
        for m in resp.get("Messages", []):
            sent = m.get("Attributes", {}).get("SentTimestamp")
            out.append(
                Message(
                    id=m["MessageId"],
                    body=m.get("Body", ""),
                    receipt=m["ReceiptHandle"],
                    sent_at=dt.datetime.fromtimestamp(int(sent) / 1000, dt.UTC) if sent else None,
                )
            )
        return out

    def delete(self, messages: Sequence[Message]) -> int:
        deleted = 0
        for i in range(0, len(messages), 10):
            chunk = messages[i : i + 10]
            entries = [{"Id": str(n), "ReceiptHandle": m.receipt} for n, m in enumerate(chunk) if m.receipt]
            if not entries:
                continue
            resp = self.client.delete_message_batch(QueueUrl=self.url, Entries=entries)
            deleted += len(resp.get("Successful", []))
            # A message whose delete failed comes back and is captured again: a duplicate observation.
        return deleted


@dataclass
class CaptureSummary:
    messages: int = 0
    records: int = 0
    segments: int = 0
    deleted: int = 0
    failed: int = 0
    deferred: int = 0
    poison: int = 0
    ignored: int = 0
    unresolved: int = 0
    batches: int = 0
    lag_seconds: float | None = None
    max_lag_seconds: float | None = None
    failures: dict[str, str] = field(default_factory=dict)
    caught_up_to: str | None = None  # the last caught-up marker written (docs/capture.md)
    rescan_pages: int = 0  # ListUsers pages spent on rescan jobs
    rescans_finished: int = 0
    rescans_pending: int = 0  # after the last call
    # A storage failure the run met: the command ends with its exit code once the run is over (the
    # messages it concerns stay in the queue), never 0.
    store_error: CognitoBackupError | None = None

    def add_rescan(self, progress: RescanProgress | None) -> None:
        if progress is None:
            return
        self.rescan_pages += progress.pages
        self.rescans_finished += progress.finished
        self.rescans_pending = len(progress.pending)

    def add(self, batch: BatchResult, deleted: int, messages: Sequence[Message]) -> None:
        self.add_rescan(batch.rescan)
        self.batches += 1
        self.store_error = self.store_error or batch.store_error
        self.messages += batch.messages
        self.records += batch.records
        self.segments += batch.segments
        self.deleted += deleted
        self.failed += len(batch.failed)
        self.deferred += len(batch.deferred)
        self.poison += len(batch.poison)
        self.ignored += batch.ignored
        self.unresolved += len(batch.unresolved)
        for mid, why in list(batch.failed.items()) + list(batch.poison.items()):
            if len(self.failures) < 100:
                self.failures[mid] = why
        sent = [m.sent_at for m in batch.done if m.sent_at is not None]
        if sent and batch.durable_at is not None:
            lag = (batch.durable_at - min(sent)).total_seconds()
            self.lag_seconds = round(max(0.0, lag), 3)
            self.max_lag_seconds = max(self.max_lag_seconds or 0.0, self.lag_seconds)

    def to_json(self) -> dict[str, Any]:
        return {
            "messages": self.messages,
            "records": self.records,
            "segments": self.segments,
            "deleted": self.deleted,
            "failed": self.failed + self.poison,
            "poison": self.poison,
            "deferred": self.deferred,
            "ignored": self.ignored,
            "unresolved": self.unresolved,
            "batches": self.batches,
            "lag_seconds": self.lag_seconds,
            "max_lag_seconds": self.max_lag_seconds,
            "failures": self.failures,
            "caught_up_to": self.caught_up_to,
            "rescan_pages": self.rescan_pages,
            "rescans_finished": self.rescans_finished,
            "rescans_pending": self.rescans_pending,
        }


def caught_up_time(poll_started: dt.datetime, pending: Iterable[dt.datetime]) -> dt.datetime:
    """How far a drained queue lets capture claim to have caught up: the start of the poll that found
    it drained, but never past a message of this run still waiting to be captured (failed or deferred:
    it comes back after its visibility timeout)."""
    earliest = min(pending, default=None)
    if earliest is None or earliest > poll_started:
        return poll_started
    return earliest - dt.timedelta(microseconds=1)


# The group commit starts a segment at most this often (unless a segment's worth is ready): at 100
# changes/s about 10 records a segment (a segment is two PUTs and a HEAD on S3), for at most 0.1 s of
# delay. On S3 a put takes most of that interval anyway: records read meanwhile go in the next one.
COMMIT_INTERVAL = 0.1
# Messages a consumer holds at most (received, not yet settled): a bound on memory and on what a crash
# sends back, not on speed. At 100 changes/s and a second of delay about 100 are in hand; a tighter
# bound would leave messages waiting in the queue behind it.
IN_HAND = 500
# A busy follower rewrites the caught-up marker (a LIST of rescan jobs and a PUT) at most this often;
# a quiet poll and the end of a drain always write it.
MARKER_INTERVAL = 1.0


def commit_due(*, ready: int, since_last_commit: float, batch_size: int, interval: float) -> bool:
    """Whether the group commit writes the records ready now (PURE): at most one segment every
    `interval` seconds, sooner only for a segment's worth (`batch_size` messages)."""
    if ready <= 0:
        return False
    return ready >= batch_size or since_last_commit >= interval


Target = tuple[str, str, str]


def read_groups(capturer: Capturer, messages: Sequence[Message]) -> list[tuple[set[Target], list[Message]]]:
    """A poll's messages in groups that share no read target, each with its targets: each group is
    re-read on its own (one read per target), so a slow read holds back only the messages that need it."""
    groups: list[tuple[set[Target], list[Message]]] = []
    owner: dict[Target, int] = {}
    for msg in messages:
        try:
            targets = {capturer.read_target(h) for h in hints_from_sqs_body(msg.body, msg.id)}
        except EventParseError:
            targets = set()  # poison: observe_messages says why
        joined = sorted({owner[t] for t in targets if t in owner})
        if not joined:
            joined = [len(groups)]
            groups.append((set(), []))
        home = joined[0]
        groups[home][1].append(msg)
        groups[home][0].update(targets)
        for other in joined[1:]:  # the message links groups: they become one
            groups[home][0].update(groups[other][0])
            groups[home][1].extend(groups[other][1])
            groups[other] = (set(), [])
            for target, idx in owner.items():
                if idx == other:
                    owner[target] = home
        for target in targets:
            owner[target] = home
    return [g for g in groups if g[1]]


@dataclass
class _Poll:
    started: dt.datetime
    drained: bool  # it found the queue drained: once its messages settle, the marker may move
    left: int  # its messages not settled yet


@dataclass
class _Reading:
    messages: list[Message]
    targets: set[Target]
    polls: list[tuple[_Poll, int]]  # the polls its messages came in, with how many of each
    future: Future[Observation] | None = None
    started: bool = False  # its read began: no message joins it any more
    ready_at: float | None = None  # monotonic: when its reads were done


class _Consumer:
    """run_capture's three stages, each on its own thread so that none waits for another's round trips:
    the caller's thread receives and starts each message's re-read at once (reads run concurrently,
    paced by the Pacer); a committer journals whatever is read (group commit, see commit_due); an acker
    deletes the journaled messages and moves the caught-up marker."""

    def __init__(
        self,
        queue: SqsQueue,
        capturer: Capturer,
        journal: Journal,
        *,
        follow: bool,
        stop: threading.Event,
        batch_size: int,
        wait_seconds: int,
        on_batch: Callable[[BatchResult, CaptureSummary], None] | None,
        pools: Iterable[str],
        max_in_hand: int,
        interval: float,
        monotonic: Callable[[], float],
    ) -> None:
        self.queue, self.capturer, self.journal = queue, capturer, journal
        self.follow, self.stop, self.batch_size, self.wait_seconds = follow, stop, max(1, batch_size), wait_seconds
        self.on_batch, self.max_in_hand, self.interval, self.monotonic = on_batch, max_in_hand, interval, monotonic
        self.summary = CaptureSummary()
        self.marked = set(pools)
        self.cond = threading.Condition()
        # message id -> sent time, for messages of this run not captured yet (in hand, failed or
        # deferred: those come back): the caught-up marker never passes one of them.
        self.pending: dict[str, dt.datetime] = {}
        self.in_hand: dict[str, Message] = {}  # received and not settled (journaled and acked, or not)
        self.reading: list[_Reading] = []  # being re-read, or read and waiting for the journal
        self.closing = False
        # A second stop signal (KeyboardInterrupt) while stopping: stop now. Nothing more is journaled or
        # acknowledged; the messages in hand come back from the queue (a journaled one not deleted comes
        # back too and is journaled again: the reader drops adjacent duplicates).
        self.abandoned = False
        self.error: BaseException | None = None
        self.last_mark = -float("inf")
        self.rescans: Future[RescanProgress] | None = None
        # (the journaled result, each poll with how many of its messages it settles, those messages)
        self.acks: SimpleQueue[tuple[BatchResult, list[tuple[_Poll, int]], list[Message]] | None] = SimpleQueue()
        self.readers = ThreadPoolExecutor(
            max_workers=max(1, capturer.options.workers), thread_name_prefix="cognito-capture-read"
        )

    # ---- receive (the caller's thread) ----------------------------------------------------------
    def run(self) -> CaptureSummary:
        committer = threading.Thread(target=self._guard, args=(self._commit_loop,), name="cognito-capture-commit")
        acker = threading.Thread(target=self._guard, args=(self._ack_loop,), name="cognito-capture-ack")
        committer.start()
        acker.start()
        try:
            self._receive_loop()
        except KeyboardInterrupt:  # a second stop signal (SIGTERM's Terminated too): stop now
            self._abandon()
            raise
        finally:
            try:
                self._close(committer, acker)
            except KeyboardInterrupt:  # the second signal landed while the work in hand was finishing
                self._abandon()
                self._close(committer, acker)
                raise
        if self.error is not None:
            raise self.error
        return self.summary

    def _abandon(self) -> None:
        with self.cond:
            self.abandoned = True
            self.cond.notify_all()

    def _close(self, committer: threading.Thread, acker: threading.Thread) -> None:
        with self.cond:
            self.closing = True  # a message in hand is finished (unless abandoned): a stop loses none
            self.cond.notify_all()
        committer.join()
        self.acks.put(None)
        acker.join()
        if self.rescans is not None and self.error is None and not self.abandoned:
            self._rescanned(self.rescans)
        self.readers.shutdown(wait=True, cancel_futures=self.abandoned)

    def _receive_loop(self) -> None:
        seen: set[str] = set()
        while not self.stop.is_set() and self.error is None:
            with self.cond:
                while len(self.in_hand) >= self.max_in_hand and self.error is None and not self.stop.is_set():
                    self.cond.wait(0.5)
                busy = bool(self.in_hand)
                ids = set(self.in_hand)
            if self.stop.is_set() or self.error is not None:
                break
            poll_started = self.capturer.clock()
            # Idle: long-poll. Busy: a follower still long-polls (SQS answers as soon as a message is
            # there; no tight loop of empty receives), a drain only looks.
            wait_for = (
                (self.wait_seconds if self.follow else 1)
                if not busy
                else (min(1, self.wait_seconds) if self.follow else 0)
            )
            want = min(10, self.batch_size)
            raw = self.queue.receive(want, wait_for)
            # Messages in hand are not taken twice: a queue whose visibility timeout ran out shows them again.
            got = [m for m in raw if m.id not in ids]
            if not got:
                if busy:  # their failures may come back; a drain ends only once they are settled
                    with self.cond:
                        if self.in_hand and self.error is None:
                            self.cond.wait(0.05 if self.follow else 0.5)
                    continue
                # A quiet poll still moves pending rescans on (the committer does it for busy ones).
                with self.cond:
                    pools = frozenset(self.marked)
                progress = continue_rescans(self.capturer, self.journal, self.capturer.home_pools() | pools)
                with self.cond:
                    self.summary.add_rescan(progress)
                    until = caught_up_time(poll_started, self.pending.values())
                _mark_caught_up(self.journal, pools, until, self.summary)
                if self.follow:
                    continue
                break
            received = self.capturer.clock()
            poll = _Poll(poll_started, drained=len(raw) < want, left=len(got))
            with self.cond:
                for msg in got:
                    msg.received_at = received
                    self.in_hand[msg.id] = msg
                    self.pending.setdefault(msg.id, msg.sent_at or poll_started)
                for targets, group in read_groups(self.capturer, got):
                    # A change of a user whose read has not started yet (every worker busy: a backlog)
                    # joins that read: several changes of one user within the wait are read once.
                    waiting = next((r for r in self.reading if not r.started and r.targets & targets), None)
                    if waiting is not None:
                        waiting.messages.extend(group)
                        waiting.targets.update(targets)
                        waiting.polls.append((poll, len(group)))
                        continue
                    reading = _Reading(group, targets, [(poll, len(group))])
                    self.reading.append(reading)
                    reading.future = self.readers.submit(self._observe, reading)
                    reading.future.add_done_callback(lambda _, r=reading: self._read_done(r))  # type: ignore[misc]
            if not self.follow and all(m.id in seen for m in got):
                # Only messages this run already failed on came back (a queue with no visibility timeout):
                # draining is over; they stay in the queue.
                break
            if not self.follow:  # only a drain needs it; a follower runs for days (100 ids/s would grow without end)
                seen.update(m.id for m in got)

    def _observe(self, reading: _Reading) -> Observation:
        with self.cond:
            reading.started = True
            messages = list(reading.messages)
        return observe_messages(self.capturer, self.journal, messages)

    def _read_done(self, reading: _Reading) -> None:
        with self.cond:
            reading.ready_at = self.monotonic()
            self.cond.notify_all()

    # ---- journal (the committer's thread) --------------------------------------------------------
    def _commit_loop(self) -> None:
        last_commit = -float("inf")
        while True:
            with self.cond:
                while True:
                    if self.error is not None or self.abandoned:
                        return
                    ready = [r for r in self.reading if r.ready_at is not None]
                    if ready:
                        since = self.monotonic() - last_commit
                        due = commit_due(
                            ready=sum(len(r.messages) for r in ready),
                            since_last_commit=since,
                            batch_size=self.batch_size,
                            interval=self.interval,
                        )
                        if due or self.closing:
                            break
                        self.cond.wait(max(0.001, self.interval - since))
                    elif self.closing and not self.reading:
                        return
                    else:
                        self.cond.wait(0.5)
                for r in ready:
                    self.reading.remove(r)
            last_commit = self.monotonic()
            # A bug in a read ends the run (raised).
            observations = [r.future.result() for r in ready if r.future is not None]
            result = journal_observations(self.capturer, self.journal, observations)
            polls = [p for r in ready for p in r.polls]
            self.acks.put((result, polls, [m for r in ready for m in r.messages]))
            if any(obs.observed.rescans for obs in observations) or self.capturer.rescans_due():
                self._continue_rescans(result.pools)

    def _continue_rescans(self, pools: frozenset[str]) -> None:
        """Pending rescan jobs move on beside the capture (their pages are paced ListUsers calls that
        must not hold back a commit), one call at a time."""
        with self.cond:
            if self.rescans is not None:
                if not self.rescans.done():
                    return
                self._rescanned(self.rescans)
            self.rescans = self.readers.submit(
                continue_rescans, self.capturer, self.journal, self.capturer.home_pools() | pools
            )

    def _rescanned(self, future: Future[RescanProgress]) -> None:
        progress = future.result()
        with self.cond:
            self.summary.add_rescan(progress)
            if self.rescans is future:
                self.rescans = None

    # ---- acknowledge (the acker's thread) ---------------------------------------------------------
    def _ack_loop(self) -> None:
        while (item := self.acks.get()) is not None:
            if self.abandoned:
                continue  # stop now: not acknowledged, these messages come back
            result, polls, messages = item
            deleted = self.queue.delete(result.done)
            mark_from: dt.datetime | None = None
            with self.cond:
                self.summary.add(result, deleted, result.done)
                # Unparseable messages go to the dead-letter queue (and its alarm), not back to us: they
                # do not hold the marker. Failed and deferred ones come back and are captured later.
                for mid in [m.id for m in result.done] + list(result.poison):
                    self.pending.pop(mid, None)
                self.marked.update(result.pools)
                for poll, count in polls:
                    poll.left -= count
                    if poll.left == 0 and poll.drained and (mark_from is None or poll.started > mark_from):
                        mark_from = poll.started
                now = self.monotonic()
                mark: tuple[frozenset[str], dt.datetime] | None = None
                if mark_from is not None and (not self.follow or now - self.last_mark >= MARKER_INTERVAL):
                    self.last_mark = now
                    mark = (frozenset(self.marked), caught_up_time(mark_from, self.pending.values()))
            if mark is not None:  # written outside the lock: its round trips hold up no other stage
                _mark_caught_up(self.journal, mark[0], mark[1], self.summary)
            for mid, why in result.poison.items():
                log.error("message %s is not a supported event (%s): left in the queue for the DLQ", mid, why)
            for mid, why in result.failed.items():
                log.error("message %s not captured: %s (it stays in the queue and is retried)", mid, why)
            if self.on_batch is not None:
                self.on_batch(result, self.summary)
            with self.cond:  # settled last: an empty hand means every result was reported
                for msg in messages:
                    self.in_hand.pop(msg.id, None)
                self.cond.notify_all()

    def _guard(self, loop: Callable[[], None]) -> None:
        """A stage that fails (a bug, a queue that refuses deletes) ends the run: the caller raises it."""
        try:
            loop()
        except BaseException as exc:
            with self.cond:
                self.error = self.error or exc
                self.cond.notify_all()


def run_capture(
    queue: SqsQueue,
    capturer: Capturer,
    journal: Journal,
    *,
    follow: bool = False,
    stop: threading.Event | None = None,
    batch_size: int = 20,
    wait_seconds: int = 20,
    on_batch: Callable[[BatchResult, CaptureSummary], None] | None = None,
    pools: Iterable[str] = (),
    in_hand: int = IN_HAND,
    commit_interval: float = COMMIT_INTERVAL,
    monotonic: Callable[[], float] = time.monotonic,
) -> CaptureSummary:
    """Drain the queue (or follow it until `stop` is set): each message is re-read as soon as it is
    received, and what has been read is journaled together (group commit: a segment per pool at most
    every `commit_interval` seconds, sooner for `batch_size` messages).

    Messages are deleted only after their records are durable. `stop` is checked between receives, and
    every message in hand is finished: a signal never loses a message (at worst one comes back). At
    most `in_hand` messages are held at once. Each poll that drains the queue moves
    the caught-up marker of `pools` and of every pool journaled once its messages are settled (a busy
    follower at most every MARKER_INTERVAL seconds), even when nothing changed (see `caught_up_time`).

    Why streaming: with batches, a message waited for a free batch slot, then for its batch to fill,
    then for the slowest read of its batch, then for the journal put and the deletes of earlier
    batches; at 150 ms a read and 100 changes/s that was most of a second (docs/capture.md).
    """
    return _Consumer(
        queue,
        capturer,
        journal,
        follow=follow,
        stop=stop or threading.Event(),
        batch_size=batch_size,
        wait_seconds=wait_seconds,
        on_batch=on_batch,
        pools=pools,
        max_in_hand=max(1, in_hand),
        interval=commit_interval,
        monotonic=monotonic,
    ).run()


def mark_if_drained(
    queue: SqsQueue,
    journal: Journal,
    pools: Iterable[str],
    clock: Callable[[], dt.datetime] = utcnow,
    writer: dict[str, Any] | None = None,
) -> str | None:
    """For consumers that never see an empty queue (the capture Lambda, invoked only with messages): when
    the queue's counts are all zero, every message sent SQS_COUNTS_SETTLE before the check is captured;
    write that time as the pools' caught-up marker. Returns it, or None when the queue is not drained."""
    checked = clock()
    if not queue.drained():
        return None
    until = checked - SQS_COUNTS_SETTLE
    claimed = until
    for pool in sorted(pools):
        pool_until = capped_by_rescans(journal, pool, until)
        journal.mark_caught_up(pool, pool_until, writer=writer or {"source": "capture"})
        claimed = min(claimed, pool_until)
    return format_time(claimed)


def capped_by_rescans(journal: Journal, pool: str, until: dt.datetime) -> dt.datetime:
    """The caught-up time a marker may claim: before the event of any rescan job still pending."""
    return marker_cap(until, (job for _, job in RescanJobs(journal.store).pending(pool)))


def _mark_caught_up(journal: Journal, pools: Iterable[str], until: dt.datetime, summary: CaptureSummary) -> None:
    for pool in sorted(pools):
        try:
            pool_until = capped_by_rescans(journal, pool, until)
            journal.mark_caught_up(pool, pool_until, writer={"source": "capture"})
        except Exception as exc:  # a missing marker only understates coverage: never fail the capture for it
            reason = exc.message if isinstance(exc, CognitoBackupError) else type(exc).__name__
            log.warning("caught-up marker of pool %s not written (%s)", pool, reason)
            continue
        summary.caught_up_to = format_time(pool_until)
