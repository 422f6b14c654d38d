"""The `cognito-backup` program: Ctrl-C and SIGTERM handled from the first instant.

Importing the tool (boto3, rich, the commands) takes a second, several on a loaded machine; a signal in
that window used to end with a Python traceback and, with --json, an empty stdout. Here the handlers are
installed before those imports: a stop while starting exits 130 (Ctrl-C) or 143 (SIGTERM), with the one
JSON error document when --json was asked for. Nothing was read or written yet. Only modules the
interpreter has already loaded are imported before the handlers are in place (the interpreter's own
start-up, before any of this runs, stays Python's).
"""

from __future__ import annotations

import os
import signal
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from types import FrameType

STARTING = "interrupted while starting: nothing was read or written"


def _stopped_while_starting(signum: int, frame: FrameType | None) -> None:
    if "--json" in sys.argv[1:]:
        import json  # here, not above: the handler must be in place before any import that takes time

        error = {"error": {"hint": None, "kind": "interrupted", "message": STARTING}}
        sys.stdout.write(json.dumps(error, indent=2, sort_keys=True) + "\n")
        sys.stdout.flush()
    sys.stderr.write(f"error: {STARTING}\n")
    sys.stderr.flush()
    # Straight out: a half-done import must not run more code (an exit handler, a finally).
    os._exit(128 + signum)


def install() -> None:
    """A signal the program was started ignoring stays ignored: a non-interactive shell's background job
    (`cognito-backup capture --follow &` in a script) has SIGINT ignored so that Ctrl-C in that terminal
    is not for it."""
    for sig in (signal.SIGINT, signal.SIGTERM):
        if signal.getsignal(sig) is not signal.SIG_IGN:
            signal.signal(sig, _stopped_while_starting)


def main() -> None:
    install()
    from cognito_backup.cli.main import main as run

    # From here on the commands' own handling: Ctrl-C is a KeyboardInterrupt again (unless ignored from
    # the start), and run() installs the SIGTERM handler that takes the same clean path.
    if signal.getsignal(signal.SIGINT) is not signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)
    run()
