"""What differs between a snapshot and a live pool, field by field. Pure.

Built on the planner (a difference is exactly what a full restore with --prune would have to do, plus
what no restore can fix), so `diff` and `restore` can never disagree. Configuration likewise: each setting
that differs is exactly what `restore --config all` would change (core/config_plan.py), by section and
setting path. Ignored because it can never
match: sub, creation / modification dates, password state and user status. Attribute values are never
shown (personal data): only attribute names.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable
from dataclasses import dataclass

from cognito_backup.core.config_plan import config_changes
from cognito_backup.core.plan import Op, PlanOptions, plan
from cognito_backup.core.spill import SortedTable, sort_key
from cognito_backup.errors import PlanRefused
from cognito_backup.model import PoolConfig, PoolState


@dataclass(frozen=True, order=True)
class Difference:
    kind: str  # pool / schema / group / user / membership
    name: str
    what: str
    section: str = ""  # configuration differences: the `restore --config` section ...
    path: str = ""  # ... and the setting's path in the request that would change it

    def to_json(self) -> dict[str, str]:
        out = {"kind": self.kind, "name": self.name, "what": self.what}
        if self.section:
            out["section"] = self.section
            out["path"] = self.path
        return out


def _op_difference(op: Op) -> Difference | None:
    kind, name = op.entity
    if op.kind == "add_custom_attributes":
        return Difference(
            "schema", "custom attributes", "missing in the pool: " + ", ".join(op.describe()["attributes"])
        )
    what = {
        "create_group": "missing in the pool",
        "update_group": "differs: " + ", ".join(op.names),
        "delete_group": "only in the pool",
        "create_user": "missing in the pool",
        "update_user_attributes": "attributes differ: " + ", ".join(op.names),
        "delete_user_attributes": "attributes only in the pool: " + ", ".join(op.names),
        "disable_user": "enabled in the pool, disabled in the snapshot",
        "enable_user": "disabled in the pool, enabled in the snapshot",
        "add_membership": "missing in the pool",
        "remove_membership": "only in the pool",
        "delete_user": "only in the pool",
    }.get(op.kind)
    return Difference(kind, name, what) if what else None


def differences(desired: PoolState, actual: PoolState) -> SortedTable[Difference]:
    """Sorted, each once; on disk past a few thousand (a diff of two big pools may find millions): read
    it, do not copy it."""
    out: SortedTable[Difference] = SortedTable()

    def add(diff: Difference) -> None:
        out.put(sort_key(diff.kind, diff.name, diff.what, diff.section, diff.path), diff)

    for setting in pool_setting_differences(desired.config, actual.config):
        add(setting)
    try:
        the_plan = plan(desired, actual, PlanOptions(prune=True, password_mode="none"))
    except PlanRefused as refused:
        add(Difference("pool", "schema", refused.message))
        return out
    for op in the_plan.ops:
        found = _op_difference(op)
        if found is not None:
            add(found)
    for notice in itertools.chain(the_plan.skipped, the_plan.drift):
        add(Difference(notice.kind, notice.name, notice.reason))
    return out


def pool_setting_differences(desired: PoolConfig, actual: PoolConfig) -> Iterable[Difference]:
    if not desired.user_pool or not actual.user_pool:
        return
    changes, notices = config_changes(desired, actual)
    for c in changes:
        name = c.path if c.section == "pool" else f"{c.section}:{c.path}"
        what = "missing in the pool" if c.old == "(missing)" else f"snapshot {c.new}, pool {c.old}"
        yield Difference("pool", name, what, c.section, c.path)
    for n in notices:
        section, _, path = n.name.partition(" ")
        yield Difference("pool", n.name if section != "pool" else path, n.reason, section, path)
    have_custom = actual.custom_attributes()
    for name, entry in sorted(desired.custom_attributes().items()):
        other = have_custom.get(name)
        if other is None:
            continue  # reported as a schema difference by the planner
        for key in ("AttributeDataType", "Mutable"):
            if entry.get(key, None) != other.get(key, None):
                yield Difference("schema", name, f"{key}: snapshot {entry.get(key)!r}, pool {other.get(key)!r}")
