"""Backup completeness and failure behaviour, on moto in-process and as a real HTTP server."""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any

import boto3
import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import AwsError, PoolNotFound
from cognito_backup.ops.backup import BackupOptions, run_backup
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.repository import Repository
from cognito_backup.store.local import LocalStore
from cognito_backup.store.s3 import S3Store
from tests.helpers import FaultInjector, add_user, fill_pool, make_pool

REGION = "us-east-1"


def quiet_pacer() -> Pacer:
    """Real pacing logic with a no-op sleep: tests exercise retries without waiting."""
    return Pacer(sleep=lambda s: None)


def backup(client: Any, pool_id: str, repo: Repository, **kw: Any) -> Any:
    return run_backup(PoolReader(client, quiet_pacer(), pool_id, **kw), repo, REGION)


def expected_state(client: Any, pool_id: str) -> tuple[dict[str, dict[str, Any]], set[tuple[str, str]], set[str]]:
    """What the pool holds, read with plain boto3 paginators (independent of the tool's reader)."""
    users: dict[str, dict[str, Any]] = {}
    for page in client.get_paginator("list_users").paginate(UserPoolId=pool_id):
        for u in page["Users"]:
            users[u["Username"]] = u
    groups = {
        g["GroupName"]
        for page in client.get_paginator("list_groups").paginate(UserPoolId=pool_id)
        for g in page["Groups"]
    }
    members = set()
    for g in groups:
        for page in client.get_paginator("list_users_in_group").paginate(UserPoolId=pool_id, GroupName=g):
            members |= {(g, u["Username"]) for u in page["Users"]}
    return users, members, groups


def assert_complete(client: Any, pool_id: str, repo: Repository) -> None:
    manifest = repo.resolve("latest")
    users = list(repo.iter_users(manifest))
    usernames = [u.username for u in users]
    assert len(usernames) == len(set(usernames)), "a user was written twice"
    exp_users, exp_members, exp_groups = expected_state(client, pool_id)
    assert set(usernames) == set(exp_users)
    for user in users:
        api = exp_users[user.username]
        assert dict(user.attributes) == {a["Name"]: a["Value"] for a in api["Attributes"]}
        assert user.enabled == api["Enabled"]
        assert user.status == api["UserStatus"]
    memberships = {(m.group, m.username) for m in repo.iter_memberships(manifest)}
    assert memberships == exp_members
    assert {g.name for g in repo.iter_groups(manifest)} == exp_groups
    assert manifest.counts["users"] == len(exp_users)


@pytest.mark.slow
def test_large_pool_backed_up_completely_in_process(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=1050, n_groups=62, big_group=75)
    repo = Repository(LocalStore(tmp_repo))
    result = backup(cognito, pool_id, repo)
    assert result.list_chains == 16
    assert_complete(cognito, pool_id, repo)
    manifest = repo.resolve("latest")
    assert manifest.counts["groups"] == 62
    big = [m for m in repo.iter_memberships(manifest) if m.group == "group-000"]
    assert len(big) == 75  # more than one ListUsersInGroup page
    groups = {g.name: g for g in repo.iter_groups(manifest)}
    assert groups["group-007"].precedence == 7
    assert groups["group-007"].role_arn == "arn:aws:iam::123456789012:role/group-7"
    assert groups["group-007"].description == "Group 7"
    assert check_repository(repo, read_data=True).ok


def test_email_username_pool_unicode_and_states(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito, email_username=True)
    add_user(cognito, pool_id, "zoe@example.com", {"email": "zoe@example.com", "given_name": 'Zoë 美咲 "q", \\n'})
    add_user(cognito, pool_id, "off@example.com", {"email": "off@example.com"}, enabled=False)
    add_user(cognito, pool_id, "ok@example.com", {"email": "ok@example.com", "custom:tenant": "t1"}, confirmed=True)
    client_id = cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="web")["UserPoolClient"]["ClientId"]
    cognito.sign_up(ClientId=client_id, Username="new@example.com", Password="Passw0rd!Passw0rd!")
    repo = Repository(LocalStore(tmp_repo))
    backup(cognito, pool_id, repo)
    assert_complete(cognito, pool_id, repo)
    users = {u.attributes["email"]: u for u in repo.iter_users(repo.resolve("latest"))}
    assert users["zoe@example.com"].attributes["given_name"] == 'Zoë 美咲 "q", \\n'
    assert users["off@example.com"].enabled is False
    assert users["ok@example.com"].status == "CONFIRMED"
    assert users["new@example.com"].status == "UNCONFIRMED"
    config = repo.load_config(repo.resolve("latest"))
    assert config.user_pool["UsernameAttributes"] == ["email"]
    assert "custom:tenant" in config.custom_attributes()
    assert [c["ClientName"] for c in config.clients] == ["web"]


def test_moto_server_into_s3_repository_with_kms(server_url: str, tmp_path: Path) -> None:
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=server_url)
    s3 = boto3.client("s3", region_name=REGION, endpoint_url=server_url)
    kms = boto3.client("kms", region_name=REGION, endpoint_url=server_url)
    key_id = kms.create_key()["KeyMetadata"]["KeyId"]
    s3.create_bucket(Bucket="backups")
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=1010, n_groups=61, big_group=65)
    cognito.create_user_pool_client(UserPoolId=pool_id, ClientName="svc", GenerateSecret=True)
    repo = Repository(S3Store(s3, "backups", "team/cognito", kms_key_id=key_id))
    backup(cognito, pool_id, repo)
    assert_complete(cognito, pool_id, repo)
    keys = [o["Key"] for o in s3.list_objects_v2(Bucket="backups")["Contents"]]
    assert all(k.startswith("team/cognito/") for k in keys)
    for key in keys:
        head = s3.head_object(Bucket="backups", Key=key)
        assert head["ServerSideEncryption"] == "aws:kms"
    config = repo.load_config(repo.resolve("latest"))
    assert config.clients[0]["ClientSecret"]  # confidential client's secret kept for restore
    assert check_repository(repo, read_data=True).ok


def test_error_on_a_late_page_leaves_no_snapshot(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=400, n_groups=2)
    repo = Repository(LocalStore(tmp_repo))
    # From the 9th ListUsers call on (a late page of some chain), Cognito fails past the pacer's retries.
    FaultInjector(
        cognito, code="InternalErrorException", status=500, operations={"ListUsers"}, fail_on_call=9, repeat=10**6
    )
    with pytest.raises(AwsError) as err:
        backup(cognito, pool_id, repo)
    assert "ListUsers" in str(err.value) and "InternalErrorException" in str(err.value)
    assert repo.list_snapshots() == []
    # The pages read so far are kept for `backup --resume`: a checkpoint, and the lock that keeps prune
    # from sweeping the objects it refers to (tests/test_backup_resume.py continues such a backup).
    checkpoints = [o.key for o in repo.store.list("checkpoints/")]
    assert [o.key.removeprefix("locks/") for o in repo.store.list("locks/")] == [
        k.removeprefix("checkpoints/") for k in checkpoints
    ]
    assert check_repository(repo, read_data=True).ok
    assert not list(Path(tmp_repo).rglob(".tmp-*"))


def test_throttling_is_retried_and_never_fails_the_backup(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=300, n_groups=4, big_group=70)
    faults = FaultInjector(cognito, probability=0.3)
    repo = Repository(LocalStore(tmp_repo))
    result = backup(cognito, pool_id, repo)
    faults.remove()
    assert faults.injected > 10
    assert sum(c["throttled"] for c in result.calls.values()) == faults.injected
    assert_complete(cognito, pool_id, repo)


def test_falls_back_to_one_chain_when_prefix_filters_are_refused(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=130, n_groups=1)
    FaultInjector(
        cognito,
        code="InvalidParameterException",
        operations={"ListUsers"},
        probability=1.0,
        predicate=lambda body: "Filter" in body,
    )
    repo = Repository(LocalStore(tmp_repo))
    result = backup(cognito, pool_id, repo)
    assert result.list_chains == 1
    assert_complete(cognito, pool_id, repo)


def test_wrong_pool_id_is_pool_not_found(cognito: Any, tmp_repo: str) -> None:
    repo = Repository(LocalStore(tmp_repo))
    with pytest.raises(PoolNotFound):
        backup(cognito, "us-east-1_doesnotexist", repo)
    assert not Path(tmp_repo, "snapshots").exists() or not any(Path(tmp_repo, "snapshots").iterdir())


def test_local_files_are_owner_only(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=5, n_groups=1)
    backup(cognito, pool_id, Repository(LocalStore(tmp_repo)))
    files = [p for p in Path(tmp_repo).rglob("*") if p.is_file()]
    assert files
    for path in files:
        assert stat.S_IMODE(path.stat().st_mode) == 0o600, path
    for path in [p for p in Path(tmp_repo).rglob("*") if p.is_dir()]:
        assert stat.S_IMODE(path.stat().st_mode) & 0o077 == 0, path


def test_two_backups_at_once_into_one_repository(cognito: Any, tmp_repo: str) -> None:
    from concurrent.futures import ThreadPoolExecutor

    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=200, n_groups=3, big_group=61)
    repo = Repository(LocalStore(tmp_repo))
    with ThreadPoolExecutor(2) as pool:
        results = list(pool.map(lambda _: backup(cognito, pool_id, repo), range(2)))
    assert len({r.manifest.id for r in results}) == 2
    assert len(repo.list_snapshots()) == 2
    report = check_repository(repo, read_data=True)
    assert report.ok, report.problems
    for manifest in repo.list_snapshots():
        assert manifest.counts["users"] == 200


def test_mfa_preferences_only_when_asked(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=3, n_groups=1)
    calls: list[str] = []
    cognito.meta.events.register("before-call.cognito-idp.AdminGetUser", lambda **kw: calls.append("x"))
    repo = Repository(LocalStore(tmp_repo))
    backup(cognito, pool_id, repo)
    assert calls == []  # AdminGetUser bills monthly active users: never by default
    run_backup(PoolReader(cognito, quiet_pacer(), pool_id), repo, REGION, BackupOptions(with_mfa_preferences=True))
    assert len(calls) == 3
    users = list(repo.iter_users(repo.resolve("latest")))
    assert all(u.mfa is not None and "preferred" in u.mfa for u in users)


def test_objects_split_and_manifest_lists_hash_size_count(cognito: Any, tmp_repo: str) -> None:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=250, n_groups=1)
    repo = Repository(LocalStore(tmp_repo))
    run_backup(PoolReader(cognito, quiet_pacer(), pool_id), repo, REGION, BackupOptions(max_records_per_object=100))
    manifest = repo.resolve("latest")
    user_objects = manifest.objects_of("users")
    # Sorted shards of at most max_records_per_object (tests/test_sharded_snapshots.py: their cuts).
    assert len(user_objects) >= 3 and sum(o.records for o in user_objects) == 250
    assert all(o.records <= 100 for o in user_objects)
    body = json.loads(Path(tmp_repo, "snapshots", f"{manifest.id}.json").read_text())
    assert body["source"] == {"user_pool_id": pool_id, "region": REGION}
    assert body["format_version"] == 1 and body["tool_version"]
    for obj in body["objects"]:
        path = Path(tmp_repo, "objects", obj["sha256"][:2], obj["sha256"] + ".jsonl.zst")
        assert path.stat().st_size == obj["size"]
    assert os.environ.get("COGNITO_BACKUP_TESTING") == "1"


def test_federated_users_are_backed_up_and_named_by_restore(cognito: Any, tmp_repo: str) -> None:
    """moto's API cannot create an EXTERNAL_PROVIDER user, so the emulator's own state is set to one."""
    from moto.cognitoidp.models import cognitoidp_backends

    from cognito_backup.core.plan import plan
    from cognito_backup.model import PoolState

    pool_id = make_pool(cognito)
    add_user(cognito, pool_id, "Google_1234567890", {"email": "g@example.com"})
    add_user(cognito, pool_id, "native", {"email": "n@example.com"})
    moto_user = cognitoidp_backends["123456789012"]["us-east-1"].user_pools[pool_id].users["Google_1234567890"]
    moto_user.status = "EXTERNAL_PROVIDER"
    repo = Repository(LocalStore(tmp_repo))
    backup(cognito, pool_id, repo)
    desired = repo.load_state(repo.resolve("latest"))
    assert desired.users["Google_1234567890"].status == "EXTERNAL_PROVIDER"
    the_plan = plan(desired, PoolState(config=desired.config))
    assert [n.name for n in the_plan.skipped if n.kind == "user"] == ["Google_1234567890"]
    assert "federated" in the_plan.skipped[0].reason
