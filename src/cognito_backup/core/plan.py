"""The restore planner: desired state + actual state -> an ordered list of operations. Pure.

One engine serves `restore`, `diff`, point-in-time restore and standby replication: whatever produced
the desired state (a snapshot, a folded journal), the plan is what it takes to make the target equal to
it, within what Cognito lets an administrator write.

Rules the plan follows because real Cognito enforces them (moto does not):
- only attributes the target schema declares are sent; `sub`, `identities`, `cognito:*` never are;
- immutable attributes are written at creation only, never updated;
- AdminCreateUser always carries MessageAction=SUPPRESS (the writer sets it; the plan never asks for a
  message);
- users are matched by their identity: the username, or in pools that sign in with email / phone
  number (UsernameAttributes) the email / phone number, because there the username is a generated UUID
  that a restore cannot keep.
"""

from __future__ import annotations

import itertools
from collections import Counter
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any, overload

from cognito_backup.core.sides import Sides
from cognito_backup.core.spill import KeyedSpill, MappedView, SpillList
from cognito_backup.errors import PlanRefused
from cognito_backup.model import (
    READ_ONLY_ATTRIBUTES,
    STANDARD_ATTRIBUTES,
    STATUS_CONFIRMED,
    STATUS_EXTERNAL,
    STATUS_FORCE_CHANGE,
    STATUS_RESET_REQUIRED,
    STATUS_UNCONFIRMED,
    Group,
    PoolConfig,
    PoolState,
    User,
)

PASSWORD_MODES = ("random-permanent", "temporary-file", "none")
DEFAULT_PASSWORD_MODE = "random-permanent"

VERIFIED_FLAGS = frozenset({"email_verified", "phone_number_verified"})
MAX_CUSTOM_ATTRIBUTES = 50

# Operation kinds, in the order a plan lists them (and the AWS call each one makes).
OP_CALLS: dict[str, str] = {
    "add_custom_attributes": "AddCustomAttributes",
    "create_group": "CreateGroup",
    "update_group": "UpdateGroup",
    "create_user": "AdminCreateUser",
    "update_user_attributes": "AdminUpdateUserAttributes",
    "delete_user_attributes": "AdminDeleteUserAttributes",
    "set_password": "AdminSetUserPassword",
    "disable_user": "AdminDisableUser",
    "enable_user": "AdminEnableUser",
    "add_membership": "AdminAddUserToGroup",
    "remove_membership": "AdminRemoveUserFromGroup",
    "delete_user": "AdminDeleteUser",
    "delete_group": "DeleteGroup",
}
OP_ORDER = {kind: i for i, kind in enumerate(OP_CALLS)}
PRUNE_KINDS = frozenset({"remove_membership", "delete_user", "delete_group"})


@dataclass(frozen=True)
class PlanOptions:
    prune: bool = False
    only_users: frozenset[str] = frozenset()
    only_groups: frozenset[str] = frozenset()
    password_mode: str = DEFAULT_PASSWORD_MODE
    add_missing_attributes: bool = True
    # Write each user's snapshot sub into this custom attribute (e.g. "custom:old_sub").
    keep_sub_in: str | None = None
    # Exact ARN replacements (group role ARNs in another account).
    arn_map: Mapping[str, str] = field(default_factory=dict)
    # Users (identity keys) an earlier, interrupted run of this restore created: their password is
    # still ours to set, unless already done.
    owned_users: frozenset[str] = frozenset()
    passwords_done: frozenset[str] = frozenset()
    # How missing users are created (admin calls or CSV import jobs): decides the status they come back in.
    users_via: str = "admin"
    # A plan made in pieces (core/plan_pieces.py): whether this piece plans the schema and the groups
    # (the first does; a later one refers to their operations in `after` without planning them again)...
    setup: bool = True
    # ...and the custom attributes the whole restore writes, found by the first step's pass over every
    # desired user (None: from the users this plan is given, as a plan made at once).
    custom_attributes: frozenset[str] | None = None
    # --only-missing: create the (selected) users the target lacks, with their memberships in groups the
    # target has; update no user already there, create or change no group, delete nothing.
    only_missing: bool = False

    @property
    def named(self) -> bool:
        """Users or groups named with --only (or --only-from)."""
        return bool(self.only_users or self.only_groups)

    @property
    def selective(self) -> bool:
        return self.named or self.only_missing


@dataclass(frozen=True)
class Op:
    """One write. `user` is the identity key (see module doc); `username` is what the call sends."""

    kind: str
    user: str | None = None
    username: str | None = None
    group: str | None = None
    attributes: tuple[tuple[str, str], ...] = ()  # create / update values (never printed)
    names: tuple[str, ...] = ()  # attribute names changed / deleted, or group fields changed
    fallback: tuple[tuple[str, str], ...] = ()  # create_user: the mutable part, if the user already exists
    schema: tuple[Mapping[str, Any], ...] = ()  # add_custom_attributes
    group_fields: Mapping[str, Any] | None = None  # create_group / update_group
    after: tuple[str, ...] = ()  # ids of the ops that must succeed first
    note: str | None = None
    # create_user: the desired user's sub, for the sub map's row (old sub -> the sub the create answers).
    # Carried by a stored plan's chunks so that a deployed restore's later steps read no snapshot shard;
    # not part of what the op does, so not compared.
    source_sub: str | None = field(default=None, compare=False, repr=False)

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.user or ''}:{self.group or ''}"

    @property
    def operation(self) -> str:
        return OP_CALLS[self.kind]

    @property
    def entity(self) -> tuple[str, str]:
        """What the op belongs to, for counting: ("user", key), ("group", name), ("membership", g/u)."""
        if self.kind in ("add_membership", "remove_membership"):
            return ("membership", f"{self.group}/{self.user}")
        if self.kind in ("create_group", "update_group", "delete_group"):
            return ("group", self.group or "")
        if self.kind == "add_custom_attributes":
            return ("schema", "custom attributes")
        return ("user", self.user or "")

    def describe(self) -> dict[str, Any]:
        """JSON-able, without attribute values (personal data)."""
        out: dict[str, Any] = {"op": self.kind, "call": self.operation}
        if self.user is not None:
            out["user"] = self.user
        if self.group is not None:
            out["group"] = self.group
        if self.kind == "create_user":
            out["attributes"] = sorted(n for n, _ in self.attributes)
        elif self.names:
            out["fields"] = list(self.names)
        if self.schema:
            out["attributes"] = ["custom:" + str(s["Name"]) for s in self.schema]
        if self.group_fields is not None:
            out["settings"] = dict(self.group_fields)
        if self.note:
            out["note"] = self.note
        return out


@dataclass(frozen=True)
class Notice:
    """Something named in the plan: a skipped item, or one that will not come back exactly as it was."""

    kind: str  # user / membership / group / attribute
    name: str
    reason: str
    # Skipped because of the operator's --only selection, not because the target cannot take it.
    by_choice: bool = False

    def to_json(self) -> dict[str, str]:
        return {"kind": self.kind, "name": self.name, "reason": self.reason}


# Where each kind sits in the order a plan is made in (OpList.in_plan_order): what the schema and groups
# need first, then users one by one in key order, then pruning. Memberships are merged into the users.
_SETUP_KINDS = frozenset({"add_custom_attributes", "create_group", "update_group"})
_USER_KINDS = frozenset(
    {"create_user", "update_user_attributes", "delete_user_attributes", "set_password", "disable_user", "enable_user"}
)


def _phase(op: Op) -> tuple[int, str]:
    if op.kind in _SETUP_KINDS:
        return (0, "")
    if op.kind in _USER_KINDS:
        return (1, op.user or "")
    return (2, "")


class OpList(Sequence[Op]):
    """A plan's operations: one spilling list per kind, read in OP_ORDER (how a plan is listed).

    Appending keeps, within each kind, the order ops were planned in (the old stable sort by kind).
    Configuration writes (core/config_plan.py ConfigOp: kinds of their own, a few per pool) come first,
    in memory: a pool's settings are in place before its users are written. For running, the ops are
    also kept in the order they were planned in, memberships apart by user key (see in_plan_order)."""

    def __init__(self, ops: Iterable[Op] = ()) -> None:
        self._config: list[Op] = []
        self._kinds: dict[str, SpillList[Op]] = {kind: SpillList() for kind in OP_CALLS}
        self._planned: SpillList[Op] = SpillList()  # every op but add_membership, as planned
        self._members: KeyedSpill[Op] = KeyedSpill()  # add_membership by user key
        # Whether the planned ops came setup, users in key order, pruning (what plan() makes): only
        # then may memberships be merged in by key without going ahead of their user or group.
        self._by_key = True
        self._last_phase = (0, "")
        self.extend(ops)

    def append(self, op: Op) -> None:
        if op.kind not in self._kinds:
            self._config.append(op)
            return
        self._kinds[op.kind].append(op)
        if op.kind == "add_membership":
            self._by_key = self._by_key and op.user is not None
            self._members.add(op.user or "", op)
            return
        phase = _phase(op)
        self._by_key = self._by_key and phase >= self._last_phase
        self._last_phase = phase
        self._planned.append(op)

    def take_configuration(self) -> list[Op]:
        """Remove the configuration writes and return them (a stored plan holds the rest: ops/stored_plan.py)."""
        taken, self._config = self._config, []
        return taken

    def in_plan_order(self) -> Sequence[Op]:
        """The order the scheduler streams (ops/scheduler.py): each op after those it depends on, a
        user's ops together (create, password, disable) and followed by the user's memberships, so that
        every quota category is busy from the start, memberships included (docs/design.md "The
        scheduler"). Planned ops out of that shape (a hand-made list) get their memberships last."""
        return _RunOrder(self)

    def extend(self, ops: Iterable[Op]) -> None:
        for op in ops:
            self.append(op)

    def count_by_kind(self) -> dict[str, int]:
        counts = dict(Counter(op.kind for op in self._config))
        counts.update({kind: len(ops) for kind, ops in self._kinds.items() if ops})
        return counts

    def of_kind(self, kind: str) -> Sequence[Op]:
        return self._kinds[kind] if kind in self._kinds else [op for op in self._config if op.kind == kind]

    def _lists(self) -> list[Sequence[Op]]:
        return [self._config, *self._kinds.values()]

    def __len__(self) -> int:
        return sum(len(ops) for ops in self._lists())

    @overload
    def __getitem__(self, index: int) -> Op: ...

    @overload
    def __getitem__(self, index: slice) -> list[Op]: ...

    def __getitem__(self, index: int | slice) -> Op | list[Op]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        if index < 0:
            index += len(self)
        for ops in self._lists():
            if 0 <= index < len(ops):
                return ops[index]
            index -= len(ops)
        raise IndexError(index)

    def __iter__(self) -> Iterator[Op]:
        for ops in self._lists():
            yield from ops

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Sequence) and not isinstance(other, str | bytes):
            return len(self) == len(other) and all(a == b for a, b in zip(self, other, strict=True))
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]


class _RunOrder(Sequence[Op]):
    """A view of an OpList: its configuration ops, then its planned ops with the memberships merged in
    by user key (a user's memberships right after the last op of that user, or of the user before it in
    key order), all of them before pruning. Read as a stream (the lists may be on disk): indexing reads
    from the start."""

    def __init__(self, ops: OpList) -> None:
        self._ops = ops

    def __len__(self) -> int:
        ops = self._ops
        return len(ops._config) + len(ops._planned) + len(ops._members)

    @overload
    def __getitem__(self, index: int) -> Op: ...

    @overload
    def __getitem__(self, index: slice) -> list[Op]: ...

    def __getitem__(self, index: int | slice) -> Op | list[Op]:
        if isinstance(index, slice):
            start, stop, step = index.indices(len(self))
            return list(itertools.islice(self, start, stop, step)) if step > 0 else list(self)[index]
        if index < 0:
            index += len(self)
        found = next(itertools.islice(self, index, None), None) if index >= 0 else None
        if found is None:
            raise IndexError(index)
        return found

    def __iter__(self) -> Iterator[Op]:
        ops = self._ops
        yield from ops._config
        members = ops._members.in_key_order()
        held: tuple[str, Op] | None = next(members, None)  # the next membership, read ahead
        for op in ops._planned:
            # A user's ops are planned together, in key order: once a later key starts, every membership
            # of an earlier key has had its user created (and its group, planned before any user).
            phase, key = _phase(op)
            if ops._by_key and phase > 0:
                while held is not None and (phase == 2 or held[0] < key):
                    yield held[1]
                    held = next(members, None)
            yield op
        while held is not None:
            yield held[1]
            held = next(members, None)


@dataclass
class Plan:
    """Built by `plan()`. Every list may be on disk (core/spill.py): iterate it, do not copy it whole."""

    ops: Sequence[Op] = field(default_factory=OpList)
    skipped: Sequence[Notice] = field(default_factory=SpillList)
    notes: Sequence[Notice] = field(default_factory=SpillList)  # done, but not exactly as it was
    drift: Sequence[Notice] = field(default_factory=SpillList)  # differences no admin call can fix
    unchanged: dict[str, int] = field(default_factory=lambda: {"users": 0, "groups": 0, "memberships": 0})
    # What the target has and the desired state lacks, left alone because --prune was not given.
    kept_in_target: dict[str, int] = field(default_factory=lambda: {"users": 0, "groups": 0, "memberships": 0})
    # With --only-missing: users already in the target that differ from the desired state, and memberships
    # of such users the target lacks, left as they are (counts: they can be most of a big pool).
    left_as_is: dict[str, int] = field(default_factory=lambda: {"users": 0, "memberships": 0})

    def __post_init__(self) -> None:
        if not isinstance(self.ops, OpList):
            self.ops = OpList(self.ops)

    @property
    def empty(self) -> bool:
        return not self.ops

    @property
    def unrestorable(self) -> list[Notice]:
        """Skipped items the target cannot take (not those left out by --only): a restore that leaves
        any is not a success (errors.NotRestorable)."""
        return [n for n in self.skipped if not n.by_choice]

    def _op_list(self) -> OpList:
        # `ops` is an OpList from __post_init__ on; a caller may have assigned a plain list since.
        if not isinstance(self.ops, OpList):
            self.ops = OpList(self.ops)
        return self.ops

    def count_by_kind(self) -> dict[str, int]:
        return self._op_list().count_by_kind()

    def of_kind(self, kind: str) -> Sequence[Op]:
        """The operations of one kind, in the order planned (a list on disk past a few thousand)."""
        return self._op_list().of_kind(kind)

    def add(self, ops: Iterable[Op]) -> None:
        """More operations (a configuration plan's: they run first, see OpList)."""
        self._op_list().extend(ops)

    def take_configuration(self) -> list[Op]:
        """Remove the configuration writes (core/config_plan.py ConfigOp) and return them."""
        return self._op_list().take_configuration()

    def run_order(self) -> Sequence[Op]:
        """The operations in the order a scheduler streams them (see OpList.in_plan_order)."""
        return self._op_list().in_plan_order()

    def to_json(self, *, ops: bool = True) -> dict[str, Any]:
        """The plan as JSON; `ops=False` leaves the operations out (for a caller that streams them)."""
        return {
            **({"ops": [op.describe() for op in self.ops]} if ops else {}),
            "counts": self.count_by_kind(),
            "skipped": [n.to_json() for n in self.skipped],
            "notes": [n.to_json() for n in self.notes],
            "drift": [n.to_json() for n in self.drift],
            "unchanged": dict(self.unchanged),
            "kept_in_target": dict(self.kept_in_target),
            "left_as_is": dict(self.left_as_is),
        }


# ---- schema helpers ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Schema:
    """What the target pool declares: which attributes exist, which are mutable, which required."""

    declared: frozenset[str]
    immutable: frozenset[str]
    required: frozenset[str]
    custom_types: Mapping[str, str]

    @classmethod
    def of(cls, config: PoolConfig, extra: Iterable[Mapping[str, Any]] = ()) -> Schema:
        entries = list(config.user_pool.get("SchemaAttributes", []) or [])
        # Custom attributes this plan adds count as declared (AddCustomAttributes runs first).
        entries += [dict(e, Name="custom:" + str(e["Name"])) for e in extra]
        declared = set(STANDARD_ATTRIBUTES)
        immutable: set[str] = set()
        required: set[str] = set()
        types: dict[str, str] = {}
        for entry in entries:
            name = str(entry.get("Name", ""))
            if not name:
                continue
            declared.add(name)
            if entry.get("Mutable") is False:
                immutable.add(name)
            if entry.get("Required"):
                required.add(name)
            if name.startswith(("custom:", "dev:")):
                types[name] = str(entry.get("AttributeDataType", "String"))
        return cls(frozenset(declared), frozenset(immutable), frozenset(required), types)


def writable(name: str) -> bool:
    """Attributes an administrator may ever send (Cognito owns the rest)."""
    return not (name in READ_ONLY_ATTRIBUTES or name.startswith("cognito:") or name in ("sub", "identities"))


def missing_selection(desired: PoolState, opts: PlanOptions) -> list[str]:
    """`--only` names (user:NAME / group:NAME) the desired state does not hold. A user may be named by
    its username or its identity key (the email in email sign-in pools)."""
    attrs = username_attributes(desired.config)
    unseen = set(opts.only_users)
    for user in desired.users.values():  # one pass, keeping only the names asked for
        if not unseen:
            break
        unseen -= {user.username, identity_key(user, attrs)}
    missing = [f"group:{g}" for g in sorted(opts.only_groups) if g not in desired.groups]
    return missing + [f"user:{u}" for u in sorted(unseen)]


def username_attributes(config: PoolConfig) -> tuple[str, ...]:
    return tuple(str(a) for a in config.user_pool.get("UsernameAttributes", []) or [])


def identity_key(user: User, username_attrs: tuple[str, ...]) -> str:
    """How a user is recognised across pools (see module doc)."""
    for attr in username_attrs:
        value = user.attributes.get(attr)
        if value:
            return value
    return user.username


def _custom_schema_entry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """A DescribeUserPool schema entry as AddCustomAttributes wants it (name without `custom:`)."""
    out: dict[str, Any] = {
        "Name": str(entry["Name"]).removeprefix("custom:"),
        "AttributeDataType": entry.get("AttributeDataType", "String"),
        "Mutable": bool(entry.get("Mutable", True)),
    }
    if entry.get("DeveloperOnlyAttribute"):
        out["DeveloperOnlyAttribute"] = True
    for key in ("NumberAttributeConstraints", "StringAttributeConstraints"):
        if entry.get(key):
            out[key] = {k: v for k, v in dict(entry[key]).items() if v is not None}
    return out


KEEP_SUB_SCHEMA = {"AttributeDataType": "String", "Mutable": True, "StringAttributeConstraints": {"MaxLength": "64"}}


def with_kept_sub(desired: PoolState, attribute: str) -> PoolState:
    """The desired state with each user's snapshot sub written into `attribute` (a custom attribute).
    The users are a view (each read through the change), not a copy: the pool may not fit in memory."""
    config = desired.config
    if attribute not in config.custom_attributes():
        pool = dict(config.user_pool)
        pool["SchemaAttributes"] = [
            *list(pool.get("SchemaAttributes", []) or []),
            dict(KEEP_SUB_SCHEMA, Name=attribute),
        ]
        config = replace(config, user_pool=pool)
    return PoolState(
        config=config,
        groups=desired.groups,
        users=MappedView(desired.users, lambda user: _kept_sub(user, attribute)),
        memberships=desired.memberships,
    )


def _kept_sub(user: User, attribute: str) -> User:
    if not user.sub:
        return user
    return replace(user, attributes={**user.attributes, attribute: user.sub})


# ---- the planner ---------------------------------------------------------------------------------


def plan(desired: PoolState, actual: PoolState, options: PlanOptions | None = None) -> Plan:
    """Operations that make `actual` equal to `desired`, in dependency order. Raises PlanRefused
    (before anything is written) when the target cannot take the desired state.

    Flat in memory (docs/design.md "Memory"): both sides' users and memberships are spilled to disk
    keyed by identity key (core/sides.py) and walked in key order; the plan's lists spill too."""
    opts = options or PlanOptions()
    if opts.password_mode not in PASSWORD_MODES:
        raise ValueError(f"unknown password mode {opts.password_mode!r}")
    if opts.keep_sub_in:
        desired = with_kept_sub(desired, opts.keep_sub_in)
    _refuse_other_sign_in(desired.config, actual.config)
    want_attrs = username_attributes(desired.config)
    sides = Sides(lambda user: identity_key(user, want_attrs))
    try:
        sides.load_desired(desired.users.values(), desired.memberships)
        sides.load_actual(actual.users.values(), actual.memberships)
        return _plan(sides, desired, actual, opts, want_attrs)
    finally:
        sides.close()


def _refuse_other_sign_in(desired: PoolConfig, target: PoolConfig) -> None:
    want_attrs, have_attrs = username_attributes(desired), username_attributes(target)
    if desired.user_pool and target.user_pool and sorted(want_attrs) != sorted(have_attrs):
        raise PlanRefused(
            f"The snapshot's pool signs users in with {_sign_in(want_attrs)} but the target signs in with "
            f"{_sign_in(have_attrs)}; this setting is fixed when a pool is created",
            hint="Restore into a new pool (--new-pool NAME), or into a pool created with the same setting.",
        )


def refuse_before_planning(desired: PoolState, actual: PoolState, options: PlanOptions) -> None:
    """Raise the PlanRefused that `plan(desired, actual, options)` would raise for the target's settings
    (sign-in attributes, custom attribute declarations), without planning: one pass over the desired
    users, no spill. For a caller that must write something before it plans (a standby round tags the
    pool it adopts) and may do so only if the plan will not be refused."""
    _refuse_other_sign_in(desired.config, actual.config)
    needed = needed_custom_attributes(desired, desired.users.values(), options)
    _refuse_custom_attribute_conflicts(desired.config, actual.config, needed, options.keep_sub_in)


def _plan(sides: Sides, desired: PoolState, actual: PoolState, opts: PlanOptions, want_attrs: tuple[str, ...]) -> Plan:
    ops = OpList()
    skipped: SpillList[Notice] = SpillList()
    notes: SpillList[Notice] = SpillList()
    drift: SpillList[Notice] = SpillList()
    result = Plan(ops=ops, skipped=skipped, notes=notes, drift=drift)

    def user_selected(key: str, username: str | None) -> bool:
        if not opts.named:
            return True
        return key in opts.only_users or (username is not None and username in opts.only_users)

    def group_selected(name: str) -> bool:
        # --only-missing creates and changes no group (memberships of the users it creates aside).
        return not opts.only_missing and (not opts.named or name in opts.only_groups)

    def membership_selected(group: str, key: str, username: str | None) -> bool:
        return not opts.named or group in opts.only_groups or user_selected(key, username)

    if opts.custom_attributes is not None:
        needed = set(opts.custom_attributes)
    else:
        selected = (
            u
            for k, u, current in sides.user_pairs()
            if user_selected(k, u.username) and not (opts.only_missing and current is not None)
        )
        needed = needed_custom_attributes(desired, selected, opts)
    _refuse_custom_attribute_conflicts(desired.config, actual.config, needed, opts.keep_sub_in)
    add_attrs = _missing_custom_attributes(desired, actual, needed, opts)
    # Recovery (forgot-password) follows the target's setting; a new pool gets the snapshot's.
    recovery = recovery_channels(actual.config if actual.config.user_pool else desired.config)
    schema = Schema.of(actual.config, add_attrs)
    desired_declared = Schema.of(desired.config).declared
    schema_op_id: tuple[str, ...] = ()
    if add_attrs:
        op = Op(kind="add_custom_attributes", schema=tuple(add_attrs))
        if opts.setup:
            ops.append(op)
        schema_op_id = (op.id,)

    # -- groups (at most 10,000 per pool: in memory) --
    group_ops: dict[str, str] = {}
    for name, wanted_group in sorted(desired.groups.items()):
        if not group_selected(name):
            continue
        fields = _group_fields(wanted_group, opts.arn_map)
        existing_group = actual.groups.get(name)
        if existing_group is None:
            op = Op(kind="create_group", group=name, group_fields=fields, after=schema_op_id)
            group_ops[name] = op.id
            if opts.setup:
                ops.append(op)
            continue
        changed = [k for k, v in fields.items() if _group_fields(existing_group, {}).get(k) != v]
        if not opts.setup:
            continue
        if changed:
            ops.append(
                Op(kind="update_group", group=name, group_fields=fields, names=tuple(changed), after=schema_op_id)
            )
        else:
            result.unchanged["groups"] += 1

    # -- users: a merge-join of both sides in key order --
    for key, user, current in sides.user_pairs():
        if not user_selected(key, user.username):
            continue
        if opts.only_missing and current is not None:
            # Already in the target: left as it is, also where it differs (a change made since is kept).
            sides.record_fate(key, restorable=True)
            differs = _update_user_ops(key, user, current, schema, opts, schema_op_id, SpillList(), desired_declared)
            if differs:
                result.left_as_is["users"] += 1
            else:
                result.unchanged["users"] += 1
            continue
        if current is None and user.status == STATUS_EXTERNAL:
            skipped.append(
                Notice(
                    "user",
                    key,
                    "federated user (EXTERNAL_PROVIDER): admin calls cannot create it; it reappears at its "
                    "next sign-in through its identity provider",
                )
            )
            sides.record_fate(key, restorable=False)
            continue
        if current is None:
            missing_required = sorted(a for a in schema.required if a not in user.attributes and writable(a))
            if missing_required:
                skipped.append(
                    Notice("user", key, "lacks attributes the target requires: " + ", ".join(missing_required))
                )
                sides.record_fate(key, restorable=False)
                continue
            created_ops = _create_user_ops(key, user, schema, opts, schema_op_id, want_attrs)
            sides.record_fate(key, restorable=True, created=created_ops[0].id)
            notes.extend(Notice("user", key, reason) for reason in created_user_notes(user, opts, recovery))
            ops.extend(created_ops)
            continue
        sides.record_fate(key, restorable=True)
        user_ops = _update_user_ops(key, user, current, schema, opts, schema_op_id, drift, desired_declared)
        if user_ops:
            ops.extend(user_ops)
        else:
            result.unchanged["users"] += 1

    # -- memberships --
    for row in sides.memberships():
        group, key = row.group, row.key
        if not membership_selected(group, key, row.username):
            continue
        if row.present:
            result.unchanged["memberships"] += 1
            continue
        if opts.only_missing and row.target_username is not None:
            result.left_as_is["memberships"] += 1  # a user already there: not ours to change
            continue
        name = f"{group}/{key}"
        if not row.restorable and row.target_username is None:
            member_selected = row.username is not None and user_selected(key, row.username)
            if row.username is None or row.status == STATUS_EXTERNAL or member_selected:
                skipped.append(Notice("membership", name, "its user is not restored (see above)"))
            else:
                skipped.append(
                    Notice(
                        "membership",
                        name,
                        f"user {key!r} is not in the target; add --only user:{key}",
                        by_choice=opts.selective,
                    )
                )
            continue
        if group not in desired.groups or (group not in actual.groups and group not in group_ops):
            how = (
                f"--only-missing creates no groups: restore it first with --only group:{group}"
                if opts.only_missing
                else f"add --only group:{group}"
            )
            skipped.append(
                Notice(
                    "membership",
                    name,
                    f"group {group!r} is not in the target; {how}",
                    by_choice=opts.selective and group in desired.groups,
                )
            )
            continue
        after = tuple(x for x in (row.created, group_ops.get(group)) if x) + schema_op_id
        username = row.target_username if row.target_username is not None else key
        ops.append(Op(kind="add_membership", user=key, username=username, group=group, after=after))

    # -- prune (or, without --prune, count what the target keeps: the plan says so) --
    kept = result.kept_in_target
    for ukey, uname in sides.target_only_users():
        if not user_selected(ukey, uname):
            continue
        if not opts.prune:
            kept["users"] += 1
            continue
        sides.record_gone(ukey)
        ops.append(Op(kind="delete_user", user=ukey, username=uname))
    deleted_groups = set()
    if opts.setup and not opts.only_missing and (not opts.only_users or opts.only_groups):
        for name in sorted(actual.groups):
            if name not in desired.groups and group_selected(name):
                if not opts.prune:
                    kept["groups"] += 1
                    continue
                deleted_groups.add(name)
                ops.append(Op(kind="delete_group", group=name))
    for extra in sides.target_only_memberships():
        if extra.group in deleted_groups or not membership_selected(extra.group, extra.key, extra.target_username):
            continue
        if not opts.prune:
            kept["memberships"] += 1
            continue
        username = extra.target_username if extra.target_username is not None else extra.key
        ops.append(Op(kind="remove_membership", user=extra.key, username=username, group=extra.group))
    return result


def _sign_in(attrs: tuple[str, ...]) -> str:
    return " or ".join(attrs) if attrs else "a username"


# AccountRecoverySetting mechanism -> the attribute and verified flag it sends the code to.
RECOVERY_MECHANISMS = {
    "verified_email": ("email", "email_verified"),
    "verified_phone_number": ("phone_number", "phone_number_verified"),
}


def created_status(password_mode: str, users_via: str = "admin") -> str:
    """The status a user this restore creates ends in: import jobs leave RESET_REQUIRED, a permanent
    password CONFIRMED, AdminCreateUser alone or a temporary password FORCE_CHANGE_PASSWORD."""
    if users_via == "import-job":
        return STATUS_RESET_REQUIRED
    return STATUS_CONFIRMED if password_mode == "random-permanent" else STATUS_FORCE_CHANGE


_COMES_BACK = {
    STATUS_CONFIRMED: "CONFIRMED with a random password nobody knows",
    STATUS_RESET_REQUIRED: "RESET_REQUIRED (resets the password with a code at first sign-in)",
    "temporary-file": "FORCE_CHANGE_PASSWORD with a temporary password from the passwords file",
    "none": "FORCE_CHANGE_PASSWORD with a password nobody knows: an administrator must set one "
    "(AdminSetUserPassword) before the user can sign in",
}


def recovery_channels(config: PoolConfig) -> tuple[tuple[str, str], ...]:
    """(attribute, verified flag) pairs forgot-password can send a code to in this pool. Without an
    AccountRecoverySetting Cognito uses a verified phone number, else a verified email; `admin_only`
    allows none."""
    setting = config.user_pool.get("AccountRecoverySetting") or {}
    mechanisms = [str(m.get("Name")) for m in setting.get("RecoveryMechanisms") or []]
    if not mechanisms:
        return tuple(RECOVERY_MECHANISMS.values())
    return tuple(RECOVERY_MECHANISMS[m] for m in mechanisms if m in RECOVERY_MECHANISMS)


def can_recover(user: User, channels: tuple[tuple[str, str], ...]) -> bool:
    return any(
        user.attributes.get(attr) and _norm(flag, user.attributes.get(flag)) == "true" for attr, flag in channels
    )


def created_user_notes(user: User, opts: PlanOptions, channels: tuple[tuple[str, str], ...]) -> list[str]:
    """Why a user this restore creates will not be as it was: its status changes (no admin call can
    recreate UNCONFIRMED, nor keep a password), and it may have no way to reach forgot-password."""
    notes = []
    becomes = created_status(opts.password_mode, opts.users_via)
    # Forgot-password is how these users get a password back; FORCE_CHANGE_PASSWORD users cannot use it,
    # and temporary-file mode hands their password out.
    needs_recovery = becomes == STATUS_RESET_REQUIRED or opts.password_mode == "random-permanent"
    recovers = can_recover(user, channels)
    if user.status != becomes:
        cause = " (no admin call can recreate that state)" if user.status == STATUS_UNCONFIRMED else ""
        outcome = _COMES_BACK[opts.password_mode if becomes == STATUS_FORCE_CHANGE else becomes]
        if needs_recovery and recovers:
            outcome += " (recovers with forgot-password)"
        notes.append(f"was {user.status}{cause}: comes back {outcome}")
    if needs_recovery and not recovers:
        notes.append(
            "cannot use forgot-password (no verified email or phone number the pool recovers with): an "
            "administrator must set a password for it (AdminSetUserPassword, handed over securely), or mark "
            "an email or phone number checked with the user as verified (AdminUpdateUserAttributes)"
        )
    return notes


def _group_fields(group: Group, arn_map: Mapping[str, str]) -> dict[str, Any]:
    fields: dict[str, Any] = {}
    if group.description is not None:
        fields["Description"] = group.description
    if group.precedence is not None:
        fields["Precedence"] = group.precedence
    if group.role_arn:
        fields["RoleArn"] = arn_map.get(group.role_arn, group.role_arn)
    return fields


def needed_custom_attributes(desired: PoolState, users: Iterable[User], opts: PlanOptions) -> set[str]:
    """Custom attributes the restore writes: all the snapshot declares, or with --only those the
    selected users hold."""
    needed = {n for u in users for n in u.attributes if n.startswith(("custom:", "dev:"))}
    if not opts.selective:
        needed |= set(desired.config.custom_attributes())
    if opts.keep_sub_in:
        needed.add(opts.keep_sub_in)
    return needed


def _schema_entries(config: PoolConfig) -> dict[str, Mapping[str, Any]]:
    return {str(a["Name"]): a for a in config.user_pool.get("SchemaAttributes", []) or [] if a.get("Name")}


def custom_attribute_conflicts(
    desired: PoolConfig, target: PoolConfig, names: Iterable[str], write_once: str | None = None
) -> list[str]:
    """Custom attributes both pools declare in ways the target cannot hold the snapshot's values:
    another data type, or immutable in the target where the snapshot's values could change.
    `write_once` (the --keep-sub-in attribute: a sub never changes) may be immutable in the target."""
    want, have = _schema_entries(desired), _schema_entries(target)
    conflicts = []
    for name in sorted(names):
        if name not in want or name not in have:
            continue
        want_type = str(want[name].get("AttributeDataType", "String"))
        have_type = str(have[name].get("AttributeDataType", "String"))
        if want_type != have_type:
            conflicts.append(f"{name} is {want_type} in the snapshot but {have_type} in the target")
        mutable_in_snapshot = want[name].get("Mutable", True) is not False
        if name != write_once and mutable_in_snapshot and have[name].get("Mutable", True) is False:
            conflicts.append(f"{name} is mutable in the snapshot but immutable in the target")
    return conflicts


def _refuse_custom_attribute_conflicts(
    desired: PoolConfig, target: PoolConfig, names: Iterable[str], write_once: str | None
) -> None:
    conflicts = custom_attribute_conflicts(desired, target, names, write_once)
    if conflicts:
        raise PlanRefused(
            "The target pool declares custom attributes differently from the snapshot: "
            + "; ".join(conflicts)
            + ". Custom attributes can never be changed or removed. Nothing was written.",
            hint="Restore into a new pool (--new-pool NAME), which is created with the snapshot's schema.",
        )


def _missing_custom_attributes(
    desired: PoolState, actual: PoolState, needed: set[str], opts: PlanOptions
) -> list[dict[str, Any]]:
    """Custom attributes the restore needs that the target lacks, as AddCustomAttributes entries.

    Raises PlanRefused when any cannot be added."""
    declared_target = set(actual.config.custom_attributes()) | set(_schema_entries(actual.config))
    desired_schema = desired.config.custom_attributes()
    missing = sorted(needed - declared_target)
    if not missing:
        return []
    unknown = [n for n in missing if n not in desired_schema]
    problems = []
    if not opts.add_missing_attributes:
        problems.append("adding attributes was not allowed (--no-add-attributes)")
    if unknown:
        problems.append("the snapshot does not declare the type of " + ", ".join(unknown))
    if len([n for n in declared_target if n.startswith("custom:")]) + len(missing) > MAX_CUSTOM_ATTRIBUTES:
        problems.append(f"a pool holds at most {MAX_CUSTOM_ATTRIBUTES} custom attributes")
    if any(not n.startswith("custom:") for n in missing):
        problems.append("only custom:NAME attributes can be added")
    if problems:
        raise PlanRefused(
            "The target pool lacks custom attributes " + ", ".join(missing) + ": " + "; ".join(problems) + ". "
            "Nothing was written.",
            hint="Allow adding them, restore into a new pool (--new-pool NAME), or add them yourself "
            "(custom attributes can be added but never removed).",
        )
    entries = []
    for name in missing:
        entry = dict(desired_schema[name])
        entry.pop("Required", None)  # custom attributes can never be required
        entries.append(_custom_schema_entry(entry))
    return entries


def _writable_attrs(user: User, schema: Schema) -> dict[str, str]:
    return {n: v for n, v in user.attributes.items() if writable(n) and n in schema.declared}


def lookup_attribute(op: Op, attrs: tuple[str, ...]) -> str:
    """The attribute that finds the user a create_user operation is for (with its identity key as the
    value): the username attribute whose value the key is (email / phone sign-in pools), else username."""
    given = dict(op.attributes)
    return next((a for a in attrs if given.get(a) == (op.user or "")), "username")


def _create_user_ops(
    key: str,
    user: User,
    schema: Schema,
    opts: PlanOptions,
    after: tuple[str, ...],
    username_attrs: tuple[str, ...],
) -> list[Op]:
    attrs = _writable_attrs(user, schema)
    mutable = tuple(sorted((n, v) for n, v in attrs.items() if n not in schema.immutable))
    create = Op(
        kind="create_user",
        user=key,
        username=key if username_attrs else user.username,
        attributes=tuple(sorted(attrs.items())),
        fallback=mutable,
        after=after,
        note="was UNCONFIRMED" if user.status == STATUS_UNCONFIRMED else None,
        source_sub=user.sub,
    )
    ops = [create]
    chain = [create.id]
    if opts.password_mode != "none":
        pw = Op(kind="set_password", user=key, username=create.username, after=(create.id,))
        ops.append(pw)
        chain.append(pw.id)
    if not user.enabled:
        ops.append(Op(kind="disable_user", user=key, username=create.username, after=tuple(chain)))
    return ops


def _update_user_ops(
    key: str,
    user: User,
    current: User,
    schema: Schema,
    opts: PlanOptions,
    after: tuple[str, ...],
    drift: SpillList[Notice],
    opinion: frozenset[str],
) -> list[Op]:
    """`opinion`: attributes the snapshot's pool declares; others the target has are left alone."""
    ops: list[Op] = []
    username = current.username
    external = STATUS_EXTERNAL in (user.status, current.status)
    if not external:
        want = _writable_attrs(user, schema)
        have = _writable_attrs(current, schema)
        changed = {n: v for n, v in want.items() if _norm(n, have.get(n)) != _norm(n, v) and n not in schema.immutable}
        fixed = sorted(n for n, v in want.items() if _norm(n, have.get(n)) != _norm(n, v) and n in schema.immutable)
        for name in fixed:
            drift.append(Notice("user", key, f"attribute {name} differs but is immutable (written only at creation)"))
        removed = sorted(
            n
            for n in have
            if n not in want
            and n in opinion
            and n not in schema.immutable
            and n not in schema.required
            and _norm(n, have[n]) != _norm(n, None)
        )
        if changed:
            # Cognito sends a verification code when email / phone_number change unless the verified flag is
            # set in the same call: carry the desired flag along so the restore stays silent.
            for attr, flag in (("email", "email_verified"), ("phone_number", "phone_number_verified")):
                if attr in changed and flag in want and flag not in changed:
                    changed[flag] = want[flag]
            ops.append(
                Op(
                    kind="update_user_attributes",
                    user=key,
                    username=username,
                    attributes=tuple(sorted(changed.items())),
                    names=tuple(sorted(changed)),
                    after=after,
                )
            )
        if removed:
            ops.append(
                Op(kind="delete_user_attributes", user=key, username=username, names=tuple(removed), after=after)
            )
    if key in opts.owned_users and key not in opts.passwords_done and opts.password_mode != "none":
        ops.append(Op(kind="set_password", user=key, username=username, note="resumed: created by an earlier run"))
    if user.enabled != current.enabled:
        kind = "enable_user" if user.enabled else "disable_user"
        ops.append(Op(kind=kind, user=key, username=username, after=tuple(o.id for o in ops)))
    return ops


def _norm(name: str, value: str | None) -> str:
    """Absent and "false" mean the same for verified flags; absent and empty for everything else."""
    if value is None:
        return "false" if name in VERIFIED_FLAGS else ""
    if name in VERIFIED_FLAGS:
        return value.lower()
    return value
