"""The end of a deployed restore in parts (core/report_parts.py, ops/stored_plan.py): each finished chunk
leaves its report part, the last step only joins them. Counting an entity once across parts (pure), and a
last step killed in the middle of its join: the next one joins again from the parts, writes nothing to
the target and ends with the report one uninterrupted run gives."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from cognito_backup.core.plan import Op
from cognito_backup.core.plan_chunks import chunked
from cognito_backup.core.report_parts import chunk_part, join_counts, outcome_name
from cognito_backup.errors import OutOfTime
from cognito_backup.ops.checkpoint import Checkpoint
from cognito_backup.ops.restore import RestoreOptions, reconcile
from cognito_backup.ops.stored_plan import StoredPlan
from cognito_backup.store.local import LocalStore
from tests.helpers import make_pool
from tests.restore_support import CallRecorder, quiet_pacer
from tests.test_restore_faults import assert_complete, source
from tests.test_restore_resume import DyingStore, Killed
from tests.test_stored_plan import PLAN, _comparable

# ---- pure: counting entities across parts ---------------------------------------------------------------


def _ops() -> list[tuple[Op, str]]:
    """Three users (the second's create failed, its password blocked), a membership, a deletion."""
    return [
        (Op(kind="create_group", group="g"), "done"),
        (Op(kind="create_user", user="a", username="a", source_sub="s-a"), "done"),
        (Op(kind="set_password", user="a", username="a"), "done"),
        (Op(kind="disable_user", user="a", username="a"), "done"),
        (Op(kind="add_membership", user="a", group="g"), "done"),
        (Op(kind="create_user", user="b", username="b", source_sub="s-b"), "failed"),
        (Op(kind="set_password", user="b", username="b"), "blocked"),
        (Op(kind="create_user", user="c", username="c", source_sub="s-c"), "existed"),
        (Op(kind="set_password", user="c", username="c"), "kept"),
        (Op(kind="delete_user", user="z", username="z"), "done"),
    ]


def _part(batch: list[tuple[Op, str]]) -> Any:
    return chunk_part(
        [op for op, _ in batch],
        [(status, None, None) for _, status in batch],
        ok=lambda status: status not in ("failed", "blocked"),
        existed="existed",
        kept="kept",
        answered=lambda key: ("new-" + key, key) if key == "a" else None,
        username_attrs=(),
    )


@pytest.mark.parametrize("size", [1, 2, 3, 4, 100])
def test_each_entity_counts_once_whichever_chunks_cut_its_operations(size: int) -> None:
    ops = _ops()
    ranks: dict[tuple[str, str], int] = {}
    order = ("updated", "deleted", "created", "failed")
    for op, status in ops:
        rank = order.index(outcome_name(op, status not in ("failed", "blocked"), status == "existed"))
        ranks[op.entity] = max(rank, ranks.get(op.entity, rank))
    expected: dict[str, dict[str, int]] = {}
    for (kind, _), rank in ranks.items():
        expected.setdefault(kind, {})[order[rank]] = expected.get(kind, {}).get(order[rank], 0) + 1

    parts = [_part(batch) for batch in chunked(ops, size)]
    joined = join_counts(parts)

    assert joined.entities == expected
    assert expected["user"] == {"created": 1, "failed": 1, "updated": 1, "deleted": 1}
    assert joined.kinds == {"create_group": 1, "create_user": 3, "set_password": 3, "disable_user": 1}.__or__(
        {"add_membership": 1, "delete_user": 1}
    )
    assert [row for p in parts for _, row in p.sub_rows] == [("s-a", "new-a", "a")]
    assert [u for p in parts for u in p.unresolved] == [("b", "username", "s-b"), ("c", "username", "s-c")]
    assert [n for p in parts for n in p.kept_passwords] == ["c"]
    assert [op.user for p in parts for op in p.pruned] == ["z"]
    assert [(op.kind, s) for p in parts for op, s, _ in p.failures] == [
        ("create_user", "failed"),
        ("set_password", "blocked"),
    ]


# ---- a last step killed in its join ---------------------------------------------------------------------


class _DiesReading(DyingStore):
    """Test double of the store of a process killed while it reads `key`: that read and every write
    after it fail (a dead process writes nothing)."""

    def __init__(self, inner: Any, key: str) -> None:
        super().__init__(inner)
        self.key = key

    def get_bytes(self, key: str) -> bytes:
        if key.endswith(self.key):
            self.dead = True
            raise Killed
        data: bytes = self.inner.get_bytes(key)
        return data


def _carry_until_all_done(cognito: Any, store: Any, target: str, desired: Any) -> None:
    """Steps of 10 operations each until every chunk is carried out, the last one's time up just then (the
    report left to a last step)."""
    for _ in range(100):
        started = [0]

        def out_of_time(started: list[int] = started) -> bool:
            started[0] += 1
            stored = StoredPlan(store, PLAN)
            return started[0] > 10 or (stored.exists() and stored.position().complete)

        checkpoint = Checkpoint(store, f"{target}@snap")
        options = RestoreOptions(out_of_time=out_of_time, carry=StoredPlan(store, PLAN, chunk=7))
        try:
            reconcile(cognito, quiet_pacer(), target, desired, options, checkpoint=checkpoint)
        except OutOfTime:
            checkpoint.close()
            if StoredPlan(store, PLAN).exists() and StoredPlan(store, PLAN).position().complete:
                return
            continue
        raise AssertionError("a step ended the restore before its last step")
    raise AssertionError("no progress")


def test_a_last_step_killed_in_its_join_joins_again_from_the_parts(cognito: Any, tmp_path: Path) -> None:
    _, desired = source(cognito, tmp_path, users=30)
    target, oneshot_target = make_pool(cognito, "B"), make_pool(cognito, "C")
    store = LocalStore(tmp_path / "repo")
    _carry_until_all_done(cognito, store, target, desired)
    stored = StoredPlan(store, PLAN)
    chunks = stored.meta().chunks
    assert chunks > 3 and all(store.exists(f"{PLAN}part-{i:06d}.json.gz") for i in range(chunks))

    recorder = CallRecorder(cognito)
    dying = _DiesReading(store, f"part-{chunks // 2:06d}.json.gz")
    with pytest.raises(Killed):
        reconcile(
            cognito,
            quiet_pacer(),
            target,
            desired,
            RestoreOptions(out_of_time=lambda: True, carry=StoredPlan(dying, PLAN)),  # type: ignore[arg-type]
            checkpoint=Checkpoint(dying, f"{target}@snap"),  # type: ignore[arg-type]
        )
    final = reconcile(
        cognito,
        quiet_pacer(),
        target,
        desired,
        RestoreOptions(out_of_time=lambda: True, carry=StoredPlan(store, PLAN)),
        checkpoint=Checkpoint(store, f"{target}@snap"),
    )

    assert recorder.writes() == []  # the join sends nothing: every operation was done before
    oneshot = reconcile(
        cognito, quiet_pacer(), oneshot_target, desired, checkpoint=Checkpoint(store, f"{oneshot_target}@snap")
    )
    assert _comparable(final)["detail"] == _comparable(oneshot)["detail"]
    assert _comparable(final) == _comparable(oneshot) | {"client_id_map": _comparable(final)["client_id_map"]}
    assert [(old, name) for old, _, name in final.sub_map] == [(old, name) for old, _, name in oneshot.sub_map]
    assert len(final.sub_map) == 30 and final.missing_after == []
    assert_complete(cognito, target, desired)


def test_later_steps_need_no_snapshot_user_and_the_map_keeps_users_the_target_held(
    cognito: Any, tmp_path: Path
) -> None:
    """Into a target that holds some of the snapshot's users already: the first step stores their rows
    (their new sub is only its read's); later steps are handed the snapshot's configuration alone, as a
    deployed restore's later steps load it, and still end with the whole map, without listing the target."""
    from cognito_backup.model import PoolState
    from tests.helpers import add_user
    from tests.test_restore_resume import pools_named
    from tests.test_restore_submap import listed_whole, read_back_map

    _, desired = source(cognito, tmp_path, users=20)
    [source_pool] = pools_named(cognito, "A")
    target = make_pool(cognito, "B")
    for i in range(0, 20, 4):
        add_user(cognito, target, f"user-{i:05d}")
    store = LocalStore(tmp_path / "state")
    recorder = CallRecorder(cognito)
    config_only = PoolState(config=desired.config)
    later_listings = 0
    for step in range(100):
        started = [0]

        def out_of_time(started: list[int] = started) -> bool:
            started[0] += 1
            return started[0] > 12

        mark = len(recorder.calls)
        checkpoint = Checkpoint(store, f"{target}@snap")
        options = RestoreOptions(out_of_time=out_of_time, carry=StoredPlan(store, PLAN, chunk=7))
        try:
            summary = reconcile(
                cognito, quiet_pacer(), target, desired if step == 0 else config_only, options, checkpoint=checkpoint
            )
        except OutOfTime:
            continue
        finally:
            checkpoint.close()
            if step > 0:
                later_listings += len(listed_whole(recorder.calls[mark:]))
        break
    assert step >= 2 and later_listings == 0
    assert summary.failures() == [] and summary.missing_after == []
    assert list(summary.sub_map) == read_back_map(cognito, source_pool, target)
    assert len(summary.sub_map) == 20
