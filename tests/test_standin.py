"""bench/standin.py, the benchmarks' stand-in Cognito endpoint, keeps the documented behaviour the tool relies
on: pages of at most 60 with a token while more remain, the sub-prefix chains covering every user once,
exact filters, Cognito's error codes. Spoken to through boto3 over HTTP, as the tool does."""

from __future__ import annotations

import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.exceptions import ClientError

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from standin import Standin


@pytest.fixture
def endpoint() -> Iterator[tuple[Any, str, Standin]]:
    from werkzeug.serving import make_server

    standin = Standin()
    pool_id = standin.prefill("bench", 500, 3, 700)
    server = make_server("127.0.0.1", 0, standin.wsgi, threaded=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client = boto3.client(
        "cognito-idp",
        endpoint_url=f"http://127.0.0.1:{server.server_port}",
        region_name="us-east-1",
        aws_access_key_id="x",
        aws_secret_access_key="x",
    )
    yield client, pool_id, standin
    server.shutdown()


def _all(client: Any, operation: str, key: str, **kwargs: Any) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    for page in client.get_paginator(operation).paginate(**kwargs):
        assert len(page[key]) <= 60
        items.extend(page[key])
    return items


def test_sub_prefix_chains_cover_every_user_once(endpoint: tuple[Any, str, Standin]) -> None:
    client, pool_id, _ = endpoint
    names: list[str] = []
    for digit in "0123456789abcdef":
        users = _all(client, "list_users", "Users", UserPoolId=pool_id, Filter=f'sub ^= "{digit}"')
        subs = [next(a["Value"] for a in u["Attributes"] if a["Name"] == "sub") for u in users]
        assert all(s.startswith(digit) for s in subs)
        names += [u["Username"] for u in users]
    assert sorted(names) == sorted(u["Username"] for u in _all(client, "list_users", "Users", UserPoolId=pool_id))
    assert len(set(names)) == 500
    members = [
        _all(client, "list_users_in_group", "Users", UserPoolId=pool_id, GroupName=f"group-{g:03d}") for g in range(3)
    ]
    assert sum(len(m) for m in members) == 700


def test_writes_filters_and_cognito_error_codes(endpoint: tuple[Any, str, Standin]) -> None:
    client, pool_id, _ = endpoint
    with pytest.raises(ClientError) as err:
        client.list_users(UserPoolId=pool_id, Limit=61)
    assert err.value.response["Error"]["Code"] == "InvalidParameterException"
    client.admin_create_user(UserPoolId=pool_id, Username="new", UserAttributes=[{"Name": "email", "Value": "n@x.io"}])
    with pytest.raises(client.exceptions.UsernameExistsException):
        client.admin_create_user(UserPoolId=pool_id, Username="new")
    found = client.list_users(UserPoolId=pool_id, Filter='email = "n@x.io"')["Users"]
    assert [u["Username"] for u in found] == ["new"]
    assert client.admin_get_user(UserPoolId=pool_id, Username="new")["UserStatus"] == "FORCE_CHANGE_PASSWORD"
    client.admin_update_user_attributes(
        UserPoolId=pool_id, Username="user-0000007", UserAttributes=[{"Name": "email", "Value": "e@x.io"}]
    )
    assert client.list_users(UserPoolId=pool_id, Filter='email = "user7@example.com"')["Users"] == []
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.admin_update_user_attributes(
            UserPoolId=pool_id, Username="new", UserAttributes=[{"Name": "custom:nope", "Value": "1"}]
        )
    client.admin_delete_user(UserPoolId=pool_id, Username="user-0000007")
    with pytest.raises(client.exceptions.UserNotFoundException):
        client.admin_get_user(UserPoolId=pool_id, Username="user-0000007")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.admin_add_user_to_group(UserPoolId=pool_id, GroupName="missing", Username="new")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_user_pool(UserPoolId="us-east-1_missing")
    with pytest.raises(ClientError) as err:
        client.describe_user_pool_domain(Domain="anything")
    assert err.value.response["Error"]["Code"] == "UnknownOperationException"
