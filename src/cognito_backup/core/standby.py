"""Whether a pool is a standby of a source pool, i.e. whether `replicate` may delete from it.

The answer is recorded on the standby pool itself, as a tag (STANDBY_TAG = source pool id), so every
machine and the deployed Lambda see the same answer. docs/capture.md, "Which pools replicate deletes from".
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

STANDBY_TAG = "cognito-backup:standby-of"
# The custom attribute `restore --new-pool --keep-sub-in` keeps each user's old sub in: recorded on the
# pool so that the standby's later rounds keep it too (a user signed up after the standby was made).
KEEP_SUB_TAG = "cognito-backup:keep-sub-in"

STANDBY = "standby"  # tagged as this source's standby
ADOPT = "adopt"  # becomes this source's standby now: the round writes the tag first
NOT_STANDBY = "not a standby"  # rounds that would write anything are refused


def pool_tags(user_pool: Mapping[str, Any], tags: Mapping[str, str] | None = None) -> dict[str, str]:
    """A pool's tags: ListTagsForResource's answer when there is one, else DescribeUserPool's UserPoolTags."""
    return dict(tags or user_pool.get("UserPoolTags") or {})


def standby_status(
    tags: Mapping[str, str],
    source_pool_id: str,
    *,
    empty: bool,
    confirmed: bool = False,
    legacy_cursor: bool = False,
) -> str:
    """STANDBY, ADOPT or NOT_STANDBY for a replicate round from `source_pool_id`.

    `empty`: the pool holds no user and no group (a pool found empty becomes the standby: it has nothing
    to lose). `confirmed`: the operator said so (`replicate --yes`). `legacy_cursor`: a replicate of this
    source into this pool ran before the tag existed (its progress record says so) - it deleted then too.
    A pool tagged as another source's standby is adopted only when confirmed."""
    tagged = tags.get(STANDBY_TAG)
    if tagged == source_pool_id:
        return STANDBY
    if confirmed:
        return ADOPT
    if tagged:
        return NOT_STANDBY
    return ADOPT if empty or legacy_cursor else NOT_STANDBY


def refuses(status: str, counts: Mapping[str, int]) -> bool:
    """Whether a round with this plan (operations counted by kind) is refused before anything is written.

    A pool that is not this source's standby is someone's own pool (another source's standby, or a live
    pool found holding users or groups): creating the source's users in it, overwriting its users'
    attributes or adding them to its groups makes it worse as surely as deleting from it does."""
    return status == NOT_STANDBY and any(counts.values())


def describe_writes(counts: Mapping[str, int]) -> str:
    """`create_user 3, update_user 2`: a plan's operations by kind, deletions left to describe_deletions."""
    return ", ".join(f"{kind} {n}" for kind, n in sorted(counts.items()) if n)


def kept_sub_attribute(tags: Mapping[str, str], named: str | None) -> str | None:
    """The attribute a round keeps each user's source sub in: the one named (--keep-sub-in), else the
    one the pool records (KEEP_SUB_TAG), else none."""
    return named or tags.get(KEEP_SUB_TAG) or None
