"""The deployed restore carries its plan from step to step (issue #10 part 4): the first step reads the
target and plans, every later one continues from the plan stored in the execution's folder without
listing the target (each step is the restore Lambda in its own process, its calls authorised against
the template's role and recorded in the harness's audit log), and the end equals a one-shot CLI restore.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.deployed_restore import report_prefix
from cognito_backup.core.diff import differences
from cognito_backup.ops.restore import RestoreRequest, run_restore
from cognito_backup.serverless.restore import CHUNK_VAR
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.deployed.test_restore_deployed import backed_up_source, repository, stalling_proxy
from tests.helpers import make_pool
from tests.restore_support import read_state

EXECUTION = f"arn:aws:states:{REGION}:123456789012:execution:restore:"


def _list_users(d: Deployed) -> int:
    return sum(1 for a in d.audit() if a["function"] == "RestoreFunction" and a["operation"] == "ListUsers")


def _run_steps(d: Deployed, event: dict[str, Any]) -> tuple[list[tuple[bool, int]], dict[str, Any]]:
    """Invoke the restore step as the state machine does (a timed-out step again with the same input, a
    finished step's output as the next input) until done: ([(done, ListUsers calls)] per step that
    returned, the last output)."""
    fn = d.function("RestoreFunction")
    steps: list[tuple[bool, int]] = []
    for _ in range(80):
        before = _list_users(d)
        result = fn.invoke(event)
        if result.error is not None:
            assert "timed out" in result.error["errorMessage"], result.error
            continue
        steps.append((bool(result.payload["done"]), _list_users(d) - before))
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
    # A Timeout of 3 s (a step stops starting operations with a quarter of it left) and chunks of 40
    # operations: 150 users (about 560 operations) take several steps and several chunks.
    d = deploy_stack(
        url,
        lambdas,
        work,
        {"UserPoolId": pool, "RestoreUserPoolId": target},
        timeouts={"RestoreFunction": 3},
        endpoints={"RestoreFunction": {CHUNK_VAR: "40"}},
    )
    source, desired = backed_up_source(cognito, d, users=150)
    request = {"target_user_pool_id": target, "source_user_pool_id": source}

    steps, output = _run_steps(d, {"request": request, "step": 0, "execution": EXECUTION + "carried"})

    print(f"restore in {len(steps)} steps: {steps}")
    assert len(steps) >= 3, steps
    assert steps[0][1] > 0  # the first step read the target to plan
    carrying_on = [calls for done, calls in steps[1:] if not done]
    assert carrying_on and carrying_on == [0] * len(carrying_on), steps  # no listing, no planning again
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
        steps, _ = _run_steps(d, event)
        passwords = dict(proxy.passwords)

    kills = len(d.function("RestoreFunction").invocations) - len(steps)
    assert kills >= 1 and sum(passwords.values()) >= 9, (kills, passwords)
    after = read_state(cognito, target)
    assert differences(desired, after) == []
    assert {u.status for u in after.users.values()} == {"CONFIRMED"}
    assert sorted(passwords) == sorted(u.username for u in after.users.values())
    assert set(passwords.values()) == {1}, passwords  # each user's password set once, the killed one too
    assert d.denied() == []
