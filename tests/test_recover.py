"""`recover`: AWS's native point-in-time recovery, checked before, compared with the repository, checked after.

moto has none of the recovery operations: these tests run the CLI against moto's HTTP server with
tests/pitr_double.py, a DOUBLE of the documented API (statuses, limits, errors) in front of it as WSGI
middleware. The pool's users live in moto; the double's "recovery" replays a state the test recorded.
"""

from __future__ import annotations

import datetime as dt
import json
import os
import signal
import threading
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from cognito_backup.core.plan import Op, Plan
from cognito_backup.core.recover_plan import PoolFacts, Recovery, refusals, tool_view
from cognito_backup.emulator import Emulator
from cognito_backup.ops.backup import run_backup
from cognito_backup.repo.repository import Repository
from cognito_backup.store import open_store
from tests.helpers import add_user, make_pool
from tests.pitr_double import PitrDouble

NOW = dt.datetime(2026, 11, 30, 12, 0, tzinfo=dt.UTC)


# ---- the pure checks --------------------------------------------------------------------------------


def facts(**kw: Any) -> PoolFacts:
    base: dict[str, Any] = {"user_pool_id": "us-east-1_A", "tier": "ESSENTIALS", "created": NOW - dt.timedelta(days=30)}
    base.update(kw)
    return PoolFacts(**base)


def test_checks_follow_the_documented_limits() -> None:
    ok = NOW - dt.timedelta(hours=2)
    assert refusals(facts(), ok, NOW) == []
    assert "feature plan" in refusals(facts(tier="LITE"), ok, NOW)[0]
    assert "window" in refusals(facts(), NOW - dt.timedelta(days=2), NOW)[0]
    assert refusals(facts(tier="PLUS"), NOW - dt.timedelta(days=13), NOW) == []
    assert "15 minutes" in refusals(facts(), NOW - dt.timedelta(minutes=14), NOW)[0]
    assert "created" in refusals(facts(created=NOW - dt.timedelta(hours=1)), ok, NOW)[0]
    assert "import job" in refusals(facts(active_import_jobs=("import-1",)), ok, NOW)[0]
    active = Recovery("a" * 8 + "-0000-0000-0000-" + "0" * 12, "PREVIEW_GENERATED")
    assert "one recovery at a time" in refusals(facts(recoveries=(active,)), ok, NOW)[0]
    done = Recovery(
        "b" * 8 + "-0000-0000-0000-" + "0" * 12, "RESTORE_COMPLETED", trigger_timestamp=NOW - dt.timedelta(hours=3)
    )
    assert "24 hours" in refusals(facts(recoveries=(done,)), ok, NOW)[0]
    old = Recovery(done.restore_id, "RESTORE_COMPLETED", trigger_timestamp=NOW - dt.timedelta(hours=25))
    assert refusals(facts(recoveries=(old,)), ok, NOW) == []


def test_tool_view_sorts_a_plan_into_recreated_reverted_deleted() -> None:
    the_plan = Plan(
        ops=[
            Op("create_user", user="ann", username="ann"),
            Op("add_membership", user="ann", group="g"),
            Op("update_user_attributes", user="bob", username="bob", names=("email",)),
            Op("remove_membership", user="cid", group="g"),
            Op("delete_user", user="dan", username="dan"),
        ]
    )
    view = tool_view(the_plan)
    assert (view.recreated, view.reverted, view.deleted) == (["ann"], ["bob", "cid"], ["dan"])


# ---- the command against the double -----------------------------------------------------------------


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[str, list[PitrDouble]]]:
    """One emulator for the module; each test installs a fresh double behind the same middleware."""
    holder: list[PitrDouble] = [PitrDouble()]

    def middleware(app: Any) -> Any:
        return lambda environ, start_response: holder[0].middleware(app)(environ, start_response)

    with Emulator(middleware=middleware) as url:
        yield url, holder


@pytest.fixture
def double(served: tuple[str, list[PitrDouble]], monkeypatch: pytest.MonkeyPatch) -> PitrDouble:
    url, holder = served
    urllib.request.urlopen(urllib.request.Request(f"{url}/moto-api/reset", method="POST")).read()
    holder[0] = PitrDouble()
    holder[0].url = url
    monkeypatch.setenv("AWS_ENDPOINT_URL", url)
    return holder[0]


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, ["recover", "--poll-seconds", "0", *args])


def old_pool(double: PitrDouble, users: int = 3) -> str:
    client = double.client()
    pool = make_pool(client)
    double.created[pool] = dt.datetime.now(dt.UTC) - dt.timedelta(days=3)
    for i in range(users):
        add_user(client, pool, f"user-{i}", {"email": f"u{i}@example.com"})
    return pool


def an_hour_ago() -> dt.datetime:
    return (dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)).replace(microsecond=0)


def iso(moment: dt.datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


def test_recover_with_yes_checks_initiates_starts_and_completes(double: PitrDouble) -> None:
    pool = old_pool(double)
    at = an_hour_ago()
    double.record(pool, at)
    double.client().admin_delete_user(UserPoolId=pool, Username="user-1")
    result = run("--user-pool-id", pool, "--at", iso(at), "--yes", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    assert body["checks"] == {"ok": True, "refusals": []}
    assert body["recovery"]["status"] == "RESTORE_COMPLETED"
    assert body["comparison"][0]["aws"] == {"entity": "Users", "create": 1, "update": 0, "delete": 0}
    assert "configuration" in body["not_restored_by_aws"]
    names = {u["Username"] for u in double.client().list_users(UserPoolId=pool)["Users"]}
    assert "user-1" in names
    assert double.calls[:3] == ["ListUserImportJobs", "ListPointInTimeRecoveries", "InitiatePointInTimeRecovery"]
    assert "StartPointInTimeRecovery" in double.calls


@pytest.mark.parametrize(
    ("setup", "words"),
    [
        (lambda d, p: d.tiers.__setitem__(p, "LITE"), "feature plan"),
        (lambda d, p: d.import_jobs.__setitem__(p, [{"JobId": "import-1", "Status": "InProgress"}]), "import job"),
    ],
)
def test_refused_before_anything_is_initiated(double: PitrDouble, setup: Any, words: str) -> None:
    pool = old_pool(double)
    setup(double, pool)
    result = run("--user-pool-id", pool, "--at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)), "--yes")
    assert result.exit_code == 8, result.output
    assert words in result.stderr and "Nothing was initiated" in result.stderr
    assert "InitiatePointInTimeRecovery" not in double.calls


def test_too_recent_a_point_is_refused_and_json_keeps_the_checks(double: PitrDouble) -> None:
    pool = old_pool(double)
    result = run(
        "--user-pool-id", pool, "--at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(minutes=5)), "--yes", "--json"
    )
    assert result.exit_code == 8
    body = json.loads(result.stdout)
    assert "15 minutes" in body["checks"]["refusals"][0]
    assert body["error"]["kind"] == "plan_refused"
    assert "InitiatePointInTimeRecovery" not in double.calls


def test_without_a_terminal_and_without_yes_is_a_usage_error(double: PitrDouble) -> None:
    pool = old_pool(double)
    result = run("--user-pool-id", pool, "--at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)))
    assert result.exit_code == 2
    assert "--yes" in result.stderr
    assert double.calls == []


def test_one_recovery_per_24_hours_is_checked_first(double: PitrDouble) -> None:
    pool = old_pool(double)
    at = iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))
    assert run("--user-pool-id", pool, "--at", at, "--yes").exit_code == 0
    second = run("--user-pool-id", pool, "--at", at, "--yes")
    assert second.exit_code == 8
    assert "24 hours" in second.stderr
    assert double.calls.count("InitiatePointInTimeRecovery") == 1


def test_an_ineligible_pool_gets_awss_refusal_as_a_sentence(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.not_eligible.add(pool)
    result = run("--user-pool-id", pool, "--at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)), "--yes")
    assert result.exit_code == 8
    assert "primary Region" in result.stderr and "OperationNotEnabledException" in result.stderr
    body = json.loads(run("--user-pool-id", pool, "--at", iso(an_hour_ago()), "--yes", "--json").stdout)
    assert body["checks"]["ok"] is True and body["error"]["kind"] == "plan_refused"


def test_failed_preview_exits_9_and_says_writes_resumed(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.force_final = "PREVIEW_GENERATION_FAILED"
    result = run("--user-pool-id", pool, "--at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)), "--yes")
    assert result.exit_code == 9
    assert "writes resumed" in result.stderr
    assert "StartPointInTimeRecovery" not in double.calls


def test_status_and_cancel(double: PitrDouble) -> None:
    pool = old_pool(double)
    client = double.client()
    assert "no point-in-time recoveries" in run("--user-pool-id", pool, "--status").stdout
    rid = client.initiate_point_in_time_recovery(
        UserPoolId=pool, RestoreTimestamp=dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    )["Restoration"]["RestoreId"]
    status = run("--user-pool-id", pool, "--status", "--json")
    assert status.exit_code == 0
    assert json.loads(status.stdout)["active"]["restore_id"] == rid
    assert json.loads(status.stdout)["active"]["writes_paused"] is True
    cancelled = run("--user-pool-id", pool, "--cancel", "--json")
    assert cancelled.exit_code == 0, cancelled.output
    assert json.loads(cancelled.stdout)["cancelled"]["status"] == "PREVIEW_CANCELLED"
    again = run("--user-pool-id", pool, "--cancel")
    assert again.exit_code == 7
    assert "no active recovery" in again.stderr


def test_status_of_an_unknown_recovery_is_not_found(double: PitrDouble) -> None:
    pool = old_pool(double)
    result = run("--user-pool-id", pool, "--status", "--restore-id", "0f8fad5b-d9cb-469f-a165-70867728950e")
    assert result.exit_code == 7
    assert run("--user-pool-id", pool, "--status", "--restore-id", "nope").exit_code == 2


def backup_at(double: PitrDouble, pool: str, repo: str, moment: dt.datetime) -> None:
    """A snapshot taken at `moment` (the repository's clock injected), the pool as it is now."""
    client = double.client()
    store = open_store(repo, AwsContext(region="us-east-1", endpoint_url=double.url))
    run_backup(PoolReader(client, Pacer(), pool), Repository(store, clock=lambda: moment), "us-east-1")


def mutate(double: PitrDouble, pool: str) -> None:
    client = double.client()
    client.admin_delete_user(UserPoolId=pool, Username="user-0")
    client.admin_update_user_attributes(
        UserPoolId=pool, Username="user-1", UserAttributes=[{"Name": "email", "Value": "changed@example.com"}]
    )
    add_user(client, pool, "intruder", {"email": "x@example.com"})


def test_repository_plan_beside_awss_counts_then_result_checked(double: PitrDouble, tmp_path: Path) -> None:
    pool = old_pool(double)
    at = an_hour_ago()
    repo = str(tmp_path / "repo")
    backup_at(double, pool, repo, at)
    double.record(pool, at)
    mutate(double, pool)
    double.client().update_user_pool(UserPoolId=pool, DeletionProtection="ACTIVE")  # configuration: not AWS's job
    result = run("--user-pool-id", pool, "--at", iso(at), "--repo", repo, "--yes", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout)
    plan = body["tool_plan"]
    assert (plan["recreated"], plan["reverted"], plan["deleted"]) == (["user-0"], ["user-1"], ["intruder"])
    users = next(row for row in body["comparison"] if row["entity"] == "Users")
    assert users["aws"] == {"entity": "Users", "create": 1, "update": 1, "delete": 1}
    assert users["tool"] == users["aws"]
    assert body["verify"]["user_data_differences"] == []
    config = body["verify"]["configuration_differences"]
    assert [d["name"] for d in config] == ["DeletionProtection"]
    assert f"diff --repo {repo} --user-pool-id {pool} --at {iso(at)}" in body["configuration_hint"]
    assert f"backup --user-pool-id {pool} --repo {repo}" in body["next_step"]


def test_dry_run_checks_and_plans_without_initiating(double: PitrDouble, tmp_path: Path) -> None:
    pool = old_pool(double)
    at = an_hour_ago()
    repo = str(tmp_path / "repo")
    backup_at(double, pool, repo, at)
    mutate(double, pool)
    result = run("--user-pool-id", pool, "--at", iso(at), "--repo", repo, "--dry-run")
    assert result.exit_code == 0, result.output
    assert "1 users recreated, 1 reverted, 1 deleted" in result.stdout
    assert "intruder" in result.stdout
    assert "InitiatePointInTimeRecovery" not in double.calls


def test_ctrl_c_before_the_start_cancels_the_recovery(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.generating_polls = 10**9  # the preview never comes: the command waits until interrupted

    def interrupt() -> None:
        deadline = time.monotonic() + 20
        while "InitiatePointInTimeRecovery" not in double.calls and time.monotonic() < deadline:
            time.sleep(0.02)
        time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGINT)

    # As in a terminal: a process started in the background by a non-interactive shell (a CI script's
    # `make test &`) inherits SIGINT ignored, and the signal below would never arrive.
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    threading.Thread(target=interrupt, daemon=True).start()
    try:
        result = CliRunner().invoke(
            cli,
            ["recover", "--poll-seconds", "0.05", "--user-pool-id", pool, "--yes"]
            + ["--at", iso(dt.datetime.now(dt.UTC) - dt.timedelta(hours=1))],
        )
    finally:
        signal.signal(signal.SIGINT, previous)
    assert result.exit_code == 130, result.output
    assert "cancelled" in result.stderr and "writes resumed" in result.stderr
    assert double.recs[0].status == "PREVIEW_CANCELLED"


def test_aborted_after_the_start_exits_9_and_says_writes_stay_paused(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.force_final = "AWS_ABORTED"
    result = run("--user-pool-id", pool, "--at", iso(an_hour_ago()), "--yes", "--json")
    assert result.exit_code == 9
    body = json.loads(result.stdout)
    assert body["recovery"]["status"] == "AWS_ABORTED"
    assert body["recovery"]["writes_paused"] is True
    assert "support case" in body["error"]["message"]


def test_preview_expired_before_the_start_says_the_write_pause_ended(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.expire_before_start = True
    result = run("--user-pool-id", pool, "--at", iso(an_hour_ago()), "--yes")
    assert result.exit_code == 8, result.output
    assert "expired" in result.stderr and "write pause ended" in result.stderr
    status = json.loads(run("--user-pool-id", pool, "--status", "--json").stdout)
    assert status["active"] is None
    assert status["recoveries"][0]["status"] == "PREVIEW_EXPIRED"
    assert run("--user-pool-id", pool, "--cancel").exit_code == 7  # nothing active any more


def test_the_write_pause_is_announced_before_initiating(double: PitrDouble) -> None:
    pool = old_pool(double)
    result = run("--user-pool-id", pool, "--at", iso(an_hour_ago()), "--yes")
    assert result.exit_code == 0, result.output
    assert result.stderr.index("pauses every write") < result.stderr.index("Initiated recovery")
    assert "does not restore" in result.stderr or "never configuration" in result.stderr


def test_a_failure_while_waiting_for_the_preview_cancels_so_writes_resume(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.failing_describes = 10**6  # every look fails: AWS keeps answering InternalErrorException
    result = run("--user-pool-id", pool, "--at", iso(an_hour_ago()), "--yes")
    assert result.exit_code == 9, result.output
    assert "cancelled" in result.stderr and "writes resumed" in result.stderr
    assert double.recs[0].status == "PREVIEW_CANCELLED"


# ---- every documented status and error has its sentence and exit code ---------------------------------

OPERATIONS = (
    "InitiatePointInTimeRecovery",
    "DescribePointInTimeRecovery",
    "StartPointInTimeRecovery",
    "CancelPointInTimeRecovery",
    "ListPointInTimeRecoveries",
)


def service_model() -> Any:
    import botocore.session

    return botocore.session.get_session().get_service_model("cognito-idp")


def test_every_documented_status_has_a_sentence_and_final_failures_an_exit_code() -> None:
    from cognito_backup.core.recover_plan import FINAL, STATUS_SENTENCES, outcome_error

    statuses = service_model().shape_for("RestoreStatusType").enum
    assert set(statuses) == set(STATUS_SENTENCES)
    for status in FINAL - {"RESTORE_COMPLETED"}:
        err = outcome_error(Recovery("0" * 8 + "-0000-0000-0000-" + "0" * 12, status), "us-east-1_A")
        assert err is not None and err.exit_code in (1, 8, 9), status


def test_every_documented_error_of_the_recovery_calls_gets_a_sentence() -> None:
    from botocore.exceptions import ClientError

    from cognito_backup.aws.errors import translate_client_error
    from cognito_backup.core.recover_plan import error_for

    model = service_model()
    for name in OPERATIONS:
        for shape in model.operation_model(name).error_shapes:
            err = error_for(name, shape.name, "us-east-1_A", "0" * 8 + "-0000-0000-0000-" + "0" * 12)
            if err is None:  # the general translation: access denied (3) or throttled (5)
                exc = ClientError({"Error": {"Code": shape.name, "Message": ""}}, name)
                err = translate_client_error(exc, name)
                assert err.exit_code in (3, 5), shape.name
            assert err.message and err.exit_code != 70, shape.name


def test_a_botocore_without_the_operations_is_told_to_upgrade() -> None:
    from cognito_backup.aws.native_pitr import NativePitr
    from cognito_backup.errors import UsageError

    with pytest.raises(UsageError, match=r"botocore>=1\.44"):
        NativePitr(object(), Pacer(), "us-east-1_A")


def test_one_action_at_a_time(double: PitrDouble) -> None:
    pool = old_pool(double)
    result = run("--user-pool-id", pool, "--status", "--cancel")
    assert result.exit_code == 2 and "exactly one" in result.stderr
    assert run("--user-pool-id", pool).exit_code == 2
    assert double.calls == []


def test_a_repository_that_does_not_cover_t_is_no_failure(double: PitrDouble, tmp_path: Path) -> None:
    pool = old_pool(double)
    at = an_hour_ago()
    repo = str(tmp_path / "repo")
    backup_at(double, pool, repo, at + dt.timedelta(minutes=30))  # the only snapshot is later than T
    result = run("--user-pool-id", pool, "--at", iso(at), "--repo", repo, "--dry-run", "--json")
    assert result.exit_code == 0, result.output
    plan = json.loads(result.stdout)["tool_plan"]
    assert plan["available"] is False and "No snapshot" in plan["reason"]


def test_an_initiation_whose_answer_was_lost_is_recognised_as_ours(double: PitrDouble) -> None:
    pool = old_pool(double)
    double.lose_initiate_answer = True  # AWS acted, answered 500; the pacer's retry is refused (one at a time)
    result = run("--user-pool-id", pool, "--at", iso(an_hour_ago()), "--yes", "--json")
    assert result.exit_code == 0, result.output
    assert double.calls.count("InitiatePointInTimeRecovery") == 2
    assert len(double.recs) == 1 and double.recs[0].status == "RESTORE_COMPLETED"
