"""HTTP proxies in front of moto's server, for a test that runs the tool as a real process (or through its
own endpoint) and needs to act on one operation: the JSON protocols' X-Amz-Target names it (Cognito's, and
SQS's). Every other request passes through unchanged."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from typing import Any

# An answer a proxy gives instead of forwarding: status, body, Content-Type.
Answer = tuple[int, bytes, str]


class ForwardingProxy:
    """Forwards every request upstream, unless `intercept(operation)` answers it."""

    def __init__(self, upstream: str) -> None:
        outer = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                answer = outer.intercept(self.headers.get("X-Amz-Target", "").rpartition(".")[2])
                if answer is not None:
                    self._answer(*answer)
                    return
                headers = {k: v for k, v in self.headers.items() if k.lower() not in ("host", "content-length")}
                request = urllib.request.Request(upstream + self.path, data=body, headers=headers, method="POST")
                try:
                    with urllib.request.urlopen(request, timeout=120) as resp:
                        self._answer(resp.status, resp.read(), resp.headers.get("Content-Type", ""))
                except urllib.error.HTTPError as err:
                    self._answer(err.code, err.read(), err.headers.get("Content-Type", ""))

            def _answer(self, status: int, data: bytes, content_type: str) -> None:
                self.send_response(status)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def intercept(self, operation: str) -> Answer | None:
        return None

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


class GateProxy(ForwardingProxy):
    """Holds the chosen operations until the test opens the gate. A test then knows a process is inside
    that call (`arrived`) and can send it a signal at exactly that moment, instead of racing a sleep
    against the machine's load."""

    def __init__(self, upstream: str, operations: set[str]) -> None:
        self.operations = operations
        self.arrived = threading.Event()  # a held operation has reached the proxy
        self.gate = threading.Event()  # set: held operations go on
        super().__init__(upstream)

    def intercept(self, operation: str) -> Answer | None:
        if operation in self.operations:
            self.arrived.set()
            self.gate.wait(120)
        return None

    def close(self) -> None:
        self.gate.set()
        super().close()
