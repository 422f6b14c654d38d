"""Sorted, sharded snapshots (issue #10.1, the format): users sorted by username in content-defined
key-range shards recorded in the manifest, shards shared between snapshots (and the backup says what
that saved), sorting that survives Lambda step boundaries, `check` of the new invariants, and
snapshots in the listing-order format still read everywhere."""

from __future__ import annotations

import datetime as dt
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from bench.bench_memory import SCHEMA, synthetic_user
from click.testing import CliRunner

from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.reader import PoolReader
from cognito_backup.cli.main import cli
from cognito_backup.core.diff import differences
from cognito_backup.model import Group, Membership, PoolConfig
from cognito_backup.ops.backup import BackupOptions, run_backup
from cognito_backup.ops.backup_steps import StepOptions, load_checkpoint, run_backup_step, save_checkpoint
from cognito_backup.repo.check import check_repository
from cognito_backup.repo.layout import run_key, snapshot_key
from cognito_backup.repo.manifest import Manifest, ObjectRef
from cognito_backup.repo.objects import ObjectWriter, iter_object
from cognito_backup.repo.repository import Repository
from cognito_backup.repo.shards import SortBuffer, cut_bits, cuts_after, merge_sorted
from cognito_backup.store.local import LocalStore
from tests.helpers import fill_pool, make_pool

REGION = "us-east-1"
USERS = 600


def reader(client: Any, pool_id: str) -> PoolReader:
    return PoolReader(client, Pacer(sleep=lambda s: None), pool_id)


def user_shards(manifest: Manifest) -> list[ObjectRef]:
    return manifest.objects_of("users")


def assert_sorted_shards(repo: Repository, manifest: Manifest, users: int) -> list[ObjectRef]:
    assert manifest.sorted_by == {"users": "username"}
    shards = user_shards(manifest)
    assert len(shards) >= 3, "a few hundred users make several shards"
    for shard in shards:
        assert shard.first is not None and shard.last is not None and shard.first <= shard.last
    for left, right in itertools.pairwise(shards):
        assert left.last is not None and right.first is not None and left.last < right.first, "ranges overlap"
    names = [u.username for u in repo.iter_users(manifest)]
    assert names == sorted(names) and len(set(names)) == users
    assert names[0] == shards[0].first and names[-1] == shards[-1].last
    return shards


@pytest.fixture
def backed_up(cognito: Any, tmp_path: Path) -> tuple[str, Path]:
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=USERS, n_groups=2, big_group=40)
    root = tmp_path / "repo"
    run_backup(reader(cognito, pool_id), Repository(LocalStore(root)), REGION)
    return pool_id, root


def backup_cli(root: Path, pool_id: str, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["backup", "--user-pool-id", pool_id, "--repo", str(root), *extra])


def test_backup_stores_users_sorted_in_key_range_shards(backed_up: tuple[str, Path]) -> None:
    _, root = backed_up
    repo = Repository(LocalStore(root))
    manifest = repo.resolve("latest")
    shards = assert_sorted_shards(repo, manifest, USERS)
    assert manifest.counts["users"] == sum(s.records for s in shards) == USERS
    body = json.loads((root / snapshot_key(manifest.id)).read_text())
    assert body["sorted_by"] == {"users": "username"} and body["format_version"] == 1
    assert all("first" in o and "last" in o for o in body["objects"] if o["kind"] == "users")
    # The sort runs were staged under runs/ and are gone with the checkpoint.
    assert list(repo.store.list("checkpoints/")) == list(repo.store.list("runs/")) == []
    assert check_repository(repo, read_data=True).ok


def test_a_second_backup_shares_the_unchanged_shards_and_says_so(cognito: Any, backed_up: tuple[str, Path]) -> None:
    pool_id, root = backed_up
    repo = Repository(LocalStore(root))
    first = repo.resolve("latest")
    for name in ("user-00100", "user-00450"):
        cognito.admin_update_user_attributes(
            UserPoolId=pool_id, Username=name, UserAttributes=[{"Name": "custom:tier", "Value": "platinum"}]
        )

    result = backup_cli(root, pool_id, "--json")
    assert result.exit_code == 0, result.output
    summary = json.loads(result.stdout)
    second = repo.resolve(summary["snapshot"])
    before, after = {s.sha256 for s in user_shards(first)}, user_shards(second)
    shared = [s for s in after if s.sha256 in before]
    assert len(after) - len(shared) <= 2, "only the shards holding the two changed users are new"
    assert len(shared) >= len(after) - 2 >= 1
    # Every object the snapshot references that the first one had stored counts: the shared user
    # shards, and the configuration and groups, unchanged too.
    old = {o.sha256: o.size for o in first.objects}
    reused = [o for o in second.objects if o.sha256 in old]
    assert summary["reused_objects"] == len(reused) >= len(shared)
    assert summary["reused_bytes"] == sum(o.size for o in reused) > 0

    text = backup_cli(root, pool_id)
    assert text.exit_code == 0, text.output
    assert "already stored" in text.output and f"{len(second.objects)} objects" in text.output


def test_content_defined_cuts_keep_an_unchanged_range_byte_identical(tmp_path: Path) -> None:
    """One user changed and one added: only the shards around them differ, whatever shifted before them."""
    repo = Repository(LocalStore(tmp_path / "repo"))

    def snapshot(changed: set[int], extra: list[int]) -> Manifest:
        with repo.begin_snapshot("eu-west-1_X", "eu-west-1", max_records_per_object=500) as w:
            w.add("config", PoolConfig(user_pool={"Id": "eu-west-1_X"}).to_record())
            # Listing order is not key order: added backwards and in two halves.
            for i in [*range(3000, 0, -2), *range(2999, 0, -2), *extra]:
                w.add("users", synthetic_user(i, changed=i in changed).to_record())
            w.flush()  # a checkpoint's flush: the users so far become one sorted run
            return w.commit()

    a = snapshot(set(), [])
    b = snapshot({1500}, [2001_5])
    a_shards, b_shards = {s.sha256 for s in user_shards(a)}, {s.sha256 for s in user_shards(b)}
    assert len(a_shards) >= 20
    assert len(b_shards - a_shards) <= 4
    assert b.extra["reused_objects"] >= len(b_shards & a_shards)
    assert_sorted_shards(repo, b, 3001)


def test_cut_rules() -> None:
    assert cut_bits(0) == cut_bits(100_000) == 6  # small pools: 64 users a shard on average
    assert cut_bits(1_000_000) == 8 and cut_bits(40_000_000) == 14  # about 2,048 shards a snapshot
    assert not cuts_after("anything", 15, 6, 100_000)  # under the minimum
    assert cuts_after("anything", 256, 6, 100_000) and cuts_after("x", 50, 6, 50)  # the maximum
    keys = [f"user-{i:05d}" for i in range(20_000)]
    cuts = sum(cuts_after(k, 64, 6, 100_000) for k in keys)
    assert 200 < cuts < 450  # one key in 64
    merged = merge_sorted(
        [iter([{"username": "a"}, {"username": "c"}]), iter([{"username": "b"}, {"username": "c"}])], after="a"
    )
    assert [r["username"] for r in merged] == ["b", "c"]


@pytest.mark.parametrize("keep", [2, 100], ids=["on-disk", "in-memory"])
def test_the_sort_buffer_keeps_one_record_a_key_in_key_order(keep: int) -> None:
    buffer = SortBuffer(keep=keep)
    for name, n in [("d", 1), ("b", 1), ("a", 1), ("b", 2), ("c", 1), ("a", 2)]:
        buffer.add(name, {"username": name, "n": n})
    assert len(buffer) == 4  # exact: the shard cut parameters depend on it
    assert list(buffer.sorted_records()) == [
        {"username": "a", "n": 2},
        {"username": "b", "n": 2},
        {"username": "c", "n": 1},
        {"username": "d", "n": 1},
    ]
    buffer.clear()
    assert len(buffer) == 0 and list(buffer.sorted_records()) == []


def test_sorting_and_sharding_survive_step_boundaries(cognito: Any, tmp_path: Path) -> None:
    """Lambda steps: the users are staged in sorted runs, and the shard stage stops after any shard and
    continues in the next step; the result is the snapshot one uninterrupted run writes, byte for byte."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=300, n_groups=1)
    options = StepOptions(safety_seconds=60.0, max_records_per_object=100)
    one = Repository(LocalStore(tmp_path / "one"))
    whole = run_backup(reader(cognito, pool_id), one, REGION, BackupOptions(max_records_per_object=100)).manifest

    repo = Repository(LocalStore(tmp_path / "steps"))
    checkpoint: str | None = None
    stages: list[str] = []
    runs_seen = 0
    for _ in range(200):

        def no_time_left() -> float:
            return 0.0  # every step does its first unit of work (a page, a shard) and stops

        result = run_backup_step(
            reader(cognito, pool_id), repo, REGION, checkpoint, deadline=no_time_left, options=options
        )
        if result.done:
            break
        checkpoint = result.checkpoint_id
        assert checkpoint is not None
        stages.append(result.stage)
        state = load_checkpoint(repo, checkpoint)
        runs_seen = max(runs_seen, len(state.runs))
        if state.stage == "shard":
            staged = [run_key(checkpoint, s.sha256) for run in state.runs for s in run]
            assert staged and all(repo.store.exists(key) for key in staged)
    else:
        raise AssertionError("the backup loop did not finish")
    assert result.manifest is not None
    assert stages.count("shard") >= 2, "the shard stage spanned several steps"
    assert runs_seen >= 3, "300 users in runs of at most 100"
    assert [s.sha256 for s in user_shards(result.manifest)] == [s.sha256 for s in user_shards(whole)]
    assert_sorted_shards(repo, result.manifest, 300)
    assert list(repo.store.list("checkpoints/")) == list(repo.store.list("runs/")) == []
    assert check_repository(repo, read_data=True).ok


# ---- snapshots written before sharding -------------------------------------------------------------
def write_listing_order_snapshot(repo: Repository, pool_id: str, users: list[int]) -> Manifest:
    """A snapshot the way versions before sharding wrote it: users in listing order, objects of up to
    100,000 records (here 70), no key ranges, no `sorted_by`."""
    repo.init_if_needed()
    refs = []
    for kind, records in (
        ("config", [PoolConfig(user_pool={"Id": pool_id, "Name": "old", "SchemaAttributes": SCHEMA}).to_record()]),
        ("groups", [Group(name="g0").to_record()]),
        ("memberships", [Membership(group="g0", username=f"user-{i:08d}").to_record() for i in users[:5]]),
    ):
        writer = ObjectWriter(repo.store, kind)
        for record in records:
            writer.add(record)
        refs.append(writer.finish())
    for start in range(0, len(users), 70):
        writer = ObjectWriter(repo.store, "users")
        for i in users[start : start + 70]:
            writer.add(synthetic_user(i).to_record())
        refs.append(writer.finish())
    manifest = Manifest(
        id="20260101T000000Z-0000000a",
        user_pool_id=pool_id,
        region="eu-west-1",
        started_at="2026-01-01T00:00:00.000000Z",
        finished_at="2026-01-01T00:01:00.000000Z",
        tool_version="0.1.0",
        objects=refs,
        counts={"config": 1, "groups": 1, "memberships": len(users[:5]), "users": len(users)},
    )
    body = json.loads(manifest.to_json())
    assert "sorted_by" not in body and all("first" not in o for o in body["objects"])
    repo.store.put_bytes(snapshot_key(manifest.id), manifest.to_json())
    return manifest


def test_a_listing_order_snapshot_stays_readable(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = Repository(LocalStore(root))
    listing_order = [7, 3, 350, 1, 99, *range(300, 100, -1)]
    old = write_listing_order_snapshot(repo, "eu-west-1_Old", listing_order)
    loaded = repo.resolve(old.id)
    assert loaded.sorted_by == {} and all(o.first is None for o in loaded.objects)
    assert [u.username for u in repo.iter_users(loaded)] == [f"user-{i:08d}" for i in listing_order]
    state = repo.load_state(loaded)
    assert len(state.users) == len(listing_order) and len(state.memberships) == 5
    assert check_repository(repo, read_data=True).ok

    # A new snapshot of the same pool beside it: both read, and compare.
    with repo.begin_snapshot("eu-west-1_Old", "eu-west-1", started_at=dt.datetime(2026, 1, 2, tzinfo=dt.UTC)) as w:
        w.add(
            "config",
            PoolConfig(user_pool={"Id": "eu-west-1_Old", "Name": "old", "SchemaAttributes": SCHEMA}).to_record(),
        )
        w.add("groups", Group(name="g0").to_record())
        for i in listing_order[1:]:
            w.add("users", synthetic_user(i).to_record())
        new = w.commit()
    assert new.sorted_by == {"users": "username"}
    runner = CliRunner()
    for args in (["show", "--snapshot", old.id], ["snapshots"], ["check", "--read-data"]):
        result = runner.invoke(cli, [*args, "--repo", str(root)])
        assert result.exit_code == 0, (args, result.output)
    found = differences(repo.load_state(old), repo.load_state(new))  # what `diff` and restores compare
    assert "user-00000007" in json.dumps([d.to_json() for d in found])


# ---- check -----------------------------------------------------------------------------------------
def rewrite_manifest(root: Path, manifest_id: str, change: Any) -> None:
    path = root / snapshot_key(manifest_id)
    body = json.loads(path.read_text())
    change([o for o in body["objects"] if o["kind"] == "users"], body)
    path.write_text(json.dumps(body))


def run_check(root: Path, *extra: str) -> Any:
    return CliRunner().invoke(cli, ["check", "--repo", str(root), "--json", *extra])


def problems(result: Any) -> list[dict[str, Any]]:
    assert result.exit_code == 6, result.output
    return list(json.loads(result.stdout)["problems"])


def test_check_reports_overlapping_and_missing_ranges(backed_up: tuple[str, Path]) -> None:
    _, root = backed_up
    manifest = Repository(LocalStore(root)).resolve("latest")

    def overlap(users: list[dict[str, Any]], body: dict[str, Any]) -> None:
        ordered = sorted(users, key=lambda o: o["first"])
        ordered[1]["first"] = ordered[0]["last"]  # two shards claim one key

    rewrite_manifest(root, manifest.id, overlap)
    found = problems(run_check(root))
    assert [p["kind"] for p in found] == ["order"]
    assert "overlap" in found[0]["message"] and found[0]["snapshot"] == manifest.id

    def no_range(users: list[dict[str, Any]], body: dict[str, Any]) -> None:
        del users[0]["first"]

    rewrite_manifest(root, manifest.id, no_range)
    assert any("key range" in p["message"] for p in problems(run_check(root)))


def test_check_with_read_data_finds_a_range_that_lies_about_its_records(backed_up: tuple[str, Path]) -> None:
    _, root = backed_up
    manifest = Repository(LocalStore(root)).resolve("latest")

    def narrower(users: list[dict[str, Any]], body: dict[str, Any]) -> None:
        shard = sorted(users, key=lambda o: o["first"])[1]
        shard["last"] = shard["last"] + "0"  # still before the next shard: only the records can tell

    rewrite_manifest(root, manifest.id, narrower)
    assert run_check(root).exit_code == 0  # structure alone cannot see it
    found = problems(run_check(root, "--read-data"))
    assert [p["kind"] for p in found] == ["order"] and "last record" in found[0]["message"]


def test_check_with_read_data_finds_a_shard_not_sorted(tmp_path: Path) -> None:
    root = tmp_path / "repo"
    repo = Repository(LocalStore(root))
    old = write_listing_order_snapshot(repo, "eu-west-1_Old", [5, 2, 9])

    def claim_sorted(users: list[dict[str, Any]], body: dict[str, Any]) -> None:
        users[0]["first"], users[0]["last"] = "user-00000005", "user-00000009"
        body["sorted_by"] = {"users": "username"}

    rewrite_manifest(root, old.id, claim_sorted)
    found = problems(run_check(root, "--read-data"))
    assert any(p["kind"] == "order" and "not sorted" in p["message"] for p in found), found


def test_a_checkpoint_saved_before_sharding_still_completes(cognito: Any, tmp_path: Path) -> None:
    """A checkpoint an older version saved holds its users in listing-order objects: the snapshot it
    completes keeps them, shards the users listed after, and says it is not sorted (readers then read
    it as any listing-order snapshot)."""
    pool_id = make_pool(cognito)
    fill_pool(cognito, pool_id, n_users=200, n_groups=1)
    repo = Repository(LocalStore(tmp_path / "repo"))
    options = StepOptions(safety_seconds=60.0)
    first: str | None = None
    while first is None or not load_checkpoint(repo, first).runs:  # steps of one page each, until users
        step = run_backup_step(reader(cognito, pool_id), repo, REGION, first, deadline=lambda: 0.0, options=options)
        first = step.checkpoint_id
        assert first is not None
    state = load_checkpoint(repo, first)
    assert state.stage == "listing" and 0 < state.users < 200
    # Rewrite it the way the older version saved it: the users so far in an object of objects/.
    old_style = ObjectWriter(repo.store, "users")
    for segment in (segment for run in state.runs for segment in run):
        for record in iter_object(repo.store, segment, key=run_key(state.snapshot_id, segment.sha256)):
            old_style.add(record)
    state.objects.append(old_style.finish())
    state.runs = []
    save_checkpoint(repo, state)

    checkpoint: str | None = first
    for _ in range(100):
        result = run_backup_step(reader(cognito, pool_id), repo, REGION, checkpoint, deadline=lambda: 1e9)
        if result.done:
            break
        checkpoint = result.checkpoint_id
    assert result.manifest is not None
    manifest = repo.resolve(result.manifest.id)
    assert manifest.sorted_by == {}
    names = [u.username for u in repo.iter_users(manifest)]
    assert len(names) == len(set(names)) == 200
    assert check_repository(repo, read_data=True).ok


def test_the_stack_bucket_expires_deleted_sort_runs_within_a_day() -> None:
    """The stack's bucket is versioned: a deleted run stays as a noncurrent version, by default 90 days.
    Runs are as big as the users' data, so they get a rule of their own (S3 honours the shortest of
    overlapping expirations)."""
    from tests.test_deploy_template import TEMPLATE, CfnLoader

    template = yaml.load(TEMPLATE.read_text(), Loader=CfnLoader)
    rules = template["Resources"]["BackupBucket"]["Properties"]["LifecycleConfiguration"]["Rules"]
    [runs] = [r for r in rules if r.get("Id") == "expire-deleted-sort-runs"]
    assert runs["Status"] == "Enabled" and runs["Prefix"] == {"Fn::Sub": "${RepositoryPrefix}/runs/"}
    assert runs["NoncurrentVersionExpiration"] == {"NoncurrentDays": 1}
