"""`emulator`: the local Cognito emulator on its own, to try every command without an AWS account."""

from __future__ import annotations

import sys
import threading

import click

from cognito_backup.cli.common import handle_errors
from cognito_backup.emulator import Emulator


@click.command()
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=0,
    show_default=True,
    help="Loopback port to listen on; 0 picks a free one.",
)
@click.option(
    "--latency",
    type=click.FloatRange(0, 5),
    default=0.0,
    show_default=True,
    help="Seconds each request waits, to feel like the real service (100-300 ms).",
)
@handle_errors
def emulator(port: int, latency: float) -> None:
    """Run a local Cognito (and S3, SQS) emulator until Ctrl-C.

    It is moto's server on 127.0.0.1: it accepts any credentials and keeps everything in memory (all
    is forgotten when it stops). Point any command at it with --endpoint-url or AWS_ENDPOINT_URL. It
    is more lenient than Cognito (it never throttles, and accepts some calls Cognito refuses): use it
    to learn the tool, not to prove a restore plan.
    """
    server = Emulator(latency=latency, port=port or None)
    url = server.start()
    # Flushed line by line: whoever started us (a script, a pipe) needs the endpoint now, not at exit.
    for line in (
        f"Cognito emulator (moto) listening on {url}",
        f"Use it with: export AWS_ENDPOINT_URL={url} (or --endpoint-url {url})",
        "Any credentials work: export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1",
        "Press Ctrl-C to stop (everything it holds is forgotten).",
    ):
        click.echo(line)
        sys.stdout.flush()
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        click.echo("emulator stopped", err=True)
    finally:
        server.stop()


def register(group: click.Group) -> None:
    group.add_command(emulator)
