"""A deployed restore's later steps cost the same at any pool size (issue #10 part 4): once the first step
stored the plan, no step reads the snapshot's per-user objects (users, memberships, groups: the stored
chunks carry what their operations need), and the last step only joins the parts each chunk left when
it finished (report rows, sub map rows) into the same report and sub map a one-shot CLI restore writes.

Every invocation is the restore Lambda in its own process; the harness's IAM audit log records each of
its AWS calls with the object it touches, so the snapshot objects a step reads are counted from it.
"""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import boto3

from cognito_backup.aws.pacing import Pacer
from cognito_backup.core.deployed_restore import execution_name, report_prefix
from cognito_backup.core.diff import differences
from cognito_backup.ops.restore import RestoreRequest, run_restore
from cognito_backup.ops.stored_plan import StoredPlan
from cognito_backup.repo.layout import object_key
from cognito_backup.serverless.restore import CHUNK_VAR, PLAN
from tests.deployed.harness import REGION, Deployed, deploy_stack
from tests.deployed.lambdas import Lambdas
from tests.deployed.test_restore_deployed import backed_up_source, repository
from tests.deployed.test_restore_stored_plan_deployed import EXECUTION
from tests.helpers import make_pool
from tests.restore_support import read_state


def _snapshot_reads(d: Deployed, audit: list[dict[str, Any]], snapshot: str) -> int:
    """GetObject calls of the restore function on the snapshot's per-user objects (its sorted user
    shards, memberships and groups), from the harness's audit log."""
    manifest = repository(d).resolve(snapshot)
    keys = {object_key(ref.sha256) for kind in ("users", "memberships", "groups") for ref in manifest.objects_of(kind)}
    return sum(
        1
        for a in audit
        if a["function"].endswith("RestoreFunction")
        and a["operation"] == "GetObject"
        and any(a["resource"].endswith(k) for k in keys)
    )


def _rows(text: str) -> list[dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def test_later_steps_read_no_snapshot_user_data_and_the_joined_report_equals_a_one_shot_restore(
    deployed_env: tuple[str, Lambdas, Path],
) -> None:
    url, lambdas, work = deployed_env
    cognito = boto3.client("cognito-idp", region_name=REGION, endpoint_url=url)
    pool, target, oneshot_target = make_pool(cognito, "A"), make_pool(cognito, "B"), make_pool(cognito, "C")
    execution = EXECUTION + "joined"
    # A Timeout of 6 s on a work clock of 40 ms per AWS call (the harness's WorkClock: a loaded machine
    # neither starves nor kills a step) and chunks of 40 operations: 150 users (about 560 operations) take
    # several steps and 14 chunks, each step stopping by itself.
    d = deploy_stack(
        url,
        lambdas,
        work,
        {"UserPoolId": pool, "RestoreUserPoolId": target},
        timeouts={"RestoreFunction": 6},
        seconds_per_call={"RestoreFunction": 0.04},
        endpoints={"RestoreFunction": {CHUNK_VAR: "40"}},
    )
    source, desired = backed_up_source(cognito, d, users=150)
    fn = d.function("RestoreFunction")
    stored = StoredPlan(repository(d).store, report_prefix(execution_name(execution)) + PLAN)
    event: dict[str, Any] = {
        "request": {"target_user_pool_id": target, "source_user_pool_id": source},
        "step": 0,
        "execution": execution,
    }
    steps: list[tuple[bool, str, list[dict[str, Any]]]] = []  # (plan stored before, outcome, its audit)
    output: dict[str, Any] = {}
    for _ in range(80):
        before, planned = len(d.audit()), stored.exists()
        result = fn.invoke(event)
        audit = d.audit()[before:]
        if result.error is not None:
            assert "timed out" in result.error["errorMessage"], result.error
            steps.append((planned, "killed", audit))
            continue
        steps.append((planned, "done" if result.payload["done"] else "continue", audit))
        if result.payload["done"]:
            output = result.payload
            break
        event = {k: result.payload[k] for k in ("request", "step", "execution")}
    assert output, "the restore did not end"

    store = repository(d).store
    prefix = report_prefix("joined")
    report = json.loads(store.get_bytes(prefix + "report.json"))
    snapshot = report["snapshot"]
    later = [s for s in steps if s[0]]
    print(f"restore in {len(steps)} steps: {[(p, o, _snapshot_reads(d, a, snapshot)) for p, o, a in steps]}")
    assert steps[0][0] is False and _snapshot_reads(d, steps[0][2], snapshot) > 0  # the first step planned
    assert len([s for s in later if s[1] == "continue"]) >= 2, [s[:2] for s in steps]
    # Every later step, the last one too, reads none of the snapshot's per-user objects.
    assert [_snapshot_reads(d, a, snapshot) for _, _, a in later] == [0] * len(later)
    assert differences(desired, read_state(cognito, target)) == []

    # The same restore in one CLI run: the joined report is the one-shot report.
    oneshot = run_restore(
        cognito,
        Pacer(sleep=lambda s: None),
        repository(d),
        RestoreRequest(
            snapshot=snapshot, target_pool_id=oneshot_target, report_dir=work / "cli", source_pool_id=source
        ),
    )
    expected = oneshot.to_json()
    for key in (
        "users_created" if "users_created" in expected else "created",
        "detail",
        "failures",
        "deleted_items",
        "skipped_items",
        "not_restorable",
        "notes",
        "drift",
        "new_passwords",
        "kept_passwords",
        "missing_after_restore",
        "operations",
    ):
        assert report[key] == expected[key], key
    assert report["plan"] == oneshot.summary.plan.to_json()["counts"]
    assert output["counts"]["users_created"] == 150
    # The sub map: a row per user, sorted by username, each old sub with the sub the target gave it.
    rows = _rows(store.get_bytes(prefix + "sub-map.csv").decode())
    assert oneshot.sub_map_path is not None
    cli_rows = _rows(oneshot.sub_map_path.read_text())
    assert [(r["old_sub"], r["username"]) for r in rows] == [(r["old_sub"], r["username"]) for r in cli_rows]
    now = {u.username: u.sub for u in read_state(cognito, target).users.values()}
    assert len(rows) == 150 and all(now[r["username"]] == r["new_sub"] for r in rows)
    assert [i.key for i in store.list(prefix + "plan/")] == []
    assert d.denied() == [] and lambdas.denied == []
