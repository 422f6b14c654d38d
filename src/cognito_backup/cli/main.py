"""`cognito-backup`: the command group and its global AWS options."""

from __future__ import annotations

import importlib
import signal

import click

from cognito_backup import __version__
from cognito_backup.aws.session import AwsContext
from cognito_backup.cli.common import AppContext, PipeAwareGroup, global_options
from cognito_backup.cli.examples import add_examples
from cognito_backup.errors import Terminated

# Each module defines `register(group)`; one module per family of commands.
COMMAND_MODULES = (
    "cognito_backup.cli.backup_cmds",
    "cognito_backup.cli.repo_cmds",
    "cognito_backup.cli.restore_cmds",
    "cognito_backup.cli.recover_cmds",
    "cognito_backup.cli.journal_cmds",
    "cognito_backup.cli.demo",
    "cognito_backup.cli.emulator_cmd",
    "cognito_backup.cli.migrate_cmds",
)

HELP = """Backups, point-in-time restores and warm standbys for Amazon Cognito user pools.

\b
Typical use:
  cognito-backup backup  --user-pool-id us-east-1_AbC --repo s3://my-backups/cognito
  cognito-backup check   --repo s3://my-backups/cognito --read-data
  cognito-backup restore --repo s3://my-backups/cognito --new-pool recovered --dry-run
  cognito-backup demo    (everything above against a local emulator, no AWS account)

AWS options follow the AWS CLI: --region, --profile, --endpoint-url and the AWS_* variables.
Exit codes: 0 ok, 1 differences/partial failure, 2 usage, 3 access denied, 4 pool not found,
5 throttled, 6 repository damaged, 7 not found, 8 plan refused, 9 other AWS error,
10 storage unavailable, 11 snapshot incomplete, 12 not restorable, 13 repository busy, 70 internal
error, 130 interrupted (143 by SIGTERM), 141 output pipe closed (see docs/exit-codes.md).
"""


@click.group(
    cls=PipeAwareGroup, help=HELP, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100}
)
@global_options
@click.version_option(__version__, prog_name="cognito-backup")
@click.pass_context
def cli(ctx: click.Context, region: str | None, profile: str | None, endpoint_url: str | None) -> None:
    ctx.obj = AppContext(aws=AwsContext(region=region, profile=profile, endpoint_url=endpoint_url))


for _name in COMMAND_MODULES:
    try:
        _module = importlib.import_module(_name)
    except ModuleNotFoundError as _exc:  # a family not built yet in this checkout
        if _exc.name != _name:
            raise
        continue
    _module.register(cli)
add_examples(cli)


def _terminate(signum: int, frame: object) -> None:
    # SIGTERM (a scheduler stopping us, `kill`) takes the same clean path as Ctrl-C: temp files removed,
    # locks released, progress saved; it exits 143 as a shell reports SIGTERM. Commands with their own
    # stop logic (capture --follow) install their own handler.
    raise Terminated


def main() -> None:
    if signal.getsignal(signal.SIGTERM) is not signal.SIG_IGN:  # started ignoring it (nohup-like): it stays so
        signal.signal(signal.SIGTERM, _terminate)
    cli(prog_name="cognito-backup")


if __name__ == "__main__":
    main()
