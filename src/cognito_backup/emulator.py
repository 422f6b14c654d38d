"""The local Cognito emulator (moto's server) used by the demo, the tests and the benchmarks.

moto's backends are not thread-safe: for pools with username attributes, every admin call iterates the
pool's users while a concurrent AdminCreateUser may insert one, and moto then fails with a RuntimeError
the real service never gives. This server therefore runs one request at a time inside moto, while an
optional `latency` (the real service's 100-300 ms) is spent outside that lock, so concurrent clients
still overlap their waiting as they would against AWS.
"""

from __future__ import annotations

import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable
from typing import Any

from cognito_backup.errors import UsageError

WsgiApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Emulator:
    """`with Emulator() as url:` or start()/stop(); `url` is the endpoint for --endpoint-url."""

    def __init__(
        self,
        latency: float = 0.0,
        port: int | None = None,
        middleware: Callable[[WsgiApp], WsgiApp] | None = None,
    ) -> None:
        """`middleware` puts a WSGI layer in front of moto, outside its lock and after the latency: it sees
        every HTTP request as the real service would (the throttling benchmark's quota double), and a
        request it serves itself (the deployed-stack tests answer Lambda Invoke by running the handler,
        which calls back into the emulator) never holds the lock."""
        self.latency = latency
        self.middleware = middleware
        self.port = port or free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self._server: Any = None
        self._thread: threading.Thread | None = None

    def start(self) -> str:
        try:
            from moto.moto_server.threaded_moto_server import MotoRequestHandler  # type: ignore[attr-defined]
            from moto.moto_server.werkzeug_app import DomainDispatcherApplication, create_backend_app
            from werkzeug.serving import make_server
        except ImportError:
            raise UsageError(
                "The local Cognito emulator (moto's server) is not installed",
                hint='Run `make demo`, or `pip install "cognito-backup[demo]"`.',
            ) from None
        from cognito_backup import emulator_tags

        emulator_tags.install()  # Cognito's tagging calls, which moto lacks (replicate tags its standby)
        # The emulator's request log would bury the caller's own output.
        logging.getLogger("werkzeug").setLevel(logging.CRITICAL)
        app = DomainDispatcherApplication(create_backend_app)
        lock = threading.Lock()
        latency = self.latency

        def serialized(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
            if latency > 0:
                time.sleep(latency)
            with lock:
                return list(app(environ, start_response))

        served = self.middleware(serialized) if self.middleware is not None else serialized
        self._server = make_server("127.0.0.1", self.port, served, True, request_handler=MotoRequestHandler)
        self._thread = threading.Thread(target=self._server.serve_forever, name="emulator", daemon=True)
        self._thread.start()
        return self.url

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

    def reset(self) -> None:
        """Forget every resource (moto's reset API)."""
        import urllib.request

        urllib.request.urlopen(urllib.request.Request(f"{self.url}/moto-api/reset", method="POST")).read()

    def __enter__(self) -> str:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
