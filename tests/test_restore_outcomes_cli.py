"""Honest outcomes from the command line (issue 8, point 5), against moto in-process: exit 0 only when the
target holds everything of the snapshot that can be restored; what the target cannot take exits 12,
each item named; `--only` a name the snapshot lacks exits 7 with nothing written; users that come back
with another status, or without a way to forgot-password, are named."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from botocore.awsrequest import AWSResponse
from click.testing import CliRunner

from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.main import cli
from cognito_backup.core.plan import PlanOptions
from cognito_backup.ops.restore import RestoreOptions, RestoreRequest, outcome_error, run_restore
from cognito_backup.repo.repository import Repository
from cognito_backup.store import open_store
from tests.gate_proxy import Answer, ForwardingProxy
from tests.helpers import add_user, make_pool
from tests.restore_support import backup, quiet_pacer, read_state, rich_pool


def run(*args: str) -> Any:
    return CliRunner().invoke(cli, list(args), catch_exceptions=False)


def make_federated(cognito: Any, pool: str, username: str) -> None:
    """moto's API cannot create an EXTERNAL_PROVIDER user: the emulator's own state is set to one."""
    from moto.cognitoidp.models import cognitoidp_backends

    add_user(cognito, pool, username, {"email": "fed@example.com"})
    backend = cognitoidp_backends["123456789012"]["us-east-1"]
    backend.user_pools[pool].users[username].status = "EXTERNAL_PROVIDER"


def test_federated_user_gives_exit_12_naming_it_text_and_json(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    add_user(cognito, pool, "ann", {"email": "ann@example.com", "email_verified": "true"}, confirmed=True)
    make_federated(cognito, pool, "Google_1234567890")
    backup(cognito, pool, tmp_path / "repo")
    repo, reports = str(tmp_path / "repo"), str(tmp_path / "reports")

    result = run("restore", "--repo", repo, "--new-pool", "B", "--json", "--report-dir", reports)
    assert result.exit_code == 12, result.output
    body = json.loads(result.output)
    assert [(i["kind"], i["name"]) for i in body["not_restorable"]] == [("user", "Google_1234567890")]
    assert body["created"] >= 1  # ann is there: the restore did all it could
    assert {u["Username"] for u in cognito.list_users(UserPoolId=body["user_pool_id"])["Users"]} == {"ann"}

    again = run(
        "restore",
        *("--repo", repo, "--source-user-pool-id", pool, "--user-pool-id", body["user_pool_id"]),
        *("--report-dir", reports),
    )
    assert again.exit_code == 12
    assert "Google_1234567890" in again.output and "federated" in again.output
    assert "cannot take" in again.output


def test_a_restore_that_creates_none_of_the_users_is_not_a_success(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    for name in ("ann", "ben"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com", "email_verified": "true"}, confirmed=True)
    backup(cognito, pool, tmp_path / "repo")
    strict = str(
        cognito.create_user_pool(
            PoolName="strict",
            Schema=[{"Name": "given_name", "AttributeDataType": "String", "Required": True, "Mutable": True}],
        )["UserPool"]["Id"]
    )
    result = run("restore", "--repo", str(tmp_path / "repo"), "--source-user-pool-id", pool, "--user-pool-id",
                 strict, "--json", "--report-dir", str(tmp_path / "reports"))  # fmt: skip
    assert result.exit_code == 12, result.output
    body = json.loads(result.output)
    assert body["created"] == 0
    assert sorted(i["name"] for i in body["not_restorable"]) == ["ann", "ben"]
    assert all("given_name" in i["reason"] for i in body["not_restorable"])


def test_only_a_name_the_snapshot_lacks_exits_7_and_writes_nothing(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    backup(cognito, pool, tmp_path / "repo")
    repo, reports = str(tmp_path / "repo"), tmp_path / "reports"
    before = read_state(cognito, pool)
    cognito.admin_delete_user(UserPoolId=pool, Username="alice")
    for only in (("user:alice", "user:ghost"), ("group:nope",)):
        args = [a for o in only for a in ("--only", o)]
        into = run("restore", "--repo", repo, "--user-pool-id", pool, *args, "--report-dir", str(reports))
        assert into.exit_code == 7, into.output
        assert only[-1] in into.output and "Nothing was written" in into.output
        assert "alice" not in {u.username for u in read_state(cognito, pool).users.values()}
        assert not reports.exists()
    fresh = run("restore", "--repo", repo, "--new-pool", "B", "--only", "user:ghost", "--json",
                "--report-dir", str(reports))  # fmt: skip
    assert fresh.exit_code == 7
    assert json.loads(fresh.stdout)["error"]["kind"] == "not_found"
    assert len(cognito.list_user_pools(MaxResults=60)["UserPools"]) == 1  # no pool created
    assert len(before.users) == 5


def test_status_changes_and_forgot_password_are_named(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    add_user(cognito, pool, "ann", {"email": "ann@example.com", "email_verified": "true"}, confirmed=True)
    add_user(cognito, pool, "erin", {"email": "erin@example.com", "email_verified": "true"})  # FORCE_CHANGE
    add_user(cognito, pool, "frank", {"email": "frank@example.com"}, confirmed=True)  # email not verified
    backup(cognito, pool, tmp_path / "repo")
    repo = str(tmp_path / "repo")
    result = run("restore", "--repo", repo, "--new-pool", "B", "--json", "--report-dir", str(tmp_path / "r"))
    assert result.exit_code == 0, result.output
    notes = {(n["name"], n["reason"]) for n in json.loads(result.output)["notes"]}
    named = {name for name, _ in notes}
    assert named == {"erin", "frank"}
    assert any(name == "erin" and "was FORCE_CHANGE_PASSWORD" in r and "CONFIRMED" in r for name, r in notes)
    assert any(name == "frank" and "forgot-password" in r and "AdminSetUserPassword" in r for name, r in notes)

    text = run("restore", "--repo", repo, "--new-pool", "C", "--report-dir", str(tmp_path / "r2"))
    assert text.exit_code == 0, text.output
    assert "Restored, but not as they were" in text.output
    assert "erin" in text.output and "frank" in text.output


def test_users_the_target_does_not_hold_afterwards_are_a_failure(cognito: Any, tmp_path: Path) -> None:
    """A create that Cognito answers but that never lands (a lost write, injected at botocore's boundary
    so that our code sees an ordinary success) must not be reported as a restore."""
    pool = make_pool(cognito)
    for name in ("ann", "ben"):
        add_user(cognito, pool, name, {"email": f"{name}@example.com"}, confirmed=True)
    repo = backup(cognito, pool, tmp_path / "repo")
    target = str(cognito.create_user_pool(PoolName="target")["UserPool"]["Id"])

    def lost(model: Any, params: Any, **_: Any) -> Any:
        if model.name != "AdminCreateUser":
            return None
        return AWSResponse("https://cognito-idp.invalid", 200, {}, None), {"User": {}, "ResponseMetadata": {}}

    cognito.meta.events.register("before-call.cognito-idp.AdminCreateUser", lost)
    outcome = run_restore(
        cognito,
        quiet_pacer(),
        Repository(open_store(str(tmp_path / "repo"), AwsContext())),
        RestoreRequest(
            snapshot="latest",
            source_pool_id=pool,
            target_pool_id=target,
            options=RestoreOptions(plan=PlanOptions(password_mode="none")),
            report_dir=tmp_path / "reports",
        ),
    )
    assert repo is not None
    assert outcome.summary.failed_results == []  # every call "succeeded"
    assert sorted(outcome.summary.missing_after) == ["ann", "ben"]
    error = outcome_error(outcome.summary)
    assert error is not None and error.exit_code == 1
    assert "ann" in error.message and "ben" in error.message
    assert outcome.to_json()["missing_after_restore"] == ["ann", "ben"]


class LostCreateProxy(ForwardingProxy):
    """An HTTP proxy in front of moto's server that answers AdminCreateUser with a success without
    forwarding it (a write that never lands) and passes every other request through unchanged."""

    def __init__(self, upstream: str) -> None:
        self.lost = 0
        super().__init__(upstream)

    def intercept(self, operation: str) -> Answer | None:
        if operation != "AdminCreateUser":
            return None
        self.lost += 1
        return 200, b'{"User": {}}', "application/x-amz-json-1.1"


def test_cli_exits_1_naming_users_missing_after_the_restore(
    server_cognito: Any, server_url: str, tmp_path: Path
) -> None:
    pool = make_pool(server_cognito)
    for name in ("ann", "ben"):
        add_user(server_cognito, pool, name, {"email": f"{name}@example.com"}, confirmed=True)
    backup(server_cognito, pool, tmp_path / "repo")
    target = str(server_cognito.create_user_pool(PoolName="target")["UserPool"]["Id"])
    proxy = LostCreateProxy(server_url)
    try:
        args = ["--endpoint-url", proxy.url, "restore", "--repo", str(tmp_path / "repo"), "--user-pool-id", target,
                "--source-user-pool-id", pool, "--password-mode", "none",
                "--report-dir", str(tmp_path / "reports")]  # fmt: skip
        result = CliRunner().invoke(cli, [*args, "--json"])
        assert result.exit_code == 1, result.output
        body = json.loads(result.stdout)
        assert proxy.lost == 2 and body["failures"] == []
        assert body["missing_after_restore"] == ["ann", "ben"]
        text = CliRunner().invoke(cli, args)
        assert text.exit_code == 1
        assert "missing after the restore: user ann" in text.output and "not in the target" in text.output
    finally:
        proxy.close()
