"""The deployed restore's request document (core/deployed_restore.py): what the CLI sends and the
console may type, checked as a step checks it; and the error names a failed execution reports mapped to
the CLI's exit codes."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.deployed_restore import (
    DeployedRequest,
    execution_name,
    exit_code_of,
    parse_request,
    plan_options,
    report_prefix,
)
from cognito_backup.errors import UsageError

TARGET = "eu-west-1_AbC123"


def test_a_full_document_round_trips_and_becomes_the_cli_plan_options() -> None:
    doc: dict[str, Any] = {
        "target_user_pool_id": TARGET,
        "at": "2026-11-21T10:15:30Z",
        "source_user_pool_id": "us-east-1_Src9",
        "allow_after_coverage": True,
        "prune": True,
        "only": ["user:alice", "group:admins"],
        "password_mode": "none",
        "keep_sub_in": "custom:old_sub",
        "map_arn": {"arn:old": "arn:new"},
        "no_add_attributes": True,
    }
    request = parse_request(doc)
    assert request.to_json() == doc
    assert request.region == "eu-west-1"
    opts = plan_options(request)
    assert (opts.prune, opts.only_users, opts.only_groups) == (True, {"alice"}, {"admins"})
    assert (opts.password_mode, opts.keep_sub_in, opts.add_missing_attributes) == ("none", "custom:old_sub", False)
    assert dict(opts.arn_map) == {"arn:old": "arn:new"} and opts.users_via == "admin"
    assert parse_request({"target_user_pool_id": TARGET}).to_json() == {"target_user_pool_id": TARGET}


def test_latest_is_pinned_to_the_snapshot_the_first_step_found_and_a_time_pins_itself() -> None:
    latest = DeployedRequest(TARGET)
    assert latest.pinned("20261130T120000Z-ab12cd34").snapshot == "20261130T120000Z-ab12cd34"
    at = DeployedRequest(TARGET, at="2026-11-21T10:15:30Z")
    assert at.pinned("20261120T000000Z-ab12cd34+journal@2026-11-21T10:15:30Z") == at


@pytest.mark.parametrize(
    ("doc", "says"),
    [
        ([], "must be an object"),
        ({}, "target_user_pool_id"),
        ({"target_user_pool_id": "not a pool"}, "does not create pools"),
        ({"target_user_pool_id": TARGET, "password_mode": "temporary-file"}, "temporary passwords"),
        ({"target_user_pool_id": TARGET, "snapshot": "s", "at": "2026-11-21T10:15:30Z"}, "not both"),
        ({"target_user_pool_id": TARGET, "at": "yesterday"}, "ISO-8601"),
        ({"target_user_pool_id": TARGET, "only": ["alice"]}, "user:NAME"),
        ({"target_user_pool_id": TARGET, "prune": "yes"}, "true or false"),
        ({"target_user_pool_id": TARGET, "keep_sub_in": "old_sub"}, "custom:NAME"),
        ({"target_user_pool_id": TARGET, "map_arn": ["a=b"]}, "OLD_ARN"),
        ({"target_user_pool_id": TARGET, "new_pool": "x"}, "unknown keys: new_pool"),
    ],
)
def test_a_document_a_step_cannot_run_is_a_usage_error(doc: Any, says: str) -> None:
    with pytest.raises(UsageError) as caught:
        parse_request(doc)
    assert says in caught.value.message and caught.value.exit_code == 2


def test_failed_executions_exit_as_the_cli_restore_would() -> None:
    assert exit_code_of("PlanRefused") == 8
    assert exit_code_of("OperationsFailed") == 1
    assert exit_code_of("NotRestorable") == 12
    assert exit_code_of("UsageError") == 2
    assert exit_code_of("Sandbox.Timedout") == 9 and exit_code_of(None) == 9


def test_reports_live_beside_the_resume_state_never_in_it() -> None:
    name = execution_name("arn:aws:states:us-east-1:123456789012:execution:cb-RestoreStateMachine:restore-1")
    assert name == "restore-1" and execution_name("restore-1") == "restore-1"
    assert report_prefix(name) == "restores/deployed/restore-1/"


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--user-pool-id", TARGET], "Missing option --repo"),
        (["--status", "restore-1"], "give --deployed STACK too"),
    ],
)
def test_the_cli_needs_a_repository_or_a_stack(args: list[str], says: str) -> None:
    from click.testing import CliRunner

    from cognito_backup.cli.main import cli

    result = CliRunner().invoke(cli, ["--region", "us-east-1", "restore", *args])
    assert result.exit_code == 2, result.output
    assert says in result.output
