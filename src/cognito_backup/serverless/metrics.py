"""CloudWatch metrics of the recovery point, published by the Lambda handlers in embedded metric format.

An EMF document is one JSON log line with an `_aws` key; CloudWatch Logs turns it into metrics, so the
functions need no cloudwatch:PutMetricData and make no extra call. It is written here (a few lines of
json) rather than with Powertools for AWS Lambda, whose import would add to every cold start for the
same line (docs/deploy.md, "Metrics", has the measurement).

`METRICS` is the one table of names: the handlers emit them, and deploy/template.yaml's alarms and
dashboard name them (tests/test_deploy_metrics.py checks both against this table).
"""

from __future__ import annotations

import datetime as dt
import json
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TextIO

NAMESPACE = "CognitoBackup"
POOL_DIMENSION = "UserPoolId"


@dataclass(frozen=True)
class MetricDef:
    name: str
    unit: str  # a CloudWatch unit name
    meaning: str


CAPTURE_DELAY = MetricDef(
    "CaptureDelay", "Seconds", "From a change (its event time) to its journal record being durable; per capture batch."
)
JOURNAL_CAUGHT_UP_AGE = MetricDef(
    "JournalCaughtUpAge",
    "Seconds",
    "Age of the oldest change a capture batch left for a retry (0 when the whole batch is durable).",
)
STANDBY_LAG = MetricDef(
    "StandbyLag", "Seconds", "How far behind now the journal position the standby pool has reached is; per round."
)
SNAPSHOT_AGE = MetricDef(
    "LastSnapshotAge", "Seconds", "Age of the newest complete snapshot's point in time, when it completes."
)
SNAPSHOT_USERS = MetricDef("LastSnapshotUsers", "Count", "Users in the newest complete snapshot.")
RESTORE_PROGRESS = MetricDef(
    "RestoreProgress", "Percent", "Share of a deployed restore's users to create that exist now (after each step)."
)

METRICS: tuple[MetricDef, ...] = (
    CAPTURE_DELAY,
    JOURNAL_CAUGHT_UP_AGE,
    STANDBY_LAG,
    SNAPSHOT_AGE,
    SNAPSHOT_USERS,
    RESTORE_PROGRESS,
)


def emf_document(values: Mapping[MetricDef, float], pool_id: str, at: dt.datetime) -> dict[str, Any]:
    """The EMF document for `values` of one pool at time `at` (CloudWatch wants epoch milliseconds)."""
    return {
        "_aws": {
            "Timestamp": int(at.timestamp() * 1000),
            "CloudWatchMetrics": [
                {
                    "Namespace": NAMESPACE,
                    "Dimensions": [[POOL_DIMENSION]],
                    "Metrics": [{"Name": m.name, "Unit": m.unit} for m in values],
                }
            ],
        },
        POOL_DIMENSION: pool_id,
        **{m.name: round(float(v), 3) for m, v in values.items()},
    }


def restore_progress(done: int, total: int) -> dict[MetricDef, float]:
    """RestoreProgress for a restore that has done `done` of `total` planned operations."""
    return {RESTORE_PROGRESS: 100.0 if total <= 0 else min(100.0, 100.0 * done / total)}


def seconds_between(earlier: dt.datetime, later: dt.datetime) -> float:
    """Non-negative: clocks of different machines may disagree by a little."""
    return max(0.0, (later - earlier).total_seconds())


def _utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def publish(
    values: Mapping[MetricDef, float],
    pool_id: str | None,
    *,
    clock: Callable[[], dt.datetime] = _utcnow,
    out: TextIO | None = None,
) -> None:
    """Write one EMF line to stdout (Lambda sends stdout to the function's log group as is).

    Metrics must never cost the job: a value-less call or a pool-less one writes nothing, and a closed
    stream is ignored."""
    if not values or not pool_id:
        return
    line = json.dumps(emf_document(values, pool_id, clock()), separators=(",", ":"), sort_keys=True)
    stream = out or sys.stdout
    try:
        stream.write(line + "\n")
        stream.flush()
    except (OSError, ValueError):
        pass
