"""CSV files that people open in a spreadsheet (the restore's passwords and sub-map files).

A spreadsheet evaluates a cell that starts with `=`, `+`, `-` or `@` as a formula (and tab / carriage
return can smuggle one in), so a username such as `=HYPERLINK(...)` in a file an administrator opens
would run. OWASP's CSV-injection guidance: quote every cell, double the quotes inside, and put an
apostrophe before a cell that starts with one of those characters. A value that itself starts with an
apostrophe gets one more, so the rule for a program reading the file back is exact and simple (as
docs/restore.md says): a cell that starts with an apostrophe, drop that first apostrophe.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterable, Iterator, Sequence

DANGEROUS_FIRST = ("=", "+", "-", "@", "\t", "\r")
_ESCAPED_FIRST = (*DANGEROUS_FIRST, "'")


def safe_cell(value: str) -> str:
    return "'" + value if value.startswith(_ESCAPED_FIRST) else value


def spreadsheet_csv(rows: Iterable[Sequence[str]]) -> bytes:
    return b"".join(spreadsheet_csv_chunks(rows))


def spreadsheet_csv_chunks(rows: Iterable[Sequence[str]], rows_per_chunk: int = 1_000) -> Iterator[bytes]:
    """The same file, as pieces of `rows_per_chunk` rows: `rows` are read as a stream (a sub map has a row
    per user of the pool)."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\n", quoting=csv.QUOTE_ALL)
    for n, row in enumerate(rows, 1):
        writer.writerow([safe_cell(str(cell)) for cell in row])
        if n % rows_per_chunk == 0:
            yield buf.getvalue().encode("utf-8")
            buf.seek(0)
            buf.truncate()
    if buf.tell():
        yield buf.getvalue().encode("utf-8")
