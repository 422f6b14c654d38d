"""The deployed restore carries its plan from step to step (issue #10 part 4): the first step reads the
target and plans, every later one continues from the plan stored in the execution's folder without
listing the target (each step is the restore Lambda in its own process, its calls authorised against
the template's role and recorded in the harness's audit log), and the end equals a one-shot CLI restore.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.deployed_restore import execution_name, report_prefix
from cognito_backup.core.diff import differences
from cognito_backup.ops.restore import RestoreRequest, run_restore
from cognito_backup.ops.stored_plan import StoredPlan
from cognito_backup.serverless.restore import CHUNK_VAR, PLAN
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.deployed.test_restore_deployed import backed_up_source, repository, stalling_proxy
from tests.helpers import make_pool
from tests.restore_support import read_state

EXECUTION = f"arn:aws:states:{REGION}:123456789012:execution:restore:"


def _listings(proxy: Any) -> int:
    """ListUsers calls that list the pool (or a slice of it): not the lookup of one user by username
    (PoolReader.find_user), which a step retried after a kill makes for the users it may have written."""
    return sum(1 for op, body in proxy.calls if op == "ListUsers" and "username =" not in body.get("Filter", ""))


@dataclass
class Step:
    planned_before: bool  # the stored plan was there when the invocation started
    outcome: str  # "continue" (done: false), "done", or "killed" (timed out: retried with the same input)
    listings: int  # ListUsers calls listing the target (_listings)


def _run_steps(d: Deployed, event: dict[str, Any], proxy: Any) -> tuple[list[Step], dict[str, Any]]:
    """Invoke the restore step as the state machine does (a timed-out step again with the same input, a
    finished step's output as the next input) until done: (every invocation, the last output)."""
    fn = d.function("RestoreFunction")
    stored = StoredPlan(repository(d).store, report_prefix(execution_name(event["execution"])) + PLAN)
    steps: list[Step] = []
    for _ in range(80):
        before, planned = _listings(proxy), stored.exists()
        result = fn.invoke(event)
        listings = _listings(proxy) - before
        if result.error is not None:
            assert "timed out" in result.error["errorMessage"], result.error
            steps.append(Step(planned, "killed", listings))
            continue
        steps.append(Step(planned, "done" if result.payload["done"] else "continue", listings))
        if result.payload["done"]:
            return steps, result.payload
        event = {k: result.payload[k] for k in ("request", "step", "execution")}
    raise AssertionError("the restore did not end")


def test_steps_after_the_first_do_not_list_the_target_and_the_end_equals_a_one_shot_restore(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target, oneshot_target = make_pool(cognito, "A"), make_pool(cognito, "B"), make_pool(cognito, "C")
    # A Timeout of 8 s on a work clock of 40 ms per AWS call (the harness's WorkClock: a step stops starting
    # operations with a quarter of it left; a loaded machine neither starves nor kills a step, which made
    # re-sent creates count as found) and chunks of 40 operations: 150 users (about 560 operations) take
    # several steps and several chunks. The function's Cognito calls pass a proxy that records them.
    with stalling_proxy(url, stall_at=0, stall_seconds=0) as (proxy, proxy_url):
        d = deploy_stack(
            url,
            lambdas,
            work,
            {"UserPoolId": pool, "RestoreUserPoolId": target},
            timeouts={"RestoreFunction": 8},
            seconds_per_call={"RestoreFunction": 0.04},
            endpoints={"RestoreFunction": {"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": proxy_url, CHUNK_VAR: "40"}},
        )
        source, desired = backed_up_source(cognito, d, users=150)
        request = {"target_user_pool_id": target, "source_user_pool_id": source}
        steps, output = _run_steps(d, {"request": request, "step": 0, "execution": EXECUTION + "carried"}, proxy)

    print(f"restore in {len(steps)} steps: {steps}")
    # (A step killed after its last operation may have been reading the target back for the sub map.)
    carrying_on = [s for s in steps if s.planned_before and s.outcome == "continue"]
    assert len(carrying_on) >= 2, steps
    assert steps[0].listings > 0 and not steps[0].planned_before  # the first step read the target to plan
    # Once the plan is stored, no step lists the target: the last one neither, the sub map comes from the
    # answers of the creates every step recorded (the target was empty when the first step read it).
    assert [s.listings for s in carrying_on] == [0] * len(carrying_on), steps
    assert steps[-1].outcome != "continue" and steps[-1].listings == 0, steps
    assert differences(desired, read_state(cognito, target)) == []
    store = repository(d).store
    prefix = report_prefix("carried")
    report = json.loads(store.get_bytes(prefix + "report.json"))
    assert output["counts"]["users_created"] == 150
    assert [i.key for i in store.list(prefix + "plan/")] == []  # the stored plan went with the restore's end

    # The same restore in one CLI run: the deployed report covers the whole restore, as that one does.
    repo = repository(d)
    oneshot = run_restore(
        cognito,
        Pacer(sleep=lambda s: None),
        repo,
        RestoreRequest(
            snapshot=report["snapshot"], target_pool_id=oneshot_target, report_dir=work / "cli", source_pool_id=source
        ),
    )
    expected = oneshot.to_json()
    for key in ("detail", "failures", "new_passwords", "kept_passwords", "missing_after_restore", "operations"):
        assert report[key] == expected[key], key
    assert report["plan"] == oneshot.summary.plan.to_json()["counts"]
    sub_map = store.get_bytes(prefix + "sub-map.csv").decode().splitlines()
    assert len(sub_map) == 151

    # The last step retried (as after a timeout that struck once its report was written) answers as it
    # did: it neither plans again nor rewrites the report.
    before = _listings(proxy)
    again = d.function("RestoreFunction").invoke(
        {"request": output["request"], "step": output["step"] - 1, "execution": EXECUTION + "carried"}
    )
    assert again.error is None and again.payload == output
    assert _listings(proxy) == before and json.loads(store.get_bytes(prefix + "report.json")) == report
    assert d.denied() == [] and lambdas.denied == []


def test_a_step_killed_in_the_middle_of_a_stored_chunk_sets_no_password_twice(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target = make_pool(cognito, "A"), make_pool(cognito, "B")
    timeout = 10.0
    with stalling_proxy(url, stall_at=9, stall_seconds=timeout + 2) as (proxy, proxy_url):
        d = deploy_stack(
            url,
            lambdas,
            work,
            {"UserPoolId": pool, "RestoreUserPoolId": target},
            timeouts={"RestoreFunction": timeout},
            # Chunks of 8 operations: the stalled password (the 9th) is in a chunk after the first.
            endpoints={"RestoreFunction": {"AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": proxy_url, CHUNK_VAR: "8"}},
        )
        source, desired = backed_up_source(cognito, d, users=16)
        event = {
            "request": {"target_user_pool_id": target, "source_user_pool_id": source},
            "step": 0,
            "execution": EXECUTION + "killed-chunk",
        }
        steps, _ = _run_steps(d, event, proxy)
        passwords = dict(proxy.passwords)

    kills = sum(1 for s in steps if s.outcome == "killed")
    assert kills >= 1 and sum(passwords.values()) >= 9, (kills, passwords)
    after = read_state(cognito, target)
    assert differences(desired, after) == []
    assert {u.status for u in after.users.values()} == {"CONFIRMED"}
    assert sorted(passwords) == sorted(u.username for u in after.users.values())
    assert set(passwords.values()) == {1}, passwords  # each user's password set once, the killed one too
    assert d.denied() == []
