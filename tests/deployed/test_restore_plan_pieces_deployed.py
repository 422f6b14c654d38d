"""A deployed restore whose plan does not fit one step makes it in pieces across steps (issue #10 part 4,
ops/plan_pieces.py): each step plans one key range of the desired users and stores it, the stored plan
growing chunk by chunk; nothing is written to the target before the last piece is stored; then the
steps carry the plan out as any stored plan, and the end equals a one-shot CLI restore. Each step is the
restore Lambda in its own process, its calls authorised against the template's role.

A "users per piece" small enough for a test (COGNITO_BACKUP_RESTORE_PIECE_USERS, 40 of 150 users) makes
the plan span four steps; chunks of 40 operations make a piece end mid-chunk (its tail starts the next
piece's first chunk). A step killed while planning a piece is tests/test_plan_pieces_stored.py's (the
piece is planned again from the position, writing the same objects).
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
from cognito_backup.ops import plan_pieces
from cognito_backup.ops.restore import RestoreRequest, run_restore
from cognito_backup.ops.stored_plan import StoredPlan
from cognito_backup.serverless.restore import CHUNK_VAR, PIECE_VAR, PLAN
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.deployed.test_restore_deployed import backed_up_source, repository, stalling_proxy
from tests.deployed.test_restore_stored_plan_deployed import _listings
from tests.helpers import make_pool
from tests.restore_support import read_state

EXECUTION = f"arn:aws:states:{REGION}:123456789012:execution:restore:"
WRITES = ("AdminCreateUser", "AdminSetUserPassword", "AdminAddUserToGroup", "CreateGroup", "AdminDisableUser")


@dataclass
class Step:
    blocks_before: int | None  # the planning position's next block when the step started (None: no pieces yet)
    blocks_after: int | None
    whole_before: bool  # the stored plan was whole (its position written) when the step started
    outcome: str  # "continue", "done" or "killed"
    writes: int  # write calls to the target in this step
    listings: int  # ListUsers calls listing the target in this step


def _writes(proxy: Any) -> int:
    return sum(1 for op, _ in proxy.calls if op in WRITES)


def _next_block(stored: StoredPlan) -> int | None:
    pieces = plan_pieces.load(stored)
    return None if pieces is None else pieces.next


def _run_steps(d: Deployed, event: dict[str, Any], proxy: Any) -> tuple[list[Step], dict[str, Any], int]:
    fn = d.function("RestoreFunction")
    stored = StoredPlan(repository(d).store, report_prefix(execution_name(event["execution"])) + PLAN)
    steps: list[Step] = []
    blocks = 0
    for _ in range(80):
        before, whole, writes, listings = _next_block(stored), stored.exists(), _writes(proxy), _listings(proxy)
        result = fn.invoke(event)
        after = _next_block(stored) if stored.has(plan_pieces.PIECES) else None
        if stored.has(plan_pieces.PIECES):
            pieces = plan_pieces.load(stored)
            blocks = pieces.blocks if pieces else blocks
        if result.error is not None:
            assert "timed out" in result.error["errorMessage"], result.error
            steps.append(Step(before, after, whole, "killed", _writes(proxy) - writes, _listings(proxy) - listings))
            continue
        outcome = "done" if result.payload["done"] else "continue"
        steps.append(Step(before, after, whole, outcome, _writes(proxy) - writes, _listings(proxy) - listings))
        if result.payload["done"]:
            return steps, result.payload, blocks
        event = {k: result.payload[k] for k in ("request", "step", "execution")}
    raise AssertionError("the restore did not end")


def test_a_plan_too_big_for_one_step_is_made_in_pieces_and_the_end_equals_a_one_shot_restore(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target, oneshot_target = make_pool(cognito, "A"), make_pool(cognito, "B"), make_pool(cognito, "C")
    with stalling_proxy(url, stall_at=0, stall_seconds=0) as (proxy, proxy_url):
        d = deploy_stack(
            url,
            lambdas,
            work,
            {"UserPoolId": pool, "RestoreUserPoolId": target},
            timeouts={"RestoreFunction": 10},
            endpoints={
                "RestoreFunction": {
                    "AWS_ENDPOINT_URL_COGNITO_IDENTITY_PROVIDER": proxy_url,
                    CHUNK_VAR: "40",
                    PIECE_VAR: "40",
                }
            },
        )
        source, desired = backed_up_source(cognito, d, users=150)
        request = {"target_user_pool_id": target, "source_user_pool_id": source}
        steps, _, blocks = _run_steps(d, {"request": request, "step": 0, "execution": EXECUTION + "pieces"}, proxy)
        passwords = dict(proxy.passwords)

    print(f"restore in {len(steps)} steps: {steps}")
    assert blocks == 4  # 150 users in blocks of 40
    # One piece a step: no step made the whole plan, and the plan grew over four steps (a step killed by
    # the timeout on a loaded machine is retried: it moved the position at most one piece too).
    # (No pieces record after a step: the restore ended and its plan went, every block planned.)
    reach = [(s.blocks_before or 0, 4 if s.blocks_after is None else s.blocks_after) for s in steps]
    assert [(b, a) for b, a in reach if a != b] == [(0, 1), (1, 2), (2, 3), (3, 4)], steps
    # Nothing was written before the last piece was stored.
    assert [s.writes for s in steps if s.blocks_after is not None and s.blocks_after < 4] == [0] * sum(
        1 for s in steps if s.blocks_after is not None and s.blocks_after < 4
    ), steps
    # Only the first step (or its retry) read the target: the pieces plan against what it stored of it.
    assert steps[0].listings > 0 and [s.listings for s in steps if s.blocks_before is not None] == [0] * sum(
        1 for s in steps if s.blocks_before is not None
    ), steps
    assert steps[-1].outcome != "continue"
    assert differences(desired, read_state(cognito, target)) == []
    after = read_state(cognito, target)
    assert sorted(passwords) == sorted(u.username for u in after.users.values())
    assert set(passwords.values()) == {1}, passwords  # each password set exactly once
    store = repository(d).store
    prefix = report_prefix("pieces")
    report = json.loads(store.get_bytes(prefix + "report.json"))
    assert [i.key for i in store.list(prefix + "plan/")] == []  # the pieces went with the stored plan

    # The same restore in one CLI run (its plan made at once): same report, same sub map's rows.
    oneshot = run_restore(
        cognito,
        Pacer(sleep=lambda s: None),
        repository(d),
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
