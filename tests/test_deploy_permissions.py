"""Each function role grants exactly what its handler calls (issue 13.1).

Two links, each tested: the code -> the operation table (every handler path run against moto, every
AWS call recorded at botocore's boundary, the recorded set equal to the table), and the table -> the
template (each role's Allow actions equal to the table's IAM actions for its handler). A call added
without its permission, or a permission nothing calls, fails one of them.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.serverless.permissions import (
    BACKUP,
    CAPTURE,
    HANDLERS,
    MIGRATE,
    NOT_EXERCISED,
    OPERATIONS,
    REPLICATE,
    RESTORE,
    ROLE_OF_HANDLER,
    TRIGGER,
    UNSCOPED_ACTIONS,
    iam_actions,
    operations_of,
)
from tests.deployed_paths import Stack, make_stack, run_all_paths
from tests.test_deploy_template import TEMPLATE, actions_of, iter_statements, load_template, sub_text


@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text(encoding="utf-8"))


def role_grants(doc: dict[str, Any], role: str) -> set[str]:
    """Every action an Allow statement of the role's inline policies names (all Fn::If branches)."""
    policies = doc["Resources"][role]["Properties"]["Policies"]
    return {a for _, stmt in iter_statements(policies) if stmt.get("Effect") == "Allow" for a in actions_of(stmt)}


def role_mismatch(doc: dict[str, Any], handler: str) -> tuple[set[str], set[str]]:
    """(missing, extra): actions the handler needs that its role lacks, and grants nothing needs."""
    granted = role_grants(doc, ROLE_OF_HANDLER[handler])
    needed = set(iam_actions(handler))
    return needed - granted, granted - needed


# --------------------------------------------------------------------------------------------------------
# code == table
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def paths(tmp_path_factory: pytest.TempPathFactory) -> Stack:
    """Every handler path run once for the module (about a minute against moto in-process)."""
    from moto import mock_aws

    mp = pytest.MonkeyPatch()
    # Module-scoped, so before conftest's per-test environment: the same fake, local-only one.
    for var in ("AWS_PROFILE", "AWS_ENDPOINT_URL", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN"):
        mp.delenv(var, raising=False)
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        mp.setenv(var, value)
    mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
    mp.setenv("AWS_REGION", "us-east-1")
    try:
        with mock_aws():
            stack = make_stack(mp)
            run_all_paths(stack, Path(tmp_path_factory.mktemp("paths")))
            return stack
    finally:
        mp.undo()


@pytest.fixture(scope="module")
def recorded(paths: Stack) -> dict[str, set[str]]:
    return paths.calls


def test_each_handler_calls_cognito_on_its_own_pool_only(paths: Stack) -> None:
    """What the roles' Resource scoping assumes: backup and capture touch the source pool only, replicate
    the standby pools only (it reads the source from the repository), restore its target only, the trigger
    no pool, the migration trigger pool A only."""
    assert paths.pools[BACKUP] == paths.pools[CAPTURE] == {paths.source}
    assert paths.pools[REPLICATE] and paths.source not in paths.pools[REPLICATE]
    assert paths.pools[RESTORE] and paths.source not in paths.pools[RESTORE]
    assert paths.pools[TRIGGER] == set()
    assert paths.pools[MIGRATE] == {paths.source}  # pool A only: B invokes it, it never calls B


@pytest.mark.parametrize("handler", HANDLERS)
def test_the_table_is_exactly_what_each_handler_calls(recorded: dict[str, set[str]], handler: str) -> None:
    called = recorded.get(handler, set())
    excused = {op for (h, op) in NOT_EXERCISED if h == handler}
    table = set(operations_of(handler))
    assert called - table == set(), f"{handler} calls operations missing from serverless/permissions.py"
    assert table - excused - called == set(), f"{handler}: the table lists operations no path calls"
    assert called & excused == set(), f"{handler}: remove these from NOT_EXERCISED, a path calls them"


def test_the_recorded_paths_reach_the_standby_configuration_reads(recorded: dict[str, set[str]]) -> None:
    """The calls that broke the standby in issue 13 (a round reads the standby's configuration)."""
    assert {
        "cognito-idp:GetUserPoolMfaConfig",
        "cognito-idp:ListTagsForResource",
        "cognito-idp:ListUserPoolClients",
        "cognito-idp:ListIdentityProviders",
        "cognito-idp:ListResourceServers",
        "cognito-idp:GetUICustomization",
        "cognito-idp:DescribeRiskConfiguration",
        "cognito-idp:DescribeUserPool",
        "cognito-idp:DescribeUserPoolClient",
        "cognito-idp:DescribeIdentityProvider",
        "cognito-idp:DescribeUserPoolDomain",
    } <= recorded[REPLICATE]


def test_every_table_entry_names_known_handlers() -> None:
    assert all(handlers and handlers <= set(HANDLERS) for handlers in OPERATIONS.values())
    assert all(op in OPERATIONS and h in HANDLERS for (h, op) in NOT_EXERCISED)


# --------------------------------------------------------------------------------------------------------
# table == template
# --------------------------------------------------------------------------------------------------------
@pytest.mark.parametrize("handler", HANDLERS)
def test_each_role_grants_exactly_its_handlers_actions(template: dict[str, Any], handler: str) -> None:
    missing, extra = role_mismatch(template, handler)
    assert (missing, extra) == (set(), set()), f"{ROLE_OF_HANDLER[handler]}: missing {missing}, extra {extra}"


def test_a_missing_or_extra_permission_is_detected(template: dict[str, Any]) -> None:
    mutated = copy.deepcopy(template)
    policies = mutated["Resources"]["ReplicateRole"]["Properties"]["Policies"]
    stmt = next(s for _, s in iter_statements(policies) if "cognito-idp:ListUsers" in actions_of(s))
    stmt["Action"].remove("cognito-idp:ListUsers")
    stmt["Action"].append("cognito-idp:AdminGetUser")
    assert role_mismatch(mutated, REPLICATE) == ({"cognito-idp:ListUsers"}, {"cognito-idp:AdminGetUser"})


@pytest.mark.parametrize("handler", HANDLERS)
def test_cognito_grants_are_scoped_to_one_pool(template: dict[str, Any], handler: str) -> None:
    """Scoped actions on the handler's pool ARN only (the standby's for replicate); the actions IAM
    cannot scope on "*" and alone in their statement."""
    pool = {
        REPLICATE: "${StandbyUserPoolId}",
        MIGRATE: "${MigrateSourceUserPoolId}",
        RESTORE: "${RestoreUserPoolId}",
    }.get(handler, "${UserPoolId}")
    policies = template["Resources"][ROLE_OF_HANDLER[handler]]["Properties"]["Policies"]
    for _, stmt in iter_statements(policies):
        cognito = {a for a in actions_of(stmt) if a.startswith("cognito-idp:")}
        if not cognito:
            continue
        if stmt["Resource"] == "*":
            assert cognito <= UNSCOPED_ACTIONS, stmt
        else:
            assert not cognito & UNSCOPED_ACTIONS, stmt
            assert sub_text(stmt["Resource"]).endswith(f":userpool/{pool}"), stmt["Resource"]
