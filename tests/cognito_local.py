"""cognito-local (npm), a second and stricter Cognito implementation, run as a real server for the tests.

Installed by the project's own files: tests/cognito-local/package.json and package-lock.json pin the
version, `make cognito-local` runs `npm ci` there (`make test` depends on it). Each server gets a free
loopback port and its own data directory (cognito-local keeps its state as JSON in `.cognito/` under its
working directory).
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

PACKAGE_DIR = Path(__file__).parent / "cognito-local"
ENTRY = PACKAGE_DIR / "node_modules" / "cognito-local" / "lib" / "bin" / "start.js"
START_TIMEOUT = 30.0

# cognito-local gives every new pool UsernameAttributes ["email"] unless configured otherwise; Cognito
# gives a pool no username attributes unless CreateUserPool asks for them. Follow the service.
CONFIG = {"UserPoolDefaults": {"UsernameAttributes": []}}


def unavailable_reason() -> str | None:
    """Why cognito-local cannot run here (None: it can)."""
    if shutil.which("node") is None:
        return "node is not installed: cognito-local (npm) cannot run; install Node.js 18+"
    if not ENTRY.exists():
        return f"cognito-local is not installed in {PACKAGE_DIR}: run `make cognito-local` (npm ci)"
    return None


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _answers(url: str) -> bool:
    request = urllib.request.Request(
        url,
        data=b'{"MaxResults": 1}',
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "AWSCognitoIdentityProviderService.ListUserPools",
        },
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=2) as response:
            return int(response.status) == 200
    except (urllib.error.URLError, ConnectionError, TimeoutError):
        return False


@contextmanager
def cognito_local_server(data_dir: Path) -> Iterator[str]:
    """Start cognito-local with its data in `data_dir`; yield its URL once it answers; stop it."""
    node = shutil.which("node")
    assert node is not None, unavailable_reason()
    (data_dir / ".cognito").mkdir(parents=True, exist_ok=True)
    (data_dir / ".cognito" / "config.json").write_text(json.dumps(CONFIG))
    port = _free_port()
    env = dict(os.environ, PORT=str(port), HOST="127.0.0.1")
    env.pop("DEBUG", None)
    log = (data_dir / "cognito-local.log").open("wb")
    process = subprocess.Popen([node, str(ENTRY)], cwd=data_dir, env=env, stdout=log, stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _answers(url):
            if process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(
                    f"cognito-local did not start on {url}: "
                    + (data_dir / "cognito-local.log").read_text(errors="replace")[-2000:]
                )
            time.sleep(0.1)
        yield url
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()
