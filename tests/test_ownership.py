"""The ownership rule of a resumed restore (core/ownership.py): pure, table-driven."""

from __future__ import annotations

from typing import Any

import pytest

from cognito_backup.core.ownership import REASON_LOST, REASON_UNSET, ResumeFacts, passwords_to_set
from cognito_backup.model import User

INTENT = "2026-11-30T10:00:00+00:00"


def user(status: str = "FORCE_CHANGE_PASSWORD", created: str = "2026-11-30T10:00:02.500000Z") -> User:
    return User(username="u", attributes={}, status=status, created=created)


def facts(**kw: Any) -> ResumeFacts:
    base: dict[str, Any] = {
        "intents": {"u": INTENT},
        "created": set(),
        "existed": set(),
        "passwords_done": {},
        "local_temporary": set(),
    }
    base.update(kw)
    return ResumeFacts(**base)


@pytest.mark.parametrize(
    ("case", "the_facts", "the_user", "expected"),
    [
        ("killed between create and password", facts(), user(), REASON_UNSET),
        ("its create was recorded", facts(intents={}, created={"u"}), user(), REASON_UNSET),
        ("a sign-up meanwhile (unconfirmed)", facts(), user("UNCONFIRMED"), None),
        ("signed in with its own password", facts(), user("CONFIRMED"), None),
        ("created well before the run read the target", facts(), user(created="2026-11-30T09:50:00Z"), None),
        ("created within the clock-skew margin", facts(), user(created="2026-11-30T09:57:00Z"), REASON_UNSET),
        ("its create found it already there", facts(existed={"u"}), user(), None),
        ("no intent, no record", facts(intents={}), user(), None),
        ("password already set", facts(passwords_done={"u": "random-permanent"}), user("CONFIRMED"), None),
        ("temporary password lost", facts(passwords_done={"u": "temporary-file"}), user(), REASON_LOST),
        (
            "temporary password still here",
            facts(passwords_done={"u": "temporary-file"}, local_temporary={"u"}),
            user(),
            None,
        ),
        ("temporary password used already", facts(passwords_done={"u": "temporary-file"}), user("CONFIRMED"), None),
        ("no creation date", facts(), user(created=None), None),  # type: ignore[arg-type]
    ],
)
def test_ownership(case: str, the_facts: ResumeFacts, the_user: User, expected: str | None) -> None:
    got = passwords_to_set(the_facts, {"u": the_user}, "random-permanent").get("u")
    assert got == expected, case


def test_mode_none_sets_no_password_and_absent_users_are_skipped() -> None:
    assert passwords_to_set(facts(), {"u": user()}, "none") == {}
    assert passwords_to_set(facts(), {}, "random-permanent") == {}
