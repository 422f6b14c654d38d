"""Storage failures (issue #9, point 4): every failure of the repository's storage maps to its documented
exit code with a hint, is retried where a retry can help, loses nothing and leaves no phantom object.

S3 faults are answered below botocore's retry layer against moto in-process (tests/http_faults.py);
command-level faults come from tests/failing_store.py, which fails as a translated backend does.
"""

from __future__ import annotations

import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from cognito_backup.core.retention import Policy
from cognito_backup.errors import AccessDenied, RepositoryNotFound, StoreUnavailable
from cognito_backup.model import User
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.prune import prune
from cognito_backup.ops.restore import RestoreRequest, run_restore
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore, local_store_error
from cognito_backup.store.s3 import S3Store
from tests.capture_helpers import render
from tests.conftest import REGION
from tests.failing_store import FailingStore
from tests.helpers import add_user, fill_pool, make_pool
from tests.http_faults import Fault, HttpFaults, every_new_client

BUCKET = "repo-bucket"


@pytest.fixture
def s3store(aws: None) -> Iterator[tuple[S3Store, HttpFaults]]:
    client = AwsContext(region=REGION).client("s3")
    client.create_bucket(Bucket=BUCKET)
    faults = HttpFaults(lambda op, n: None)
    faults.install(client)
    yield S3Store(client, BUCKET, "pre"), faults


# ---- S3: each failure, its code -------------------------------------------------------------------


def test_upload_denied_is_access_denied_not_an_internal_error(s3store: Any, tmp_path: Path) -> None:
    store, faults = s3store
    faults.plan = lambda op, n: Fault(403, "AccessDenied") if op == "PutObject" else None
    src = tmp_path / "obj"
    src.write_bytes(b"x" * 1000)
    with pytest.raises(AccessDenied) as err:
        store.put_file("objects/ab/cd", src)  # boto3's upload_file: S3UploadFailedError underneath
    assert err.value.exit_code == 3 and "s3:PutObject" in str(err.value.hint)
    assert faults.attempts["PutObject"] == 1  # a refusal is not retried


def test_kms_key_unusable_is_access_denied_with_a_kms_hint(s3store: Any) -> None:
    store, faults = s3store
    faults.plan = lambda op, n: Fault(400, "KMS.DisabledException") if op == "PutObject" else None
    with pytest.raises(AccessDenied) as err:
        store.put_bytes("config.json", b"{}")
    assert "KMS" in err.value.message and "kms:GenerateDataKey" in str(err.value.hint)


def test_missing_bucket_is_repository_not_found(aws: None) -> None:
    store = S3Store(AwsContext(region=REGION).client("s3"), "no-such-bucket-here", "x")
    with pytest.raises(RepositoryNotFound) as err:
        store.put_bytes("config.json", b"{}")
    assert err.value.exit_code == 7 and "bucket" in err.value.message
    with pytest.raises(RepositoryNotFound):
        list(store.list("snapshots/"))


def test_slowdown_is_retried_then_store_unavailable(s3store: Any, tmp_path: Path) -> None:
    store, faults = s3store
    faults.plan = lambda op, n: Fault(503, "SlowDown") if op == "PutObject" and n <= 2 else None
    store.put_bytes("a", b"1")  # two SlowDowns, then through: botocore's retries did it
    assert faults.attempts["PutObject"] == 3 and store.get_bytes("a") == b"1"

    faults.plan = lambda op, n: Fault(503, "SlowDown") if op in ("PutObject", "ListObjectsV2") else None
    faults.attempts.clear()
    src = tmp_path / "obj"
    src.write_bytes(b"y" * 100)
    for action in (lambda: store.put_bytes("b", b"2"), lambda: store.put_file("c", src), lambda: list(store.list())):
        with pytest.raises(StoreUnavailable) as err:
            action()
        assert err.value.exit_code == 10 and "nothing was lost" in str(err.value.hint)
    assert faults.attempts["PutObject"] == 10  # 5 attempts each, then reported
    assert not store.exists("b") and not store.exists("c")


def _truncated_get(body: bytes) -> Fault:
    """An answer whose body stops short of its Content-Length: the connection broke mid-stream."""
    return Fault(200, body=body[:3], headers={"Content-Length": str(len(body)), "ETag": '"x"'})


def test_a_read_that_breaks_mid_stream_is_read_again_then_store_unavailable(s3store: Any) -> None:
    store, faults = s3store
    store.put_bytes("objects/k", b"0123456789" * 10)
    faults.plan = lambda op, n: _truncated_get(b"0123456789" * 10) if op == "GetObject" and n == 1 else None
    assert store.get_bytes("objects/k") == b"0123456789" * 10
    assert faults.attempts["GetObject"] == 2

    faults.plan = lambda op, n: _truncated_get(b"0123456789" * 10) if op == "GetObject" else None
    with pytest.raises(StoreUnavailable) as err:
        store.get_bytes("objects/k")
    assert err.value.exit_code == 10
    with pytest.raises(StoreUnavailable), store.open_read("objects/k") as fh:
        fh.read()


# ---- a command on S3, end to end ------------------------------------------------------------------


def test_backup_to_s3_denied_exits_3_and_leaves_nothing_check_trips_on(cognito: Any) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=20, n_groups=2, big_group=5)
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    repo = f"s3://{BUCKET}/backups"
    runner = CliRunner()
    assert runner.invoke(cli, ["backup", "--user-pool-id", pool_id, "--repo", repo]).exit_code == 0
    for i in range(3):  # new users: the next backup uploads new objects (boto3's upload_file)
        add_user(cognito, pool_id, f"late-{i}", {"email": f"late{i}@example.com"})
    # The lock goes up, then S3 refuses the rest (a bucket policy changed mid-backup).
    faults = HttpFaults(lambda op, n: Fault(403, "AccessDenied") if op == "PutObject" and n >= 2 else None)
    with every_new_client(faults):
        result = runner.invoke(cli, ["backup", "--user-pool-id", pool_id, "--repo", repo, "--json"])
    assert result.exit_code == 3, result.output
    assert "Traceback" not in result.output
    checked = runner.invoke(cli, ["check", "--repo", repo, "--read-data", "--json"])
    assert checked.exit_code == 0, checked.output
    assert json.loads(checked.output)["snapshots"] == 1  # the first snapshot, whole


# ---- local disk -----------------------------------------------------------------------------------


def test_disk_errors_map_to_codes_with_hints() -> None:
    full = local_store_error(OSError(errno.ENOSPC, "No space left on device"), "Cannot write /r/x")
    assert isinstance(full, StoreUnavailable) and "Free space" in str(full.hint)
    denied = local_store_error(OSError(errno.EACCES, "Permission denied"), "Cannot write /r/x")
    assert isinstance(denied, AccessDenied)


@pytest.fixture
def tiny_disk(tmp_path: Path) -> Iterator[Path]:
    """A real filesystem of 64 KiB (tmpfs), where a write meets ENOSPC as on a full disk."""
    mount = tmp_path / "tiny"
    mount.mkdir()
    made = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True)
    if made.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {made.stderr.decode().strip()}")
    try:
        yield mount
    finally:
        subprocess.run(["umount", str(mount)], check=False)


def test_a_full_disk_is_store_unavailable_and_leaves_no_partial_file(tiny_disk: Path, tmp_path: Path) -> None:
    store = LocalStore(tiny_disk / "repo")
    store.put_bytes("objects/aa/first", b"kept")
    big = tmp_path / "big"
    big.write_bytes(b"z" * 200_000)
    with pytest.raises(StoreUnavailable) as err:
        store.put_file("objects/bb/second", big)
    assert "Free space" in str(err.value.hint)
    leftovers = [p.name for p in (tiny_disk / "repo").rglob("*") if p.is_file()]
    assert leftovers == ["first"]  # no temp file, no half object
    assert store.get_bytes("objects/aa/first") == b"kept"


# ---- every command over a failing store -------------------------------------------------------------


@pytest.fixture
def backed_up(cognito: Any, tmp_path: Path) -> dict[str, Any]:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=30, n_groups=3, big_group=10)
    inner = LocalStore(tmp_path / "repo")
    run_backup(PoolReader(cognito, Pacer(), pool_id), Repository(inner), REGION)
    return {"cognito": cognito, "pool": pool_id, "inner": inner}


def _clean(store: LocalStore, snapshots: int) -> None:
    report = check_repository(Repository(store), read_data=True)
    assert report.ok, report.problems
    assert report.snapshots == snapshots


def test_backup_failing_on_any_put_exits_10_and_loses_nothing(backed_up: dict[str, Any]) -> None:
    inner = backed_up["inner"]
    for i in range(5):  # new users: new objects to write
        add_user(backed_up["cognito"], backed_up["pool"], f"late-{i}", {"email": f"late{i}@example.com"})
    nth = 0
    while True:  # fail on the 1st put, then the 2nd, ... until a backup makes fewer puts than that
        nth += 1
        failing = FailingStore(inner, {"put": nth}, persistent=True)
        try:
            run_backup(PoolReader(backed_up["cognito"], Pacer(), backed_up["pool"]), Repository(failing), REGION)
        except StoreUnavailable as err:
            assert err.exit_code == 10
            _clean(inner, snapshots=1)  # the earlier snapshot is whole; no phantom of the failed one
            continue
        assert failing.failed["put"] == 0 and nth > 3
        break
    _clean(inner, snapshots=2)


def test_restore_whose_snapshot_read_breaks_exits_10_before_creating_anything(
    backed_up: dict[str, Any], tmp_path: Path
) -> None:
    cognito = backed_up["cognito"]
    pools_before = len(cognito.list_user_pools(MaxResults=60)["UserPools"])
    failing = FailingStore(backed_up["inner"], break_reads_after=64, keys=lambda k: k.startswith("objects/"))
    with pytest.raises(StoreUnavailable) as err:
        run_restore(
            cognito,
            Pacer(),
            Repository(failing),
            RestoreRequest(new_pool_name="copy", report_dir=tmp_path / "reports"),
        )
    assert err.value.exit_code == 10
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == pools_before


def test_check_whose_read_breaks_is_unavailable_not_damaged(backed_up: dict[str, Any]) -> None:
    failing = FailingStore(backed_up["inner"], break_reads_after=64, keys=lambda k: k.startswith("objects/"))
    with pytest.raises(StoreUnavailable) as err:
        check_repository(Repository(failing), read_data=True)
    assert err.value.exit_code == 10  # the repository is fine: a broken read is no damage
    _clean(backed_up["inner"], snapshots=1)


@pytest.mark.parametrize("nth_delete", [1, 2, 3])
def test_prune_failing_on_any_delete_exits_10_and_leaves_a_consistent_repository(
    backed_up: dict[str, Any], nth_delete: int
) -> None:
    inner = backed_up["inner"]
    add_user(backed_up["cognito"], backed_up["pool"], "late", {"email": "late@example.com"})
    run_backup(PoolReader(backed_up["cognito"], Pacer(), backed_up["pool"]), Repository(inner), REGION)
    failing = FailingStore(inner, {"delete": nth_delete}, persistent=True)
    with pytest.raises(StoreUnavailable) as err:
        prune(Repository(failing), Policy(keep_last=1), grace_seconds=0)
    assert err.value.exit_code == 10
    report = check_repository(Repository(inner), read_data=True)
    assert report.ok, report.problems  # every snapshot still listed is whole
    prune(Repository(inner), Policy(keep_last=1), grace_seconds=0)  # the store is back: prune finishes
    _clean(inner, snapshots=1)


def test_capture_whose_journal_write_is_denied_exits_3_and_deletes_no_message(cognito: Any) -> None:
    sqs = boto3.client("sqs", region_name=REGION)
    pool = make_pool(cognito)
    add_user(cognito, pool, "jane.doe", {"email": "jane@example.com"})
    sub = User.from_api(cognito.admin_get_user(UserPoolId=pool, Username="jane.doe")).sub
    url = sqs.create_queue(QueueName="capture", Attributes={"VisibilityTimeout": "0"})["QueueUrl"]
    sqs.send_message(QueueUrl=url, MessageBody=json.dumps(render("AdminDisableUser", pool=pool, sub=sub)))
    boto3.client("s3", region_name=REGION).create_bucket(Bucket=BUCKET)
    args = ["capture", "--repo", f"s3://{BUCKET}/r", "--queue", url, "--user-pool-id", pool, "--json"]

    def queued() -> int:
        names = ["ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible"]
        attrs = sqs.get_queue_attributes(QueueUrl=url, AttributeNames=names)["Attributes"]
        return sum(int(attrs[n]) for n in names)

    runner = CliRunner()
    journal_denied = HttpFaults(
        lambda op, n: Fault(403, "AccessDenied") if op == "PutObject" else None, url_contains="/journal/"
    )
    with every_new_client(journal_denied):
        denied = runner.invoke(cli, args)
    assert journal_denied.injected["PutObject"] >= 1
    assert denied.exit_code == 3, denied.output  # was 0: "not captured" printed, the job not done
    assert queued() == 1  # nothing acknowledged
    again = runner.invoke(cli, args)
    assert again.exit_code == 0, again.output
    assert json.loads(again.output)["records"] == 1 and queued() == 0


@pytest.mark.parametrize(
    ("code", "status", "expected"),
    [
        ("AccessDenied", 403, AccessDenied),
        ("KMS.NotFoundException", 400, AccessDenied),
        ("NoSuchBucket", 404, RepositoryNotFound),
        ("SlowDown", 503, StoreUnavailable),
        ("InternalError", 500, StoreUnavailable),
        ("", 502, StoreUnavailable),  # a proxy's page, no AWS error code
        ("RequestTimeTooSkewed", 403, StoreUnavailable),
        ("SomethingNew", 400, StoreUnavailable),
    ],
)
def test_every_s3_error_has_a_code_never_70(code: str, status: int, expected: type) -> None:
    from boto3.exceptions import S3UploadFailedError
    from botocore.exceptions import ClientError

    from cognito_backup.store.s3_errors import s3_store_error

    client_error = ClientError(
        {"Error": {"Code": code, "Message": "m"}, "ResponseMetadata": {"HTTPStatusCode": status}}, "PutObject"
    )
    try:
        raise S3UploadFailedError("Failed to upload") from None
    except S3UploadFailedError as wrapped:
        wrapped.__context__ = client_error  # as boto3 raises it: inside `except ClientError`
        for exc in (client_error, wrapped):
            err = s3_store_error(exc, "PutObject", "k", "s3://b/k")
            assert isinstance(err, expected) and err.hint, (code, err)
