"""A deployed restore's plan made in pieces (core/plan_pieces.py): blocks of keys, the next piece from
the planning position, its key range, its size from the time left. Pure."""

from __future__ import annotations

from cognito_backup.core.plan_pieces import (
    Pieces,
    block_bounds,
    block_of,
    key_range,
    next_piece,
    piece_users,
    pieces_from_json,
    pieces_to_json,
)


def test_block_bounds_are_the_last_key_of_each_block_and_the_last_key() -> None:
    keys = [f"u{i:03d}" for i in range(10)]
    assert block_bounds(keys, 4) == (["u003", "u007", "u009"], 10)
    assert block_bounds(keys, 5) == (["u004", "u009"], 10)
    assert block_bounds([], 5) == ([], 0)


def test_keys_out_of_order_give_no_blocks() -> None:
    assert block_bounds(["a", "c", "b"], 2) is None
    assert block_bounds(["a", "a"], 2) is None  # two users of one key: not a sorted snapshot


def test_a_key_falls_in_the_block_whose_range_holds_it() -> None:
    bounds = ["u003", "u007", "u009"]
    assert [block_of(bounds, k) for k in ("a", "u003", "u004", "u007", "u008", "u009", "zz")] == [0, 0, 1, 1, 2, 2, 2]


def _pieces(bounds: list[str], nxt: int = 0) -> Pieces:
    return Pieces(bounds=bounds, users=10, intent_at="t", custom_attributes=[], block=4, next=nxt)


def test_next_piece_takes_as_many_blocks_as_the_users_allow_and_at_least_one() -> None:
    bounds = ["u003", "u007", "u009"]
    assert next_piece(_pieces(bounds), users=8) == (0, 2)
    assert next_piece(_pieces(bounds), users=1) == (0, 1)
    assert next_piece(_pieces(bounds, 2), users=100) == (2, 3)
    assert next_piece(_pieces(bounds, 1), users=0) == (1, 2)


def test_key_ranges_follow_each_other_and_the_last_is_open() -> None:
    bounds = ["u003", "u007", "u009"]
    assert key_range(bounds, 0, 1) == (None, "u003")
    assert key_range(bounds, 1, 2) == ("u003", "u007")
    assert key_range(bounds, 1, 3) == ("u003", None)
    assert key_range(bounds, 0, 3) == (None, None)


def test_a_piece_is_sized_from_the_time_left() -> None:
    assert piece_users(900.0, seconds_per_user=1e-4, share=0.5) == 4_500_000
    assert piece_users(0.0) == 0


def test_the_position_round_trips_and_says_when_planning_is_complete() -> None:
    p = Pieces(
        bounds=["a", "b"],
        users=7,
        intent_at="t",
        custom_attributes=["custom:x"],
        next=1,
        piece=1,
        chunks=2,
        ops=8,
        tail=3,
    )
    assert pieces_from_json(pieces_to_json(p)) == p
    assert not p.complete and p.blocks == 2
    p.next = 2
    assert p.complete
