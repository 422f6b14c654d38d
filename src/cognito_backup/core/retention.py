"""Retention policy as a pure function (restic's `forget` semantics), tested with tables.

A snapshot is kept when any rule keeps it; the reasons say which. Buckets are counted from the newest
snapshot backwards: `keep_daily=7` keeps the newest snapshot of each of the 7 most recent days that
have snapshots (days without a snapshot do not use up the count).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, TypeVar


class _HasRange(Protocol):
    @property
    def last_observed(self) -> str: ...


_Ranged = TypeVar("_Ranged", bound=_HasRange)


@dataclass(frozen=True)
class Policy:
    keep_last: int = 0
    keep_daily: int = 0
    keep_weekly: int = 0
    keep_monthly: int = 0

    def is_empty(self) -> bool:
        return not (self.keep_last or self.keep_daily or self.keep_weekly or self.keep_monthly)


@dataclass(frozen=True)
class SnapshotTime:
    id: str
    time: dt.datetime
    # A compacted state (docs/format.md "Compacted states"): a snapshot plus the journal, not a backup.
    compacted: bool = False


@dataclass
class Decision:
    keep: list[str] = field(default_factory=list)
    remove: list[str] = field(default_factory=list)
    reasons: dict[str, list[str]] = field(default_factory=dict)


def _day(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%d")


def _week(t: dt.datetime) -> str:
    year, week, _ = t.isocalendar()
    return f"{year}-W{week:02d}"


def _month(t: dt.datetime) -> str:
    return t.strftime("%Y-%m")


def apply_policy(snapshots: Sequence[SnapshotTime], policy: Policy) -> Decision:
    """Decide which snapshots to keep. An empty policy keeps everything (refusing to delete all).

    The rules count backups only: a compacted state (written every few standby rounds) never pushes a
    backup out, which would leave `latest` (the newest backup) with nothing. A compacted state lives as
    long as the backups of its time: kept when it is newer than the oldest backup kept. Of a pool whose
    states are all compacted (its backups are gone), the rules count those."""
    backups = [s for s in snapshots if not s.compacted] or list(snapshots)
    decision = _apply_rules(backups, policy)
    chosen = {s.id for s in backups}
    kept = [s for s in backups if s.id in set(decision.keep)]
    oldest = min((s.time for s in kept), default=None)
    for state in sorted((s for s in snapshots if s.id not in chosen), key=lambda s: (s.time, s.id), reverse=True):
        if policy.is_empty() or (oldest is not None and state.time >= oldest):
            decision.keep.append(state.id)
            decision.reasons[state.id] = ["no policy" if policy.is_empty() else "compacted, newer than a kept backup"]
        else:
            decision.remove.append(state.id)
    return decision


def _apply_rules(snapshots: Sequence[SnapshotTime], policy: Policy) -> Decision:
    ordered = sorted(snapshots, key=lambda s: (s.time, s.id), reverse=True)
    decision = Decision()
    if policy.is_empty():
        decision.keep = [s.id for s in ordered]
        decision.reasons = {s.id: ["no policy"] for s in ordered}
        return decision
    reasons: dict[str, list[str]] = {s.id: [] for s in ordered}
    for i, snap in enumerate(ordered):
        if i < policy.keep_last:
            reasons[snap.id].append("last")
    rules: list[tuple[str, int, Callable[[dt.datetime], str]]] = [
        ("daily", policy.keep_daily, _day),
        ("weekly", policy.keep_weekly, _week),
        ("monthly", policy.keep_monthly, _month),
    ]
    for name, count, bucket_of in rules:
        seen: set[str] = set()
        for snap in ordered:
            if len(seen) >= count:
                break
            bucket = bucket_of(snap.time.astimezone(dt.UTC))
            if bucket in seen:
                continue
            seen.add(bucket)
            reasons[snap.id].append(f"{name} {bucket}")
    for snap in ordered:
        if reasons[snap.id]:
            decision.keep.append(snap.id)
            decision.reasons[snap.id] = reasons[snap.id]
        else:
            decision.remove.append(snap.id)
    return decision


def keep_for_restores(decision: Decision, in_use: Mapping[str, Sequence[str]]) -> Decision:
    """`decision` with the snapshots unfinished restores come from (snapshot id -> their targets) kept:
    removing one would leave its restore impossible to finish (the re-run needs that very snapshot, and
    the newer ones may be of the damaged pool). Their journal stays with them (journal_horizon)."""
    keep = [sid for sid in decision.remove if sid in in_use]
    reasons = {sid: list(why) for sid, why in decision.reasons.items()}
    for sid in keep:
        reasons.setdefault(sid, []).extend(f"restore into {target} unfinished" for target in in_use[sid])
    return Decision(
        keep=sorted([*decision.keep, *keep]),
        remove=[sid for sid in decision.remove if sid not in in_use],
        reasons=reasons,
    )


def journal_horizon(kept_started_at: Sequence[str]) -> str | None:
    """From when a pool's journal is still needed: the start of its oldest kept snapshot (a point-in-time
    restore, a compaction or a standby folds the records observed from its base snapshot's start).
    None: no snapshot of the pool is kept, so nothing tells what is needed; keep it all."""
    return min(kept_started_at, default=None)


def expired_segments(refs: Sequence[_Ranged], horizon: str) -> list[_Ranged]:
    """Segments whose every record was observed before `horizon` (fixed-width UTC strings compare as
    times). A segment that straddles it is kept whole."""
    return [ref for ref in refs if ref.last_observed < horizon]
