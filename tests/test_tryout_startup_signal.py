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


def _as_from_a_terminal() -> None:
    # A test run started in the background by a non-interactive shell has SIGINT ignored: undo that, as
    # a terminal's foreground process has it.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.parametrize(("name", "code"), [("SIGINT", 130), ("SIGTERM", 143)])
def test_a_stop_while_starting_is_an_interrupt_with_its_json(name: str, code: int) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, name, "snapshots", "--repo", "r", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_as_from_a_terminal,
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
        preexec_fn=_as_from_a_terminal,
    )
    assert proc.returncode == 130 and proc.stdout == ""
    assert "interrupted" in proc.stderr


def test_the_program_runs_through_the_entry_point() -> None:
    from importlib.metadata import entry_points

    [script] = [e for e in entry_points(group="console_scripts") if e.name == "cognito-backup"]
    assert script.value == "cognito_backup.cli.entry:main"
    probe = subprocess.run(
        [sys.executable, "-c", PROBE],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=_as_from_a_terminal,
    )
    assert probe.stdout.split() == ["True"], probe.stderr  # importing entry changes nothing


PROBE = (
    "import signal\n"
    "import cognito_backup.cli.entry\n"
    "print(signal.getsignal(signal.SIGINT) is signal.default_int_handler)\n"
)


def test_a_signal_the_program_was_started_ignoring_stays_ignored() -> None:
    """A script's `cognito-backup capture --follow &` starts with SIGINT ignored (a non-interactive
    shell's background job): Ctrl-C in that terminal is not for it, and must not stop it now either."""
    proc = subprocess.run(
        [sys.executable, "-c", SCRIPT, "SIGINT", "snapshots", "--repo", "r", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    assert proc.returncode not in (130, 143), proc.stderr
    assert "not stopped" in proc.stderr  # it went on past the signal, to the script's last line
