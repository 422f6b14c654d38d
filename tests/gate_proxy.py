"""An HTTP proxy in front of moto's server that holds chosen operations until the test opens the gate.

A test then knows a subprocess is inside that call (`arrived`) and can send it a signal at exactly that
moment, instead of racing a sleep against the machine's load. Every other request passes through
unchanged (the JSON protocols' X-Amz-Target names the operation: Cognito's, and SQS's)."""

from __future__ import annotations

import http.server
import threading
import urllib.error
import urllib.request
from typing import Any


class GateProxy:
    def __init__(self, upstream: str, operations: set[str]) -> None:
        outer = self
        self.arrived = threading.Event()  # a held operation has reached the proxy
        self.gate = threading.Event()  # set: held operations go on
        self.held = 0

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                operation = self.headers.get("X-Amz-Target", "").rpartition(".")[2]
                if operation in operations:
                    outer.held += 1
                    outer.arrived.set()
                    outer.gate.wait(120)
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

    def close(self) -> None:
        self.gate.set()
        self.server.shutdown()
        self.server.server_close()
