"""One conformance suite for every storage backend (restic's approach)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from moto import mock_aws

from cognito_backup.errors import StoreUnavailable, UsageError
from cognito_backup.store import ObjectNotFound, Store, open_store
from cognito_backup.store.local import LocalStore
from cognito_backup.store.memory import MemoryStore
from cognito_backup.store.s3 import S3Store


@pytest.fixture(params=["local", "memory", "s3"])
def store(request: Any, tmp_path: Path) -> Iterator[Store]:
    if request.param == "local":
        yield LocalStore(tmp_path / "r")
    elif request.param == "memory":
        yield MemoryStore()
    else:
        with mock_aws():
            client = boto3.client("s3", region_name="us-east-1")
            client.create_bucket(Bucket="bkt")
            yield S3Store(client, "bkt", "pre/fix")


def test_put_get_list_delete(store: Store, tmp_path: Path) -> None:
    store.put_bytes("a/b/one", b"1")
    src = tmp_path / "src"
    src.write_bytes(b"two" * 1000)
    store.put_file("a/two", src)
    assert store.get_bytes("a/b/one") == b"1"
    with store.open_read("a/two") as fh:
        assert fh.read() == b"two" * 1000
    assert store.exists("a/two") and not store.exists("a/none")
    infos = list(store.list("a/"))
    assert [(i.key, i.size) for i in infos] == [("a/b/one", 1), ("a/two", 3000)]
    assert [i.key for i in store.list("a/b")] == ["a/b/one"]
    store.put_bytes("a/b/one", b"replaced")
    assert store.get_bytes("a/b/one") == b"replaced"
    store.delete("a/b/one")
    store.delete("a/b/one")  # absent: not an error
    with pytest.raises(ObjectNotFound):
        store.get_bytes("a/b/one")
    with pytest.raises(ObjectNotFound):
        store.open_read("nothing")


def test_local_ignores_interrupted_writes(tmp_path: Path) -> None:
    store = LocalStore(tmp_path)
    store.put_bytes("x/real", b"1")
    (tmp_path / "x" / ".tmp-abandoned").write_bytes(b"half")
    assert [i.key for i in store.list("")] == ["x/real"]


def test_local_unwritable_directory_is_store_unavailable(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a dir")
    with pytest.raises(StoreUnavailable):
        LocalStore(blocker).put_bytes("k", b"v")


def test_open_store_parses_urls(tmp_path: Path) -> None:
    assert isinstance(open_store(str(tmp_path)), LocalStore)
    with pytest.raises(UsageError):
        open_store("s3://")
    with pytest.raises(UsageError):
        open_store("gs://bucket/x")
    with pytest.raises(UsageError):
        open_store(str(tmp_path), kms_key_id="k")
    with mock_aws():
        s3 = open_store("s3://bucket/some/prefix/")
        assert isinstance(s3, S3Store) and s3.describe() == "s3://bucket/some/prefix/"


def test_failing_store_wrapper_conforms_and_fails_cleanly(store: Store, tmp_path: Path) -> None:
    """tests/failing_store.py wraps every backend: without faults it is the backend; a put that fails
    leaves the key absent and the other keys whole; a read that breaks mid-stream is StoreUnavailable."""
    from tests.failing_store import FailingStore

    test_put_get_list_delete(FailingStore(store), tmp_path)
    store.put_bytes("k/kept", b"kept" * 100)
    failing = FailingStore(store, {"put": 1}, break_reads_after=10)
    with pytest.raises(StoreUnavailable):
        failing.put_bytes("k/new", b"new")
    assert [i.key for i in store.list("k/")] == ["k/kept"]
    with pytest.raises(StoreUnavailable):
        failing.get_bytes("k/kept")
    assert store.get_bytes("k/kept") == b"kept" * 100
