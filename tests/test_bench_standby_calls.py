"""bench/bench_standby_calls.py in quick mode: the stand-in endpoint, a backup, then Lambda-shaped calls
of a standby round (each its own process) until one finishes; `make bench-standby` runs it at 1M users."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_standby_calls.py"


@pytest.mark.slow
def test_quick_mode_runs_the_calls_to_the_end(tmp_path: Path) -> None:
    spec = importlib.util.spec_from_file_location("bench_standby_calls", BENCH)
    assert spec and spec.loader
    bench = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = bench
    spec.loader.exec_module(bench)
    out = tmp_path / "standby.json"

    assert bench.main(["--users", "300", "--journal", "20", "--out", str(out)]) == 0

    calls = json.loads(out.read_text())["calls"]
    assert calls[-1]["finished"] is True and calls[-1]["failed"] == 0
    for call in calls:
        assert call["exit"] == 0 and call["cpu_s"] > 0 and call["peak_rss_mib"] > 0
