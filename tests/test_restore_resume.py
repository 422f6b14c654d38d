"""Restore ownership and resume (issue 8, points 3 and 4).

- A user the restore did not create keeps its password: users that appear in the target while a
  restore runs (created through a second client of the same emulator) sign in with their own password
  afterwards.
- The resume state lives in the repository: a re-run from another directory after a kill adopts the
  pool the first run created (found by the id recorded in the repository, or by its tag), and finishes
  with every user CONFIRMED, naming those that got new passwords.
- A refused plan writes no state: a domain prefix refusal, then a re-run with --domain-prefix, works.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.core.plan import PlanOptions
from cognito_backup.core.resume_format import decode
from cognito_backup.errors import PlanRefused, StoreUnavailable
from cognito_backup.ops.restore import RestoreOptions, RestoreRequest, run_restore
from cognito_backup.ops.scheduler import default_workers
from cognito_backup.repo.repository import Repository
from cognito_backup.store.base import ObjectInfo, Store
from tests.helpers import FaultInjector, make_pool
from tests.restore_support import CallRecorder, backup, quiet_pacer, read_state, rich_pool

REGION = "us-east-1"


class Killed(BaseException):
    """Stands for the process dying mid-call (what kill -9 does to a run)."""


class DyingStore:
    """Test double of the repository's store for a killed process: once `dead` is set, every write
    fails the way a vanished process writes nothing (so no `finally` can save state)."""

    def __init__(self, inner: Store) -> None:
        self.inner = inner
        self.dead = False

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def put_bytes(self, key: str, data: bytes) -> None:
        if self.dead:
            raise Killed
        self.inner.put_bytes(key, data)

    def create_bytes(self, key: str, data: bytes) -> bool:
        if self.dead:
            raise Killed
        return self.inner.create_bytes(key, data)

    def delete(self, key: str) -> None:
        if self.dead:
            raise Killed
        self.inner.delete(key)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)


def kill_on(client: Any, store: DyingStore, operation: str, nth: int, *, after: bool = False) -> Any:
    """Kill the run at the n-th call of `operation` (before it is sent, or after its answer)."""
    seen: list[str] = []
    event = f"{'after' if after else 'before'}-call.cognito-idp.{operation}"

    def hook(**_: Any) -> None:
        seen.append(operation)
        if len(seen) >= nth:  # a dead process sends nothing more
            store.dead = True
            raise Killed

    client.meta.events.register(event, hook)
    return lambda: client.meta.events.unregister(event, hook)


def killed_new_pool_restore(client: Any, tmp_path: Path, operation: str, nth: int) -> tuple[Repository, str]:
    """A backup of rich_pool, then a `--new-pool B` restore of it killed at the n-th `operation`:
    (repository, the pool it made)."""
    repo = backup(client, rich_pool(client, "A"), tmp_path / "repo")
    dying = DyingStore(repo.store)
    unhook = kill_on(client, dying, operation, nth)
    with pytest.raises(Killed):
        run_restore(client, quiet_pacer(), Repository(dying), request("B", tmp_path / "laptop"))
    unhook()
    [pool] = pools_named(client, "B")
    return repo, pool


def request(name: str | None, report_dir: Path, **kwargs: Any) -> RestoreRequest:
    plan = kwargs.pop("plan", {})
    return RestoreRequest(
        new_pool_name=name,
        report_dir=report_dir,
        options=RestoreOptions(plan=PlanOptions(**plan)),
        **kwargs,
    )


def pools_named(client: Any, name: str) -> list[str]:
    pools = client.list_user_pools(MaxResults=60)["UserPools"]
    return [p["Id"] for p in pools if p["Name"] == name]


def sign_in(client: Any, pool_id: str, username: str, password: str) -> bool:
    app = client.create_user_pool_client(
        UserPoolId=pool_id, ClientName="probe", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    try:
        resp = client.admin_initiate_auth(
            UserPoolId=pool_id,
            ClientId=app,
            AuthFlow="ADMIN_USER_PASSWORD_AUTH",
            AuthParameters={"USERNAME": username, "PASSWORD": password},
        )
    except client.exceptions.NotAuthorizedException:
        return False
    return "AuthenticationResult" in resp


# ---- point 3: never touch a password the restore did not set ---------------------------------------


def test_users_created_in_the_target_during_the_restore_keep_their_own_password(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    other = boto3.client("cognito-idp", region_name=REGION)  # another administrator, same pool
    app = other.create_user_pool_client(
        UserPoolId=target, ClientName="web", ExplicitAuthFlows=["ALLOW_ADMIN_USER_PASSWORD_AUTH"]
    )["UserPoolClient"]["ClientId"]
    own = {"alice": "Alices-own-pass-1!", "carol": "Carols-own-pass-1!"}

    def meanwhile(**_: Any) -> None:
        # On the restore's first AdminCreateUser: alice is created by an admin, carol signs up herself.
        if not done:
            done.append(True)
            other.admin_create_user(UserPoolId=target, Username="alice", MessageAction="SUPPRESS")
            other.admin_set_user_password(UserPoolId=target, Username="alice", Password=own["alice"], Permanent=True)
            other.sign_up(ClientId=app, Username="carol", Password=own["carol"])
            other.admin_confirm_sign_up(UserPoolId=target, Username="carol")

    done: list[bool] = []
    cognito.meta.events.register("before-call.cognito-idp.AdminCreateUser", meanwhile)
    recorder = CallRecorder(cognito)
    # One creating worker: the other administrator acts before the restore's second create is sent.
    req = request(None, tmp_path / "reports", target_pool_id=target, source_pool_id=source)
    req.options.workers = {**default_workers(quiet_pacer().rates), "UserCreation": 1}
    outcome = run_restore(cognito, quiet_pacer(), repo, req)
    assert done
    assert outcome.summary.failures() == []
    for username, password in own.items():
        assert sign_in(other, target, username, password), f"{username} lost their own password"
    touched = {p["Username"] for p in recorder.named("AdminSetUserPassword")}
    assert touched == {"bob", "dave", "erin"}
    body = outcome.to_json()
    assert sorted(body["kept_passwords"]) == ["alice", "carol"]
    # Their attributes and memberships were still reconciled.
    after = read_state(cognito, target)
    alice = next(u for u in after.users.values() if u.username == "alice")
    assert alice.attributes["email"] == "alice@example.com" and alice.attributes["custom:tier"] == "gold"
    assert {("admins", "alice"), ("staff", "carol")} <= {(m.group, m.username) for m in after.memberships}


# ---- point 4: resume from anywhere -------------------------------------------------------------------


def test_a_killed_new_pool_restore_resumes_from_another_directory(
    cognito: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    dying = DyingStore(repo.store)
    first_dir = tmp_path / "laptop"
    first_dir.mkdir()
    monkeypatch.chdir(first_dir)
    # Killed as the first password is about to be set: the streaming scheduler sets each user's password
    # as soon as that user exists, so a kill at a later create could find every earlier password set.
    unhook = kill_on(cognito, dying, "AdminSetUserPassword", 1)
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), request("B", Path("cognito-backup-restore")))
    unhook()
    [pool] = pools_named(cognito, "B")
    waiting = {u.username for u in read_state(cognito, pool).users.values() if u.status == "FORCE_CHANGE_PASSWORD"}
    assert waiting, "the kill should leave users created without their password"
    # Another machine: another cwd, the same repository (the first run's local files are not there).
    second_dir = tmp_path / "elsewhere"
    second_dir.mkdir()
    monkeypatch.chdir(second_dir)
    outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), request("B", Path("cognito-backup-restore")))
    assert pools_named(cognito, "B") == [pool]
    assert outcome.summary.user_pool_id == pool
    assert outcome.summary.failures() == []
    after = read_state(cognito, pool)
    assert len(after.users) == 5
    assert {u.status for u in after.users.values()} == {"CONFIRMED"}
    new = outcome.to_json()["new_passwords"]
    assert {n["user"] for n in new} == waiting and all(n["reason"] for n in new)
    assert os.path.exists(second_dir / "cognito-backup-restore")
    assert list(repo.store.list("restores/")), "the resume state lives in the repository"


def test_a_kill_right_after_create_user_pool_adopts_the_pool_by_its_tag(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    dying = DyingStore(repo.store)
    unhook = kill_on(cognito, dying, "CreateUserPool", 1, after=True)
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), request("B", tmp_path / "one"))
    unhook()
    [pool] = pools_named(cognito, "B")
    tags = cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get("UserPoolTags") or {}
    assert tags.get("cognito-backup:restore-id")
    outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), request("B", tmp_path / "two"))
    assert pools_named(cognito, "B") == [pool]
    assert outcome.summary.failures() == []
    assert {u.status for u in read_state(cognito, pool).users.values()} == {"CONFIRMED"}


def test_a_pool_with_the_same_name_but_not_this_restores_tag_is_not_adopted(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    stranger = make_pool(cognito, "B")
    # Neither adopted nor doubled: a name in use is refused (test_new_pool_never_makes_a_second_pool_...).
    with pytest.raises(PlanRefused, match="already exists"):
        run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "one"))
    assert pools_named(cognito, "B") == [stranger]
    assert read_state(cognito, stranger).users == {}


def test_a_domain_prefix_refusal_writes_no_state_and_the_rerun_with_another_prefix_works(
    cognito: Any, tmp_path: Path
) -> None:
    source = rich_pool(cognito, "A")
    cognito.create_user_pool_domain(UserPoolId=source, Domain="acme-login")
    repo = backup(cognito, source, tmp_path / "repo")
    recorder = CallRecorder(cognito)
    with pytest.raises(PlanRefused):
        run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "reports"))
    assert recorder.writes() == []
    assert list(repo.store.list("restores/")) == []
    assert not (tmp_path / "reports").exists() or not any((tmp_path / "reports").iterdir())
    outcome = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "reports", domain_prefix="acme-2"))
    assert outcome.summary.failures() == []
    [pool] = pools_named(cognito, "B")
    assert cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get("Domain") == "acme-2"


def test_temporary_passwords_never_reach_the_repository_and_a_resume_without_them_gives_new_ones(
    cognito: Any, tmp_path: Path
) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    plan = {"password_mode": "temporary-file"}
    # Interrupted (^C) after the third password: the repository's state is flushed on the way out, but
    # the laptop holding the temporary passwords is then lost.
    seen: list[str] = []

    def interrupt(**_: Any) -> None:
        seen.append("x")
        if len(seen) == 3:
            raise KeyboardInterrupt

    cognito.meta.events.register("after-call.cognito-idp.AdminSetUserPassword", interrupt)
    with pytest.raises(KeyboardInterrupt):
        run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "laptop", plan=plan))
    cognito.meta.events.unregister("after-call.cognito-idp.AdminSetUserPassword", interrupt)
    [pool] = pools_named(cognito, "B")
    present = {u.username for u in read_state(cognito, pool).users.values()}
    assert len(present) >= 3
    outcome = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "new-laptop", plan=plan))
    assert outcome.summary.failures() == []
    body = outcome.to_json()
    new = {n["user"]: n["reason"] for n in body["new_passwords"]}
    assert set(new) == present, "no password from the lost laptop is known here: those users get new ones"
    assert sum("not on this machine" in r for r in new.values()) >= 2  # the third call answered, unrecorded
    assert set(outcome.summary.temporary_passwords) == {u.username for u in read_state(cognito, pool).users.values()}
    stored = json.dumps([decode(repo.store.get_bytes(i.key)) for i in repo.store.list("restores/")])
    for _, password in outcome.summary.temporary_passwords.values():
        assert password not in stored


def test_a_domain_taken_by_another_account_then_a_rerun_with_another_prefix_adopts_the_pool(
    cognito: Any, tmp_path: Path
) -> None:
    source = rich_pool(cognito, "A")
    cognito.create_user_pool_domain(UserPoolId=source, Domain="acme-login")
    cognito.create_user_pool_client(UserPoolId=source, ClientName="web")
    repo = backup(cognito, source, tmp_path / "repo")
    # Another account holds "acme-elsewhere": only CreateUserPoolDomain says so, after the pool exists.
    fault = FaultInjector(
        cognito, code="InvalidParameterException", operations={"CreateUserPoolDomain"}, fail_on_call=1
    )
    with pytest.raises(PlanRefused) as refused:
        run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r", domain_prefix="acme-elsewhere"))
    fault.remove()
    [pool] = pools_named(cognito, "B")
    assert pool in str(refused.value) and "run the same restore command again" in str(refused.value.hint)
    recorder = CallRecorder(cognito)
    outcome = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r", domain_prefix="acme-2"))
    assert pools_named(cognito, "B") == [pool] and outcome.summary.user_pool_id == pool
    assert cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get("Domain") == "acme-2"
    assert recorder.named("CreateUserPoolClient") == []  # the app client the first run made is kept
    assert len(cognito.list_user_pool_clients(UserPoolId=pool, MaxResults=60)["UserPoolClients"]) == 1
    assert list(outcome.summary.client_id_map.values()) == [
        c["ClientId"] for c in cognito.list_user_pool_clients(UserPoolId=pool, MaxResults=60)["UserPoolClients"]
    ]
    assert outcome.summary.failures() == []


def test_a_dry_run_stores_no_state(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    run_restore(
        cognito, quiet_pacer(), repo, request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    )
    before = sorted(i.key for i in repo.store.list("restores/"))
    cognito.admin_delete_user(UserPoolId=target, Username="bob")
    dry = RestoreRequest(
        target_pool_id=target, source_pool_id=source, report_dir=tmp_path / "r", options=RestoreOptions(dry_run=True)
    )
    assert run_restore(cognito, quiet_pacer(), repo, dry).summary.plan.count_by_kind()["create_user"] == 1
    new = RestoreRequest(new_pool_name="C", report_dir=tmp_path / "r", options=RestoreOptions(dry_run=True))
    run_restore(cognito, quiet_pacer(), repo, new)
    assert sorted(i.key for i in repo.store.list("restores/")) == before


def test_the_resuming_command_names_the_users_given_new_passwords(cognito: Any, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from cognito_backup.cli.main import cli

    _, pool = killed_new_pool_restore(cognito, tmp_path, "AdminSetUserPassword", 1)
    waiting = sorted(u.username for u in read_state(cognito, pool).users.values() if u.status != "CONFIRMED")
    assert waiting
    args = ["restore", "--repo", str(tmp_path / "repo"), "--new-pool", "B", "--report-dir", str(tmp_path / "r2")]
    result = CliRunner().invoke(cli, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    assert f"{len(waiting)} users created by an earlier run got new passwords" in result.output
    for username in waiting:
        assert f"{username}: created by an earlier run" in result.output
    assert pools_named(cognito, "B") == [pool]


def test_users_the_rerun_read_missed_are_still_recognised_as_created_by_the_earlier_run(
    cognito: Any, tmp_path: Path
) -> None:
    """ListUsers lags behind writes (eventual consistency): the re-run's read may not show users the
    killed run created a moment earlier. Their create then finds them, and their state decides."""
    from botocore.awsrequest import AWSResponse

    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    dying = DyingStore(repo.store)
    unhook = kill_on(cognito, dying, "AdminSetUserPassword", 1)  # users exist, no password yet
    with pytest.raises(Killed):
        run_restore(cognito, quiet_pacer(), Repository(dying), request("B", tmp_path / "one"))
    unhook()
    [pool] = pools_named(cognito, "B")
    waiting = {u.username for u in read_state(cognito, pool).users.values() if u.status == "FORCE_CHANGE_PASSWORD"}
    assert waiting
    lagging = [True]

    def stale_list(model: Any, **_: Any) -> Any:
        if not lagging[0]:
            return None
        if model.name == "AdminCreateUser":
            lagging[0] = False  # the read is over
            return None
        key = "Users" if model.name in ("ListUsers", "ListUsersInGroup") else None
        if key is None:
            return None
        return AWSResponse("https://cognito-idp.invalid", 200, {}, None), {key: [], "ResponseMetadata": {}}

    cognito.meta.events.register("before-call.cognito-idp.*", stale_list)
    outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), request("B", tmp_path / "two"))
    cognito.meta.events.unregister("before-call.cognito-idp.*", stale_list)
    assert outcome.summary.failures() == []
    assert {n["user"] for n in outcome.to_json()["new_passwords"]} == waiting
    assert not waiting & set(outcome.to_json()["kept_passwords"])
    assert {u.status for u in read_state(cognito, pool).users.values()} == {"CONFIRMED"}
    assert pools_named(cognito, "B") == [pool]


def test_a_deleted_pool_is_recreated_and_an_untagged_one_refused(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    first = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r")).summary.user_pool_id
    cognito.delete_user_pool(UserPoolId=first)  # the operator starts over
    again = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r"))
    [pool] = pools_named(cognito, "B")
    assert pool != first and again.summary.user_pool_id == pool
    assert again.summary.failures() == [] and again.summary.counts()["created"] == 5 + 3 + 7
    assert {u.status for u in read_state(cognito, pool).users.values()} == {"CONFIRMED"}
    arn = cognito.describe_user_pool(UserPoolId=pool)["UserPool"]["Arn"]
    cognito.untag_resource(ResourceArn=arn, TagKeys=["cognito-backup:restore-id"])  # someone drops our tag
    recorder = CallRecorder(cognito)
    with pytest.raises(PlanRefused, match="no longer carries its tag"):
        run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r"))
    assert recorder.writes() == []


def test_a_pool_with_fifty_tags_is_restored_untagged_with_a_warning(cognito: Any, tmp_path: Path) -> None:
    source = make_pool(cognito, "A", UserPoolTags={f"k{i:02d}": "v" for i in range(50)})
    repo = backup(cognito, source, tmp_path / "repo")
    outcome = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r"))
    [pool] = pools_named(cognito, "B")
    tags = cognito.describe_user_pool(UserPoolId=pool)["UserPool"].get("UserPoolTags") or {}
    assert len(tags) == 50 and "cognito-backup:restore-id" not in tags
    assert any("the most a pool can have" in w for w in outcome.summary.warnings)
    again = run_restore(cognito, quiet_pacer(), repo, request("B", tmp_path / "r"))
    assert again.summary.user_pool_id == pool


class ReadOnlyStore(DyingStore):
    """Test double of a repository the operator may read but not write (e.g. an S3 bucket policy)."""

    def put_bytes(self, key: str, data: bytes) -> None:
        raise StoreUnavailable(f"S3 PutObject {key}: AccessDenied (test double)")

    def create_bytes(self, key: str, data: bytes) -> bool:
        raise StoreUnavailable(f"S3 PutObject {key}: AccessDenied (test double)")


@pytest.mark.parametrize("into_new_pool", [False, True])
def test_without_write_access_to_the_repository_nothing_is_created(
    cognito: Any, tmp_path: Path, into_new_pool: bool
) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    recorder = CallRecorder(cognito)
    req = (
        request("C", tmp_path / "r")
        if into_new_pool
        else request(None, tmp_path / "r", target_pool_id=target, source_pool_id=source)
    )
    # The first write is the target's lease (repo/leases.py), before any Cognito call.
    with pytest.raises(StoreUnavailable, match="leases/"):
        run_restore(cognito, quiet_pacer(), Repository(ReadOnlyStore(repo.store)), req)
    assert recorder.writes() == []


def test_new_pool_never_makes_a_second_pool_of_a_name_in_use(cognito: Any, tmp_path: Path) -> None:
    """A re-run after a newer backup (latest is another snapshot, so another restore), or a name an
    unrelated pool has: refused before anything is written, dry run included, naming the pool."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    first = run_restore(cognito, quiet_pacer(), repo, request("V", tmp_path / "r")).summary.user_pool_id
    backup(cognito, source, tmp_path / "repo")  # a scheduled backup lands before the re-run
    unrelated = make_pool(cognito, "Prod")
    for name, existing in (("V", first), ("Prod", unrelated)):
        for dry_run in (True, False):
            recorder = CallRecorder(cognito)
            req = request(name, tmp_path / "r")
            req.options.dry_run = dry_run
            with pytest.raises(PlanRefused, match=f"named {name!r} already exists.*{existing}"):
                run_restore(cognito, quiet_pacer(), repo, req)
            assert recorder.writes() == []
            assert pools_named(cognito, name) == [existing]
