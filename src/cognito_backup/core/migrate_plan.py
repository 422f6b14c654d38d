"""`migrate`: the migration's record, and every decision of start / sync / status / finish as pure functions
(ops/migrate.py carries them out). docs/migrate.md describes the flow."""

from __future__ import annotations

import datetime as dt
import json
from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from cognito_backup.core.migrate_decide import TRIGGER_POOL_VAR
from cognito_backup.core.plan import identity_key, username_attributes
from cognito_backup.model import Membership, PoolConfig, PoolState, User

MIGRATIONS_PREFIX = "migrations/"
TRIGGER_KEY = "UserMigration"
STARTED = "started"
FINISHED = "finished"


def migration_key(from_pool_id: str) -> str:
    """One migration per source pool at a time: its record lives under the source pool's id."""
    return f"{MIGRATIONS_PREFIX}{from_pool_id}.json"


@dataclass
class MigrationState:
    """What `migrate start` did, so that sync, status and finish (from anywhere) know the two pools. The
    admin-auth client's id is not a secret (the client has none); it is kept to remove the client."""

    from_user_pool_id: str
    to_user_pool_id: str
    trigger_arn: str
    client_id: str
    snapshot: str
    started_at: str
    to_region: str | None = None
    new_pool: str | None = None
    status: str = STARTED
    finished_at: str | None = None
    last_sync_at: str | None = None

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    def to_bytes(self) -> bytes:
        return (json.dumps(self.to_json(), indent=2, sort_keys=True) + "\n").encode()

    @classmethod
    def from_bytes(cls, data: bytes) -> MigrationState:
        raw = json.loads(data)
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in raw.items() if k in known})


# ---- start ------------------------------------------------------------------------------------------------


@dataclass
class StartPlan:
    from_user_pool_id: str
    to_user_pool_id: str | None
    new_pool: str | None
    trigger_arn: str
    groups: int = 0
    reuse_client: bool = False
    steps: list[str] = field(default_factory=list)

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


def custom_names(user_pool: Mapping[str, Any]) -> set[str]:
    return {str(a["Name"]) for a in user_pool.get("SchemaAttributes", []) or [] if str(a["Name"]).startswith("custom:")}


def start_refusals(
    from_pool_id: str,
    to_pool_id: str | None,
    a_pool: Mapping[str, Any],
    b_pool: Mapping[str, Any] | None,
    trigger_arn: str,
    same_region: bool = True,
) -> list[str]:
    """Why B cannot take A's users through the trigger; empty when it can. Each is one sentence."""
    out: list[str] = []
    if to_pool_id is not None and to_pool_id == from_pool_id and same_region:
        out.append(f"{from_pool_id} is both the source and the target: give another pool, or --new-pool NAME.")
    if b_pool is None:
        return out
    missing = sorted(custom_names(a_pool) - custom_names(b_pool))
    if missing:
        out.append(
            f"{to_pool_id} lacks attributes {from_pool_id} uses ({', '.join(missing)}): a migrated user would "
            "be refused by Cognito. Add them to the target (custom attributes cannot be added by the trigger)."
        )
    attached = (b_pool.get("LambdaConfig") or {}).get(TRIGGER_KEY)
    if attached and attached != trigger_arn:
        out.append(
            f"{to_pool_id} already has a user-migration trigger ({attached}): another migration into it is "
            "under way. Finish it first, or remove that trigger."
        )
    return out


def sign_up_warning(to_pool_id: str, b_pool: Mapping[str, Any]) -> str | None:
    """A warning when B lets users sign up themselves during the migration, else None. PURE.

    Cognito calls no migration trigger on SignUp: anyone could sign up in B under the username of an A user
    who has not moved yet, and `sync` (matching by identity) would give that account A's groups."""
    if (b_pool.get("AdminCreateUserConfig") or {}).get("AllowAdminCreateUserOnly"):
        return None
    return (
        f"{to_pool_id} lets users sign up themselves: while the migration runs, anyone may sign up there under "
        "the username of a user who has not moved yet, and `migrate sync` would give that account the user's "
        "groups. Set AdminCreateUserConfig.AllowAdminCreateUserOnly on it (or reject A's usernames in a pre "
        "sign-up trigger) until `migrate finish` (docs/migrate.md)."
    )


def held_refusal(from_pool_id: str, to_pool_id: str, held: list[str], shown: int = 20) -> str | None:
    """Why B cannot start a migration while it holds users of A (B's usernames), or None. PURE.

    Who moved is told by identity (moved_users): a user B held before the start would be taken for one
    who moved, and `sync` / `finish` would give that other person A's groups and enabled state."""
    if not held:
        return None
    names = ", ".join(sorted(held)[:shown]) + (f" and {len(held) - shown} more" if len(held) > shown else "")
    return (
        f"{to_pool_id} already holds {len(held)} user{'s' if len(held) != 1 else ''} of {from_pool_id} ({names}): "
        f"a migration would take them for users who moved and give them {from_pool_id}'s groups and enabled "
        f"state (`migrate sync`, `finish`). Give another target (or --new-pool NAME), or rename or remove "
        f"those users in {to_pool_id} first."
    )


def triggers_for(functions: Iterable[Mapping[str, Any]], from_pool_id: str) -> list[str]:
    """ARNs of the deployed migration triggers (ListFunctions items) that read pool `from_pool_id`."""
    return sorted(
        str(f["FunctionArn"])
        for f in functions
        if ((f.get("Environment") or {}).get("Variables") or {}).get(TRIGGER_POOL_VAR) == from_pool_id
    )


def lambda_config_with(user_pool: Mapping[str, Any], trigger_arn: str | None) -> dict[str, Any]:
    """The pool's LambdaConfig with the migration trigger set (or removed when None); other triggers kept."""
    config = dict(user_pool.get("LambdaConfig") or {})
    if trigger_arn:
        config[TRIGGER_KEY] = trigger_arn
    else:
        config.pop(TRIGGER_KEY, None)
    return config


def groups_only(state: PoolState) -> PoolState:
    """The part of A that B gets at start: its groups (users come by the trigger or at finish)."""
    return PoolState(config=state.config, groups=dict(state.groups))


# ---- who moved --------------------------------------------------------------------------------------------


def moved_users(source: Iterable[User], target: Iterable[User], config: PoolConfig) -> dict[str, tuple[User, User]]:
    """Users of A that B holds now, by identity key (username, or the username attribute for email- or
    phone-as-username pools): key -> (user in A, user in B). A user who signed in to B with an alias of A
    (an email, a preferred_username) may be held under that name: matched by the alias value then."""
    attrs = username_attributes(config)
    targets = list(target)
    in_b = {identity_key(u, attrs): u for u in targets}
    by_name = {u.username: u for u in targets}
    aliases = [str(a) for a in config.user_pool.get("AliasAttributes", []) or []]
    by_alias = {(a, u.attributes[a]): u for u in targets for a in aliases if u.attributes.get(a)}
    out = {}
    for user in source:
        key = identity_key(user, attrs)
        found = in_b.get(key) or by_name.get(user.username)
        for alias in aliases:
            if found is None and user.attributes.get(alias):
                found = by_alias.get((alias, user.attributes[alias]))
        if found is not None:
            out[key] = (user, found)
    return out


# A sync re-reads the users B created since the previous sync began, less this margin: the clocks of this
# machine and of Cognito differ, and a sign-in may complete while the previous sync was reading.
SYNC_OVERLAP = dt.timedelta(minutes=10)


def moved_since(moved: Mapping[str, tuple[User, User]], since: dt.datetime | None) -> dict[str, tuple[User, User]]:
    """The moved users B created at or after `since` less SYNC_OVERLAP (None: all of them)."""
    if since is None:
        return dict(moved)
    cutoff = since - SYNC_OVERLAP
    out = {}
    for key, pair in moved.items():
        created = pair[1].created
        if not created or dt.datetime.fromisoformat(created.replace("Z", "+00:00")) >= cutoff:
            out[key] = pair
    return out


def sync_desired(
    config: PoolConfig,
    groups: Mapping[str, Any],
    moved: Mapping[str, tuple[User, User]],
    source_groups: Mapping[str, list[str]],
) -> PoolState:
    """What B should hold for the moved users: B's own user (its attributes are newer than A's: the user
    may have changed them in B) with A's enabled state, and A's memberships. `source_groups` maps a user's
    username in A to its groups in A."""
    users: dict[str, User] = {}
    members: set[Membership] = set()
    for user_a, user_b in moved.values():
        users[user_b.username] = User(
            username=user_b.username,
            attributes=dict(user_b.attributes),
            enabled=user_a.enabled,
            status=user_b.status,
            created=user_b.created,
            modified=user_b.modified,
            mfa_options=user_b.mfa_options,
        )
        for group in source_groups.get(user_a.username, []):
            if group in groups:
                members.add(Membership(group=group, username=user_b.username))
    return PoolState(config=config, groups=dict(groups), users=users, memberships=members)


def finish_desired(source: PoolState, moved: Mapping[str, tuple[User, User]]) -> PoolState:
    """A's final state, except that each moved user is B's own (newer) copy with A's enabled state."""
    attrs = username_attributes(source.config)
    users: dict[str, User] = {}
    renamed: dict[str, str] = {}
    for user in source.users.values():
        pair = moved.get(identity_key(user, attrs))
        if pair is None:
            users[user.username] = user
            continue
        b = pair[1]
        users[b.username] = User(
            username=b.username, attributes=dict(b.attributes), enabled=user.enabled, status=b.status
        )
        renamed[user.username] = b.username
    members = {Membership(group=m.group, username=renamed.get(m.username, m.username)) for m in source.memberships}
    return PoolState(config=source.config, groups=dict(source.groups), users=users, memberships=members)


# ---- status -----------------------------------------------------------------------------------------------


def status_counts(total: int, moved: Mapping[str, tuple[User, User]]) -> dict[str, Any]:
    """moved / remaining / moved per day (by the day B created the user, UTC)."""
    per_day = Counter((pair[1].created or "")[:10] or "unknown" for pair in moved.values())
    return {
        "users_in_source": total,
        "moved": len(moved),
        "remaining": max(total - len(moved), 0),
        "per_day": [{"day": day, "moved": n} for day, n in sorted(per_day.items())],
    }


def now_iso(clock: dt.datetime) -> str:
    return clock.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def source_subs(
    sub_map: Iterable[tuple[str, str, str]], moved: Mapping[str, tuple[User, User]]
) -> list[tuple[str, str, str]]:
    """The restore engine's sub map rows (old, new, username in B) with each moved user's old sub taken from
    A: the engine saw B's own copy of them, whose sub is already the new one."""
    old_of = {b.username: a.sub for a, b in moved.values() if a.sub}
    return sorted(((old_of.get(name, old), new, name) for old, new, name in sub_map), key=lambda r: r[2])
