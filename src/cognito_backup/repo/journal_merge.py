"""Merging journal segments: many small segments of a day become a few large ones.

A capture writes one segment per batch and pool (hundreds of thousands a day at 100 changes/s), and a
listing, a `snapshots` coverage or a restore --at pays per segment. A merge reads the closed segments of
one day (every record observed more than `settle` ago) in journal order, writes them again as segments
of up to `max_records` records, and only later deletes the inputs:

1. the outputs are written (data, then manifest) while the inputs stay: a reader listing now sees both,
   and its merge drops each record's twin (records with the same order key come out adjacent:
   repo/journal.py), so it neither misses a record nor sees one twice;
2. a merge record `journal/<pool-id>/merges/<written>_<random>.json` names the inputs and the outputs;
3. a later merge, once that record is `grace` old (a reader that listed before the outputs existed has
   finished), deletes the inputs (manifest, then data object unless an output has the same data) and
   then the record.

A crash before 2 leaves outputs next to their inputs: duplicates, merged again by the next run. Readers
that track segments by write order (replicate, core/applied.py) see the outputs as segments written
late and compare the whole standby once (ops/replicate.py): correct, one full round per merge.
"""

from __future__ import annotations

import datetime as dt
import json
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import groupby
from typing import Any

from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.journal import MERGES_NAME, Journal, SegmentRef, pool_prefix
from cognito_backup.repo.repository import format_time, parse_time
from cognito_backup.store.base import ObjectNotFound

MERGE_KIND = "journal-merge"
DEFAULT_SETTLE = dt.timedelta(hours=2)
DEFAULT_GRACE = dt.timedelta(hours=1)
DEFAULT_MAX_RECORDS = 20_000
MIN_INPUTS = 2


@dataclass
class MergeResult:
    inputs_merged: int = 0  # segments read into new ones by this run
    outputs_written: int = 0
    inputs_removed: int = 0  # inputs of earlier merges deleted by this run


def merges_prefix(pool_id: str) -> str:
    return f"{pool_prefix(pool_id)}{MERGES_NAME}/"


def merge_groups(refs: list[SegmentRef], closed_before: str, busy: set[str]) -> list[list[SegmentRef]]:
    """PURE. The segments to merge together: per day directory, the closed ones (last record before
    `closed_before`) not already inputs of a pending merge, when there are at least MIN_INPUTS."""
    candidates = [r for r in refs if r.last_observed < closed_before and r.key not in busy]
    out = []
    for _, group in groupby(sorted(candidates, key=lambda r: r.key), key=lambda r: r.key.rsplit("/", 1)[0]):
        day = list(group)
        if len(day) >= MIN_INPUTS:
            out.append(day)
    return out


def _chunks(records: Iterator[dict[str, Any]], size: int) -> Iterator[list[dict[str, Any]]]:
    chunk: list[dict[str, Any]] = []
    for rec in records:
        chunk.append(rec)
        if len(chunk) >= size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def merge_pool(
    journal: Journal,
    pool_id: str,
    *,
    settle: dt.timedelta = DEFAULT_SETTLE,
    grace: dt.timedelta = DEFAULT_GRACE,
    max_records: int = DEFAULT_MAX_RECORDS,
    dry_run: bool = False,
) -> MergeResult:
    result = MergeResult()
    now = journal.clock()
    store = journal.store
    pending: list[tuple[str, dict[str, Any]]] = []
    for info in sorted(store.list(merges_prefix(pool_id)), key=lambda i: i.key):
        try:
            pending.append((info.key, json.loads(store.get_bytes(info.key).decode("utf-8"))))
        except ObjectNotFound:
            continue
    busy: set[str] = set()
    for key, body in pending:
        inputs = [str(k) for k in body["inputs"]]
        if now - parse_time(str(body["written_at"])) < grace or dry_run:
            busy.update(inputs)
            continue
        keep = frozenset(str(sha) for sha in body["output_objects"])
        for seg_key in inputs:
            result.inputs_removed += _remove_input(journal, seg_key, keep)
        store.delete(key)
    refs = journal.list_segments(pool_id)
    busy.update(k for _, body in pending for k in body["outputs"])  # not merged again before they settle
    for group in merge_groups(refs, format_time(now - settle), busy):
        result.inputs_merged += len(group)
        if dry_run:
            continue
        outputs = []
        records = journal.iter_records(pool_id, segments=group)
        for chunk in _chunks(records, max_records):
            outputs.extend(journal.append(pool_id, chunk, writer={"source": "merge", "inputs": len(group)}))
        result.outputs_written += len(outputs)
        body = {
            "format_version": 1,
            "kind": MERGE_KIND,
            "user_pool_id": pool_id,
            "written_at": format_time(journal.clock()),
            "inputs": [r.key for r in group],
            "outputs": [s.ref.key for s in outputs],
            "output_objects": [s.object.sha256 for s in outputs],
        }
        stamp = body["written_at"].replace("-", "").replace(":", "")
        store.put_bytes(
            f"{merges_prefix(pool_id)}{stamp}_{secrets.token_hex(8)}.json",
            (json.dumps(body, indent=2, sort_keys=True) + "\n").encode("utf-8"),
        )
    return result


def _remove_input(journal: Journal, key: str, keep_objects: frozenset[str]) -> int:
    """Delete one merged input. 0 when it is gone already (retention, or another merge run)."""
    ref = SegmentRef.from_key(key)
    if ref is None:
        return 0
    try:
        journal.remove_segment(ref, keep_objects)
    except RepositoryDamaged:
        if journal.store.exists(key):
            raise
        return 0
    return 1
