"""Run a command and write its exit code, CPU seconds and peak RSS (its own) as JSON to a file.

    python bench/rusage_run.py RESULT.json -- COMMAND [ARG...]

Why a process of its own: Linux starts a forked child's high-water mark at its parent's RSS (and keeps it
across exec), so a command started straight from a bench that holds a journal or a pool in memory reports
at least the bench's RSS as its peak. This small process (it imports nothing of the tool) is the parent
instead: its RSS, ~13 MiB, is the floor (bench_memory.peak_rss_mib has the same reason)."""

from __future__ import annotations

import json
import os
import subprocess
import sys


def main() -> int:
    result, dashes, *argv = sys.argv[1:]
    if dashes != "--" or not argv:
        raise SystemExit(__doc__)
    proc = subprocess.Popen(argv, stdin=subprocess.DEVNULL)  # stdout/stderr: this process's own
    _, status, usage = os.wait4(proc.pid, 0)
    body = {
        "exit_code": os.waitstatus_to_exitcode(status),
        "cpu_seconds": usage.ru_utime + usage.ru_stime,
        "peak_rss_mib": usage.ru_maxrss / 1024,  # KiB on Linux
    }
    with open(result, "w", encoding="utf-8") as out:
        json.dump(body, out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
