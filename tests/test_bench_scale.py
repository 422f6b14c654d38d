"""bench/bench_scale.py in quick mode, end to end: the stand-in endpoint in its own process, every command
as its own `cognito-backup` process, every row of the table measured with the exit code it should have.

A few hundred users keep it to seconds; `make bench-scale` runs the same code at 100,000 and 1,000,000.
"""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

import pytest

BENCH = Path(__file__).resolve().parent.parent / "bench" / "bench_scale.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_scale", BENCH)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


@pytest.mark.slow
def test_quick_mode_measures_every_phase(tmp_path: Path) -> None:
    bench = _load()
    printed: list[str] = []
    out = tmp_path / "scale.json"

    code = bench.main(["--sizes", "300", "--journal", "20", "--out", str(out)], out=printed.append)

    assert code == 0, "\n".join(printed) + "\n" + out.with_suffix(".log").read_text()[-3000:]
    rows = json.loads(out.read_text())["rows"]
    assert [r["phase"] for r in rows] == list(bench.PHASES)
    for row in rows:
        assert row["ok"] and row["users"] == 300
        assert row["wall_s"] > 0 and row["cpu_s"] > 0 and row["peak_rss_mib"] > 20, row
    table = printed[0]
    for phase in bench.PHASES:
        assert f"| {phase} | " in table
