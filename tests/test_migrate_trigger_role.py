"""The migration trigger's client of pool A through a role in A's account (COGNITO_BACKUP_MIGRATE_ROLE_ARN):
kept per container, but not past its credentials. AssumeRole's credentials last an hour by default, and a
warm trigger container can live longer: it assumes the role again shortly before they expire, instead of
failing every sign-in with ExpiredToken. Against moto's STS (its AssumeRole answers an Expiration one
hour ahead); AssumeRole calls counted at botocore's boundary (tests/op_recorder.py)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from cognito_backup.serverless import migrate_trigger
from tests.helpers import make_pool
from tests.op_recorder import recording

ROLE = "arn:aws:iam::123456789012:role/cognito-backup-migrate-source"


def test_the_role_is_assumed_again_before_its_credentials_expire(cognito: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = make_pool(cognito, "A")
    monkeypatch.setenv(migrate_trigger.FROM_POOL_VAR, pool)
    monkeypatch.setenv(migrate_trigger.CLIENT_ID_VAR, "client-of-a")
    monkeypatch.setenv(migrate_trigger.ROLE_VAR, ROLE)
    monkeypatch.setattr(migrate_trigger, "_cached", None)
    start = dt.datetime.now(dt.UTC)
    with recording() as rec:
        first, settings = migrate_trigger._client_and_settings(now=lambda: start)
        half_an_hour, _ = migrate_trigger._client_and_settings(now=lambda: start + dt.timedelta(minutes=30))
        assert half_an_hour is first
        assert len([c for c in rec.of("sts") if c.operation == "AssumeRole"]) == 1
        near_expiry, again = migrate_trigger._client_and_settings(now=lambda: start + dt.timedelta(minutes=56))
        assert near_expiry is not first
        assert again == settings
        assert len([c for c in rec.of("sts") if c.operation == "AssumeRole"]) == 2
    # The new client works (its credentials are the new ones).
    assert near_expiry.describe_user_pool(UserPoolId=pool)["UserPool"]["Id"] == pool


def test_without_a_role_the_client_is_kept_for_the_container(cognito: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    pool = make_pool(cognito, "A")
    monkeypatch.setenv(migrate_trigger.FROM_POOL_VAR, pool)
    monkeypatch.setenv(migrate_trigger.CLIENT_ID_VAR, "client-of-a")
    monkeypatch.delenv(migrate_trigger.ROLE_VAR, raising=False)
    monkeypatch.setattr(migrate_trigger, "_cached", None)
    start = dt.datetime.now(dt.UTC)
    first, _ = migrate_trigger._client_and_settings(now=lambda: start)
    # The execution role's credentials (environment variables) are valid for the container's life.
    later, _ = migrate_trigger._client_and_settings(now=lambda: start + dt.timedelta(hours=10))
    assert later is first


@pytest.mark.parametrize(
    ("minutes_left", "valid"), [(None, True), (60, True), (5.5, True), (5, False), (0, False), (-1, False)]
)
def test_credentials_count_as_valid_until_five_minutes_before_they_expire(
    minutes_left: float | None, valid: bool
) -> None:
    now = dt.datetime(2026, 12, 1, 12, 0, tzinfo=dt.UTC)
    expires = None if minutes_left is None else now + dt.timedelta(minutes=minutes_left)
    assert migrate_trigger.still_valid(expires, now) is valid
