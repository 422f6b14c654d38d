"""`check`: prove a repository whole. Structure always (every manifest parses, every object it lists
exists with the recorded size); with read_data every object is re-hashed, decompressed, decoded and its
records counted. Each problem is reported; nothing is repaired or deleted."""

from __future__ import annotations

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
    kind: str  # missing | size | altered | undecodable | manifest
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


def _classify(message: str) -> str:
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
    verified: dict[str, str | None] = {}  # objects shared by snapshots are read once
    for manifest in manifests:
        report.snapshots += 1
        if manifest.incomplete:
            report.incomplete[manifest.id] = manifest.incomplete
        counts: dict[str, int] = {}
        for ref in manifest.objects:
            counts[ref.kind] = counts.get(ref.kind, 0) + ref.records
            problem = verified.get(ref.sha256, "unchecked")
            if problem == "unchecked":
                problem = _check_object(repo, ref, sizes, read_data, report)
                verified[ref.sha256] = problem
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


def _check_object(
    repo: Repository, ref: ObjectRef, sizes: dict[str, int], read_data: bool, report: CheckReport
) -> str | None:
    key = object_key(ref.sha256)
    label = f"object {ref.sha256[:12]} ({ref.kind})"
    if key not in sizes:
        return f"{label} is missing from the repository"
    if sizes[key] != ref.size:
        return f"{label} is truncated or padded: {sizes[key]} bytes, expected {ref.size}"
    if not read_data:
        return None
    try:
        for _ in iter_object(repo.store, ref):
            report.records += 1
    except RepositoryDamaged as exc:
        return exc.message
    report.bytes_read += ref.size
    return None


def raise_if_damaged(report: CheckReport) -> None:
    if not report.ok:
        first = report.problems[0]
        raise RepositoryDamaged(
            f"{len(report.problems)} problem(s) found; first: {first.message}",
            hint="Keep this repository as it is; restore from another snapshot that checks clean.",
        )
