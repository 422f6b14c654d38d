"""Deletions named one by one: what `restore --prune` and `replicate` delete (or would delete) appears
in their reports and --json as `deleted_items`, and a refused replicate round names them the same way."""

from __future__ import annotations

from collections.abc import Iterable

from cognito_backup.core.plan import PRUNE_KINDS, Op

_KIND = {"delete_user": "user", "delete_group": "group", "remove_membership": "membership"}


def deleted_items(ops: Iterable[Op]) -> list[dict[str, str]]:
    """[{"kind": "user"|"group"|"membership", "name": ...}], sorted. A user is named as the plan names it
    (its username, or its email/phone in pools that sign in with them); a membership as GROUP/USER."""
    out = []
    for op in ops:
        if op.kind not in PRUNE_KINDS:
            continue
        kind = _KIND[op.kind]
        if kind == "membership":
            out.append({"kind": kind, "name": f"{op.group}/{op.user}", "group": str(op.group), "user": str(op.user)})
        else:
            out.append({"kind": kind, "name": str(op.group if kind == "group" else op.user)})
    return sorted(out, key=lambda d: (d["kind"], d["name"]))


def describe_deletions(items: list[dict[str, str]]) -> str:
    """One line per kind, every name given: `users: a, b; memberships: admins/a`."""
    parts = []
    for kind in ("user", "group", "membership"):
        names = [d["name"] for d in items if d["kind"] == kind]
        if names:
            parts.append(f"{len(names)} {kind}{'s' if len(names) != 1 else ''}: {', '.join(names)}")
    return "; ".join(parts)
