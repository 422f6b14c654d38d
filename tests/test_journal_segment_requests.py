"""A journal segment costs no existence check on S3: its bytes are new (they carry the capture's own
observation times), so looking for an equal object first is a round trip on every capture commit for
nothing (snapshot objects keep the check: shards are shared between snapshots)."""

from __future__ import annotations

import datetime as dt
from collections import Counter
from typing import Any

import boto3
from moto import mock_aws

from cognito_backup.repo.journal import Journal
from cognito_backup.store.s3 import S3Store
from tests.helpers import journal_upsert

POOL = "us-east-1_Pool1"


def test_a_journal_append_sends_no_head_request() -> None:
    with mock_aws():
        s3 = boto3.client("s3", region_name="us-east-1")
        s3.create_bucket(Bucket="repo")
        calls: Counter[str] = Counter()

        def count(model: Any, **_: Any) -> None:
            calls[model.name] += 1

        s3.meta.events.register("before-call.s3", count)
        journal = Journal(S3Store(s3, "repo", "r"))
        when = dt.datetime(2026, 12, 1, 3, 0, tzinfo=dt.UTC)
        journal.append(POOL, [journal_upsert(POOL, when, "alice", "gold", "e1")])
        assert calls["HeadObject"] == 0, calls
        assert calls["PutObject"] >= 2  # the data object and the segment's manifest
        assert [r["key"] for r in journal.iter_records(POOL)] == ["alice"]
