"""Reading the journal drops duplicate observations with bounded memory (no set of every record seen).

Records are merged in journal order, so a record written twice (a retried batch, a capture process and
a Lambda both delivering the same message, a merged segment next to its inputs) comes out adjacent to
its twin: comparing with the previous record is enough.
"""

from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

from cognito_backup.repo import journal as journal_mod
from cognito_backup.repo.journal import Journal
from cognito_backup.store.local import LocalStore

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 21, 10, 0, 0, tzinfo=dt.UTC)


def rec(seconds: float, key: str, eid: str, seq: int = 0) -> dict[str, Any]:
    t = (T0 + dt.timedelta(seconds=seconds)).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    return {
        "type": "user_upsert",
        "pool": POOL,
        "key": key,
        "sub": f"sub-{key}",
        "changed_at": t,
        "observed_at": t,
        "event_id": eid,
        "event_name": "AdminUpdateUserAttributes",
        "source": "cloudtrail",
        "seq": seq,
        "after": {"username": key, "attributes": {"sub": f"sub-{key}"}},
    }


def test_duplicates_across_overlapping_segments_come_out_once(tmp_path: Path) -> None:
    j = Journal(LocalStore(tmp_path / "repo"))
    originals = [rec(s, f"u{s}", f"e{s}") for s in range(0, 60, 2)]
    # The same observations written again, in other segments whose time ranges overlap the first ones
    # and each other (segments starting before, inside and after), plus records only they hold.
    j.append(POOL, originals[:20])
    j.append(POOL, originals[5:12] + [rec(9, "x", "ex")])
    j.append(POOL, originals[10:] + [rec(1, "y", "ey")])
    j.append(POOL, originals[::3])
    j.append(POOL, originals[25:] + originals[:2])
    got = [(r["observed_at"], r["event_id"], r["seq"]) for r in j.iter_records(POOL)]
    want = sorted(
        {(r["observed_at"], r["event_id"], r["seq"]) for r in originals + [rec(9, "x", "ex"), rec(1, "y", "ey")]}
    )
    assert got == want


def test_duplicates_with_after_position_and_two_seqs(tmp_path: Path) -> None:
    j = Journal(LocalStore(tmp_path / "repo"))
    pair = [rec(5, "a", "e5", 0), rec(5, "a", "e5", 1)]
    j.append(POOL, pair + [rec(7, "b", "e7")])
    j.append(POOL, pair + [rec(3, "c", "e3")])
    j.append(POOL, pair)
    got = [(r["event_id"], r["seq"]) for r in j.iter_records(POOL, after=(pair[0]["observed_at"], "e5", 0))]
    assert got == [("e5", 1), ("e7", 0)]


def test_the_reader_keeps_no_set_of_seen_records() -> None:
    """The dedupe is by adjacency: nothing in the reader grows with the number of records read."""
    code = journal_mod.Journal.iter_records.__code__
    assert "seen" not in code.co_varnames
    assert "set" not in code.co_names
