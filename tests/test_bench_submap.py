"""bench/bench_submap.py with a few hundred users, end to end (stand-in endpoint in its own process): both
ways of making the sub map give the same rows, the new one without a ListUsers call."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_submap.py"


def test_the_sub_map_bench_compares_the_read_back_with_the_answers() -> None:
    done = subprocess.run(
        [sys.executable, str(BENCH), "--users", "300"], capture_output=True, text=True, timeout=300, check=False
    )
    assert done.returncode == 0, done.stderr[-3000:]
    out = json.loads(done.stdout)
    for case in ("into_a_pool_holding_them", "into_a_new_pool"):
        assert out[case]["rows"] == 300
        assert out[case]["answers_calls"] == 0
        assert out[case]["read_back_calls"] >= 16  # one per listing chain at least
