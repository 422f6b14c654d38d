"""`recover`: the I/O around AWS's native point-in-time recovery: waiting on its statuses, and this tool's
own per-user view of the same recovery from the repository (before) and its check (after)."""

from __future__ import annotations

import datetime as dt
import time
from collections.abc import Callable, Collection
from dataclasses import dataclass, field

from cognito_backup.aws.native_pitr import NativePitr
from cognito_backup.aws.reader import PoolReader
from cognito_backup.core.diff import Difference, differences
from cognito_backup.core.plan import PlanOptions, plan
from cognito_backup.core.recover_plan import GENERATING, RESTORING, Recovery, ToolView, tool_view
from cognito_backup.errors import CognitoBackupError
from cognito_backup.model import PoolState
from cognito_backup.ops.pitr import select_desired
from cognito_backup.repo.repository import Repository

# AWS documents no polling rate; the preview "might not be available immediately" and takes a time that
# "doesn't depend on the size of your user pool".
POLL_SECONDS = 10.0
USER_DATA_KINDS = frozenset({"user", "group", "membership"})


def wait_while(
    pitr: NativePitr,
    restore_id: str,
    statuses: Collection[str],
    *,
    on_status: Callable[[Recovery, float], None] = lambda r, s: None,
    sleep: Callable[[float], None] = time.sleep,
    clock: Callable[[], float] = time.monotonic,
    interval: float = POLL_SECONDS,
) -> Recovery:
    """Describe the recovery until its status leaves `statuses`; `on_status(recovery, seconds waited)`
    after each look (progress)."""
    begin = clock()
    while True:
        recovery = pitr.describe(restore_id)
        on_status(recovery, clock() - begin)
        if recovery.status not in statuses:
            return recovery
        sleep(interval)


def wait_for_preview(pitr: NativePitr, restore_id: str, **kwargs: object) -> Recovery:
    return wait_while(pitr, restore_id, {GENERATING}, **kwargs)  # type: ignore[arg-type]


def wait_for_restore(pitr: NativePitr, restore_id: str, **kwargs: object) -> Recovery:
    return wait_while(pitr, restore_id, {RESTORING}, **kwargs)  # type: ignore[arg-type]


@dataclass
class RepoView:
    """The repository's state at T against the live pool, or why there is none."""

    label: str | None = None
    desired: PoolState | None = None
    view: ToolView | None = None
    warnings: list[str] = field(default_factory=list)
    unavailable: str | None = None


def repo_view(repo: Repository, reader: PoolReader, at: dt.datetime) -> RepoView:
    """This tool's per-user plan for the same recovery: the live pool against the repository's state at
    `at`. A repository that does not cover `at` is no failure: AWS's recovery does not need it."""
    try:
        resolved = select_desired(repo, at=at, source_pool_id=reader.pool_id, target_pool_id=reader.pool_id)
    except CognitoBackupError as exc:
        return RepoView(unavailable=exc.message)
    actual = reader.read_state()
    the_plan = plan(resolved.state, actual, PlanOptions(prune=True, password_mode="none"))
    return RepoView(resolved.label, resolved.state, tool_view(the_plan), list(resolved.warnings))


def verify(desired: PoolState, reader: PoolReader) -> tuple[list[Difference], list[Difference]]:
    """After the recovery, like `diff --at T`: (user-data differences, configuration differences).
    AWS's recovery restores no configuration, so the second list is expected and only reported."""
    found = differences(desired, reader.read_state())
    data = [d for d in found if d.kind in USER_DATA_KINDS]
    return data, [d for d in found if d.kind not in USER_DATA_KINDS]
