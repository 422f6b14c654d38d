"""How the restore's resume state (ops/checkpoint.py) is stored: pure encoding, no I/O.

Format 2 (docs/format.md, "Restore state"): each object is gzip-compressed JSON, `<run>-<seq>.json.gz`.
A run's own records are format 1's records, compressed. What a compaction writes is per user FACTS in
sorted, columnar chunks: each identity key once, with its intent time, its create's outcome and answer
(new sub, username) and its password mode: a restore's state as a resume leaves it is ~20 bytes a user
(mostly the subs, random by nature), not a JSON record per user and event (~200 bytes a user).

Format 1 objects (plain JSON `.json`, written before 2026-12-01) read the same.
"""

from __future__ import annotations

import gzip
import heapq
import itertools
import json
from collections.abc import Iterable, Iterator
from operator import itemgetter
from typing import Any, NamedTuple

FORMAT = 2
SUFFIX = ".json.gz"
GZIP_LEVEL = 6  # most of level 9's size at a fraction of its CPU

NONE, CREATED, EXISTED = 0, 1, 2  # a fact's create outcome


class Fact(NamedTuple):
    """What the state knows of one user (the fold of its records)."""

    key: str
    at: str | None  # intent time, None: no intent recorded
    outcome: int  # NONE, CREATED or EXISTED
    sub: str  # the new sub AdminCreateUser answered ("" unknown); only with CREATED
    username: str  # its username ("" unknown or the key itself)
    mode: str | None  # password mode of the password set, None: not set


def encode(run: str, events: list[dict[str, Any]], *, compacted: bool = False) -> bytes:
    """One object's bytes. `compacted`: written by a compaction (a resume need not compact it again)."""
    body: dict[str, Any] = {"format": FORMAT, "run": run, "events": events}
    if compacted:
        body["compacted"] = True
    data = json.dumps(body, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return gzip.compress(data, compresslevel=GZIP_LEVEL, mtime=0)


def decode(data: bytes) -> dict[str, Any] | None:
    """An object's body (either format), None if it is not one (not ours to judge: puts are atomic,
    so no crash tears one)."""
    try:
        body = json.loads(gzip.decompress(data) if data[:2] == b"\x1f\x8b" else data)
    except (ValueError, OSError, EOFError):  # JSON, or gzip's own errors
        return None
    return body if isinstance(body, dict) else None


def merge_facts(
    intents: Iterable[tuple[str, str]],
    created: Iterable[str],
    existed: Iterable[str],
    subs: Iterable[tuple[str, tuple[str, str]]],
    passwords: Iterable[tuple[str, str]],
) -> Iterator[Fact]:
    """The facts of every user the streams name, in key order. Each stream must be in key (str) order:
    a merge, nothing held but one user's facts."""
    tagged: tuple[Iterator[tuple[str, str, Any]], ...] = (
        ((key, "at", at) for key, at in intents),
        ((key, "created", None) for key in created),
        ((key, "existed", None) for key in existed),
        ((key, "sub", made) for key, made in subs),
        ((key, "mode", mode) for key, mode in passwords),
    )
    for key, group in itertools.groupby(heapq.merge(*tagged, key=itemgetter(0)), key=itemgetter(0)):
        at: str | None = None
        mode: str | None = None
        sub = username = ""
        outcome = NONE
        for _, tag, value in group:
            if tag == "at":
                at = value
            elif tag == "mode":
                mode = value
            elif tag == "sub":
                sub, username = value
            elif outcome == NONE:  # never both: the fold keeps the two sets apart
                outcome = CREATED if tag == "created" else EXISTED
        yield Fact(key, at, outcome, sub, "" if username == key else username, mode)


def facts_event(facts: list[Fact]) -> dict[str, Any]:
    """One `facts` record: the facts as columns (the few intent times and modes as indexes)."""
    ats: dict[str, int] = {}
    modes: dict[str, int] = {}
    return {
        "event": "facts",
        "users": [f.key for f in facts],
        "intent": [-1 if f.at is None else ats.setdefault(f.at, len(ats)) for f in facts],
        "outcome": [f.outcome for f in facts],
        "subs": [f.sub for f in facts],
        "usernames": [f.username for f in facts],
        "password": [-1 if f.mode is None else modes.setdefault(f.mode, len(modes)) for f in facts],
        "at": list(ats),
        "modes": list(modes),
    }


def read_facts(event: dict[str, Any]) -> Iterator[Fact]:
    """The facts of a `facts` record."""
    ats, modes = [str(a) for a in event.get("at", [])], [str(m) for m in event.get("modes", [])]
    columns = (event.get(name, []) for name in ("users", "intent", "outcome", "subs", "usernames", "password"))
    for key, at, outcome, sub, username, mode in zip(*columns, strict=True):
        yield Fact(
            str(key),
            ats[at] if at >= 0 else None,
            int(outcome),
            str(sub),
            str(username),
            modes[mode] if mode >= 0 else None,
        )
