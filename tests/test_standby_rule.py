"""Which pools `replicate` may delete from (core/standby.py), and what the deployed role needs for it."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.standby import ADOPT, NOT_STANDBY, STANDBY, STANDBY_TAG, pool_tags, standby_status
from tests.test_deploy_template import TEMPLATE, _role_statements, cognito_actions, load_template

SRC, OTHER = "us-east-1_SRC", "us-east-1_OTHER"

CASES: list[tuple[dict[str, str], dict[str, Any], str]] = [
    ({STANDBY_TAG: SRC}, {"empty": False}, STANDBY),
    ({STANDBY_TAG: SRC}, {"empty": True, "confirmed": True}, STANDBY),  # already: nothing to write
    ({}, {"empty": False}, NOT_STANDBY),
    ({"team": "x"}, {"empty": False}, NOT_STANDBY),
    ({}, {"empty": True}, ADOPT),  # empty at its first round: nothing to lose
    ({}, {"empty": False, "confirmed": True}, ADOPT),  # --yes
    ({}, {"empty": False, "legacy_cursor": True}, ADOPT),  # replicated into before tags existed
    ({STANDBY_TAG: OTHER}, {"empty": False}, NOT_STANDBY),  # another source's standby
    ({STANDBY_TAG: OTHER}, {"empty": True}, NOT_STANDBY),
    ({STANDBY_TAG: OTHER}, {"empty": False, "legacy_cursor": True}, NOT_STANDBY),
    ({STANDBY_TAG: OTHER}, {"empty": False, "confirmed": True}, ADOPT),
]


@pytest.mark.parametrize(("tags", "kwargs", "expected"), CASES)
def test_standby_status(tags: dict[str, str], kwargs: dict[str, Any], expected: str) -> None:
    assert standby_status(tags, SRC, **kwargs) == expected


def test_tags_come_from_list_tags_or_describe_user_pool() -> None:
    assert pool_tags({"UserPoolTags": {"a": "1"}}) == {"a": "1"}
    assert pool_tags({"UserPoolTags": {"a": "1"}}, {"b": "2"}) == {"b": "2"}
    assert pool_tags({}) == {}


def test_replicate_role_may_tag_the_standby_pool() -> None:
    template = load_template(TEMPLATE.read_text(encoding="utf-8"))
    actions = {a for stmt in _role_statements(template, "ReplicateRole") for a in cognito_actions(stmt)}
    assert {"TagResource", "DescribeUserPool"} <= actions
