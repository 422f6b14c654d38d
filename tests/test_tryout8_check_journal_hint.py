"""`check` exiting 6 for a damaged journal segment says what still restores (session 6 try-out).

Seen: a journal segment edited by hand (records swapped, or bytes altered) made `check --read-data` exit
6, rightly, with the hint "restore from a snapshot the report does not name (--snapshot ID)": the report
names no snapshot, and the way out a damaged segment leaves (`--at` a time before it: tests/
test_tryout5_journal_damage.py; the snapshots themselves are intact) was not said. moto in-process."""

from __future__ import annotations

from pathlib import Path

from tests.test_pitr_cli import run
from tests.test_tryout5_journal_damage import damaged_after


def test_a_damaged_journal_segment_hints_at_an_earlier_time(aws: None, tmp_path: Path) -> None:
    repo, _, _, key = damaged_after(tmp_path)
    result = run("check", "--repo", repo, "--read-data")
    assert result.exit_code == 6, result.output
    assert key in result.stdout
    assert "--at" in result.stderr and "before" in result.stderr
    assert "the report does not name" not in result.stderr  # it names no snapshot
