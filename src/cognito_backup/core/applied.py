"""Which journal segments a reader (replicate) has applied, in the journal's WRITE order. PURE.

Segments are immutable objects; a segment written late may hold observations older than ones already
applied (several capture pollers and the trigger write concurrently, on clocks that need not agree), so
"every record up to observation time T" cannot say what was applied. This says it with the store's own
modification times, one clock for every writer:

- `watermark`: every segment the store stamped at or before it has been applied;
- `keys`: the applied segments stamped after it.

A round lists the segments, applies those not covered, then advances the watermark to `settle` seconds
before the newest stamp it listed, keeping only the keys stamped after that: the state stays as small
as the segments written in one settle window. The settle window covers a write still in flight when
the list ran (S3 stamps an object with the time its upload started, so a slow PUT can appear after
objects stamped later).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

DEFAULT_SETTLE_SECONDS = 60.0


@dataclass(frozen=True)
class Listed:
    """A segment as a listing shows it: its key and the store's stamp (POSIX seconds)."""

    key: str
    modified: float


@dataclass(frozen=True)
class AppliedSegments:
    watermark: float | None = None
    keys: frozenset[str] = frozenset()

    def covers(self, seg: Listed) -> bool:
        return seg.key in self.keys or (self.watermark is not None and seg.modified <= self.watermark)

    def unapplied(self, listing: Iterable[Listed]) -> list[Listed]:
        return [seg for seg in listing if not self.covers(seg)]

    def advance(self, listing: Iterable[Listed], settle: float = DEFAULT_SETTLE_SECONDS) -> AppliedSegments:
        """The state once every segment of `listing` is applied (`listing` is a full listing of the
        range, taken before the records were read)."""
        segs = list(listing)
        if not segs:
            return self
        watermark = max(seg.modified for seg in segs) - settle
        if self.watermark is not None:
            watermark = max(watermark, self.watermark)
        return AppliedSegments(watermark, frozenset(seg.key for seg in segs if seg.modified > watermark))

    def to_record(self) -> dict[str, Any]:
        return {"watermark": self.watermark, "keys": sorted(self.keys)}

    @classmethod
    def from_record(cls, body: Any) -> AppliedSegments:
        if not isinstance(body, dict):
            return cls()
        mark = body.get("watermark")
        return cls(float(mark) if mark is not None else None, frozenset(str(k) for k in body.get("keys") or ()))
