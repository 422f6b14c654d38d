"""Files and output people open (issue #8.9): spreadsheet-safe CSV cells, passwords easy to read out
that meet the pool's policy, a quiet closed pipe, whole snapshot ids on 80 columns, the emulator command."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from click.testing import CliRunner
from hypothesis import given, settings
from hypothesis import strategies as st

from cognito_backup.aws.writer import PASSWORD_SYMBOLS, random_password
from cognito_backup.cli.main import cli
from cognito_backup.core.csv_cells import DANGEROUS_FIRST, spreadsheet_csv
from tests.helpers import fill_pool, make_pool

AMBIGUOUS = set("0Oo1lIi")
# The symbols Cognito accepts in a password (Amazon Cognito Developer Guide, "password policies").
COGNITO_SYMBOLS = set("^$*.[]{}()?\"!@#%&/\\,><':;|_~`=+-")


def cells(data: bytes) -> list[list[str]]:
    return list(csv.reader(io.StringIO(data.decode("utf-8"))))


def test_no_cell_starts_with_a_formula_character() -> None:
    rows = [("username", "temporary_password"), ("=HYPERLINK(\"http://x\")", "pw"), ("+1", "a"), ("-2", "b"),
            ("@SUM(A1)", "c"), ("\tx", "d"), ("\rx", "e"), ("plain", "f"), ('say "hi", ok', "g")]  # fmt: skip
    out = cells(spreadsheet_csv(rows))
    for row in out:
        for cell in row:
            assert not cell.startswith(tuple(DANGEROUS_FIRST)), cell
    assert out[1][0] == '\'=HYPERLINK("http://x")'  # OWASP: a leading apostrophe, value otherwise kept
    assert out[7] == ["plain", "f"] and out[8][0] == 'say "hi", ok'
    assert cells(spreadsheet_csv([("'=x", "'quoted")])) == [["''=x", "''quoted"]]
    # Every cell is quoted (OWASP), so a field separator inside a value never splits it.
    assert spreadsheet_csv([("a,b", "c")]).decode() == '"a,b","c"\n'


@settings(max_examples=300, deadline=None)
@given(
    minimum=st.integers(min_value=6, max_value=99),
    lower=st.booleans(),
    upper=st.booleans(),
    numbers=st.booleans(),
    symbols=st.booleans(),
)
def test_passwords_are_easy_to_read_and_meet_the_policy(
    minimum: int, lower: bool, upper: bool, numbers: bool, symbols: bool
) -> None:
    policy = {"MinimumLength": minimum, "RequireLowercase": lower, "RequireUppercase": upper,
              "RequireNumbers": numbers, "RequireSymbols": symbols}  # fmt: skip
    password = random_password(policy)
    assert len(password) >= minimum
    assert not AMBIGUOUS & set(password), password
    assert password[0].isalnum()  # never a symbol first: nothing for a spreadsheet to evaluate
    assert re.search(r"[a-z]", password) and re.search(r"[A-Z]", password) and re.search(r"[0-9]", password)
    assert set(password) & set(PASSWORD_SYMBOLS)
    assert set(PASSWORD_SYMBOLS) <= COGNITO_SYMBOLS
    assert spreadsheet_csv([("u", password)]).decode() == f'"u","{password}"\n'  # written as it is


def test_closed_pipe_exits_141_quietly(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=1)
    repo = str(tmp_path / "repo")
    assert CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo]).exit_code == 0
    for args in (["snapshots", "--repo", repo], ["snapshots", "--repo", repo, "--json"], ["--help"]):
        # The reader is gone before the first write (as `| head -1` once it has its line): deterministic.
        read_end, write_end = os.pipe()
        os.close(read_end)
        try:
            proc = subprocess.run(
                [sys.executable, "-m", "cognito_backup.cli.main", *args],
                stdout=write_end,
                stderr=subprocess.PIPE,
                timeout=60,
            )
        finally:
            os.close(write_end)
        assert (proc.returncode, proc.stderr) == (141, b""), args


def test_snapshots_shows_whole_ids_on_80_columns(cognito: Any, tmp_path: Path) -> None:
    pool = make_pool(cognito)
    fill_pool(cognito, pool, n_users=1)
    repo = str(tmp_path / "repo")
    snapshot = json.loads(CliRunner().invoke(cli, ["backup", "--user-pool-id", pool, "--repo", repo, "--json"]).stdout)[
        "snapshot"
    ]
    # rich takes FORCE_COLOR as "this is a terminal" and COLUMNS as its width; colours are stripped.
    result = CliRunner().invoke(cli, ["snapshots", "--repo", repo], env={"COLUMNS": "80", "FORCE_COLOR": "1"})
    assert result.exit_code == 0, result.output
    text = re.sub(r"\x1b\[[0-9;]*m", "", result.stdout)
    assert "\x1b" in result.stdout  # the terminal path was taken
    assert max(len(line) for line in text.splitlines()) <= 80
    assert snapshot in text, text


def test_the_emulator_command_prints_its_endpoint_and_runs_until_ctrl_c(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "cognito_backup.cli.main", "emulator", "--port", "0"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        # As from a terminal: a test run started in the background by a non-interactive shell has SIGINT
        # ignored, which the child would inherit (and then never stop on Ctrl-C).
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        assert proc.stdout is not None
        lines = [proc.stdout.readline() for _ in range(3)]
        url = re.search(r"http://127\.0\.0\.1:\d+", "".join(lines))
        assert url, lines
        assert any("AWS_ENDPOINT_URL" in line for line in lines)
        import boto3

        client = boto3.client("cognito-idp", region_name="us-east-1", endpoint_url=url.group(0))
        client.create_user_pool(PoolName="tried")
        assert proc.poll() is None  # still serving
    finally:
        proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=30) == 0
    time.sleep(0)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text(alphabet=st.sampled_from("'=+-@\t\r,\"\na1 é"), max_size=8) | st.text(max_size=12), max_size=4))
def test_the_documented_rule_gives_every_value_back(row: list[str]) -> None:
    """docs/restore.md: a cell that starts with an apostrophe, drop that first apostrophe."""
    [back] = cells(spreadsheet_csv([row])) or [[]]
    assert not any(cell.startswith(DANGEROUS_FIRST) for cell in back)
    assert [c[1:] if c.startswith("'") else c for c in back] == row


def test_the_emulator_on_a_port_in_use_is_a_usage_error() -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = CliRunner().invoke(cli, ["emulator", "--port", str(port)])
    assert result.exit_code == 2, result.output
    assert f"127.0.0.1:{port}" in result.output and "Traceback" not in result.output
