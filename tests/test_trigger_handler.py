"""The Post Confirmation trigger handler: journals the user, and never fails the sign-up."""

from __future__ import annotations

import json
import logging
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from cognito_backup.repo.journal import Journal
from cognito_backup.serverless import trigger
from cognito_backup.store.local import LocalStore

FIXTURES = Path(__file__).parent / "fixtures" / "events"
CONTEXT = SimpleNamespace(aws_request_id="req-123")


def event(name: str = "trigger_PostConfirmation_ConfirmSignUp") -> dict[str, Any]:
    return dict(json.loads((FIXTURES / f"{name}.json").read_text()))


def test_records_the_confirmed_user_and_returns_the_event(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(tmp_path / "repo"))
    ev = event()
    assert trigger.handler(ev, CONTEXT) == event()
    (rec,) = Journal(LocalStore(tmp_path / "repo")).iter_records("us-east-1_EXAMPLE11")
    assert (rec["type"], rec["key"], rec["source"], rec["event_id"]) == (
        "user_upsert",
        "jane.doe",
        "trigger",
        "trigger:req-123",
    )
    assert rec["after"]["status"] == "CONFIRMED" and rec["after"]["attributes"]["custom:tier"] == "gold"


def test_pre_signup_records_nothing(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(tmp_path / "repo"))
    ev = event("trigger_PreSignUp_SignUp")
    assert trigger.handler(ev, CONTEXT) is ev
    assert not (tmp_path / "repo").exists()


def test_unreachable_store_still_returns_the_event(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    # Nothing listens on port 9: every S3 call fails to connect.
    monkeypatch.setenv("AWS_ENDPOINT_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("COGNITO_BACKUP_REPO", "s3://backups/cognito")
    ev = event()
    with caplog.at_level(logging.ERROR, logger="cognito_backup.trigger"):
        assert trigger.handler(ev, CONTEXT) == event()
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "NOT journaled" in msg and "PostConfirmation_ConfirmSignUp" in msg
    assert "jane@example.com" not in msg and "gold" not in msg  # no attribute values in logs


def test_missing_configuration_or_garbage_still_returns_the_event(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("COGNITO_BACKUP_REPO", raising=False)
    ev = event()
    assert trigger.handler(ev, CONTEXT) == event()
    assert trigger.handler({"weird": True}, None) == {"weird": True}


def test_a_slow_store_cannot_hold_the_sign_up_past_the_budget(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """The first S3 call answers inside the read timeout but late (1.4 s), the next ones not at all: each
    call stays inside its timeouts, yet the calls of one segment (object, manifest, their retries) add up
    past Cognito's 5 seconds unless the handler holds a wall-clock budget."""
    import socketserver
    import threading
    import time

    seen: list[int] = []
    lock = threading.Lock()
    answer = b'HTTP/1.1 200 OK\r\nContent-Length: 0\r\nETag: "x"\r\n\r\n'

    class Slow(socketserver.BaseRequestHandler):
        def handle(self) -> None:
            self.request.settimeout(10)
            try:
                while self.request.recv(65536):
                    with lock:
                        seen.append(1)
                        first = len(seen) == 1
                    time.sleep(1.4 if first else 4.0)
                    self.request.sendall(answer)
            except OSError:
                pass

    server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Slow)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{server.server_address[1]}")
        monkeypatch.setenv("COGNITO_BACKUP_REPO", "s3://backups/cognito")
        ev = event()
        started = time.monotonic()
        with caplog.at_level(logging.ERROR, logger="cognito_backup.trigger"):
            assert trigger.handler(ev, CONTEXT) == event()
        waited = time.monotonic() - started
    finally:
        server.shutdown()
        server.server_close()
    assert waited < trigger.BUDGET_SECONDS + 0.5, waited
    (msg,) = [r.getMessage() for r in caplog.records]
    assert "NOT journaled" in msg and "jane@example.com" not in msg
