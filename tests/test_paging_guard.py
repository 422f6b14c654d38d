"""An endpoint that hands back a paging token it already gave (cognito-local ignores paging tokens) must
end the read with an error, never loop forever. The endpoint is moto's server with the repeating answers
injected at botocore's before-send (tests/http_faults.py)."""

from __future__ import annotations

import json
from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import AwsError
from tests.helpers import make_pool
from tests.http_faults import Fault, HttpFaults, by_operation

JSON = "application/x-amz-json-1.1"


def _answer(body: dict[str, Any]) -> Fault:
    return Fault(200, body=json.dumps(body).encode(), content_type=JSON)


@pytest.mark.parametrize(
    ("operation", "body", "read"),
    [
        ("ListGroups", {"Groups": [], "NextToken": "again"}, lambda r: list(r.iter_groups())),
        ("ListUsers", {"Users": [], "PaginationToken": "again"}, lambda r: list(r.iter_users())),
        ("ListUserPoolClients", {"UserPoolClients": [], "NextToken": "again"}, lambda r: r.read_config()),
        ("ListResourceServers", {"ResourceServers": [], "NextToken": "again"}, lambda r: r.read_config()),
        ("ListGroups", {"Groups": [], "NextToken": "again"}, lambda r: r.list_groups_page("again")),
    ],
)
def test_a_repeated_token_ends_the_read(server_cognito: Any, operation: str, body: dict[str, Any], read: Any) -> None:
    pool = make_pool(server_cognito)
    faults = HttpFaults(by_operation({operation: _answer(body)})).install(server_cognito)
    reader = PoolReader(server_cognito, Pacer(sleep=lambda s: None), pool, chains=1)
    with pytest.raises(AwsError, match="same pagination token"):
        read(reader)
    assert faults.attempts[operation] <= 2


def test_an_endpoint_ignoring_sub_prefix_filters_is_read_in_one_chain(server_cognito: Any) -> None:
    """Honest double of an endpoint that accepts `sub ^=` filters and ignores them (answers every user
    to every filter): 16 chains would each list the whole pool."""
    pool = make_pool(server_cognito)
    users = [
        {"Username": name, "Attributes": [{"Name": "sub", "Value": sub}], "Enabled": True, "UserStatus": "CONFIRMED"}
        for name, sub in [
            ("ana", "1f0c0000-0000-4000-8000-000000000001"),
            ("bo", "a0b00000-0000-4000-8000-000000000002"),
        ]
    ]
    HttpFaults(by_operation({"ListUsers": _answer({"Users": users})})).install(server_cognito)
    reader = PoolReader(server_cognito, Pacer(sleep=lambda s: None), pool, chains=16)
    assert sorted(u.username for u in reader.iter_users()) == ["ana", "bo"]
    assert reader.used_chains == 1
