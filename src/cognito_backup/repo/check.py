"""`check`: prove a repository whole. Structure always (every manifest parses, every object it lists
exists with the recorded size); with read_data every object is re-hashed, decompressed, decoded and its
records counted. Each problem is reported; nothing is repaired or deleted."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.layout import object_key
from cognito_backup.repo.manifest import Manifest, ObjectRef
from cognito_backup.repo.objects import iter_object
from cognito_backup.repo.repository import Repository


@dataclass
class Problem:
    snapshot: str | None
    object: str | None
    kind: str  # missing | size | altered | undecodable | manifest | order (sorted shards) | journal
    message: str

    def to_record(self) -> dict[str, Any]:
        return {"snapshot": self.snapshot, "object": self.object, "kind": self.kind, "message": self.message}


@dataclass
class CheckReport:
    snapshots: int = 0
    objects: int = 0
    bytes_read: int = 0
    records: int = 0
    read_data: bool = False
    journal_segments: int = 0
    problems: list[Problem] = field(default_factory=list)
    # Snapshot id -> sections it lacks (reason each). Intact but incomplete snapshots are not damage:
    # they do not make `ok` false, they are reported beside it.
    incomplete: dict[str, dict[str, str]] = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return not self.problems

    def summary(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "snapshots": self.snapshots,
            "objects": self.objects,
            "records": self.records,
            "bytes_read": self.bytes_read,
            "read_data": self.read_data,
            "journal_segments": self.journal_segments,
            "problems": [p.to_record() for p in self.problems],
            "incomplete": self.incomplete,
        }


# Words only the sorted-shard problems use (repo/shards.py invariants).
_ORDER_WORDS = ("not sorted", "key range", "overlap", "record is not")


def _classify(message: str) -> str:
    if any(word in message for word in _ORDER_WORDS):
        return "order"
    if "missing" in message:
        return "missing"
    if "truncated" in message or "bytes, expected" in message:
        return "size"
    if "altered" in message:
        return "altered"
    return "undecodable"


def check_repository(
    repo: Repository,
    snapshot: str | None = None,
    read_data: bool = False,
    journal_check: Callable[[bool], Iterable[str]] | None = None,
    on_object: Callable[[int], None] = lambda n: None,
) -> CheckReport:
    report = CheckReport(read_data=read_data)
    repo.read_config()
    manifests: list[Manifest] = []
    if snapshot:
        manifests = [repo.resolve(snapshot)]
    else:
        scan = repo.scan_snapshots()
        manifests = scan.manifests
        for damaged in scan.damaged:
            report.problems.append(Problem(damaged.snapshot_id, None, "manifest", damaged.message))
    sizes = {info.key: info.size for info in repo.store.list("objects/")}
    # Objects shared by snapshots are read once (a shard: once per key range claimed for it).
    verified: dict[tuple[str, str | None, str | None], str | None] = {}
    for manifest in manifests:
        report.snapshots += 1
        if manifest.incomplete:
            report.incomplete[manifest.id] = manifest.incomplete
        counts: dict[str, int] = {}
        for message in range_problems(manifest):
            report.problems.append(Problem(manifest.id, None, "order", message))
        sorted_kinds = manifest.sorted_by
        for ref in manifest.objects:
            counts[ref.kind] = counts.get(ref.kind, 0) + ref.records
            shard = ref.kind in sorted_kinds and ref.ranged
            cache = (ref.sha256, ref.first, ref.last) if shard else (ref.sha256, None, None)
            problem = verified.get(cache, "unchecked")
            if problem == "unchecked":
                sort_field = sorted_kinds.get(ref.kind) if shard else None
                problem = _check_object(repo, ref, sizes, read_data, report, sort_field)
                verified[cache] = problem
                report.objects += 1
                on_object(report.objects)
            if problem:
                report.problems.append(Problem(manifest.id, ref.sha256, _classify(problem), problem))
        for kind, total in manifest.counts.items():
            if counts.get(kind, 0) != total:
                report.problems.append(
                    Problem(
                        manifest.id,
                        None,
                        "manifest",
                        f"manifest counts {total} {kind} but its objects hold {counts.get(kind, 0)}",
                    )
                )
    if journal_check is not None:
        for message in journal_check(read_data):
            report.problems.append(Problem(None, None, "journal", message))
    return report


def range_problems(manifest: Manifest) -> list[str]:
    """The structure of a sorted kind: every object has a key range, first <= last, and the ranges,
    in key order, do not overlap (docs/format.md, "Sorted shards"). Pure: the manifest alone."""
    found = []
    for kind, field_name in sorted(manifest.sorted_by.items()):
        refs = manifest.objects_of(kind)
        for ref in refs:
            if not ref.ranged:
                found.append(f"{kind} object {ref.sha256[:12]} has no key range, but the snapshot says it is sorted")
            elif ref.first is not None and ref.last is not None and ref.first > ref.last:
                found.append(f"{kind} object {ref.sha256[:12]} has a key range whose first key is after its last")
        ranged = [r for r in refs if r.ranged]
        for left, right in itertools.pairwise(ranged):
            if left.last is not None and right.first is not None and left.last >= right.first:
                found.append(
                    f"{kind} objects {left.sha256[:12]} and {right.sha256[:12]} overlap: their key ranges "
                    f"({field_name}) share keys, so a user could be in both"
                )
    return found


def _check_object(
    repo: Repository,
    ref: ObjectRef,
    sizes: dict[str, int],
    read_data: bool,
    report: CheckReport,
    sort_field: str | None = None,
) -> str | None:
    """A problem of one object, or None. `sort_field`: the object is a shard sorted by that field, whose
    records must be strictly ascending from ref.first to ref.last (read_data only)."""
    key = object_key(ref.sha256)
    label = f"object {ref.sha256[:12]} ({ref.kind})"
    if key not in sizes:
        return f"{label} is missing from the repository"
    if sizes[key] != ref.size:
        return f"{label} is truncated or padded: {sizes[key]} bytes, expected {ref.size}"
    if not read_data:
        return None
    first: str | None = None
    previous: str | None = None
    unsorted_at = 0
    try:
        for n, record in enumerate(iter_object(repo.store, ref), start=1):
            report.records += 1
            if sort_field is None:
                continue
            key = str(record.get(sort_field))
            if first is None:
                first = key
            if previous is not None and key <= previous and not unsorted_at:
                unsorted_at = n
            previous = key
    except RepositoryDamaged as exc:
        return exc.message
    report.bytes_read += ref.size
    if unsorted_at:
        return f"{label} is not sorted by {sort_field}: record {unsorted_at} does not come after the one before it"
    if sort_field is not None and first != ref.first:
        return f"{label}: its first record is not the first key the manifest records for it"
    if sort_field is not None and previous != ref.last:
        return f"{label}: its last record is not the last key the manifest records for it"
    return None


def raise_if_damaged(report: CheckReport) -> None:
    if not report.ok:
        first = report.problems[0]
        raise RepositoryDamaged(
            f"{len(report.problems)} problem(s) found; first: {first.message}",
            hint="Keep this repository as it is; restore from another snapshot that checks clean.",
        )
