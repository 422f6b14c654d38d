"""core/applied.py: the set of journal segments a reader applied, kept compact by a watermark."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from cognito_backup.core.applied import AppliedSegments, Listed


def test_a_segment_stamped_after_the_watermark_is_new_until_applied() -> None:
    first = [Listed("a", 100.0), Listed("b", 150.0)]
    state = AppliedSegments().advance(first, settle=60.0)
    assert state.watermark == 90.0 and state.keys == frozenset({"a", "b"})
    # A slow PUT stamped between the two, listed only now, is still seen as new.
    late = Listed("c", 120.0)
    assert state.unapplied([*first, late]) == [late]
    state = state.advance([*first, late, Listed("d", 400.0)], settle=60.0)
    assert state.watermark == 340.0 and state.keys == frozenset({"d"})  # compact: older keys dropped


def test_round_trip_and_old_cursors() -> None:
    state = AppliedSegments(12.5, frozenset({"k"}))
    assert AppliedSegments.from_record(state.to_record()) == state
    assert AppliedSegments.from_record(None) == AppliedSegments()  # a cursor written before segments


@settings(max_examples=200, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 50)), min_size=1, max_size=40),
    st.lists(st.integers(1, 40), max_size=10),
)
def test_every_segment_is_applied_exactly_when_listed_after_its_write(
    writes: list[tuple[int, int]], rounds: list[int]
) -> None:
    """Writers stamp segments at time t and they become visible up to 50 s later (a PUT in flight, less
    than the settle window); rounds list what is visible at their time. Every segment is reported
    unapplied by exactly one round once visible, whatever the interleaving."""
    segs = [(Listed(f"s{i}", float(t)), t + delay) for i, (t, delay) in enumerate(writes)]
    seen: dict[str, int] = {}
    state = AppliedSegments()
    times = sorted({*(t * 37 % 1100 for t in rounds), 2000})
    for now in times:
        listing = [seg for seg, visible in segs if visible <= now]
        for seg in state.unapplied(listing):
            seen[seg.key] = seen.get(seg.key, 0) + 1
        state = state.advance(listing, settle=60.0)
    assert seen == {seg.key: 1 for seg, _ in segs}
