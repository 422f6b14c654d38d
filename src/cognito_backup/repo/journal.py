"""The change journal: append-only, immutable segments of change records under `journal/`.

Layout (docs/capture.md, "Change journal"):

    journal/objects/<sha[:2]>/<sha>.jsonl.zst         segment data: JSON Lines, zstd, named by SHA-256
    journal/<pool-id>/<yyyy>/<mm>/<dd>/<first>_<last>_<random>.json
                                                      segment manifest, written LAST

    journal/<pool-id>/caught-up                       how far capture has caught up (overwritten)

`<first>` and `<last>` are the smallest and largest `observed_at` of the segment's records (compact UTC,
microseconds), `<yyyy>/<mm>/<dd>` the day of `<first>`. Listing a time range therefore needs one LIST per
day and no GET; a manifest's name alone says whether the segment can hold records of the range.

The caught-up marker is the one key that is rewritten: each capture poll that found the queue drained
stores the time before that poll, even when nothing changed, so a quiet pool is covered up to its last
poll. Any value ever stored is a true claim, so the last writer winning (even with an older time) is safe.

Apart from it, every writer creates new, uniquely named keys and never rewrites one, so any number of capture processes,
Lambda invocations and triggers can append concurrently without coordination. A crash between the data
object and the manifest leaves an unreferenced object, never a segment pointing at missing data.

A record (documented in docs/capture.md):

    {"type": "user_upsert" | "user_delete" | "user_groups" | "group_upsert" | "group_delete"
             | "membership_add" | "membership_remove" | "config_changed",
     "pool": "us-east-1_AbC",
     "key": username | group name | "group\\u0000username" | null (user_delete known only by sub),
     "sub": the user's sub when known (user records) | null,
     "changed_at": time of the source event (ISO-8601 UTC),
     "observed_at": when the state in `after` was read (fixed-width ISO-8601 UTC, microseconds),
     "event_id": id of the source event (CloudTrail eventID, SQS message id, trigger id),
     "event_name": source event name, "source": "cloudtrail" | "trigger" | "poll",
     "seq": position among the records one observation produced,
     "after": the full after-image (User/Group/PoolConfig .to_record(), {"groups": [...]}) | null}

Total order of records: (observed_at, event_id, seq); it decides which observation of an entity is the
newest (core/fold.py). Observation times come from the clocks of different writers, and a segment can
be written after segments holding later observations: readers that follow the journal as it grows
(replicate) track the segments they applied by the store's WRITE order instead (core/applied.py).
"""

from __future__ import annotations

import datetime as dt
import heapq
import json
import re
import secrets
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, BinaryIO

from cognito_backup.core.spill import SpillList
from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.layout import JOURNAL_PREFIX, OBJECTS_PREFIX
from cognito_backup.repo.manifest import ObjectRef
from cognito_backup.repo.objects import ObjectWriter, iter_object
from cognito_backup.repo.repository import format_time, parse_time, utcnow
from cognito_backup.store.base import ObjectInfo, ObjectNotFound, Store

SEGMENT_FORMAT_VERSION = 1
SEGMENT_KIND = "journal"
RECORD_TYPES = frozenset(
    {
        "user_upsert",
        "user_delete",
        "user_groups",
        "group_upsert",
        "group_delete",
        "membership_add",
        "membership_remove",
        "config_changed",
    }
)
SOURCES = frozenset({"cloudtrail", "trigger", "poll", "compact"})
# A segment never spans more than this (writers split); listings look this far back before a range.
MAX_SEGMENT_SPAN = dt.timedelta(days=1)
# Beyond this many days a range is listed with one recursive LIST of the pool instead of one per day.
_MAX_DAY_LISTS = 62

_NAME = re.compile(r"^(\d{8}T\d{6}\.\d{6}Z)_(\d{8}T\d{6}\.\d{6}Z)_([0-9a-f]{8,32})\.json$")
_OBS = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z$")


CAUGHT_UP_NAME = "caught-up"
RESCANS_NAME = "rescans"  # journal/<pool-id>/rescans/: pending rescan jobs (repo/rescan_jobs.py)
MERGES_NAME = "merges"  # journal/<pool-id>/merges/: merges whose inputs are not deleted yet (repo/journal_merge.py)
CAUGHT_UP_KIND = "journal-caught-up"


def caught_up_key(pool_id: str) -> str:
    return f"{pool_prefix(pool_id)}{CAUGHT_UP_NAME}"


# Records of one segment kept in memory before it moves to disk: several segments may be open at once
# (they overlap in time), each record up to a few KB as Python objects.
SEGMENT_RECORDS_IN_MEMORY = 1_000


def record_order(rec: dict[str, Any]) -> tuple[str, str, int]:
    """The journal's total order. `observed_at` is fixed-width UTC, so strings compare as times."""
    return (str(rec["observed_at"]), str(rec.get("event_id") or ""), int(rec.get("seq") or 0))


def _compact(stamp: str) -> str:
    """'2026-11-21T10:15:30.123456Z' -> '20261121T101530.123456Z' (key-safe, still sortable)."""
    return stamp.replace("-", "").replace(":", "")


def _expand(compact: str) -> str:
    d, t = compact.split("T")
    return f"{d[:4]}-{d[4:6]}-{d[6:8]}T{t[:2]}:{t[2:4]}:{t[4:]}"


def journal_object_key(sha256: str) -> str:
    """A segment's data object, relative to `journal/`."""
    return f"{OBJECTS_PREFIX}{sha256[:2]}/{sha256}.jsonl.zst"


def pool_prefix(pool_id: str) -> str:
    if not pool_id or "/" in pool_id or pool_id == "objects":
        raise ValueError(f"invalid user pool id {pool_id!r}")
    return f"{JOURNAL_PREFIX}{pool_id}/"


def segment_key(pool_id: str, first: str, last: str, nonce: str) -> str:
    day = first[:10].replace("-", "/")
    return f"{pool_prefix(pool_id)}{day}/{_compact(first)}_{_compact(last)}_{nonce}.json"


@dataclass(frozen=True, slots=True)
class SegmentRef:
    """A segment as its manifest key describes it (no GET needed)."""

    key: str
    pool_id: str
    first_observed: str
    last_observed: str

    @classmethod
    def from_key(cls, key: str) -> SegmentRef | None:
        if not key.startswith(JOURNAL_PREFIX):
            return None
        parts = key[len(JOURNAL_PREFIX) :].split("/")
        if len(parts) != 5:
            return None
        match = _NAME.match(parts[4])
        if not match:
            return None
        return cls(key=key, pool_id=parts[0], first_observed=_expand(match[1]), last_observed=_expand(match[2]))


@dataclass(slots=True)
class Segment:
    """A parsed segment manifest."""

    ref: SegmentRef
    object: ObjectRef
    written_at: str
    counts: dict[str, int]
    writer: dict[str, Any]

    def to_json(self) -> bytes:
        body = {
            "format_version": SEGMENT_FORMAT_VERSION,
            "kind": "journal-segment",
            "user_pool_id": self.ref.pool_id,
            "first_observed_at": self.ref.first_observed,
            "last_observed_at": self.ref.last_observed,
            "written_at": self.written_at,
            "object": self.object.to_record(),
            "counts": self.counts,
            "writer": self.writer,
        }
        return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, ref: SegmentRef, data: bytes) -> Segment:
        try:
            body = json.loads(data.decode("utf-8"))
            if int(body["format_version"]) > SEGMENT_FORMAT_VERSION:
                raise RepositoryDamaged(
                    f"journal segment {ref.key} uses format {body['format_version']}",
                    hint="Upgrade cognito-backup.",
                )
            seg = cls(
                ref=ref,
                object=ObjectRef.from_record(body["object"]),
                written_at=str(body["written_at"]),
                counts={str(k): int(v) for k, v in body["counts"].items()},
                writer=dict(body.get("writer", {})),
            )
            if (
                body["user_pool_id"] != ref.pool_id
                or body["first_observed_at"] != ref.first_observed
                or body["last_observed_at"] != ref.last_observed
            ):
                raise RepositoryDamaged(f"journal segment {ref.key}: its content does not match its name")
            if sum(seg.counts.values()) != seg.object.records:
                raise RepositoryDamaged(f"journal segment {ref.key}: counts do not add up to its record count")
            return seg
        except RepositoryDamaged:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RepositoryDamaged(
                f"journal segment {ref.key} is not a valid manifest ({type(exc).__name__})"
            ) from None


class _PrefixedStore:
    """The repository store seen from `journal/`: lets ObjectWriter/iter_object keep journal data under
    `journal/objects/`, out of reach of the snapshot objects' garbage collection."""

    def __init__(self, store: Store, prefix: str) -> None:
        self.inner = store
        self.prefix = prefix

    def describe(self) -> str:
        return f"{self.inner.describe()}/{self.prefix}"

    def put_bytes(self, key: str, data: bytes) -> None:
        self.inner.put_bytes(self.prefix + key, data)

    def create_bytes(self, key: str, data: bytes) -> bool:
        return self.inner.create_bytes(self.prefix + key, data)

    def put_file(self, key: str, path: Path) -> None:
        self.inner.put_file(self.prefix + key, path)

    def get_bytes(self, key: str) -> bytes:
        return self.inner.get_bytes(self.prefix + key)

    def open_read(self, key: str) -> BinaryIO:
        return self.inner.open_read(self.prefix + key)

    def exists(self, key: str) -> bool:
        return self.inner.exists(self.prefix + key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        for info in self.inner.list(self.prefix + prefix):
            yield ObjectInfo(key=info.key[len(self.prefix) :], size=info.size, modified=info.modified)

    def delete(self, key: str) -> None:
        self.inner.delete(self.prefix + key)


def validate_record(rec: Any, pool_id: str | None = None) -> str | None:
    """Why a record is malformed, or None. Never includes attribute values."""
    if not isinstance(rec, dict):
        return "not a JSON object"
    if rec.get("type") not in RECORD_TYPES:
        return f"unknown type {rec.get('type')!r}"
    if pool_id is not None and rec.get("pool") != pool_id:
        return "belongs to another pool"
    if not isinstance(rec.get("observed_at"), str) or not _OBS.match(rec["observed_at"]):
        return "observed_at is missing or not fixed-width UTC"
    if rec["type"] in {"user_upsert", "group_upsert", "config_changed", "user_groups"} and not isinstance(
        rec.get("after"), dict
    ):
        return f"{rec['type']} without an after-image"
    if rec["type"] == "user_delete" and not (rec.get("key") or rec.get("sub")):
        return "user_delete names neither a username nor a sub"
    if rec["type"] not in {"config_changed", "user_delete"} and not rec.get("key"):
        return f"{rec['type']} without a key"
    return None


class Journal:
    """Append and read the change journal of a repository's store."""

    def __init__(self, store: Store, clock: Callable[[], dt.datetime] = utcnow) -> None:
        self.store = store
        self.clock = clock
        self._data = _PrefixedStore(store, JOURNAL_PREFIX)

    # ---- writing --------------------------------------------------------------------------------
    def append(
        self, pool_id: str, records: Iterable[dict[str, Any]], writer: dict[str, Any] | None = None
    ) -> list[Segment]:
        """Write the records as new segment(s); returns them once durable (manifest stored last).

        Records are sorted in journal order; a batch spanning more than MAX_SEGMENT_SPAN is split.
        An empty batch writes nothing.
        """
        recs = sorted(records, key=record_order)
        for rec in recs:
            why = validate_record(rec, pool_id)
            if why:
                raise ValueError(f"refusing to journal a malformed record: {why}")
        segments: list[Segment] = []
        start = 0
        while start < len(recs):
            limit = format_time(
                parse_time(recs[start]["observed_at"]) + MAX_SEGMENT_SPAN - dt.timedelta(microseconds=1)
            )
            end = start
            while end < len(recs) and recs[end]["observed_at"] <= limit:
                end += 1
            segments.append(self._write_segment(pool_id, recs[start:end], writer or {}))
            start = end
        return segments

    def _write_segment(self, pool_id: str, recs: list[dict[str, Any]], writer: dict[str, Any]) -> Segment:
        obj = ObjectWriter(self._data, SEGMENT_KIND, shared=False)
        try:
            counts: dict[str, int] = {}
            for rec in recs:
                obj.add(rec)
                counts[rec["type"]] = counts.get(rec["type"], 0) + 1
        except BaseException:
            obj.discard()
            raise
        ref_obj = obj.finish()
        first, last = recs[0]["observed_at"], recs[-1]["observed_at"]
        ref = SegmentRef(
            key=segment_key(pool_id, first, last, secrets.token_hex(8)),
            pool_id=pool_id,
            first_observed=first,
            last_observed=last,
        )
        seg = Segment(
            ref=ref,
            object=ref_obj,
            written_at=format_time(self.clock()),
            counts=dict(sorted(counts.items())),
            writer=writer,
        )
        self.store.put_bytes(ref.key, seg.to_json())
        return seg

    # ---- listing --------------------------------------------------------------------------------
    def pools(self) -> list[str]:
        found = set()
        for info in self.store.list(JOURNAL_PREFIX):
            ref = SegmentRef.from_key(info.key)
            if ref:
                found.add(ref.pool_id)
        return sorted(found)

    def list_segments(
        self, pool_id: str, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[SegmentRef]:
        """Segments that may hold records with since <= observed_at <= until, oldest first."""
        return [ref for ref, _ in self.list_segments_stamped(pool_id, since, until)]

    def list_segments_stamped(
        self, pool_id: str, since: dt.datetime | None = None, until: dt.datetime | None = None
    ) -> list[tuple[SegmentRef, float]]:
        """list_segments, each with the store's modification time of its manifest: the WRITE order of
        segments, one clock for all writers (core/applied.py)."""
        prefix = pool_prefix(pool_id)
        lo = format_time(since) if since else None
        hi = format_time(until) if until else None
        keys: Iterable[ObjectInfo]
        if since is None:
            keys = self.store.list(prefix)
        else:
            first_day = (since - MAX_SEGMENT_SPAN).date()
            # Open-ended: up to tomorrow (clock skew between writers), or the range's own end.
            last_day = (until or max(self.clock(), since)).date() + dt.timedelta(days=1)
            days = (last_day - first_day).days + 1
            if days > _MAX_DAY_LISTS or days < 1:
                keys = self.store.list(prefix)
            else:
                keys = (
                    info
                    for n in range(days)
                    for info in self.store.list(f"{prefix}{first_day + dt.timedelta(days=n):%Y/%m/%d}/")
                )
        refs = []
        for info in keys:
            ref = SegmentRef.from_key(info.key)
            if ref is None or ref.pool_id != pool_id:
                continue
            if lo is not None and ref.last_observed < lo:
                continue
            if hi is not None and ref.first_observed > hi:
                continue
            refs.append((ref, info.modified))
        return sorted(refs, key=lambda r: (r[0].first_observed, r[0].key))

    def load_segment(self, ref: SegmentRef) -> Segment:
        try:
            data = self.store.get_bytes(ref.key)
        except ObjectNotFound:
            raise RepositoryDamaged(f"journal segment {ref.key} disappeared while reading") from None
        return Segment.from_json(ref, data)

    def remove_segment(self, ref: SegmentRef, keep_objects: frozenset[str] = frozenset()) -> int:
        """Delete a segment (retention, merged inputs): its manifest first, so that no listing shows it
        once its data is going, then its data object unless `keep_objects` names it (a merge output with
        the same data). Returns the bytes of data removed. Two segments share a data object only when
        their records are identical, hence their time ranges too: retention removes both or neither."""
        seg = self.load_segment(ref)
        self.store.delete(ref.key)
        if seg.object.sha256 in keep_objects:
            return 0
        self._data.delete(journal_object_key(seg.object.sha256))
        return seg.object.size

    def segment_records(self, seg: Segment) -> Sequence[dict[str, Any]]:
        """All records of a segment, verified (hash, size, count) before any is returned; on disk past a
        few thousand (core/spill.SpillList): a segment may hold any number, memory must not."""
        records = iter_object(self._data, seg.object, where=f" of journal segment {seg.ref.key}")
        return SpillList(records, keep=SEGMENT_RECORDS_IN_MEMORY)

    def _in_order(self, ref: SegmentRef, records: Iterable[dict[str, Any]]) -> Iterator[dict[str, Any]]:
        """The records of one segment, checked to be in journal order as they pass (every writer sorts
        them: append, merge): the merge in iter_records holds one record per segment and relies on it."""
        previous: tuple[str, str, int] | None = None
        for rec in records:
            order = record_order(rec)
            if previous is not None and order < previous:
                raise RepositoryDamaged(
                    f"journal segment {ref.key} holds records out of order (no version of the tool writes that)",
                    hint="Run `cognito-backup check --read-data`; restore from a time before this segment.",
                )
            previous = order
            yield rec

    def iter_records(
        self,
        pool_id: str,
        since: dt.datetime | None = None,
        until: dt.datetime | None = None,
        *,
        after: tuple[str, str, int] | None = None,
        segments: list[SegmentRef] | None = None,
    ) -> Iterator[dict[str, Any]]:
        """Records with since <= observed_at <= until (and order key > `after`), in journal order.

        `segments`: read exactly these (a listing the caller already took and keeps track of) instead
        of listing the range. Segments are merged: one is opened only when the merge reaches its first
        record, and each open segment is read as a stream (spilled to disk while verified), so memory holds
        a record per segment that overlaps in time, not the range's records.
        """
        lo = format_time(since) if since else ""
        hi = format_time(until) if until else None
        refs = (
            sorted(segments, key=lambda r: (r.first_observed, r.key))
            if segments is not None
            else self.list_segments(pool_id, since, until)
        )
        # One entry per open segment: its next record in range, and the rest of it (segments are sorted
        # within: the heap holds a record per segment, never a segment's records).
        heap: list[tuple[tuple[str, str, int], int, dict[str, Any], Iterator[dict[str, Any]]]] = []
        tie = 0

        def push_next(rest: Iterator[dict[str, Any]]) -> None:
            nonlocal tie
            for rec in rest:
                obs = rec.get("observed_at", "")
                if obs < lo:
                    continue
                if hi is not None and obs > hi:
                    return  # sorted: nothing further of this segment is in range
                order = record_order(rec)
                if after is not None and order <= after:
                    continue
                tie += 1
                heapq.heappush(heap, (order, tie, rec, rest))
                return

        previous: tuple[str, str, int] | None = None
        i = 0
        while i < len(refs) or heap:
            # Open every segment that can hold records before the heap's smallest one.
            while i < len(refs) and (not heap or refs[i].first_observed <= heap[0][0][0]):
                ref = refs[i]
                push_next(self._in_order(ref, self.segment_records(self.load_segment(ref))))
                i += 1
            if not heap:
                continue
            order, _, rec, rest = heapq.heappop(heap)
            push_next(rest)
            # The same observation written twice (a retried batch, a merged segment next to its inputs)
            # is one record. Twins come out adjacent: a record is popped only once every segment that
            # starts at or before its observed_at is loaded, and its twin's segment is one of them.
            # So one remembered key suffices, not a set that grows with the journal.
            if order == previous:
                continue
            previous = order
            yield rec

    # ---- the caught-up marker ---------------------------------------------------------------------
    def mark_caught_up(self, pool_id: str, until: dt.datetime, writer: dict[str, Any] | None = None) -> None:
        """Record that every change of `pool_id` that reached the capture's queue before `until` is
        durable in the journal (written by each capture poll that drained the queue, even an empty one)."""
        body = {
            "format_version": SEGMENT_FORMAT_VERSION,
            "kind": CAUGHT_UP_KIND,
            "user_pool_id": pool_id,
            "caught_up_to": format_time(until),
            "written_at": format_time(self.clock()),
            "writer": writer or {},
        }
        data = (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8")
        self.store.put_bytes(caught_up_key(pool_id), data)

    def caught_up(self, pool_id: str) -> str | None:
        """The time the marker names (fixed-width UTC), or None when no capture ever wrote one."""
        key = caught_up_key(pool_id)
        try:
            data = self.store.get_bytes(key)
        except ObjectNotFound:
            return None
        return parse_caught_up(key, pool_id, data)

    def last_observed(self, pool_id: str) -> str | None:
        refs = self.list_segments(pool_id)
        return max((r.last_observed for r in refs), default=None)


def parse_caught_up(key: str, pool_id: str, data: bytes) -> str:
    try:
        body = json.loads(data.decode("utf-8"))
        stamp = str(body["caught_up_to"])
        if body["kind"] != CAUGHT_UP_KIND or body["user_pool_id"] != pool_id or not _OBS.match(stamp):
            raise ValueError("fields do not match")
        return stamp
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        why = type(exc).__name__
        raise RepositoryDamaged(f"journal marker {key} is not a valid caught-up marker ({why})") from None


def journal_check(store: Store, read_data: bool = False) -> list[str]:
    """Problems found in the journal (empty list: healthy). For `cognito-backup check`.

    Always: every segment manifest parses, matches its name and points at a stored object of the
    recorded size. With read_data: every segment's data is read and its SHA-256, size and record count
    verified, and every record's shape, pool and observed_at range checked.
    """
    problems: list[str] = []
    journal = Journal(store)
    data = _PrefixedStore(store, JOURNAL_PREFIX)
    sizes: dict[str, int] = {}
    for info in data.list(OBJECTS_PREFIX):
        sizes[info.key] = info.size
    for info in store.list(JOURNAL_PREFIX):
        if info.key.startswith(JOURNAL_PREFIX + OBJECTS_PREFIX):
            continue
        ref = SegmentRef.from_key(info.key)
        parts = info.key[len(JOURNAL_PREFIX) :].split("/")
        if ref is None and len(parts) == 3 and parts[1] in (RESCANS_NAME, MERGES_NAME):
            continue  # a pending rescan job or merge record: read and checked by capture / the merge
        if ref is None and len(parts) == 2 and parts[1] == CAUGHT_UP_NAME:
            try:
                parse_caught_up(info.key, parts[0], store.get_bytes(info.key))
            except (RepositoryDamaged, ObjectNotFound) as exc:
                problems.append(str(getattr(exc, "message", exc)))
            continue
        if ref is None:
            problems.append(f"{info.key}: not a journal segment name")
            continue
        try:
            seg = journal.load_segment(ref)
        except RepositoryDamaged as exc:
            problems.append(str(exc.message))
            continue
        obj_key = journal_object_key(seg.object.sha256)
        if obj_key not in sizes:
            problems.append(f"journal segment {ref.key}: its data object {seg.object.sha256[:12]} is missing")
            continue
        if sizes[obj_key] != seg.object.size:
            problems.append(
                f"journal segment {ref.key}: data object {seg.object.sha256[:12]} holds {sizes[obj_key]} bytes, "
                f"expected {seg.object.size}"
            )
            continue
        if not read_data:
            continue
        try:
            records = journal.segment_records(seg)
        except RepositoryDamaged as exc:
            problems.append(f"journal segment {ref.key}: {exc.message}")
            continue
        previous: tuple[str, str, int] | None = None
        for n, rec in enumerate(records, 1):
            why = validate_record(rec, ref.pool_id)
            if why is None and not (ref.first_observed <= rec["observed_at"] <= ref.last_observed):
                why = "observed_at outside the segment's range"
            if why is None and previous is not None and record_order(rec) < previous:
                why = "out of order (a segment's records are sorted: reading it merges them as a stream)"
            previous = record_order(rec) if why is None else previous
            if why:
                problems.append(f"journal segment {ref.key}: record {n} {why}")
                break
    return problems
