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
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ALL_COMPLETED, FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
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
            target = (pool, hint.target[1], hint.target[2])
            if hint.kind == "membership":  # one read of the user serves its own and its groups' changes
                target = (pool, "user", hint.target[2])
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
    result = BatchResult(messages=len(messages))
    hints_of: dict[str, list[ChangeHint]] = {}
    for msg in messages:
        try:
            hints_of[msg.id] = hints_from_sqs_body(msg.body, msg.id)
        except EventParseError as exc:
            result.poison[msg.id] = str(exc)
    observed = capturer.observe(h for hs in hints_of.values() for h in hs)
    result.pools = frozenset(observed.pools_of.values())
    jobs = RescanJobs(journal.store)
    _start_rescans(capturer, jobs, observed)
    failed_pools: dict[str, str] = {}
    for pool, records in sorted(observed.records.items()):
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
    for msg in messages:
        if msg.id in result.poison:
            continue
        hints = hints_of[msg.id]
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
    if observed.rescans or capturer.rescans_due():
        pools = capturer.home_pools() | set(observed.pools_of.values())
        result.rescan = continue_rescans(capturer, journal, pools, writer_info=writer_info)
    return result


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


@dataclass
class _InFlight:
    messages: list[Message]
    poll_started: dt.datetime
    drained: bool  # the poll that received it found the queue drained: its end may move the marker


def run_capture(
    queue: SqsQueue,
    capturer: Capturer,
    journal: Journal,
    *,
    follow: bool = False,
    stop: threading.Event | None = None,
    batch_size: int = 100,
    wait_seconds: int = 20,
    on_batch: Callable[[BatchResult, CaptureSummary], None] | None = None,
    pools: Iterable[str] = (),
    pipeline: int = 4,
) -> CaptureSummary:
    """Drain the queue (or follow it until `stop` is set), one journal segment per batch and pool.

    Messages are deleted only after their records are durable. `stop` is checked between batches, so
    a batch in hand is always finished: a signal never loses a message (at worst one comes back).
    Each poll that drains the queue writes the caught-up marker of `pools` and of every pool it
    journaled, even when nothing changed (see `caught_up_time`).

    Up to `pipeline` batches are captured at once: the next batch is received while earlier ones wait
    for their re-reads. One at a time, a batch's fixed cost (a round trip, the journal write, the
    deletes) and its reads paced at the quota add up, and near the quota (100 changes/s against
    UserRead's 120/s) batches grow until the delay is seconds; overlapped, the pacer stays busy.
    """
    stop = stop or threading.Event()
    summary = CaptureSummary()
    seen: set[str] = set()
    marked = set(pools)
    # message id -> sent time, for messages not captured yet (in flight, failed or deferred): the
    # caught-up marker never passes one of them.
    pending: dict[str, dt.datetime] = {}
    running: dict[Future[BatchResult], _InFlight] = {}

    def finish(fut: Future[BatchResult]) -> None:
        flight = running.pop(fut)
        result = fut.result()
        deleted = queue.delete(result.done)
        summary.add(result, deleted, flight.messages)
        # Unparseable messages go to the dead-letter queue (and its alarm), not back to us: they do not
        # hold the marker. Failed and deferred ones come back and are captured later.
        for mid in [m.id for m in result.done] + list(result.poison):
            pending.pop(mid, None)
        marked.update(result.pools)
        if flight.drained:
            _mark_caught_up(journal, marked, caught_up_time(flight.poll_started, pending.values()), summary)
        for mid, why in result.poison.items():
            log.error("message %s is not a supported event (%s): left in the queue for the DLQ", mid, why)
        for mid, why in result.failed.items():
            log.error("message %s not captured: %s (it stays in the queue and is retried)", mid, why)
        if on_batch is not None:
            on_batch(result, summary)

    def finish_some(all_of_them: bool) -> None:
        if not running:
            return
        done, _ = wait(list(running), return_when=ALL_COMPLETED if all_of_them else FIRST_COMPLETED)
        for fut in sorted(done, key=lambda f: running[f].poll_started):
            finish(fut)

    executor = ThreadPoolExecutor(max_workers=max(1, pipeline), thread_name_prefix="cognito-capture-batch")
    try:
        while not stop.is_set():
            while len(running) >= max(1, pipeline):
                finish_some(all_of_them=False)
            poll_started = capturer.clock()
            batch: list[Message] = []
            # The first receive long-polls when following and idle; the rest fill the batch without waiting.
            wait_for = (wait_seconds if follow else 1) if not running else 0
            # Messages in hand (this batch, or one still being captured) are not taken twice: a queue
            # whose visibility timeout ran out shows them again.
            ids = {m.id for flight in running.values() for m in flight.messages}
            while len(batch) < batch_size:
                got = [m for m in queue.receive(batch_size - len(batch), wait_for) if m.id not in ids]
                if not got:
                    break  # empty, or only messages already in hand (a queue without visibility timeout)
                batch.extend(got)
                ids.update(m.id for m in got)
                wait_for = 0
            if not batch:
                if running:  # their failures may come back; a drain ends only once they are settled
                    finish_some(all_of_them=False)
                    continue
                # A quiet poll still moves pending rescans on (capture_batch does it for a busy one).
                summary.add_rescan(continue_rescans(capturer, journal, capturer.home_pools() | marked))
                _mark_caught_up(journal, marked, caught_up_time(poll_started, pending.values()), summary)
                if follow:
                    continue
                break
            for msg in batch:
                pending.setdefault(msg.id, msg.sent_at or poll_started)
            fut = executor.submit(capture_batch, capturer, journal, batch)
            running[fut] = _InFlight(batch, poll_started, drained=len(batch) < batch_size)
            if not follow and all(m.id in seen for m in batch):
                # Only messages this run already failed on came back (a queue with no visibility timeout):
                # draining is over; they stay in the queue.
                break
            if not follow:  # only a drain needs it; a follower runs for days (100 ids/s would grow without end)
                seen.update(m.id for m in batch)
        finish_some(all_of_them=True)  # a batch in hand is always finished
    finally:
        executor.shutdown(wait=True)
    return summary


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
