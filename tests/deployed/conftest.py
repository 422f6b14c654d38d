"""The deployed tier: deploy/template.yaml executed as deployed (docs/deploy.md, "How the stack is tested
as deployed"). Select it with `-m deployed`; it runs in `make test`."""

from __future__ import annotations

import json
import os
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from cognito_backup.emulator import Emulator
from tests.deployed.lambdas import Lambdas


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    here = Path(__file__).parent
    for item in items:
        if here in Path(str(item.fspath)).parents:
            item.add_marker(pytest.mark.deployed)


def _post(url: str, body: dict[str, object] | None = None) -> None:
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method="POST", headers={"Content-Type": "application/json"})
    urllib.request.urlopen(request).read()


@pytest.fixture(scope="session")
def _deployed_emulator() -> Iterator[tuple[str, Lambdas]]:
    """An emulator whose Lambda Invoke API is served by the harness, with moto's Step Functions engine
    executing state machines (moto's `execute_state_machine` setting)."""
    lambdas = Lambdas()
    emulator = Emulator(middleware=lambdas.middleware)
    url = emulator.start()
    # moto's engine calls Lambda and SNS through boto3 at localhost:$MOTO_PORT.
    old_port = os.environ.get("MOTO_PORT")
    os.environ["MOTO_PORT"] = str(emulator.port)
    _post(f"{url}/moto-api/config", {"stepfunctions": {"execute_state_machine": True}})
    try:
        yield url, lambdas
    finally:
        _post(f"{url}/moto-api/config", {"stepfunctions": {"execute_state_machine": False}})
        if old_port is None:
            os.environ.pop("MOTO_PORT", None)
        else:
            os.environ["MOTO_PORT"] = old_port
        lambdas.stop()
        emulator.stop()


@pytest.fixture
def deployed_env(_deployed_emulator: tuple[str, Lambdas], tmp_path: Path) -> Iterator[tuple[str, Lambdas, Path]]:
    url, lambdas = _deployed_emulator
    _post(f"{url}/moto-api/reset")
    lambdas.denied.clear()
    yield url, lambdas, tmp_path
    lambdas.stop()
    lambdas.functions.clear()
    lambdas.callers.clear()
