"""bench/bench_resume_state.py with 6,000 users (more than 32 objects), end to end (each phase in its own process): the
state written, loaded, compacted into few objects, and loaded again with every user."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_resume_state.py"


def test_the_resume_state_bench_measures_every_phase(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--users", "6000", "--dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    rows = {row["phase"]: row for row in map(json.loads, done.stdout.splitlines())}
    assert list(rows) == ["write", "load", "compact", "reload"]
    assert rows["write"]["objects"] > 32  # a flush every 5 seconds of the run's pace
    assert rows["compact"]["objects"] == rows["reload"]["objects"] == 1
    assert rows["reload"]["bytes"] < rows["write"]["bytes"]
