"""The store's conditional create (what leases are built on): every backend, and S3's answers to it.

S3's `If-None-Match: *` on PutObject: 412 PreconditionFailed when the key exists, 409
ConditionalRequestConflict while another conditional write of the key is in flight (to be retried), per
the botocore S3 model's documentation of IfNoneMatch. moto answers the 412; the 409 is injected below
botocore's retry layer (a `before-send` handler), as S3 would send it.
"""

from __future__ import annotations

import threading
from pathlib import Path

import boto3
import pytest
from moto import mock_aws

from cognito_backup.errors import AccessDenied
from cognito_backup.store import Store
from cognito_backup.store.local import LocalStore
from cognito_backup.store.memory import MemoryStore
from cognito_backup.store.s3 import S3Store
from tests.http_faults import Fault, HttpFaults, by_operation
from tests.test_store import store  # noqa: F401 (the conformance suite's backends)


def test_create_writes_only_an_absent_key(store: Store) -> None:  # noqa: F811
    assert store.create_bytes("leases/x/00000001.json", b"first") is True
    assert store.create_bytes("leases/x/00000001.json", b"second") is False
    assert store.get_bytes("leases/x/00000001.json") == b"first"
    assert [i.key for i in store.list("leases/")] == ["leases/x/00000001.json"]


@pytest.mark.parametrize("backend", ["local", "memory"])
def test_of_concurrent_creates_exactly_one_wins(backend: str, tmp_path: Path) -> None:
    # The in-process backends (moto's S3 checks, then writes, not atomically: S3 itself decides).
    shared: Store = LocalStore(tmp_path / "r") if backend == "local" else MemoryStore()
    barrier = threading.Barrier(8)
    won: list[bool] = []

    def create(n: int) -> None:
        barrier.wait()
        won.append(shared.create_bytes("leases/y/00000001.json", f"{n}".encode()))

    threads = [threading.Thread(target=create, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(won) == [False] * 7 + [True]
    assert not list((tmp_path / "r").rglob(".tmp-*"))


def test_s3_conflict_is_retried_and_other_errors_are_reported() -> None:
    with mock_aws():
        client = boto3.client("s3", region_name="us-east-1")
        client.create_bucket(Bucket="bkt")
        store = S3Store(client, "bkt")
        faults = HttpFaults(by_operation({"PutObject": Fault(409, "ConditionalRequestConflict")}, times=1))
        faults.install(client)
        assert store.create_bytes("k", b"1") is True
        assert faults.attempts["PutObject"] == 2  # the 409, then the retry that created the key
        assert store.get_bytes("k") == b"1"
        faults.remove(client)
        HttpFaults(by_operation({"PutObject": Fault(403, "AccessDenied")})).install(client)
        with pytest.raises(AccessDenied):
            store.create_bytes("k2", b"1")
