"""The benches' peak RSS is the measured process's own, not its parent's.

Linux starts a forked child's ru_maxrss at its parent's RSS and keeps it across exec: bench_memory, whose
parent writes the snapshots in-process, reported 97.4 MiB for a 1M-user diff and plan that used 69 MiB."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_a_child_started_by_a_big_parent_reports_its_own_peak() -> None:
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))  # touched: resident
    out = subprocess.run(
        [sys.executable, "-c", "from bench.bench_memory import peak_rss_mib; print(peak_rss_mib())"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    assert float(out) < 200, "the child's peak includes the parent's 300 MiB"
    assert len(ballast) == 300 * 2**20


def test_a_command_measured_through_rusage_run_reports_its_own_peak(tmp_path: Path) -> None:
    """bench_scale measures each CLI command through bench/rusage_run.py: its own floor, not the bench's."""
    ballast = bytearray(300 * 2**20)
    ballast[::4096] = b"x" * len(range(0, len(ballast), 4096))
    result = tmp_path / "rusage.json"
    command = [sys.executable, "-c", "import sys; sys.exit(3)"]
    subprocess.run([sys.executable, str(ROOT / "bench" / "rusage_run.py"), str(result), "--", *command], check=True)
    body = json.loads(result.read_text())
    assert body["exit_code"] == 3
    assert body["peak_rss_mib"] < 200, "the command's peak includes the bench's 300 MiB"
    assert len(ballast) == 300 * 2**20
