"""The serverless backup loop (issue 5): a snapshot taken in many bounded steps is the same snapshot as one
uninterrupted `run_backup`, survives a failed step, and the Lambda handler drives the loop to the end."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.errors import AwsError, StoreUnavailable, UsageError
from cognito_backup.model import canonical_json
from cognito_backup.ops.backup import run_backup
from cognito_backup.ops.backup_steps import BackupCheckpoint, StepOptions, StepResult, load_checkpoint, run_backup_step
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.layout import LOCKS_PREFIX, checkpoint_key
from cognito_backup.repo.manifest import Manifest
from cognito_backup.repo.repository import Repository
from cognito_backup.serverless import backup as backup_lambda
from cognito_backup.store.local import LocalStore
from tests.helpers import FaultInjector, fill_pool, make_pool

REGION = "us-east-1"
USERS = 300
BIG_GROUP = 130  # three ListUsersInGroup pages
GROUPS = 62  # two ListGroups pages


@pytest.fixture
def pool(cognito: Any) -> str:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, USERS, n_groups=GROUPS, big_group=BIG_GROUP)
    for i in range(70):  # a second multi-page group
        cognito.admin_add_user_to_group(UserPoolId=pool_id, Username=f"user-{i + 100:05d}", GroupName="group-002")
    return pool_id


def reader_for(client: Any, pool_id: str, chains: int = 16) -> PoolReader:
    return PoolReader(client, Pacer(sleep=lambda s: None), pool_id, chains=chains)


def new_repo(tmp_path: Path, name: str) -> Repository:
    return Repository(LocalStore(tmp_path / name))


def pages_then_out(pages: int) -> Callable[[], float]:
    """A deadline that allows `pages` more page starts (after a step's first), then reports no time left.
    A new one is made for every step, as every Lambda invocation gets its own clock."""
    left = [pages]

    def seconds_left() -> float:
        left[0] -= 1
        return 1000.0 if left[0] >= 0 else 0.0

    return seconds_left


TINY = StepOptions(safety_seconds=60.0)


def content(repo: Repository, manifest: Manifest) -> dict[str, Any]:
    """A snapshot's records as sets (order differs between chains), plus the raw user list for duplicates."""
    users = [canonical_json(u.to_record()) for u in repo.iter_users(manifest)]
    return {
        "users": set(users),
        "user_count": len(users),
        "groups": {canonical_json(g.to_record()) for g in repo.iter_groups(manifest)},
        "memberships": {(m.group, m.username) for m in repo.iter_memberships(manifest)},
        "membership_count": sum(1 for _ in repo.iter_memberships(manifest)),
        "config": repo.load_config(manifest).to_record(),
    }


def drive(
    repo: Repository,
    step: Callable[[str | None], StepResult],
    before_each: Callable[[str | None], None] = lambda cp: None,
    max_steps: int = 200,
) -> tuple[StepResult, int]:
    checkpoint: str | None = None
    for n in range(1, max_steps + 1):
        before_each(checkpoint)
        result = step(checkpoint)
        if result.done:
            return result, n
        assert result.checkpoint_id is not None
        checkpoint = result.checkpoint_id
    raise AssertionError("the backup loop did not finish")


def assert_no_snapshot_yet(repo: Repository, checkpoint: str | None) -> None:
    assert not list(repo.store.list("snapshots/")), "a manifest exists before the final step"
    if checkpoint is not None:
        assert repo.store.exists(checkpoint_key(checkpoint))
        assert repo.store.exists(f"{LOCKS_PREFIX}{checkpoint}.json"), "prune would sweep the step's objects"


@pytest.mark.parametrize("chains", [1, 16], ids=["one-chain", "sub-prefix-chains"])
def test_many_small_steps_give_the_same_snapshot_as_one_run(
    cognito: Any, pool: str, tmp_path: Path, chains: int
) -> None:
    reference_repo = new_repo(tmp_path, "reference")
    reference = run_backup(reader_for(cognito, pool, chains), reference_repo, REGION).manifest

    repo = new_repo(tmp_path, "steps")
    result, steps = drive(
        repo,
        lambda cp: run_backup_step(
            reader_for(cognito, pool, chains), repo, REGION, cp, deadline=pages_then_out(1), options=TINY
        ),
        before_each=lambda cp: assert_no_snapshot_yet(repo, cp),
    )

    assert steps >= 5, "the tiny budget should have split the backup into many steps"
    assert result.manifest is not None
    got, want = content(repo, result.manifest), content(reference_repo, reference)
    assert got["user_count"] == USERS
    assert got["membership_count"] == BIG_GROUP + 70
    assert len(got["groups"]) == GROUPS
    assert got == want
    assert result.manifest.counts == reference.counts
    assert result.manifest.extra["steps"] == steps
    assert result.users_so_far == USERS
    # The final step leaves a normal snapshot: no checkpoint, no lock, and `check` finds nothing wrong.
    assert not list(repo.store.list("checkpoints/"))
    assert not list(repo.store.list(LOCKS_PREFIX))
    assert [m.id for m in repo.list_snapshots()] == [result.snapshot_id]
    assert check_repository(repo, read_data=True).ok


def users_pending(state: BackupCheckpoint) -> bool:
    return state.users > 0 and not all(c.done for c in state.chains)


def memberships_pending(state: BackupCheckpoint) -> bool:
    return len(state.memberships_open) >= 2


def second_page_requested() -> Callable[[dict[str, Any]], bool]:
    """True for the second page a step asks for (of the operation the faults are for), and for every
    attempt at that same page (the same request) after it."""
    lock = threading.Lock()
    seen: list[str] = []

    def matches(params: dict[str, Any]) -> bool:
        request = json.dumps(params, sort_keys=True)
        with lock:
            if len(seen) < 2 and request not in seen:
                seen.append(request)
            return len(seen) == 2 and request == seen[1]

    return matches


@pytest.mark.parametrize(
    ("operation", "pending"),
    [("ListUsers", users_pending), ("ListUsersInGroup", memberships_pending)],
    ids=["users", "memberships"],
)
def test_a_failed_step_is_retried_from_the_same_checkpoint(
    cognito: Any, pool: str, tmp_path: Path, operation: str, pending: Callable[[BackupCheckpoint], bool]
) -> None:
    reference_repo = new_repo(tmp_path, "reference")
    reference = run_backup(reader_for(cognito, pool, 1), reference_repo, REGION).manifest
    repo = new_repo(tmp_path, "steps")

    # One thread per kind of chain: the failing calls below are then one page's attempts.
    options = StepOptions(safety_seconds=60.0, membership_workers=1)

    def step(cp: str | None, pages: int = 1) -> StepResult:
        return run_backup_step(
            reader_for(cognito, pool, 1), repo, REGION, cp, deadline=pages_then_out(pages), options=options
        )

    result = step(None)
    while not pending(load_checkpoint(repo, str(result.checkpoint_id))):
        result = step(result.checkpoint_id)
    cp = result.checkpoint_id
    assert cp is not None and not result.done

    # The next invocation fails on its second page, after a first page was read (every attempt the pacer
    # makes at that page fails). Two listing threads share the work queue, so the attempts at that page
    # interleave with other pages' calls: the faults follow the page (its request), not the call count
    # (counting calls, another page's call took one of the three faults on a loaded machine, the page's
    # third attempt succeeded and the step did not fail).
    faults = FaultInjector(
        cognito,
        code="InternalErrorException",
        status=500,
        operations={operation},
        fail_on_call=1,
        repeat=3,
        predicate=second_page_requested(),
    )
    with pytest.raises(AwsError):
        # No page budget to speak of: the step must reach the failing call whatever order the shared work
        # queue takes the other chains' pages in (with 20, the users' pages could spend it first).
        step(cp, pages=10_000)
    faults.remove()
    assert faults.injected == 3
    assert not list(repo.store.list("snapshots/"))

    # The state machine's Retry runs the step again with the same input, until done.
    result, _ = drive(repo, lambda c: step(c if c is not None else cp))
    assert result.manifest is not None
    got = content(repo, result.manifest)
    assert got["user_count"] == USERS, "a user was lost or written twice across the failed step"
    assert got["membership_count"] == BIG_GROUP + 70, "a membership was lost or written twice"
    assert got == content(reference_repo, reference)


class RefusingStore(LocalStore):
    """A store whose object uploads fail while `refuse` is set (S3 unreachable mid-step)."""

    refuse = False

    def put_file(self, key: str, path: Path) -> None:
        if self.refuse:
            raise StoreUnavailable("injected by test: the bucket is unreachable")
        super().put_file(key, path)


def test_a_step_that_cannot_store_its_objects_leaves_the_previous_checkpoint(
    cognito: Any, pool: str, tmp_path: Path
) -> None:
    store = RefusingStore(tmp_path / "repo")
    repo = Repository(store)

    def step(cp: str | None, pages: int = 1) -> StepResult:
        return run_backup_step(
            reader_for(cognito, pool, 1), repo, REGION, cp, deadline=pages_then_out(pages), options=TINY
        )

    cp = step(None).checkpoint_id
    assert cp is not None
    before = store.get_bytes(checkpoint_key(cp))
    store.refuse = True
    with pytest.raises(StoreUnavailable):
        step(cp, pages=3)
    assert store.get_bytes(checkpoint_key(cp)) == before
    store.refuse = False

    result, _ = drive(repo, lambda c: step(c if c is not None else cp))
    assert result.manifest is not None
    assert content(repo, result.manifest)["user_count"] == USERS


def test_checkpoint_is_small_and_the_payload_only_carries_its_id(cognito: Any, pool: str, tmp_path: Path) -> None:
    repo = new_repo(tmp_path, "repo")
    result = run_backup_step(reader_for(cognito, pool), repo, REGION, None, deadline=pages_then_out(2), options=TINY)
    assert result.checkpoint_id is not None
    state = load_checkpoint(repo, result.checkpoint_id)
    while not state.groups_done:  # groups are read while users are listed: a few steps, then all known
        result = run_backup_step(
            reader_for(cognito, pool), repo, REGION, state.snapshot_id, deadline=pages_then_out(2), options=TINY
        )
        state = load_checkpoint(repo, state.snapshot_id)
    assert state.snapshot_id == result.checkpoint_id
    assert {ref.kind for ref in state.objects} >= {"config", "groups"}
    assert sorted(state.groups) == [f"group-{g:03d}" for g in range(GROUPS)]
    assert len(state.to_json()) < 64 * 1024


def test_a_step_repeated_after_the_commit_reports_the_same_snapshot(cognito: Any, pool: str, tmp_path: Path) -> None:
    """Step Functions may re-run a step whose reply was lost: it must not fail nor start over."""
    repo = new_repo(tmp_path, "repo")
    reader = reader_for(cognito, pool)
    first = run_backup_step(reader, repo, REGION, None, deadline=pages_then_out(1), options=TINY)
    assert first.checkpoint_id is not None
    last_input, result = first.checkpoint_id, first
    while not result.done:
        last_input = result.checkpoint_id or last_input
        result = run_backup_step(reader, repo, REGION, last_input, deadline=pages_then_out(50), options=TINY)
    again = run_backup_step(reader, repo, REGION, last_input, deadline=pages_then_out(50), options=TINY)
    assert again.done and again.snapshot_id == result.snapshot_id
    assert len(repo.list_snapshots()) == 1


def test_a_checkpoint_of_another_pool_is_refused(cognito: Any, pool: str, tmp_path: Path) -> None:
    repo = new_repo(tmp_path, "repo")
    cp = run_backup_step(reader_for(cognito, pool), repo, REGION, None, deadline=pages_then_out(0), options=TINY)
    other = make_pool(cognito, "other")
    assert cp.checkpoint_id is not None
    with pytest.raises(UsageError):
        run_backup_step(reader_for(cognito, other), repo, REGION, cp.checkpoint_id, deadline=pages_then_out(9))


# ---- the Lambda handler ----------------------------------------------------------------------------------
class FakeContext:
    """A Lambda context whose clock runs 100 s per look at it: a few pages per invocation."""

    def __init__(self, budget_ms: int = 900_000, per_call_ms: int = 100_000) -> None:
        self.left = budget_ms
        self.per_call = per_call_ms
        self.aws_request_id = "test-request"

    def get_remaining_time_in_millis(self) -> int:
        self.left = max(0, self.left - self.per_call)
        return self.left


@pytest.fixture
def lambda_env(monkeypatch: pytest.MonkeyPatch, pool: str, tmp_path: Path) -> Path:
    repo_dir = tmp_path / "lambda-repo"
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(repo_dir))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", pool)
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_REGION", REGION)
    monkeypatch.delenv("COGNITO_BACKUP_SSE_KMS_KEY_ID", raising=False)
    return repo_dir


def test_handler_drives_the_state_machine_loop_to_done(
    cognito: Any, pool: str, lambda_env: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="cognito_backup.backup")
    event: dict[str, Any] = {"checkpoint": None}
    outputs = []
    for _ in range(100):
        out = backup_lambda.handler(json.loads(json.dumps(event)), FakeContext())
        outputs.append(out)
        assert set(out) == {"done", "checkpoint", "snapshot", "users", "incomplete", "reused_objects", "reused_bytes"}
        assert len(json.dumps(out)) < 1024, "the Step Functions payload must stay tiny"
        if out["done"]:
            break
        assert out["snapshot"] is None
        event = {"checkpoint": out["checkpoint"]}  # what the state machine passes back
    final = outputs[-1]
    assert final["done"] is True and final["checkpoint"] is None
    assert len(outputs) >= 3
    assert final["users"] == USERS

    repo = Repository(LocalStore(lambda_env))
    manifest = repo.resolve("latest")
    assert manifest.id == final["snapshot"]
    assert content(repo, manifest)["user_count"] == USERS
    assert len(content(repo, manifest)["memberships"]) == BIG_GROUP + 70

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cognito_backup.backup"]
    assert [line["event"] for line in lines] == ["backup_step"] * len(outputs)
    assert "example.com" not in caplog.text  # no attribute values (emails) in the logs


def test_handler_rejects_a_malformed_checkpoint(lambda_env: Path, caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.INFO, logger="cognito_backup.backup")
    with pytest.raises(UsageError):
        backup_lambda.handler({"checkpoint": {"id": "../../etc/passwd"}}, FakeContext())
    with pytest.raises(UsageError):
        backup_lambda.handler({"checkpoint": 42}, FakeContext())
    assert json.loads(caplog.records[-1].getMessage())["error"] == "UsageError"


# ---- the standby handler ---------------------------------------------------------------------------------
def _sub_of(client: Any, pool_id: str, username: str) -> str:
    user = client.admin_get_user(UserPoolId=pool_id, Username=username)
    return str(next(a["Value"] for a in user["UserAttributes"] if a["Name"] == "sub"))


def test_standby_handler_applies_a_batch_idempotently(
    cognito: Any, monkeypatch: pytest.MonkeyPatch, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    import datetime as dt

    from cognito_backup.core.plan import PlanOptions, plan
    from cognito_backup.ops.capture import CaptureOptions, Capturer, Message, capture_batch
    from cognito_backup.ops.replicate import cursor_key
    from cognito_backup.repo.journal import Journal
    from cognito_backup.serverless import replicate as replicate_lambda
    from tests.capture_helpers import event_for, fast_readers
    from tests.helpers import add_user

    source = make_pool(cognito, "source")
    fill_pool(cognito, source, 20, n_groups=2, big_group=5)
    standby = make_pool(cognito, "standby")
    repo = new_repo(tmp_path, "repo")
    run_backup(reader_for(cognito, source, 1), repo, REGION)

    # A batch of changes after the snapshot, journaled by the capture path.
    cognito.admin_update_user_attributes(
        UserPoolId=source, Username="user-00001", UserAttributes=[{"Name": "custom:tier", "Value": "platinum"}]
    )
    cognito.admin_disable_user(UserPoolId=source, Username="user-00002")
    cognito.admin_delete_user(UserPoolId=source, Username="user-00003")
    add_user(cognito, source, "newcomer", {"email": "new@example.com", "email_verified": "true"})
    cognito.admin_add_user_to_group(UserPoolId=source, Username="user-00004", GroupName="group-001")
    now = dt.datetime.now(dt.UTC)
    events = [
        event_for("AdminUpdateUserAttributes", pool=source, event_id="e1", when=now, username="user-00001"),
        event_for("AdminDisableUser", pool=source, event_id="e2", when=now, username="user-00002"),
        event_for("AdminDeleteUser", pool=source, event_id="e3", when=now, username="user-00003"),
        event_for("AdminCreateUser", pool=source, event_id="e4", when=now, sub=_sub_of(cognito, source, "newcomer")),
        event_for(
            "AdminAddUserToGroup", pool=source, event_id="e5", when=now, username="user-00004", group="group-001"
        ),
    ]
    capturer = Capturer(fast_readers(cognito), CaptureOptions(default_pool_id=source, consistency_window=0))
    captured = capture_batch(
        capturer, Journal(repo.store), [Message(id=e["detail"]["eventID"], body=json.dumps(e)) for e in events]
    )
    assert not captured.not_done_ids

    repo_dir = tmp_path / "repo"
    monkeypatch.setenv("COGNITO_BACKUP_REPO", str(repo_dir))
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_ID", source)
    monkeypatch.setenv("COGNITO_BACKUP_USER_POOL_REGION", REGION)
    monkeypatch.setenv("COGNITO_BACKUP_STANDBY_POOL_ID", standby)
    monkeypatch.setenv("COGNITO_BACKUP_STANDBY_REGION", REGION)
    caplog.set_level(logging.INFO, logger="cognito_backup.replicate")

    def standby_diff() -> list[str]:
        desired = reader_for(cognito, source, 1).read_state()
        actual = reader_for(cognito, standby, 1).read_state()
        return [op.kind for op in plan(desired, actual, PlanOptions(prune=True)).ops if op.kind != "set_password"]

    assert standby_diff() != []
    # A clock that stands still: the round has all its time (tests/test_standby_rounds.py runs it out).
    first = replicate_lambda.handler({}, FakeContext(per_call_ms=0))
    assert first["applied"] is True and first["failed"] == 0 and first["operations"] > 0
    assert first["lag_seconds"] is not None
    assert standby_diff() == []

    # The same minute again: nothing new after the cursor, nothing written.
    second = replicate_lambda.handler({}, FakeContext(per_call_ms=0))
    assert second["applied"] is False and second["operations"] == 0

    # The same batch applied once more from scratch (cursor lost): it plans nothing and changes nothing.
    repo.store.delete(cursor_key(standby))
    third = replicate_lambda.handler({}, FakeContext(per_call_ms=0))
    assert third["applied"] is True and third["operations"] == 0 and third["failed"] == 0
    assert standby_diff() == []

    lines = [json.loads(r.getMessage()) for r in caplog.records if r.name == "cognito_backup.replicate"]
    assert [line["event"] for line in lines] == ["replicate"] * 3
    assert "example.com" not in caplog.text and "platinum" not in caplog.text
