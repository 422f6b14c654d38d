"""CSV user import jobs, against an honest test double of the documented API (moto has no import jobs)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

import pytest

from cognito_backup.aws.import_job import (
    ImportRunner,
    build_row,
    encode_row,
    import_users,
    not_importable_reason,
    run_user_import,
)
from cognito_backup.aws.pacing import Pacer
from cognito_backup.errors import AwsError
from cognito_backup.model import User
from tests.helpers import make_pool
from tests.importjob_double import DoubleImport

ROLE = "arn:aws:iam::123456789012:role/CognitoImportLogs"


def _user(name: str, **attrs: str) -> User:
    base = {"email": f"{name}@example.com", "email_verified": "true", "sub": f"sub-{name}"}
    base.update(attrs)
    return User(username=name, attributes=base)


@pytest.fixture
def pool(cognito: Any) -> str:
    return make_pool(cognito)


@pytest.fixture
def double(cognito: Any) -> Iterator[DoubleImport]:
    d = DoubleImport(cognito)
    yield d
    d.remove()


def _runner(cognito: Any, pool: str, double: DoubleImport, sleeps: list[float]) -> ImportRunner:
    return ImportRunner(cognito, Pacer(sleep=lambda s: None), pool, ROLE, put=double.http_put, sleep=sleeps.append)


def _status(cognito: Any, pool: str, username: str) -> str:
    return str(cognito.admin_get_user(UserPoolId=pool, Username=username)["UserStatus"])


def test_awkward_values_round_trip_through_a_csv_reader() -> None:
    header = [
        "given_name",
        "address",
        "custom:tier",
        "email",
        "email_verified",
        "cognito:mfa_enabled",
        "cognito:username",
    ]
    user = _user(
        'o"neil, jr',
        given_name='Zoë "Zed", the 2nd',
        address="1 Main St\nFlat 2\r\nSpringfield",
        **{"custom:tier": "美咲,gold"},
    )
    data = encode_row(header) + encode_row(build_row(user, header))
    assert not data.startswith(b"\xef\xbb\xbf")
    rows = list(csv.reader(io.StringIO(data.decode("utf-8"), newline="")))
    assert rows[0] == header
    parsed = dict(zip(rows[0], rows[1], strict=True))
    assert parsed["cognito:username"] == 'o"neil, jr'
    assert parsed["given_name"] == 'Zoë "Zed", the 2nd'
    assert parsed["address"] == "1 Main St\nFlat 2\r\nSpringfield"
    assert parsed["custom:tier"] == "美咲,gold"
    assert parsed["email_verified"] == "true"
    assert parsed["cognito:mfa_enabled"] == "false"


def test_rows_never_carry_read_only_or_undeclared_attributes_and_keep_the_old_sub() -> None:
    header = ["email", "email_verified", "phone_number", "phone_number_verified", "custom:old_sub", "cognito:username"]
    user = _user("ann", **{"custom:undeclared": "x", "phone_number_verified": "true"})
    row = dict(zip(header, build_row(user, header, keep_sub_attribute="custom:old_sub"), strict=True))
    assert row["custom:old_sub"] == "sub-ann"
    # No phone number: its verified flag cannot be true.
    assert row["phone_number_verified"] == "false"
    assert "x" not in row.values()


def test_who_cannot_be_imported() -> None:
    assert not_importable_reason(_user("ok")) is None
    assert not_importable_reason(User("p", {"phone_number": "+15550100", "phone_number_verified": "true"})) is None
    assert not_importable_reason(User("unverified", {"email": "u@example.com", "email_verified": "false"}))
    assert not_importable_reason(User("nothing", {}))
    assert not_importable_reason(
        User("Google_1", {"email": "g@example.com", "email_verified": "true"}, status="EXTERNAL_PROVIDER")
    )


def test_import_creates_users_reset_required_and_returns_the_rest(
    cognito: Any, pool: str, double: DoubleImport
) -> None:
    users = [
        _user("alice", given_name="Alice, A.", **{"custom:tier": "gold"}),
        _user("bob", **{"custom:tenant": "t1"}),
        User("carol", {"email": "carol@example.com", "email_verified": "false"}),
        User("dave", {"phone_number": "+15550100", "phone_number_verified": "true"}),
    ]
    sleeps: list[float] = []
    report = import_users(_runner(cognito, pool, double, sleeps), iter(users))
    assert report.not_importable == ["carol"]
    assert "verified" in report.not_importable_reasons["carol"]
    assert len(report.jobs) == 1 and report.jobs[0].succeeded
    assert (report.imported, report.skipped, report.failed) == (3, 0, 0)
    assert sleeps, "the job was polled, with the injected sleep, until it finished"
    assert double.puts == [{"x-amz-server-side-encryption": "aws:kms"}]
    assert _status(cognito, pool, "alice") == "RESET_REQUIRED"
    got = cognito.admin_get_user(UserPoolId=pool, Username="alice")["UserAttributes"]
    attrs = {a["Name"]: a["Value"] for a in got}
    assert attrs["given_name"] == "Alice, A." and attrs["custom:tier"] == "gold"
    assert pool in report.jobs[0].log_hint and report.jobs[0].job_id in report.jobs[0].log_hint


def test_tiny_limits_split_into_several_jobs_run_one_at_a_time(cognito: Any, pool: str, double: DoubleImport) -> None:
    users = [_user(f"user-{i:02d}") for i in range(7)]
    report = import_users(_runner(cognito, pool, double, []), iter(users), max_rows=3)
    assert [j.rows for j in report.jobs] == [3, 3, 1]
    assert double.max_active_seen == 1
    assert [double.jobs[i].rows_seen for i in double.order] == [
        ["user-00", "user-01", "user-02"],
        ["user-03", "user-04", "user-05"],
        ["user-06"],
    ]
    assert report.imported == 7

    # A byte limit splits too: each file holds the header plus as many rows as fit.
    more = [_user(f"byte-{i:02d}") for i in range(5)]
    header_size = len(encode_row(double.header(pool)))
    row_size = len(encode_row(build_row(more[0], double.header(pool))))
    report = import_users(_runner(cognito, pool, double, []), iter(more), max_bytes=header_size + 2 * row_size)
    assert [j.rows for j in report.jobs] == [2, 2, 1]
    assert report.imported == 5


def test_existing_users_are_skipped_on_a_rerun(cognito: Any, pool: str, double: DoubleImport) -> None:
    users = [_user("alice"), _user("bob")]
    import_users(_runner(cognito, pool, double, []), iter(users))
    report = run_user_import(
        cognito,
        Pacer(sleep=lambda s: None),
        pool,
        iter(users),
        role_arn=ROLE,
        put=double.http_put,
        sleep=lambda s: None,
    )
    assert (report.imported, report.skipped) == (0, 2)


@pytest.mark.parametrize("final", ["Failed", "Expired", "Stopped"])
def test_a_job_that_does_not_succeed_is_reported_and_the_next_file_still_runs(
    cognito: Any, pool: str, double: DoubleImport, final: str
) -> None:
    double.force_status = [final]
    report = import_users(_runner(cognito, pool, double, []), iter([_user(f"u{i}") for i in range(4)]), max_rows=2)
    assert [j.status for j in report.jobs] == [final, "Succeeded"]
    assert [j.job_id for j in report.failed_jobs] == [report.jobs[0].job_id]
    assert report.jobs[0].completion_message
    assert report.imported == 2
    assert report.to_dict()["failed_jobs"] == 1


def test_the_double_refuses_a_second_concurrent_job_and_uploads_without_the_kms_header(
    cognito: Any, pool: str, double: DoubleImport
) -> None:
    first = cognito.create_user_import_job(JobName="a", UserPoolId=pool, CloudWatchLogsRoleArn=ROLE)["UserImportJob"]
    second = cognito.create_user_import_job(JobName="b", UserPoolId=pool, CloudWatchLogsRoleArn=ROLE)["UserImportJob"]
    header = encode_row(double.header(pool))
    assert double.http_put(first["PreSignedUrl"], header, {}) == 403
    assert (
        double.http_put(first["PreSignedUrl"], b"\xef\xbb\xbf" + header, {"x-amz-server-side-encryption": "aws:kms"})
        == 400
    )
    for job in (first, second):
        assert double.http_put(job["PreSignedUrl"], header, {"x-amz-server-side-encryption": "aws:kms"}) == 200
    cognito.start_user_import_job(UserPoolId=pool, JobId=first["JobId"])
    with pytest.raises(cognito.exceptions.LimitExceededException):
        cognito.start_user_import_job(UserPoolId=pool, JobId=second["JobId"])


def test_an_upload_refused_is_an_error_naming_the_job(cognito: Any, pool: str, double: DoubleImport) -> None:
    runner = ImportRunner(cognito, Pacer(sleep=lambda s: None), pool, ROLE, put=lambda url, data, headers: 403)
    with pytest.raises(AwsError, match=r"import job import-\w+: uploading the CSV file failed with HTTP 403"):
        import_users(runner, iter([_user("alice")]))


def test_nothing_to_import_starts_no_job(cognito: Any, pool: str, double: DoubleImport) -> None:
    report = import_users(_runner(cognito, pool, double, []), iter([User("x", {})]))
    assert report.jobs == [] and report.not_importable == ["x"]
    assert double.order == []
