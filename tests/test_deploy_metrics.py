"""Recovery point metrics (issue 13.3): the handlers print embedded-metric-format lines, and the
template's alarms and dashboard name the same metrics, from the one table in serverless/metrics.py."""

from __future__ import annotations

import datetime as dt
import io
import json
import re
from pathlib import Path
from typing import Any

import pytest

from cognito_backup.serverless.capture import change_times, recovery_metrics
from cognito_backup.serverless.metrics import (
    CAPTURE_DELAY,
    JOURNAL_CAUGHT_UP_AGE,
    METRICS,
    NAMESPACE,
    POOL_DIMENSION,
    RESTORE_PROGRESS,
    SNAPSHOT_AGE,
    SNAPSHOT_USERS,
    STANDBY_LAG,
    emf_document,
    publish,
    restore_progress,
)
from cognito_backup.serverless.replicate import standby_lag
from tests.deployed_paths import (
    Stack,
    capture,
    divergent_standby,
    event_for,
    make_stack,
    replicate_round,
    snapshot_in_steps,
    user_change,
)
from tests.test_deploy_template import TEMPLATE, load_template, resources_of

NAMES = {m.name for m in METRICS}
AT = dt.datetime(2026, 11, 30, 12, 0, 0, tzinfo=dt.UTC)


def emf_lines(text: str) -> list[dict[str, Any]]:
    """The EMF documents among printed lines, each checked against the EMF specification's shape."""
    docs = []
    for line in text.splitlines():
        if not line.startswith("{"):
            continue
        doc = json.loads(line)
        if "_aws" not in doc:
            continue
        (directive,) = doc["_aws"]["CloudWatchMetrics"]
        assert directive["Namespace"] == NAMESPACE
        assert isinstance(doc["_aws"]["Timestamp"], int)
        for dims in directive["Dimensions"]:
            assert all(isinstance(doc[d], str) for d in dims)
        for metric in directive["Metrics"]:
            assert metric["Name"] in NAMES
            assert isinstance(doc[metric["Name"]], int | float)
        docs.append(doc)
    return docs


def values_of(docs: list[dict[str, Any]], name: str) -> list[float]:
    return [float(d[name]) for d in docs if name in d]


# --------------------------------------------------------------------------------------------------------
# the module (pure)
# --------------------------------------------------------------------------------------------------------
def test_emf_document_shape() -> None:
    doc = emf_document({STANDBY_LAG: 12.3456, SNAPSHOT_USERS: 5}, "us-east-1_X", AT)
    assert doc == {
        "_aws": {
            "Timestamp": int(AT.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[POOL_DIMENSION]],
                    "Metrics": [
                        {"Name": "StandbyLag", "Unit": "Seconds"},
                        {"Name": "LastSnapshotUsers", "Unit": "Count"},
                    ],
                }
            ],
        },
        "UserPoolId": "us-east-1_X",
        "StandbyLag": 12.346,
        "LastSnapshotUsers": 5.0,
    }


def test_publish_writes_one_line_and_nothing_without_a_pool_or_values() -> None:
    out = io.StringIO()
    publish({STANDBY_LAG: 1.0}, "us-east-1_X", clock=lambda: AT, out=out)
    publish({STANDBY_LAG: 1.0}, None, clock=lambda: AT, out=out)
    publish({}, "us-east-1_X", clock=lambda: AT, out=out)
    assert len(emf_lines(out.getvalue())) == 1


def test_publish_never_fails_the_job_on_a_closed_stream() -> None:
    out = io.StringIO()
    out.close()
    publish({STANDBY_LAG: 1.0}, "us-east-1_X", clock=lambda: AT, out=out)


def test_metric_names_are_unique_and_units_are_cloudwatch_units() -> None:
    assert len(NAMES) == len(METRICS)
    assert {m.unit for m in METRICS} <= {"Seconds", "Count", "Percent"}


@pytest.mark.parametrize(("done", "total", "percent"), [(0, 10, 0.0), (5, 10, 50.0), (10, 10, 100.0), (0, 0, 100.0)])
def test_restore_progress(done: int, total: int, percent: float) -> None:
    assert restore_progress(done, total) == {RESTORE_PROGRESS: percent}


def test_recovery_metrics_from_a_batch() -> None:
    times = {
        "a": AT - dt.timedelta(seconds=30),
        "b": AT - dt.timedelta(seconds=90),
        "c": AT - dt.timedelta(seconds=200),
    }
    assert recovery_metrics(times, {"c"}, AT) == {CAPTURE_DELAY: 90.0, JOURNAL_CAUGHT_UP_AGE: 200.0}
    assert recovery_metrics(times, set(), AT) == {CAPTURE_DELAY: 200.0, JOURNAL_CAUGHT_UP_AGE: 0.0}
    assert recovery_metrics({}, set(), AT) == {JOURNAL_CAUGHT_UP_AGE: 0.0}


def test_change_times_prefer_the_event_time() -> None:
    from cognito_backup.ops.capture import Message

    when = AT - dt.timedelta(minutes=3)
    event = event_for("AdminDisableUser", pool="us-east-1_X", event_id="e1", when=when, sub="s-1")
    sent = AT - dt.timedelta(minutes=1)
    messages = [
        Message(id="event", body=json.dumps(event), sent_at=sent),
        Message(id="garbage", body="not json", sent_at=sent),
        Message(
            id="nothing",
            body=json.dumps({**event, "detail": {**event["detail"], "eventName": "InitiateAuth"}}),
            sent_at=sent,
        ),
    ]
    assert change_times(messages) == {"event": when, "garbage": sent}


def test_standby_lag_is_zero_when_nothing_is_left_to_apply() -> None:
    from cognito_backup.ops.replicate import ReplicateRound

    assert standby_lag(ReplicateRound(applied=False, records=0, lag_seconds=3600.0)) == 0.0
    assert standby_lag(ReplicateRound(applied=True, records=3, lag_seconds=42.0)) == 42.0
    assert standby_lag(ReplicateRound(applied=True, records=3, failed=1, lag_seconds=42.0)) == 42.0


# --------------------------------------------------------------------------------------------------------
# the handlers, as deployed
# --------------------------------------------------------------------------------------------------------
@pytest.fixture
def stack(aws: None, monkeypatch: pytest.MonkeyPatch) -> Stack:
    return make_stack(monkeypatch)


def test_backup_handler_publishes_the_snapshot_users_and_age(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    out = snapshot_in_steps(stack, pages_per_step=1_000_000)  # one step: the metric comes at the end
    docs = emf_lines(capsys.readouterr().out)
    assert len(docs) == 1  # once, when the snapshot completes
    assert values_of(docs, SNAPSHOT_USERS.name) == [float(out["users"])] == [5.0]
    (age,) = values_of(docs, SNAPSHOT_AGE.name)
    assert 0.0 <= age < 600
    assert docs[0][POOL_DIMENSION] == stack.source


def test_capture_handler_publishes_delay_and_caught_up_age(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    capture(stack, user_change(stack, "m1"))  # the event happened two minutes ago
    docs = emf_lines(capsys.readouterr().out)
    (delay,) = values_of(docs, CAPTURE_DELAY.name)
    assert 120.0 <= delay < 600
    assert values_of(docs, JOURNAL_CAUGHT_UP_AGE.name) == [0.0]


def test_capture_handler_reports_a_change_left_waiting(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    """A user not visible yet (inside the consistency window) is left for a retry: the journal is
    caught up only to that change's time."""
    from cognito_backup.serverless import capture as capture_lambda
    from tests.deployed_paths import LambdaContext, sqs_event

    young = event_for(
        "AdminCreateUser",
        pool=stack.source,
        event_id="young",
        when=dt.datetime.now(dt.UTC) - dt.timedelta(seconds=5),
        sub="00000000-0000-4000-8000-00000000dead",
    )
    with stack.invoke("capture"):
        result = capture_lambda.handler(sqs_event(young), LambdaContext("c"))
    assert result["batchItemFailures"]
    docs = emf_lines(capsys.readouterr().out)
    (waiting,) = values_of(docs, JOURNAL_CAUGHT_UP_AGE.name)
    assert waiting >= 1.0
    assert values_of(docs, CAPTURE_DELAY.name) == []


def test_replicate_handler_publishes_the_standby_lag(stack: Stack, capsys: pytest.CaptureFixture[str]) -> None:
    snapshot_in_steps(stack, pages_per_step=1_000_000)
    stack.monkeypatch.setenv("COGNITO_BACKUP_STANDBY_POOL_ID", divergent_standby(stack.cognito, stack.source))
    stack.monkeypatch.setenv("COGNITO_BACKUP_STANDBY_REGION", "us-east-1")
    capsys.readouterr()
    rounds = [replicate_round(stack)]  # the first round applies the snapshot
    capture(stack, user_change(stack, "r1"))
    rounds.append(replicate_round(stack))  # applies the journaled change
    rounds.append(replicate_round(stack))  # nothing new: caught up, however old the change is
    docs = emf_lines(capsys.readouterr().out)
    lags = values_of(docs, STANDBY_LAG.name)
    # the journal position is when capture made the record durable: the lag is behind the journal
    assert lags[:2] == [r["lag_seconds"] for r in rounds[:2]]
    assert rounds[2]["lag_seconds"] > 0 and lags[2] == 0.0
    assert {d[POOL_DIMENSION] for d in docs} == {stack.source}


# --------------------------------------------------------------------------------------------------------
# the template
# --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def template() -> dict[str, Any]:
    return load_template(TEMPLATE.read_text(encoding="utf-8"))


def alarm_metrics(alarm: dict[str, Any]) -> set[tuple[str, str]]:
    props = alarm["Properties"]
    if "MetricName" in props:
        return {(props["Namespace"], props["MetricName"])}
    return {
        (q["MetricStat"]["Metric"]["Namespace"], q["MetricStat"]["Metric"]["MetricName"])
        for q in props.get("Metrics", [])
        if "MetricStat" in q
    }


def test_alarms_watch_the_recovery_point_and_the_standby_lag(template: dict[str, Any]) -> None:
    alarms = resources_of(template, "AWS::CloudWatch::Alarm")
    ours = {name: alarm_metrics(a) for name, a in alarms.items() if any(ns == NAMESPACE for ns, _ in alarm_metrics(a))}
    assert {n for metrics in ours.values() for _, n in metrics} <= NAMES
    recovery = alarms["RecoveryPointAlarm"]["Properties"]
    assert alarm_metrics(alarms["RecoveryPointAlarm"]) == {
        (NAMESPACE, CAPTURE_DELAY.name),
        (NAMESPACE, JOURNAL_CAUGHT_UP_AGE.name),
    }
    assert recovery["Threshold"] == {"Ref": "RecoveryPointAlarmSeconds"}
    standby = alarms["StandbyLagAlarm"]
    assert alarm_metrics(standby) == {(NAMESPACE, STANDBY_LAG.name)}
    assert standby["Properties"]["Threshold"] == {"Ref": "StandbyLagAlarmSeconds"}
    assert standby["Condition"] == "HasStandby"
    for alarm in (alarms["RecoveryPointAlarm"], standby):
        assert alarm["Properties"]["AlarmActions"]
        for query in alarm["Properties"].get("Metrics", [{"MetricStat": {"Metric": alarm["Properties"]}}]):
            if "MetricStat" in query:
                assert query["MetricStat"]["Metric"]["Dimensions"] == [
                    {"Name": POOL_DIMENSION, "Value": {"Ref": "UserPoolId"}}
                ]


def dashboard(template: dict[str, Any]) -> dict[str, Any]:
    body = template["Resources"]["RecoveryPointDashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    params = {
        "AWS::Region": "us-east-1",
        "UserPoolId": "us-east-1_X",
        "RecoveryPointAlarmSeconds": "900",
        "StandbyLagAlarmSeconds": "300",
    }
    left = set(re.findall(r"\$\{([^}]+)\}", body)) - set(params)
    assert not left, f"the dashboard names unknown values {left}"
    for name, value in params.items():
        body = body.replace("${" + name + "}", value)
    doc: dict[str, Any] = json.loads(body)
    return doc


def test_dashboard_shows_every_metric_of_the_table(template: dict[str, Any]) -> None:
    shown = set()
    for widget in dashboard(template)["widgets"]:
        for row in widget.get("properties", {}).get("metrics", []):
            assert row[0] == NAMESPACE and row[2:4] == [POOL_DIMENSION, "us-east-1_X"], row
            shown.add(row[1])
    assert shown == NAMES


def test_dashboard_marks_the_alarm_thresholds(template: dict[str, Any]) -> None:
    lines = {
        a["label"]: a["value"]
        for w in dashboard(template)["widgets"]
        for a in w.get("properties", {}).get("annotations", {}).get("horizontal", [])
    }
    assert lines == {"RecoveryPointAlarm": 900, "StandbyLagAlarm": 300}


def test_handlers_import_no_powertools() -> None:
    """EMF is written by our own module: Powertools' import time is not paid at cold start."""
    import ast

    for path in (Path(__file__).parent.parent / "src" / "cognito_backup" / "serverless").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import | ast.ImportFrom):
                names = [a.name for a in node.names] + [getattr(node, "module", "") or ""]
                assert not any(n.startswith("aws_lambda_powertools") for n in names), path
