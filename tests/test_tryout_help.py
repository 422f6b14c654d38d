"""Every command's --help teaches by example (session 4 try-out): before, only `cognito-backup --help`
and `recover --help` showed a command line; the other 17 commands showed options alone.

Each example must also be a command line the tool accepts as it stands (options, types, required
options), so an example never rots into one that exits 2."""

from __future__ import annotations

import shlex
from collections.abc import Iterator

import click
import pytest
from click.testing import CliRunner

from cognito_backup.cli.examples import EXAMPLES
from cognito_backup.cli.main import cli


def commands(group: click.Group = cli, path: tuple[str, ...] = ()) -> Iterator[tuple[tuple[str, ...], click.Command]]:
    for name, command in sorted(group.commands.items()):
        yield (*path, name), command
        if isinstance(command, click.Group):
            yield from commands(command, (*path, name))


@pytest.mark.parametrize(
    ("path", "command"), list(commands()), ids=lambda p: " ".join(p) if isinstance(p, tuple) else ""
)
def test_every_help_shows_an_example_command_line(path: tuple[str, ...], command: click.Command) -> None:
    result = CliRunner().invoke(cli, [*path, "--help"])
    assert result.exit_code == 0, result.output
    prefix = "cognito-backup " + " ".join(path) + " "
    shown = [line.strip() for line in result.output.splitlines() if not line.startswith("Usage:")]
    assert any(line.startswith(prefix) for line in shown), result.output


def parse_example(line: str) -> None:
    """Parse one example as the tool would (no command runs): global options, then the command path,
    then the command's own options and their types and required options."""
    words = shlex.split(line, comments=True)
    assert words[0] == "cognito-backup"
    ctx = cli.make_context("cognito-backup", words[1:], resilient_parsing=False)
    group: click.Command = cli
    rest = [*ctx._protected_args, *ctx.args]  # what the group left for its command
    while isinstance(group, click.Group):
        name, sub, rest = group.resolve_command(ctx, rest)
        assert sub is not None, line
        ctx = sub.make_context(str(name), rest, parent=ctx)
        group = sub
        rest = [*ctx._protected_args, *ctx.args] if isinstance(sub, click.Group) else ctx.args
    assert not rest, f"{line}: left over {rest}"


@pytest.mark.parametrize("line", [line for lines in EXAMPLES.values() for line in lines])
def test_every_example_is_a_command_line_the_tool_accepts(line: str) -> None:
    parse_example(line)


def test_examples_name_only_commands_that_exist() -> None:
    known = {" ".join(path) for path, _ in commands()}
    assert set(EXAMPLES) <= known
