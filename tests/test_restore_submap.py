"""The sub map without reading the whole target back (issue 10, parts 1 and 4).

AdminCreateUser answers with the user it created, its new `sub` included (botocore's model: the
response's `User` is a UserType with `Attributes`), so the end of a restore needs no listing of the
target: the new subs come from the create calls (recorded in the restore's resume state as they answer),
the users already there from the read the plan was made from, and the few users a create found already
there are looked up one by one (a filtered ListUsers each). The map is the one a full read-back gives.
A listing of the whole target is ListUsers unfiltered or by `sub ^=` prefix (aws/reader.py's chains).
"""

from __future__ import annotations

import csv
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import boto3
import pytest
from botocore.awsrequest import AWSResponse

from cognito_backup.core.plan import PlanOptions, identity_key, username_attributes
from cognito_backup.core.spill import UserTable
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.restore import (
    RestoreOptions,
    RestoreOutcome,
    RestoreProgress,
    RestoreRequest,
    lookups_or_read_back,
    run_restore,
    sub_map_rows,
)
from cognito_backup.ops.scheduler import default_workers
from cognito_backup.repo.repository import Repository
from cognito_backup.store.memory import MemoryStore
from tests.helpers import add_user, make_pool
from tests.restore_support import READ_PREFIXES, CallRecorder, backup, quiet_pacer, read_state, rich_pool
from tests.test_restore_resume import DyingStore, Killed, kill_on, pools_named

REGION = "us-east-1"


def request(report_dir: Path, **kwargs: Any) -> RestoreRequest:
    return RestoreRequest(report_dir=report_dir, options=RestoreOptions(plan=PlanOptions()), **kwargs)


def listed_whole(calls: list[tuple[str, dict[str, Any]]]) -> list[dict[str, Any]]:
    """The ListUsers calls that list the whole target (no filter, or a chain's `sub ^=` prefix)."""
    return [p for name, p in calls if name == "ListUsers" and ("Filter" not in p or "^=" in str(p["Filter"]))]


def full_listings(recorder: CallRecorder, after: str = "AdminCreateUser") -> list[dict[str, Any]]:
    """listed_whole, from the first call named `after` on."""
    names = [name for name, _ in recorder.calls]
    return listed_whole(recorder.calls[names.index(after) if after in names else len(names) :])


def lookups(recorder: CallRecorder) -> list[str]:
    return [str(p["Filter"]) for p in recorder.named("ListUsers") if "^=" not in str(p.get("Filter", "^="))]


def map_file(outcome: RestoreOutcome) -> list[tuple[str, str, str]]:
    assert outcome.sub_map_path is not None
    with outcome.sub_map_path.open(newline="", encoding="utf-8") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["old_sub", "new_sub", "username"]
    return [(a, b, c) for a, b, c in rows[1:]]


def read_back_map(client: Any, source: str, target: str) -> list[tuple[str, str, str]]:
    """What the full read-back made: every source user the target holds, by identity key."""
    desired, now = read_state(client, source), read_state(client, target)
    attrs = username_attributes(desired.config)
    table = UserTable((identity_key(u, attrs), u) for u in now.users.values())
    return list(sub_map_rows(desired.users.values(), table, attrs))


@contextmanager
def refusing_create(client: Any, username: str) -> Iterator[None]:
    """AdminCreateUser of `username` fails (Cognito refuses it) while the block runs."""

    def refuse(params: dict[str, Any], **_: Any) -> None:
        if params.get("Username") == username:
            raise client.exceptions.InvalidParameterException(
                {"Error": {"Code": "InvalidParameterException", "Message": "refused"}}, "AdminCreateUser"
            )

    client.meta.events.register("provide-client-params.cognito-idp.AdminCreateUser", refuse)
    try:
        yield
    finally:
        client.meta.events.unregister("provide-client-params.cognito-idp.AdminCreateUser", refuse)


@contextmanager
def lagging_reads(client: Any) -> Iterator[None]:
    """ListUsers lags behind writes (eventual consistency): the reads before the run's first create show
    no user."""
    lagging = [True]

    def stale_list(model: Any, **_: Any) -> Any:
        if lagging[0] and model.name == "AdminCreateUser":
            lagging[0] = False  # the planning read is over
        if lagging[0] and model.name in ("ListUsers", "ListUsersInGroup"):
            return AWSResponse("https://cognito-idp.invalid", 200, {}, None), {"Users": [], "ResponseMetadata": {}}
        return None

    client.meta.events.register("before-call.cognito-idp.*", stale_list)
    try:
        yield
    finally:
        client.meta.events.unregister("before-call.cognito-idp.*", stale_list)


def test_a_new_pool_restore_ends_without_listing_the_target(cognito: Any, tmp_path: Path) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    recorder = CallRecorder(cognito)
    outcome = run_restore(cognito, quiet_pacer(), repo, request(tmp_path / "reports", new_pool_name="B"))
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    assert full_listings(recorder) == []
    assert lookups(recorder) == []
    target = str(outcome.summary.user_pool_id)
    expected = read_back_map(cognito, source, target)
    assert len(expected) == 5
    assert map_file(outcome) == expected
    assert list(outcome.summary.sub_map) == expected


def test_users_already_in_the_target_keep_their_sub_in_the_map_from_the_planning_read(
    cognito: Any, tmp_path: Path
) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    add_user(cognito, target, "alice", {"email": "alice@example.com"})
    add_user(cognito, target, "bob", {"email": "someone-else@example.com"})
    recorder = CallRecorder(cognito)
    outcome = run_restore(
        cognito, quiet_pacer(), repo, request(tmp_path / "r", target_pool_id=target, source_pool_id=source)
    )
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    assert full_listings(recorder) == []
    expected = read_back_map(cognito, source, target)
    assert {row[2] for row in expected} == {"alice", "bob", "carol", "dave", "erin"}
    assert map_file(outcome) == expected


def killed_after_three_creates(client: Any, tmp_path: Path) -> tuple[str, Repository, str]:
    """A --new-pool restore of rich_pool killed right after its third create answered, before recording it:
    (source pool, repository, the new pool)."""
    source = rich_pool(client, "A")
    repo = backup(client, source, tmp_path / "repo")
    dying = DyingStore(repo.store)
    unhook = kill_on(client, dying, "AdminCreateUser", 3, after=True)
    first = request(tmp_path / "one", new_pool_name="B")
    first.options.workers = {**default_workers(quiet_pacer().rates), "UserCreation": 1}  # one create at a time
    with pytest.raises(Killed):
        run_restore(client, quiet_pacer(), Repository(dying), first)
    unhook()
    [pool] = pools_named(client, "B")
    return source, repo, pool


def test_a_killed_restore_resumed_has_the_whole_map(cognito: Any, tmp_path: Path) -> None:
    """Killed right after the third create answered (its sub never recorded): the resumed run's planning
    read holds the three, its creates give the other two."""
    source, repo, pool = killed_after_three_creates(cognito, tmp_path)
    assert len(read_state(cognito, pool).users) == 3
    recorder = CallRecorder(cognito)
    outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), request(tmp_path / "two", new_pool_name="B"))
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    assert full_listings(recorder) == []
    assert map_file(outcome) == read_back_map(cognito, source, pool)
    assert len(map_file(outcome)) == 5


def test_a_resumed_run_whose_read_missed_the_earlier_creates_looks_them_up(cognito: Any, tmp_path: Path) -> None:
    """ListUsers lags behind writes: the re-run's read shows none of the users the killed run created, so
    their creates find them there; each is looked up by username, never by listing the target."""
    source, repo, pool = killed_after_three_creates(cognito, tmp_path)
    recorder = CallRecorder(cognito)
    with lagging_reads(cognito):
        again = request(tmp_path / "two", new_pool_name="B")
        outcome = run_restore(cognito, quiet_pacer(), Repository(repo.store), again)
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    assert full_listings(recorder) == []
    assert len(lookups(recorder)) == 3
    assert map_file(outcome) == read_back_map(cognito, source, pool)
    assert len(map_file(outcome)) == 5


def test_a_user_created_by_someone_else_during_the_restore_is_looked_up_not_listed(
    cognito: Any, tmp_path: Path
) -> None:
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    other = boto3.client("cognito-idp", region_name=REGION)  # another administrator, same pool
    done: list[bool] = []

    def meanwhile(**_: Any) -> None:
        if not done:
            done.append(True)
            other.admin_create_user(UserPoolId=target, Username="carol", MessageAction="SUPPRESS")

    cognito.meta.events.register("before-call.cognito-idp.AdminCreateUser", meanwhile)
    recorder = CallRecorder(cognito)
    req = request(tmp_path / "r", target_pool_id=target, source_pool_id=source)
    req.options.workers = {**default_workers(quiet_pacer().rates), "UserCreation": 1}
    outcome = run_restore(cognito, quiet_pacer(), repo, req)
    assert done
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    assert outcome.to_json()["kept_passwords"] == ["carol"]
    assert full_listings(recorder) == []
    assert lookups(recorder) == ['username = "carol"']
    assert map_file(outcome) == read_back_map(cognito, source, target)
    assert "carol" in {row[2] for row in map_file(outcome)}


def test_a_user_the_restore_meant_to_create_but_is_not_there_is_missing_after(cognito: Any, tmp_path: Path) -> None:
    """A create that failed leaves no sub: the user is looked up, not found, and named missing."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    recorder = CallRecorder(cognito)
    with refusing_create(cognito, "dave"):
        outcome = run_restore(cognito, quiet_pacer(), repo, request(tmp_path / "r", new_pool_name="B"))
    assert [f["user"] for f in outcome.summary.failures() if f["call"] == "AdminCreateUser"] == ["dave"]
    assert outcome.summary.missing_after == ["dave"]
    assert full_listings(recorder) == []
    assert lookups(recorder) == ['username = "dave"']
    assert len(map_file(outcome)) == 4


def test_many_users_to_look_up_read_the_target_back_instead_and_say_so(cognito: Any, tmp_path: Path) -> None:
    """Every create of 20 users finds its user there (the planning read lagged): 20 lookups cost more
    than one listing of the target (16 chains of one page), so the target is read back whole."""
    source = make_pool(cognito, "A")
    for i in range(20):
        add_user(cognito, source, f"user{i:02d}", {"email": f"u{i}@example.com"})
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    for i in range(20):
        add_user(cognito, target, f"user{i:02d}", {"email": f"u{i}@example.com"})
    notes: list[str] = []
    recorder = CallRecorder(cognito)
    with lagging_reads(cognito):
        outcome = run_restore(
            cognito,
            quiet_pacer(),
            repo,
            request(tmp_path / "r", target_pool_id=target, source_pool_id=source),
            progress=RestoreProgress(note=notes.append),
        )
    assert outcome.summary.missing_after == []
    assert full_listings(recorder) != []
    assert lookups(recorder) == []
    assert any("reading the whole target back" in n for n in notes), notes
    assert map_file(outcome) == read_back_map(cognito, source, target)
    assert len(map_file(outcome)) == 20


def test_the_choice_between_lookups_and_a_read_back() -> None:
    # A listing costs at least one call per chain (16), then one per page of 60 users.
    assert lookups_or_read_back(0, 0) == "lookups"
    assert lookups_or_read_back(16, 0) == "lookups"
    assert lookups_or_read_back(17, 0) == "read-back"
    assert lookups_or_read_back(1_000, 100_000) == "lookups"
    assert lookups_or_read_back(1_667, 100_000) == "lookups"
    assert lookups_or_read_back(1_668, 100_000) == "read-back"


def test_the_resume_state_keeps_each_created_users_new_sub() -> None:
    """Recorded with the create's answer, folded back by a re-run (also after a compaction), forgotten when
    a later run finds the user absent (its intent)."""
    store = MemoryStore()
    first = Checkpoint(store, "pool@snap", flush_every=2)
    first.record_intent("2026-12-01T00:00:00+00:00", ["alice", "bob", "carol"])
    first.record_created("alice", "sub-a", "alice")
    first.record_created("bob", "sub-b", "bob-generated-name")
    first.record("existed", user="carol")
    first.close()
    state = Checkpoint(store, "pool@snap").load()
    assert dict(state.subs) == {"alice": ("sub-a", "alice"), "bob": ("sub-b", "bob-generated-name")}
    assert set(state.created) == {"alice", "bob"}
    compacting = Checkpoint(store, "pool@snap", compact_over=0)
    compacting.compact(compacting.load())
    compacting.close()
    assert dict(Checkpoint(store, "pool@snap").load().subs) == dict(state.subs)
    later = Checkpoint(store, "pool@snap")
    later.load()
    later.record_intent("2026-12-02T00:00:00+00:00", ["alice"])
    later.close()
    assert dict(Checkpoint(store, "pool@snap").load().subs) == {"bob": ("sub-b", "bob-generated-name")}


def test_an_import_job_restore_still_reads_the_target_back(cognito: Any, tmp_path: Path) -> None:
    """Import jobs answer no user: their users' new subs are only learnt by reading the target back."""
    from tests.importjob_double import DoubleImport

    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")
    target = make_pool(cognito, "B")
    double = DoubleImport(cognito)
    try:
        req = request(tmp_path / "r", target_pool_id=target, source_pool_id=source)
        req.options.users_via = "import-job"
        req.options.import_role_arn = "arn:aws:iam::123456789012:role/import-logs"
        req.options.import_kwargs = {"put": double.http_put, "sleep": lambda s: None}
        recorder = CallRecorder(cognito)
        outcome = run_restore(cognito, quiet_pacer(), repo, req)
    finally:
        double.remove()
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    names = [name for name, _ in recorder.calls]
    last_write = max(i for i, name in enumerate(names) if not name.startswith(READ_PREFIXES))
    assert "ListUsers" in names[last_write:]  # read back after the last write
    assert map_file(outcome) == read_back_map(cognito, source, target)
    assert len(map_file(outcome)) == 5


def test_in_an_email_sign_in_pool_a_user_without_an_answer_is_looked_up_by_email(cognito: Any, tmp_path: Path) -> None:
    """There the identity key is the email and Cognito picks the username: the lookup filters on email."""
    source = rich_pool(cognito, "A", email_username=True)
    repo = backup(cognito, source, tmp_path / "repo")
    recorder = CallRecorder(cognito)
    with refusing_create(cognito, "dave@example.com"):
        outcome = run_restore(cognito, quiet_pacer(), repo, request(tmp_path / "r", new_pool_name="B"))
    assert outcome.summary.missing_after == ["dave@example.com"]
    assert full_listings(recorder) == []
    assert lookups(recorder) == ['email = "dave@example.com"']
    target = str(outcome.summary.user_pool_id)
    assert map_file(outcome) == read_back_map(cognito, source, target)
    assert len(map_file(outcome)) == 4


def test_a_create_answered_without_the_sub_is_looked_up(cognito: Any, tmp_path: Path) -> None:
    """The model's UserType does not promise every attribute: an answer without `sub` costs a lookup."""
    source = rich_pool(cognito, "A")
    repo = backup(cognito, source, tmp_path / "repo")

    def drop_sub(parsed: dict[str, Any], **_: Any) -> None:
        user = parsed.get("User") or {}
        if user.get("Username") == "bob":
            user["Attributes"] = [a for a in user.get("Attributes", []) if a["Name"] != "sub"]

    cognito.meta.events.register("after-call.cognito-idp.AdminCreateUser", drop_sub)
    recorder = CallRecorder(cognito)
    try:
        outcome = run_restore(cognito, quiet_pacer(), repo, request(tmp_path / "r", new_pool_name="B"))
    finally:
        cognito.meta.events.unregister("after-call.cognito-idp.AdminCreateUser", drop_sub)
    assert outcome.summary.failures() == [] and outcome.summary.missing_after == []
    assert full_listings(recorder) == []
    assert lookups(recorder) == ['username = "bob"']
    assert map_file(outcome) == read_back_map(cognito, source, str(outcome.summary.user_pool_id))
    assert len(map_file(outcome)) == 5


def test_a_restore_in_bounded_steps_ends_with_the_whole_map_and_only_its_planning_read(
    cognito: Any, tmp_path: Path
) -> None:
    """The deployed restore's steps (serverless/restore.py): each stops once out of time, the next carries
    on. The last step lists the target once, for its plan, never again for the map."""
    from cognito_backup.errors import OutOfTime
    from cognito_backup.ops.restore import reconcile
    from cognito_backup.store.local import LocalStore
    from tests.test_restore_faults import source as filled_source

    _, desired = filled_source(cognito, tmp_path, users=20)
    [source_pool] = pools_named(cognito, "A")
    target = make_pool(cognito, "B")
    store = LocalStore(tmp_path / "state")
    recorder = CallRecorder(cognito)
    mark = len(recorder.calls)
    read_state(cognito, target)
    one_listing = len(listed_whole(recorder.calls[mark:]))
    for _ in range(100):
        mark = len(recorder.calls)
        started = [0]

        def out_of_time(started: list[int] = started) -> bool:
            started[0] += 1
            return started[0] > 15  # a step's budget: about 15 operations

        checkpoint = Checkpoint(store, f"{target}@snap")
        try:
            summary = reconcile(
                cognito, quiet_pacer(), target, desired, RestoreOptions(out_of_time=out_of_time), checkpoint=checkpoint
            )
        except OutOfTime:
            continue
        finally:
            checkpoint.close()
        break
    assert summary.failures() == [] and summary.missing_after == []
    assert len(listed_whole(recorder.calls[mark:])) == one_listing  # the last step's planning read only
    assert list(summary.sub_map) == read_back_map(cognito, source_pool, target)
    assert len(summary.sub_map) == 20
