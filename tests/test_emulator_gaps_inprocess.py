"""A call moto in-process (mock_aws) lacks: moto raises NotImplementedError out of the botocore client
instead of answering. The tool must name it as the HTTP emulator's missing call is named (exit 9, "does
not implement"), never as its own bug (exit 70 and a traceback)."""

from __future__ import annotations

import json
from typing import Any

from click.testing import CliRunner

from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from tests.helpers import make_pool


def test_recover_status_under_mock_aws_is_an_aws_error_not_a_bug(cognito: Any) -> None:
    pool = make_pool(cognito)
    result = CliRunner().invoke(cli, ["recover", "--user-pool-id", pool, "--status", "--json"])
    assert result.exit_code == 9, result.output
    error = json.loads(result.stdout)["error"]
    assert "ListPointInTimeRecoveries" in error["message"]
    assert "does not implement" in error["message"]
    assert "Traceback" not in result.output


def test_a_missing_in_process_call_reaches_callers_as_a_botocore_client_error(cognito: Any) -> None:
    """Every layer that already judges a missing call (optional sections: "not offered"; translation:
    exit 9) sees one shape, whichever emulator it runs against."""
    from botocore.exceptions import ClientError

    from cognito_backup.aws.errors import is_aws_answer

    pool = make_pool(cognito)
    client = AwsContext(region="us-east-1").client("cognito-idp")
    try:
        client.list_point_in_time_recoveries(UserPoolId=pool)
    except ClientError as exc:
        error = exc.response["Error"]
        assert exc.operation_name == "ListPointInTimeRecoveries"
        assert not is_aws_answer(str(error["Code"]), "")  # not an answer AWS gives: a missing call
    else:  # moto implemented the call since: nothing left to test here
        return


def test_an_optional_section_the_endpoint_lacks_is_not_offered_not_a_failure() -> None:
    """HTTP 501 Not Implemented (what a missing in-process call becomes) means the endpoint lacks the call:
    the section is recorded as not offered, not retried as a passing outage."""
    from cognito_backup.aws.sections import Verdict, classify

    verdict = classify("ListCIMDPolicies", "501", status=501, content_type="text/plain", message="")
    assert verdict is Verdict.NOT_OFFERED
    # A bare 500 with no page still says nothing about the call: asked again.
    assert classify("ListCIMDPolicies", "500", status=500, content_type="", message="") is Verdict.TRANSIENT
