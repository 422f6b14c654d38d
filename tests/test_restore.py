"""Restore on moto: round trips, silence, state kept, selective restores, idempotence, sub map."""

from __future__ import annotations

import csv
import os
import stat
from pathlib import Path
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from moto import mock_aws

from cognito_backup.core.diff import differences
from cognito_backup.core.plan import PlanOptions
from cognito_backup.ops.restore import RestoreOptions, RestoreRequest, reconcile, run_restore
from tests.helpers import add_user, make_pool
from tests.restore_support import CallRecorder, backup, content, quiet_pacer, read_state, rich_pool


def restore_new(client: Any, repo: Any, tmp_path: Path, name: str = "B", **plan: Any) -> Any:
    request = RestoreRequest(
        new_pool_name=name, report_dir=tmp_path / "reports", options=RestoreOptions(plan=PlanOptions(**plan))
    )
    return run_restore(client, quiet_pacer(), repo, request)


def test_round_trip_into_a_new_pool_then_diff_finds_nothing(cognito: Any, tmp_path: Path) -> None:
    for email_username in (False, True):
        source = rich_pool(cognito, f"A{email_username}", email_username=email_username)
        repo = backup(cognito, source, tmp_path / f"repo{email_username}")
        recorder = CallRecorder(cognito)
        outcome = restore_new(cognito, repo, tmp_path, f"B{email_username}")
        target = str(outcome.summary.user_pool_id)
        assert target != source
        assert outcome.summary.failures() == []
        assert outcome.summary.counts()["created"] == 5 + 3 + 7  # users, groups, memberships
        snapshot = repo.load_state(repo.resolve())
        restored = read_state(cognito, target)
        assert differences(snapshot, restored) == []
        assert content(restored) == content(snapshot)
        # Disabled users stay disabled; every AdminCreateUser was silent.
        assert {u.username for u in restored.users.values() if not u.enabled} == {
            u.username for u in restored.users.values() if u.attributes["email"].split("@")[0] in ("bob", "dave")
        }
        creates = recorder.named("AdminCreateUser")
        assert len(creates) == 5 and all(p.get("MessageAction") == "SUPPRESS" for p in creates)
        # Users come back CONFIRMED (random permanent password), each with its own password.
        passwords = [p["Password"] for p in recorder.named("AdminSetUserPassword")]
        assert len(set(passwords)) == 5 and all(p["Permanent"] for p in recorder.named("AdminSetUserPassword"))
        assert {u.status for u in restored.users.values()} == {"CONFIRMED"}
        recorder_again = CallRecorder(cognito)
        again = restore_new(cognito, repo, tmp_path, f"B{email_username}")  # same command: resumes, no-op
        assert again.summary.user_pool_id == target
        assert again.summary.plan.empty
        assert recorder_again.writes() == []


def test_sub_map_and_report_are_owner_only_and_map_old_to_new(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito)
    repo = backup(cognito, source, tmp_path / "repo")
    outcome = restore_new(cognito, repo, tmp_path, keep_sub_in="custom:old_sub")
    old = {u.username: u.sub for u in read_state(cognito, source).users.values()}
    restored = read_state(cognito, str(outcome.summary.user_pool_id))
    assert outcome.sub_map_path and outcome.report_path
    for path in (outcome.sub_map_path, outcome.report_path):
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        assert path.parent == outcome.sub_map_path.parent
    rows = list(csv.DictReader(outcome.sub_map_path.open()))
    assert len(rows) == 5
    for row in rows:
        user = restored.users[row["username"]]
        assert row["old_sub"] == old[row["username"]] and row["new_sub"] == user.sub != row["old_sub"]
        assert user.attributes["custom:old_sub"] == row["old_sub"]


def test_temporary_file_mode_writes_one_password_per_user(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito)
    repo = backup(cognito, source, tmp_path / "repo")
    outcome = restore_new(cognito, repo, tmp_path, password_mode="temporary-file")
    assert outcome.passwords_path is not None
    assert stat.S_IMODE(os.stat(outcome.passwords_path).st_mode) == 0o600
    rows = list(csv.DictReader(outcome.passwords_path.open()))
    assert sorted(r["username"] for r in rows) == ["alice", "bob", "carol", "dave", "erin"]
    assert len({r["temporary_password"] for r in rows}) == 5
    restored = read_state(cognito, str(outcome.summary.user_pool_id))
    assert {u.status for u in restored.users.values()} == {"FORCE_CHANGE_PASSWORD"}


def test_existing_pool_after_deletions_gets_back_only_what_is_missing(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    repo = backup(cognito, pool, tmp_path / "repo")
    cognito.admin_delete_user(UserPoolId=pool, Username="alice")
    cognito.admin_enable_user(UserPoolId=pool, Username="bob")
    cognito.delete_group(UserPoolId=pool, GroupName="readers")
    add_user(cognito, pool, "mallory")  # not in the snapshot: left alone without --prune
    recorder = CallRecorder(cognito)
    summary = reconcile(cognito, quiet_pacer(), pool, repo.load_state(repo.resolve()))
    assert summary.failures() == []
    detail = summary.detail()
    assert detail["users"]["created"] == 1 and detail["users"]["updated"] == 1 and detail["groups"]["created"] == 1
    # Existing users keep their passwords: only the recreated one gets a new one.
    assert [p["Username"] for p in recorder.named("AdminSetUserPassword")] == ["alice"]
    after = read_state(cognito, pool)
    assert "mallory" in after.users and not after.users["bob"].enabled
    assert [d for d in differences(repo.load_state(repo.resolve()), after) if d.name != "mallory"] == []
    pruned = reconcile(
        cognito, quiet_pacer(), pool, repo.load_state(repo.resolve()), RestoreOptions(plan=PlanOptions(prune=True))
    )
    assert pruned.detail()["users"]["deleted"] == 1
    assert differences(repo.load_state(repo.resolve()), read_state(cognito, pool)) == []


def test_only_user_touches_nothing_else(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    repo = backup(cognito, pool, tmp_path / "repo")
    for name in ("alice", "carol"):
        cognito.admin_delete_user(UserPoolId=pool, Username=name)
    cognito.admin_enable_user(UserPoolId=pool, Username="bob")  # drift outside the selection stays
    recorder = CallRecorder(cognito)
    summary = reconcile(
        cognito,
        quiet_pacer(),
        pool,
        repo.load_state(repo.resolve()),
        RestoreOptions(plan=PlanOptions(only_users=frozenset({"alice"}), prune=True)),
    )
    assert summary.failures() == []
    touched = {p.get("Username") for _, p in recorder.writes()}
    assert touched == {"alice"}
    after = read_state(cognito, pool)
    assert "alice" in after.users and "carol" not in after.users and after.users["bob"].enabled
    assert sorted(m.group for m in after.memberships if m.username == "alice") == ["admins", "staff"]


def test_selective_group_restore_brings_back_group_and_memberships(cognito: Any, tmp_path: Path) -> None:
    pool = rich_pool(cognito)
    repo = backup(cognito, pool, tmp_path / "repo")
    cognito.delete_group(UserPoolId=pool, GroupName="staff")
    cognito.delete_group(UserPoolId=pool, GroupName="readers")
    recorder = CallRecorder(cognito)
    summary = reconcile(
        cognito,
        quiet_pacer(),
        pool,
        repo.load_state(repo.resolve()),
        RestoreOptions(plan=PlanOptions(only_groups=frozenset({"staff"}))),
    )
    assert summary.failures() == []
    assert {n for n, _ in recorder.writes()} == {"CreateGroup", "AdminAddUserToGroup"}
    after = read_state(cognito, pool)
    assert sorted(after.groups) == ["admins", "staff"]
    assert after.groups["staff"].precedence == 5
    assert sorted(m.username for m in after.memberships if m.group == "staff") == ["alice", "bob", "carol"]


small_users = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9]{0,7}", fullmatch=True),
    st.tuples(
        st.booleans(),  # enabled
        st.sampled_from(["gold", "silver", ""]),
        st.integers(min_value=0, max_value=99),
        st.frozensets(st.sampled_from(["g1", "g2", "g3"])),
    ),
    max_size=6,
)


@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(users=small_users, email_username=st.booleans())
def test_backup_restore_backup_gives_the_same_content(
    users: dict[str, Any], email_username: bool, tmp_path: Path
) -> None:
    with mock_aws():
        import boto3

        client = boto3.client("cognito-idp", region_name="us-east-1")
        pool = make_pool(client, "prop", email_username=email_username)
        for g in ("g1", "g2", "g3"):
            client.create_group(UserPoolId=pool, GroupName=g, Precedence=len(g))
        for name, (enabled, tier, score, groups) in users.items():
            attrs = {"email": f"{name}@example.com", "email_verified": "true", "custom:score": str(score)}
            if tier:
                attrs["custom:tier"] = tier
            username = attrs["email"] if email_username else name
            add_user(client, pool, username, attrs, enabled=enabled)
            for g in sorted(groups):
                client.admin_add_user_to_group(UserPoolId=pool, Username=username, GroupName=g)
        repo_dir = tmp_path / f"repo-{os.urandom(4).hex()}"
        repo = backup(client, pool, repo_dir)
        outcome = run_restore(
            client,
            quiet_pacer(),
            repo,
            RestoreRequest(new_pool_name="copy", report_dir=repo_dir / "reports"),
        )
        assert outcome.summary.failures() == []
        assert content(read_state(client, str(outcome.summary.user_pool_id))) == content(read_state(client, pool))


def test_users_via_import_job_then_state_and_memberships_by_admin_calls(cognito: Any, tmp_path: Path) -> None:
    from tests.importjob_double import DoubleImport

    source = rich_pool(cognito)
    repo = backup(cognito, source, tmp_path / "repo")
    desired = repo.load_state(repo.resolve())
    target = make_pool(cognito, "B")
    double = DoubleImport(cognito)
    recorder = CallRecorder(cognito)
    options = RestoreOptions(
        users_via="import-job",
        import_role_arn="arn:aws:iam::123456789012:role/import-logs",
        import_kwargs={"put": double.http_put, "sleep": lambda s: None},
    )
    summary = reconcile(cognito, quiet_pacer(), target, desired, options)
    assert summary.failures() == []
    assert summary.import_report is not None and summary.import_report["imported"] == 5
    assert recorder.named("AdminCreateUser") == []  # every user came through the import job
    after = read_state(cognito, target)
    assert {u.status for u in after.users.values()} == {"RESET_REQUIRED"}
    assert differences(desired, after) == []  # disabled state and memberships applied afterwards
    double.remove()
