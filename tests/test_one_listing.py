"""One user-listing routine (issue #10, "one way to do each thing"): every ListUsers the tool makes
goes through PoolReader.list_users_page (pages of a chain, rescans) or PoolReader.find_user (the user
an attribute names), so paging, pacing, error translation and the filter quoting live in one place."""

from __future__ import annotations

import re
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src" / "cognito_backup"
# A ListUsers call made anywhere: through a reader's or pacer's `call`, or on a boto3 client.
CALL = re.compile(r"""(call\(\s*["']ListUsers["']|\.list_users\()""")
# The User Migration trigger has 5 seconds in all and makes each call once, without the reader's pacing
# and retries (serverless/migrate_trigger.py): its one alias lookup stays a plain boto3 call.
ALLOWED = {"serverless/migrate_trigger.py"}


def test_every_list_users_call_is_the_readers_page_routine() -> None:
    found = []
    for path in sorted(SRC.rglob("*.py")):
        rel = path.relative_to(SRC).as_posix()
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            if CALL.search(line) and rel not in ALLOWED:
                found.append(f"{rel}:{number}: {line.strip()}")
    reader = [f for f in found if f.startswith("aws/reader.py:")]
    assert len(reader) == 1, found  # list_users_page's own call
    assert found == reader, "ListUsers outside PoolReader.list_users_page:\n" + "\n".join(found)
