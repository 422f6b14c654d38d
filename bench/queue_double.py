"""A double of the SQS queue the capture consumes, in process, for the capture benchmark only.

Honest double of the documented behaviour run_capture relies on (SqsQueue's interface): ReceiveMessage
returns up to 10 visible messages, long-polling up to `wait` seconds for the first; a received message
is invisible for `visibility` seconds, then visible again unless deleted by its receipt handle; the
SentTimestamp is the time of the send. The approximate counts are exact here. Used when moto's server,
on a shared 2-core machine, cannot take 100 sends/s alongside the capture's receives and deletes: then
the emulator, not the tool, would be what the benchmark measures. With `latency`, each request (a receive,
a delete of up to 10 messages, as DeleteMessageBatch) first waits that long on the calling thread: SQS's
round trip.
"""

from __future__ import annotations

import datetime as dt
import itertools
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass

from cognito_backup.ops.capture import Message


@dataclass
class _Held:
    id: str
    body: str
    sent_at: dt.datetime
    visible_at: float = 0.0
    receipt: str = ""


class QueueDouble:
    def __init__(self, visibility: float = 60.0, latency: float = 0.0) -> None:
        self.visibility = visibility
        self.latency = latency
        self._messages: dict[str, _Held] = {}
        self._cond = threading.Condition()
        self._ids = itertools.count()

    def send(self, body: str) -> None:
        with self._cond:
            mid = f"m-{next(self._ids)}"
            self._messages[mid] = _Held(mid, body, dt.datetime.now(dt.UTC))
            self._cond.notify_all()

    def drained(self) -> bool:
        with self._cond:
            return not self._messages

    def receive(self, max_messages: int, wait: int) -> list[Message]:
        if self.latency:
            time.sleep(self.latency)
        deadline = time.monotonic() + wait
        with self._cond:
            while True:
                now = time.monotonic()
                ready = [m for m in self._messages.values() if m.visible_at <= now][: max(1, min(10, max_messages))]
                if ready or now >= deadline:
                    break
                self._cond.wait(deadline - now)
            out = []
            for held in ready:
                held.visible_at = now + self.visibility
                held.receipt = f"{held.id}/{next(self._ids)}"
                out.append(Message(id=held.id, body=held.body, receipt=held.receipt, sent_at=held.sent_at))
            return out

    def delete(self, messages: Sequence[Message]) -> int:
        if self.latency:
            time.sleep(self.latency * -(-len(messages) // 10))
        deleted = 0
        with self._cond:
            for msg in messages:
                held = self._messages.get(msg.id)
                if held is not None and held.receipt == msg.receipt:
                    del self._messages[msg.id]
                    deleted += 1
        return deleted
