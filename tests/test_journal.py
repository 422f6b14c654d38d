"""The change journal: immutable segments, cheap time-range listing, verification."""

from __future__ import annotations

import datetime as dt
import threading
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.errors import RepositoryDamaged
from cognito_backup.repo.journal import Journal, journal_check
from cognito_backup.store.local import LocalStore

POOL = "us-east-1_Pool1"
T0 = dt.datetime(2026, 11, 21, 23, 59, 0, tzinfo=dt.UTC)


def stamp(t: dt.datetime) -> str:
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def rec(seconds: float, key: str = "alice", eid: str = "e1", seq: int = 0) -> dict[str, Any]:
    t = T0 + dt.timedelta(seconds=seconds)
    return {
        "type": "user_upsert",
        "pool": POOL,
        "key": key,
        "sub": "s",
        "changed_at": stamp(t),
        "observed_at": stamp(t),
        "event_id": eid,
        "event_name": "AdminUpdateUserAttributes",
        "source": "cloudtrail",
        "seq": seq,
        "after": {"username": key, "attributes": {"sub": "s"}},
    }


@pytest.fixture
def store(tmp_path: Path) -> LocalStore:
    return LocalStore(tmp_path / "repo")


def test_append_then_read_back_in_journal_order(store: LocalStore) -> None:
    j = Journal(store)
    j.append(POOL, [rec(30, eid="b"), rec(10)])
    j.append(POOL, [rec(20), rec(30, eid="a")])
    got = [(r["observed_at"][-9:], r["event_id"]) for r in j.iter_records(POOL)]
    assert got == [
        ("10.000000Z"[-9:], "e1"),
        ("20.000000Z"[-9:], "e1"),
        ("30.000000Z"[-9:], "a"),
        ("30.000000Z"[-9:], "b"),
    ]


def test_time_range_crosses_midnight_and_skips_other_days(store: LocalStore) -> None:
    j = Journal(store)
    for s in (0, 50, 70, 3 * 86400):  # 23:59:00, 23:59:50, next day 00:00:10, three days later
        j.append(POOL, [rec(s, key=f"u{s}")])
    since, until = T0 + dt.timedelta(seconds=40), T0 + dt.timedelta(seconds=80)
    assert [r["key"] for r in j.iter_records(POOL, since, until)] == ["u50", "u70"]
    assert len(j.list_segments(POOL, since, until)) == 2
    assert [r["key"] for r in j.iter_records(POOL, since=T0 + dt.timedelta(days=2))] == [f"u{3 * 86400}"]


def test_after_position_and_exact_duplicates(store: LocalStore) -> None:
    j = Journal(store)
    j.append(POOL, [rec(1), rec(2)])
    j.append(POOL, [rec(2)])  # a retried batch wrote the same observation again
    assert len(list(j.iter_records(POOL))) == 2
    first = next(j.iter_records(POOL))
    rest = list(j.iter_records(POOL, after=(first["observed_at"], "e1", 0)))
    assert [r["observed_at"] for r in rest] == [stamp(T0 + dt.timedelta(seconds=2))]


def test_a_batch_longer_than_a_day_is_split(store: LocalStore) -> None:
    segs = Journal(store).append(POOL, [rec(0), rec(2 * 86400)])
    assert len(segs) == 2


def test_concurrent_writers_never_collide(store: LocalStore) -> None:
    j = Journal(store)

    def write(n: int) -> None:
        for i in range(10):
            j.append(POOL, [rec(1, key=f"w{n}-{i}", eid=f"{n}-{i}")])

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(list(j.iter_records(POOL))) == 40
    assert journal_check(store, read_data=True) == []


def test_malformed_records_are_refused(store: LocalStore) -> None:
    bad = rec(1)
    bad["observed_at"] = "2026-11-21T10:00:00Z"  # not fixed width: would break the order
    with pytest.raises(ValueError):
        Journal(store).append(POOL, [bad])
    other = rec(1)
    other["pool"] = "us-east-1_Other"
    with pytest.raises(ValueError):
        Journal(store).append(POOL, [other])


def test_check_finds_missing_truncated_and_altered_data(store: LocalStore, tmp_path: Path) -> None:
    j = Journal(store)
    s1, s2, s3 = (j.append(POOL, [rec(i, key=f"u{i}")])[0] for i in range(3))
    assert journal_check(store, read_data=True) == []
    root = tmp_path / "repo" / "journal" / "objects"
    (root / s1.object.sha256[:2] / f"{s1.object.sha256}.jsonl.zst").unlink()
    p2 = root / s2.object.sha256[:2] / f"{s2.object.sha256}.jsonl.zst"
    p2.write_bytes(p2.read_bytes()[:-3])
    p3 = root / s3.object.sha256[:2] / f"{s3.object.sha256}.jsonl.zst"
    data = bytearray(p3.read_bytes())
    data[-1] ^= 0xFF
    p3.write_bytes(bytes(data))
    quick = journal_check(store, read_data=False)
    assert any("missing" in p for p in quick) and any("bytes, expected" in p for p in quick)
    full = journal_check(store, read_data=True)
    assert len(full) == 3
    assert any("altered" in p or "decoded" in p for p in full)
    with pytest.raises(RepositoryDamaged):
        list(j.iter_records(POOL))


def test_check_finds_a_manifest_that_lies_about_its_range(store: LocalStore, tmp_path: Path) -> None:
    seg = Journal(store).append(POOL, [rec(1)])[0]
    path = tmp_path / "repo" / seg.ref.key
    path.write_text(path.read_text().replace(seg.ref.last_observed, stamp(T0)))
    assert any("does not match its name" in p for p in journal_check(store))


def test_journal_data_is_outside_the_snapshot_object_space(store: LocalStore) -> None:
    Journal(store).append(POOL, [rec(1)])
    assert list(store.list("objects/")) == []
