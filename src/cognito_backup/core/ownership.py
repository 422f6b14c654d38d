"""Which users' passwords a resumed restore may set. Pure.

A restore sets a password only on a user its own AdminCreateUser created. A create that finds the user
already there (someone signed up, another admin created it, a replica wrote it) leaves that user's password
and status alone. The resume state (ops/checkpoint.py) tells a re-run what the earlier runs knew:

- `intents`: users an earlier run planned to create, with the time taken before it read the target
  (recorded durably before its first create call). A user in it was absent from the target at that read.
- `created` / `existed`: the answers of the create calls that were recorded before the run stopped.
- `passwords_done`: users whose password a run set, with the password mode it used.

A kill can lose the answers of the last calls. Then the user's own state decides: a user the earlier
run planned to create, now in the target, created after that run's read (less CLOCK_SKEW) and still in
FORCE_CHANGE_PASSWORD (AdminCreateUser's state: nobody has signed in, no password was set by its owner,
and it did not sign up, which gives UNCONFIRMED or CONFIRMED) is the restore's own. The one case this
cannot tell apart is another administrator creating the same username, without a permanent password, in
the seconds between the run's read and its kill; docs/restore.md says so.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Mapping, Set
from dataclasses import dataclass, field

from cognito_backup.errors import UsageError
from cognito_backup.model import User

FORCE_CHANGE_PASSWORD = "FORCE_CHANGE_PASSWORD"
TEMPORARY_MODE = "temporary-file"
# Our clock against Cognito's: a create answered by Cognito is not judged older than our read by less.
CLOCK_SKEW = dt.timedelta(minutes=5)

REASON_UNSET = "created by an earlier run of this restore that stopped before setting its password"
REASON_LOST = "its temporary password from an earlier run is not on this machine"


@dataclass(frozen=True)
class ResumeFacts:
    intents: Mapping[str, str]  # identity key -> ISO time before the planning read
    created: Set[str]
    existed: Set[str]
    passwords_done: Mapping[str, str]  # identity key -> password mode used
    local_temporary: Set[str]  # keys whose temporary password this machine still holds
    modes: Set[str] = field(default_factory=frozenset)  # --password-mode of the earlier runs
    finished: bool = False  # the last run ended with every operation done


def _parse(value: str | None) -> dt.datetime | None:
    if not value:
        return None
    try:
        parsed = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def ours(key: str, user: User, facts: ResumeFacts) -> bool:
    """Whether the restore created this (existing) user, by the records or, failing them, its state."""
    if key in facts.existed:
        return False
    if key in facts.created:
        return True
    if key not in facts.intents or user.status != FORCE_CHANGE_PASSWORD:
        return False
    planned = _parse(facts.intents[key])
    created = _parse(user.created)
    return planned is not None and created is not None and created >= planned - CLOCK_SKEW


def passwords_to_set(facts: ResumeFacts, actual: Mapping[str, User], password_mode: str) -> dict[str, str]:
    """Users (identity key -> reason) an earlier run created whose password this run must set.

    `actual` maps identity keys to the target's users. A user whose password a run set is done, unless it
    was a temporary password this machine no longer holds and the user has not used it yet (still
    FORCE_CHANGE_PASSWORD); a user that has signed in since keeps whatever password it chose.
    Raises UsageError when an earlier run in another mode left users waiting for their password
    (refuse_other_mode)."""
    refuse_other_mode(facts, actual, password_mode)
    return {} if password_mode == "none" else _waiting(facts, actual, password_mode)


def refuse_other_mode(facts: ResumeFacts, actual: Mapping[str, User], password_mode: str) -> None:
    """A re-run must finish a stopped restore in the mode it began with: otherwise the users the first
    run reached keep its kind of password and the others get another (random ones nobody knows beside
    temporary ones in a CSV, or none), and no report says which is which. An earlier run whose users all
    have their password is finished: a later restore into the same target may use any mode. `none`
    sets no password, so finishing its users in another mode gives every one that mode: no mix."""
    for earlier in sorted(set(facts.modes) - {password_mode, "none"}):
        waiting = _waiting(facts, actual, earlier)
        if waiting:
            raise UsageError(
                f"This restore was started with --password-mode {earlier} and stopped before {len(waiting)} "
                f"user(s) it created got their password; re-running it with --password-mode {password_mode} "
                "would leave its users with passwords of two kinds. Nothing was written.",
                hint=f"Run the same command with --password-mode {earlier} to finish it (after that, a "
                f"restore with --password-mode {password_mode} sets passwords only on users it creates itself).",
            )


def unfinished_users(facts: ResumeFacts) -> int:
    """How many users an earlier run planned to create and did not finish, by its records alone: no
    answer to its create (nor a password set since, which only a user the restore created gets), or
    created without the password its mode sets. None once a whole run (no --only) ended with every
    operation done: a kill can lose the last answers, and a re-run records no answer for a user an
    earlier run created."""
    if facts.finished:
        return 0
    sets_passwords = bool(set(facts.modes) - {"none"})
    count = 0
    for key in facts.intents:
        if key in facts.passwords_done or key in facts.existed:
            continue
        count += key not in facts.created or sets_passwords
    return count


def _waiting(facts: ResumeFacts, actual: Mapping[str, User], password_mode: str) -> dict[str, str]:
    out: dict[str, str] = {}
    # Each user once, read as streams (both may be on disk: a restore may create millions of users).
    planned = itertools.chain(facts.intents, (key for key in facts.created if key not in facts.intents))
    for key in planned:
        user = actual.get(key)
        if user is None or not ours(key, user, facts):
            continue
        mode = facts.passwords_done.get(key)
        if mode is None:
            if user.status == FORCE_CHANGE_PASSWORD:
                out[key] = REASON_UNSET
        elif mode == TEMPORARY_MODE and key not in facts.local_temporary and user.status == FORCE_CHANGE_PASSWORD:
            out[key] = REASON_LOST
    return out
