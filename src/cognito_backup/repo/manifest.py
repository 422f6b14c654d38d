"""The snapshot manifest: written last; a snapshot without one does not exist."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.layout import FORMAT_VERSION

KINDS = ("config", "groups", "users", "memberships")


@dataclass(frozen=True, slots=True)
class ObjectRef:
    kind: str
    sha256: str
    size: int
    records: int
    # The key range of a sorted shard (repo/shards.py): its first and last record's sort key. None for
    # objects in listing order (every object of a format-1 snapshot, and the other kinds).
    first: str | None = None
    last: str | None = None

    def to_record(self) -> dict[str, Any]:
        rec: dict[str, Any] = {"kind": self.kind, "sha256": self.sha256, "size": self.size, "records": self.records}
        if self.first is not None or self.last is not None:
            rec["first"], rec["last"] = self.first, self.last
        return rec

    @classmethod
    def from_record(cls, rec: dict[str, Any]) -> ObjectRef:
        first, last = rec.get("first"), rec.get("last")
        return cls(
            kind=str(rec["kind"]),
            sha256=str(rec["sha256"]),
            size=int(rec["size"]),
            records=int(rec["records"]),
            first=None if first is None else str(first),
            last=None if last is None else str(last),
        )

    @property
    def ranged(self) -> bool:
        return self.first is not None and self.last is not None


@dataclass(slots=True)
class Manifest:
    id: str
    user_pool_id: str
    region: str | None
    started_at: str
    finished_at: str
    tool_version: str
    objects: list[ObjectRef]
    counts: dict[str, int]
    options: dict[str, Any] = field(default_factory=dict)
    # Journal coverage and other later additions live here so older readers ignore them.
    extra: dict[str, Any] = field(default_factory=dict)
    format_version: int = FORMAT_VERSION
    # kind -> the record field its objects are sorted by, in key-range shards (repo/shards.py). Empty:
    # listing order (snapshots written before sharding, and kinds never sorted).
    sorted_by: dict[str, str] = field(default_factory=dict)

    @property
    def compacted(self) -> bool:
        """A state written from a snapshot plus the journal (ops/compact.py, a standby round), not a backup
        that listed the pool: `latest` never picks one (Repository.resolve); `--at` may start from one."""
        return bool(self.extra.get("compacted"))

    @property
    def kind(self) -> str:
        """What `snapshots` and `show` call it: "backup", "compacted" or "standby_listing" (a standby
        round's reading of its standby: not a backup anyone chose, so not shown as one)."""
        if self.compacted:
            return "compacted"
        return "standby_listing" if self.standby_listing_of else "backup"

    @property
    def incomplete(self) -> dict[str, str]:
        """Sections that could not be read, with the reason each (empty: the snapshot is complete).
        Kept in `extra` so that older readers still open the snapshot."""
        value = self.extra.get("incomplete") or {}
        return {str(k): str(v) for k, v in dict(value).items()}

    @property
    def standby_listing_of(self) -> str | None:
        """The source pool whose standby round took this snapshot of its standby (ops/standby_listing.py):
        the round's view of the standby, not a backup anyone chose, so choosing a pool leaves it out."""
        value = self.options.get("standby_listing_of")
        return str(value) if value else None

    def objects_of(self, kind: str) -> list[ObjectRef]:
        """The objects of a kind; a sorted kind's shards in key order (so reading them streams in order)."""
        refs = [o for o in self.objects if o.kind == kind]
        if kind in self.sorted_by:
            refs.sort(key=lambda o: o.first or "")
        return refs

    def to_json(self) -> bytes:
        body = {
            "format_version": self.format_version,
            "id": self.id,
            "source": {"user_pool_id": self.user_pool_id, "region": self.region},
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "tool_version": self.tool_version,
            "counts": self.counts,
            "options": self.options,
            "objects": [o.to_record() for o in self.objects],
            "extra": self.extra,
        }
        if self.sorted_by:
            body["sorted_by"] = self.sorted_by
        return (json.dumps(body, indent=2, sort_keys=True, ensure_ascii=False) + "\n").encode("utf-8")

    @classmethod
    def from_json(cls, data: bytes, where: str) -> Manifest:
        try:
            body = json.loads(data.decode("utf-8"))
            version = int(body["format_version"])
            if version > FORMAT_VERSION:
                raise RepositoryDamaged(
                    f"{where} uses repository format {version}; this tool reads up to {FORMAT_VERSION}",
                    hint="Upgrade cognito-backup.",
                )
            return cls(
                id=str(body["id"]),
                user_pool_id=str(body["source"]["user_pool_id"]),
                region=body["source"].get("region"),
                started_at=str(body["started_at"]),
                finished_at=str(body["finished_at"]),
                tool_version=str(body["tool_version"]),
                counts={str(k): int(v) for k, v in body["counts"].items()},
                options=dict(body.get("options", {})),
                objects=[ObjectRef.from_record(o) for o in body["objects"]],
                extra=dict(body.get("extra", {})),
                format_version=version,
                sorted_by={str(k): str(v) for k, v in dict(body.get("sorted_by") or {}).items()},
            )
        except RepositoryDamaged:
            raise
        except (ValueError, KeyError, TypeError, AttributeError) as exc:
            raise RepositoryDamaged(f"{where} is not a valid manifest ({type(exc).__name__}: {exc})") from None


def backed_up_pools(manifests: Iterable[Manifest]) -> set[str]:
    """The pools backed up in a repository: those its snapshots are of, standby rounds' listings left out
    (a standby read by its round is not a pool to restore from, nor one to capture or compact)."""
    return {m.user_pool_id for m in manifests if m.standby_listing_of is None}
