"""`emulator`: the local Cognito emulator on its own, to try every command without an AWS account."""

from __future__ import annotations

import socket
import sys
import threading

import click

from cognito_backup.cli.common import handle_errors
from cognito_backup.emulator import Emulator
from cognito_backup.errors import UsageError


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
    if port:
        _check_free(port)
    server = Emulator(latency=latency, port=port or None)
    url = server.start()
    # Flushed line by line: whoever started us (a script, a pipe) needs the endpoint now, not at exit.
    for line in (
        f"Cognito emulator (moto) listening on {url}",
        f"Use it with: export AWS_ENDPOINT_URL={url} (or --endpoint-url {url})",
        # boto3 reads the Region from AWS_DEFAULT_REGION only; the AWS CLI and this tool read AWS_REGION too.
        "Any credentials work: export AWS_ACCESS_KEY_ID=test AWS_SECRET_ACCESS_KEY=test AWS_REGION=us-east-1 "
        "AWS_DEFAULT_REGION=us-east-1",
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


def _check_free(port: int) -> None:
    # werkzeug reports a taken port itself and exits 1; a taken port is the caller's choice to fix (exit 2).
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError as exc:
            raise UsageError(
                f"Cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}",
                hint="Choose another --port, or --port 0 for a free one.",
            ) from None


def register(group: click.Group) -> None:
    group.add_command(emulator)
