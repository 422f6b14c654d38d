"""core/config_plan.py as pure functions: what a plan shows and refuses, on PoolConfig values."""

from __future__ import annotations

import pytest

from cognito_backup.core.config_plan import ConfigOptions, match_clients, parse_sections, plan_config
from cognito_backup.errors import PlanRefused, UsageError
from cognito_backup.model import PoolConfig

POOL = {"Id": "us-east-1_A", "Name": "p", "Arn": "arn:aws:cognito-idp:us-east-1:111122223333:userpool/us-east-1_A"}


def config(**extra: object) -> PoolConfig:
    return PoolConfig.from_record({"user_pool": dict(POOL), **extra})


def test_a_client_secret_is_never_shown_and_cannot_change_in_place() -> None:
    desired = config(clients=[{"ClientId": "c1", "ClientName": "web", "ClientSecret": "old-secret"}])
    actual = config(clients=[{"ClientId": "c1", "ClientName": "web", "ClientSecret": "new-secret"}])
    with pytest.raises(PlanRefused) as refused:
        plan_config(desired, actual, ConfigOptions(sections=frozenset({"clients"})))
    assert "secret" in refused.value.message and "old-secret" not in refused.value.message
    noted = plan_config(desired, actual, ConfigOptions(sections=frozenset({"clients"}), refuse_blocked=False))
    assert [n.name for n in noted.notices] == ["clients web"]
    assert "new-secret" not in str(noted.notices) and "old-secret" not in str(noted.notices)


def test_an_unreadable_section_is_not_compared_and_blocks() -> None:
    desired = config(mfa_config={}, incomplete={"GetUserPoolMfaConfig": "denied"})
    desired.user_pool["MfaConfiguration"] = "OPTIONAL"
    actual = config(mfa_config={"MfaConfiguration": "OPTIONAL", "SoftwareTokenMfaConfiguration": {"Enabled": True}})
    with pytest.raises(PlanRefused):
        plan_config(desired, actual, ConfigOptions(sections=frozenset({"mfa"})))


def test_an_unmapped_arn_keeps_the_targets_setting() -> None:
    """Another Region's trigger without --map-arn: UpdateUserPool carries the target's own (not none)."""
    desired = config()
    desired.user_pool["LambdaConfig"] = {"PreSignUp": "arn:aws:lambda:eu-west-1:111122223333:function:f"}
    desired.user_pool["DeletionProtection"] = "ACTIVE"
    actual = config()
    actual.user_pool["LambdaConfig"] = {"PreSignUp": "arn:aws:lambda:us-east-1:111122223333:function:g"}
    actual.user_pool["DeletionProtection"] = "INACTIVE"
    found = plan_config(desired, actual, ConfigOptions(sections=frozenset({"pool"})))
    (op,) = found.ops
    assert op.request["LambdaConfig"] == actual.user_pool["LambdaConfig"]
    assert [c.path for c in op.changes] == ["DeletionProtection"]
    assert any("--map-arn" in w for w in found.warnings)
    assert "LambdaConfig: the pool keeps its own setting" in " ".join(found.warnings)
    mapped = plan_config(
        desired,
        actual,
        ConfigOptions(
            sections=frozenset({"pool"}),
            arn_map={
                "arn:aws:lambda:eu-west-1:111122223333:function:*": "arn:aws:lambda:us-east-1:111122223333:function:*"
            },
        ),
    )
    assert mapped.ops[0].request["LambdaConfig"] == {"PreSignUp": "arn:aws:lambda:us-east-1:111122223333:function:f"}


def test_clients_match_by_id_then_by_unique_name() -> None:
    desired = [{"ClientId": "a", "ClientName": "web"}, {"ClientId": "b", "ClientName": "api"}]
    actual = [{"ClientId": "x", "ClientName": "web"}, {"ClientId": "b", "ClientName": "renamed"}]
    assert [(d["ClientId"], a and a["ClientId"]) for d, a in match_clients(desired, actual)] == [("a", "x"), ("b", "b")]


def test_sections_parse() -> None:
    assert "clients" in parse_sections("all")
    assert parse_sections(" pool , mfa") == frozenset({"pool", "mfa"})
    with pytest.raises(UsageError) as bad:
        parse_sections("pool,bogus")
    assert "bogus" in bad.value.message and "identity-providers" in str(bad.value.hint)
