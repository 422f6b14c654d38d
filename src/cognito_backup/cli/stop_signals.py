"""How a stop signal ends `capture` and `replicate` (followers: `--follow` runs until stopped).

systemd (`systemctl stop`), docker/ECS (`docker stop`) and Kubernetes stop a long-running follower with
SIGTERM, a person with Ctrl-C. Following is the job, so a stop is its planned end: the first signal asks
the command to stop once the work in hand is saved (the batch journaled and deleted from the queue, the
standby's position written), and such a clean stop exits 0, as daemons do. A stop that leaves work is an
interruption (130 for Ctrl-C, 143 for SIGTERM, as a shell reports them) with a hint to run again:
- a second signal while stopping: stop now (messages in hand come back from the queue; a round's
  position stays where it was);
- a replicate round still running when the signal comes: it starts no new operation, lets the running
  ones finish and saves its progress (the next run carries on);
- a drain (`capture` without `--follow`) that the signal ended before the queue was empty.
"""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from cognito_backup.cli.common import interrupted
from cognito_backup.errors import Interrupted, Terminated

STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def signal_exception(signum: int) -> KeyboardInterrupt:
    """The exception a signal lands as: SIGTERM is the tool's Terminated (exit 143), Ctrl-C is Python's own
    KeyboardInterrupt (exit 130)."""
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def stderr_line(text: str) -> None:
    """The stop notice with --json (stdout holds the JSON; progress is off): a log line is still owed to
    whoever stopped the follower (the systemd journal, `docker logs`)."""
    sys.stderr.write(text + "\n")
    sys.stderr.flush()


@dataclass
class StopSignals:
    """The first stop signal sets `stop`; a second one raises where it lands (stop now)."""

    notice: Callable[[str], None]
    stop: threading.Event = field(default_factory=threading.Event)
    signum: int | None = None  # the first stop signal received

    def handle(self, signum: int, frame: Any) -> None:
        if self.stop.is_set():
            self.notice("stopping now: the work in hand is left for the next run")
            raise signal_exception(signum)
        self.signum = signum
        self.stop.set()
        self.notice("stopping once the work in hand is saved (nothing is lost); a second signal stops at once")

    def interrupted(self, hint: str) -> Interrupted:
        """The error for a stop that left work for the next run: 130 or 143 after the first signal."""
        return interrupted(signal_exception(self.signum or signal.SIGINT), hint=hint)

    @contextmanager
    def installed(self) -> Iterator[StopSignals]:
        """A signal the program was started ignoring (a script's `capture --follow &` has SIGINT ignored)
        stays ignored."""
        previous = {
            sig: signal.signal(sig, self.handle) for sig in STOP_SIGNALS if signal.getsignal(sig) is not signal.SIG_IGN
        }
        try:
            yield self
        finally:
            for sig, old in previous.items():
                signal.signal(sig, old)
