"""Ctrl-C or SIGTERM while the program is still importing (session 4 try-out). Before: a Python traceback
and, with --json, nothing on stdout (seen with a 3-second start on a loaded machine).

The signal is sent by the process to itself right after the entry point's handlers are installed and
before the tool's imports: the same instant a person's Ctrl-C lands in, without a race."""

from __future__ import annotations

import json
import signal
import subprocess
import sys

import pytest

SCRIPT = (
    "import os, signal, sys\n"
    "from cognito_backup.cli import entry\n"
    "entry.install()\n"
    "os.kill(os.getpid(), getattr(signal, sys.argv[1]))\n"
    "import cognito_backup.cli.main\n"
    "raise SystemExit('not stopped')\n"
)


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stop_while_starting_is_an_interrupt_with_its_json(name: str, code: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, name, "snapshots", "--repo", "r", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == code, proc.stderr
    assert json.loads(proc.stdout)["error"]["kind"] == "interrupted"
    assert "Traceback" not in proc.stderr


def test_without_json_stdout_stays_empty() -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "SIGINT", "snapshots", "--repo", "r"],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 130 and proc.stdout == ""
    assert "interrupted" in proc.stderr


def test_the_program_runs_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "cognito-backup"]
    assert script.value == "cognito_backup.cli.entry:main"
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler  # importing entry changes nothing
