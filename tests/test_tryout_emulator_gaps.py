"""A call the endpoint does not implement, met by a command that needs it (session 4 try-out).

moto's HTTP server (the embedded `cognito-backup emulator`) answers a call it lacks with an HTML 500 and
no AWS error document; botocore then uses the bare status as the error code. `recover` needs AWS's
point-in-time recovery calls, which the emulator lacks."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from cognito_backup.cli.main import cli
from tests.helpers import make_pool


def test_a_call_the_endpoint_lacks_is_named_as_such(server_cognito: Any, server_url: str) -> None:
    """Before: "ListPointInTimeRecoveries on user pool ...: AWS error 500", which reads like an AWS outage."""
    pool = make_pool(server_cognito)
    result = CliRunner().invoke(
        cli, ["--endpoint-url", server_url, "recover", "--user-pool-id", pool, "--status", "--json"]
    )
    assert result.exit_code == 9, result.output
    message = json.loads(result.stdout)["error"]["message"]
    assert "ListPointInTimeRecoveries" in message
    assert "HTTP 500 without an AWS error" in message and "does not implement" in message
