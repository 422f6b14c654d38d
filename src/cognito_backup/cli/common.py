"""Shared CLI plumbing: global AWS options, --json output, progress, errors -> exit codes."""

from __future__ import annotations

import functools
import json
import os
import re
import sys
import traceback
from collections.abc import Callable, Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, NoReturn, TypeVar
from urllib.parse import urlsplit

import click
from botocore.exceptions import BotoCoreError, ClientError
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, SpinnerColumn, TextColumn, TimeElapsedColumn
from rich.progress import Progress as RichProgress

from cognito_backup.aws.errors import translate_client_error
from cognito_backup.aws.pacing import Pacer
from cognito_backup.aws.quotas import parse_rates
from cognito_backup.aws.session import AwsContext
from cognito_backup.errors import CognitoBackupError, Interrupted, PoolNotFound, Terminated, UsageError
from cognito_backup.repo.repository import Repository
from cognito_backup.store import open_store

F = TypeVar("F", bound=Callable[..., Any])
INTERNAL_ERROR_EXIT = 70
INTERRUPTED_EXIT = Interrupted.exit_code
# What a shell reports for a process killed by SIGPIPE (128 + 13): `cmd | head` must look the same
# whether cmd is a C tool or this one.
BROKEN_PIPE_EXIT = 141


@dataclass
class AppContext:
    aws: AwsContext = field(default_factory=AwsContext)

    def repository(self, repo: str, kms_key_id: str | None = None) -> Repository:
        return Repository(open_store(repo, self.aws, kms_key_id=kms_key_id))

    def cognito(self, region: str | None = None) -> Any:
        return self.aws.client("cognito-idp", region=region)


def app(ctx: click.Context) -> AppContext:
    obj = ctx.find_object(AppContext)
    if obj is None:
        obj = ctx.ensure_object(AppContext)
    return obj


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich's own handling exits 1, which reads as "differences found" to a script.
        self.quiet = True
        exit_on_broken_pipe()


def err_console() -> Console:
    return _Console(stderr=True, highlight=False)


def out_console() -> Console:
    # Piped output (logs, CI) must not be squeezed into 80 columns and truncated with ellipses.
    console = _Console(highlight=False)
    if not console.is_terminal:
        console = _Console(highlight=False, width=200)
    return console


class JsonArray(list[Any]):
    """A JSON array `emit_json` writes as it reads it: the items of `source` (a collection read again
    at each pass, e.g. on disk), each through `change`. Nothing is held: a diff's differences and a
    plan's operations may be millions.

    It is an (empty) list only so that json's encoder writes it as an array: the encoder emit_json uses
    (pure Python: `indent` is set) asks for its truth and iterates it, both given here. For emit_json
    only: json.dumps without indent uses the C encoder, which would read the empty list underneath."""

    def __init__(self, source: Collection[Any], change: Callable[[Any], Any] = lambda item: item) -> None:
        super().__init__()
        self._source = source
        self._change = change

    def __iter__(self) -> Iterator[Any]:
        return (self._change(item) for item in self._source)

    def __len__(self) -> int:
        return len(self._source)

    def __bool__(self) -> bool:
        return len(self._source) > 0


_JSON_PIECE = 65_536  # characters written at once


def emit_json(payload: Any) -> None:
    """`payload` as indented JSON on stdout, written as it is encoded (see JsonArray)."""
    encoder = json.JSONEncoder(indent=2, sort_keys=True, ensure_ascii=False, default=str)
    pieces: list[str] = []
    size = 0
    for chunk in encoder.iterencode(payload):
        pieces.append(chunk)
        size += len(chunk)
        if size >= _JSON_PIECE:
            click.echo("".join(pieces), nl=False)
            pieces, size = [], 0
    click.echo("".join(pieces))


def fail(error: CognitoBackupError, as_json: bool) -> None:
    """Print the error for a person (stderr) or a machine (stdout JSON) and exit with its code."""
    if as_json:
        emit_json({"error": {"kind": error.kind, "message": error.message, "hint": error.hint}})
    console = err_console()
    console.print(f"[bold red]error:[/] {error.message}", markup=True, soft_wrap=True)
    if error.hint:
        console.print(f"[dim]hint:[/] {error.hint}", markup=True, soft_wrap=True)
    sys.exit(error.exit_code)


class UserPoolIdType(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """A user pool id as the service model defines UserPoolIdType (pattern [\\w-]+_[0-9a-zA-Z]+, length
    1..55; the service's \\w is ASCII). A typo is then a usage error (exit 2) at once, not a "pool not
    found" after an AWS call, and never a repository path or journal key made from garbage."""

    name = "user_pool_id"
    PATTERN = re.compile(r"[\w-]+_[0-9a-zA-Z]+", re.ASCII)
    MAX_LENGTH = 55

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        if len(text) > self.MAX_LENGTH or not self.PATTERN.fullmatch(text):
            self.fail(
                f"{text!r} is not a user pool id: expected REGION_ID such as us-east-1_AbCdEf123 "
                f"(letters, digits, '-', one '_', at most {self.MAX_LENGTH} characters)",
                param,
                ctx,
            )
        return text


USER_POOL_ID = UserPoolIdType()


@functools.cache
def _cognito_shape(name: str) -> dict[str, Any]:
    """A cognito-idp shape's constraints (min, max, pattern) from botocore's service model."""
    import botocore.session

    model = botocore.session.get_session().get_service_model("cognito-idp")
    return dict(model.shape_for(name).metadata)


class CognitoShapeType(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """A value Cognito constrains by a shape of its service model (length, pattern): refused at once as a
    usage error, so a dry run never shows a plan the real run's first call would refuse. Like the service
    (and USER_POOL_ID), \\w is ASCII."""

    def __init__(self, shape: str, example: str) -> None:
        self.shape = shape
        self.example = example
        self.name = shape

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        meta = _cognito_shape(self.shape)
        low, high, pattern = int(meta.get("min", 0)), int(meta.get("max", 1 << 30)), meta.get("pattern")
        if not low <= len(text) <= high or (pattern and not re.fullmatch(str(pattern), text, re.ASCII)):
            self.fail(
                f"{text!r} is not accepted by Cognito ({self.shape}: {low} to {high} characters"
                + (f" matching {pattern}" if pattern else "")
                + f"), e.g. {self.example}",
                param,
                ctx,
            )
        return text


POOL_NAME = CognitoShapeType("UserPoolNameType", "recovered-2026-11-21")
DOMAIN_PREFIX = CognitoShapeType("DomainType", "my-app-auth")


class QueueUrlType(click.ParamType):  # type: ignore[type-arg]  # generic in newer click only
    """An SQS queue URL (SQS calls take the URL, not the queue's name or ARN): a name or an ARN given
    by habit is a usage error that says so, before anything is created."""

    name = "queue_url"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> str:
        text = str(value)
        url = urlsplit(text)
        if url.scheme not in ("https", "http") or not url.netloc or not url.path.strip("/"):
            self.fail(
                f"{text!r} is not an SQS queue URL: expected https://sqs.REGION.amazonaws.com/ACCOUNT/NAME "
                "(`aws sqs get-queue-url --queue-name NAME` prints it)",
                param,
                ctx,
            )
        return text


QUEUE_URL = QueueUrlType()


def json_option(fn: F) -> F:
    return click.option("--json", "as_json", is_flag=True, help="Print one JSON object with the results.")(fn)


def rate_options(fn: F) -> F:
    fn = click.option(
        "--rate",
        "rates",
        multiple=True,
        metavar="CATEGORY=RPS",
        help="Override a Cognito quota category's rate (repeatable), e.g. UserCreation=100 after buying "
        "capacity. Defaults are AWS's default quotas, shared by every app in the account and Region.",
    )(fn)
    return fn


def make_pacer(rates: tuple[str, ...] | list[str]) -> Pacer:
    return Pacer(parse_rates(list(rates)))


def handle_errors(fn: F) -> F:
    """Turn library errors into messages and exit codes; a bug prints its traceback and exits 70."""

    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        as_json = bool(kwargs.get("as_json"))
        try:
            return fn(*args, **kwargs)
        except PoolNotFound as exc:
            fail(_with_region_hint(exc, kwargs), as_json)
        except CognitoBackupError as exc:
            fail(exc, as_json)
        except BotoCoreError as exc:
            # Raised outside any one call's translation (client creation, credential lookup).
            fail(translate_client_error(exc, "AWS"), as_json)
        except ClientError as exc:
            # An AWS error no layer below translated: the documented "other AWS error" (9, its code),
            # not a bug's traceback (70).
            fail(translate_client_error(exc, str(exc.operation_name)), as_json)
        except BrokenPipeError:
            exit_on_broken_pipe()
        except KeyboardInterrupt as exc:
            fail(interrupted(exc), as_json)
        except click.exceptions.Exit:
            raise
        except click.ClickException:
            raise
        except Exception:
            err_console().print("[bold red]internal error[/] (a bug in cognito-backup; please report it):")
            traceback.print_exc()
            sys.exit(INTERNAL_ERROR_EXIT)

    return wrapper  # type: ignore[return-value]


# What a Region name looks like (us-east-1, us-gov-west-1, cn-north-1): an emulator's pool ids
# (cognito-local's local_...) name none.
_REGION = re.compile(r"[a-z]{2}(-[a-z]+)+-\d+")
# The options that name a pool the command calls (a --source-user-pool-id is only read from the repository),
# each with the command's own Region option for that pool (else the global --region): `standby` is
# replicate's --to-user-pool-id, `from_pool` / `to_pool` migrate's --from-/--to-user-pool-id.
_CALLED_POOL_OPTIONS = (
    ("user_pool_id", "target_region"),
    ("to_user_pool_id", "target_region"),
    ("target", "target_region"),
    ("standby", "standby_region"),
    ("from_pool", None),
    ("to_pool", "to_region"),
)


def region_hint(pool_ids: Collection[str], region: str | None) -> str | None:
    """The hint for a pool not found when its id names another Region than the one the command used."""
    for pool_id in pool_ids:
        prefix = pool_id.split("_", 1)[0]
        if _REGION.fullmatch(prefix) and prefix != region:
            used = f"used {region}" if region else "had no Region"
            return (
                f"{pool_id} is a pool of {prefix} (a pool id begins with its Region), but this command {used}: "
                f"add --region {prefix}."
            )
    return None


def _with_region_hint(exc: PoolNotFound, kwargs: dict[str, Any]) -> PoolNotFound:
    ctx = click.get_current_context(silent=True)
    default = app(ctx).aws.region_name if ctx is not None else None
    for name, own in _CALLED_POOL_OPTIONS:
        if isinstance(kwargs.get(name), str):
            # A command's own Region option for that pool (restore, replicate, migrate), else the global one.
            region = (kwargs.get(own) if own else None) or default
            hint = region_hint([str(kwargs[name])], region if isinstance(region, str) else None)
            if hint is not None:
                return PoolNotFound(exc.message, hint=hint)
    return exc


def interrupted(signal: KeyboardInterrupt, hint: str | None = None) -> Interrupted:
    """The error a Ctrl-C (exit 130) or SIGTERM (Terminated, 143) ends a command with; `hint`: how to go on,
    when the command knows better than "run it again" (it is then in the --json error too)."""
    stopped = Interrupted(
        "interrupted: stopped before the end; what was written so far is kept, and running the "
        "same command again continues or redoes the rest.",
        hint=hint,
    )
    if isinstance(signal, Terminated):
        stopped.exit_code = Terminated.exit_code
    return stopped


@contextmanager
def on_interrupt(hint: str) -> Iterator[None]:
    """A Ctrl-C or SIGTERM inside the block ends the command as interrupted (130/143) with `hint`, how to
    go on: a script reading the --json error gets it too, not a null."""
    try:
        yield
    except KeyboardInterrupt as exc:
        raise interrupted(exc, hint=hint) from None


def check_report_dir(path: Path) -> None:
    """Refuse a --report-dir that cannot be created or written, before a command writes to AWS: a report or
    sub map that cannot be written after a restore has run would be lost. Nothing is created here (a
    refused restore leaves no directory behind): the nearest existing level must be a writable directory."""
    level = path
    while not level.exists() and level != level.parent:
        level = level.parent
    why = None
    if not level.is_dir():
        why = f"{level} is not a directory"
    elif not os.access(level, os.W_OK | os.X_OK):
        why = f"{level} is not writable"
    if why:
        raise UsageError(
            f"--report-dir {str(path)!r} cannot be written ({why}); nothing was done",
            hint="Give --report-dir a directory this user can create or write.",
        )


def ask_yes_no(question: str) -> bool:
    """A yes/no on the terminal (stderr, stdout stays for output); Ctrl-C or end of input is a no, so a
    prompt without a terminal never turns into click's Abort (which would be an internal error here)."""
    try:
        return click.confirm(question, default=False, err=True)
    except click.Abort:
        return False


def exit_on_broken_pipe() -> NoReturn:
    """The reader of stdout is gone (`| head`): stop quietly. stdout is pointed at /dev/null first, or
    the interpreter's last flush at exit would fail again and print to stderr."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # stdout is no real file (a test runner's buffer): nothing will flush into the pipe
    finally:
        os.close(devnull)
    sys.exit(BROKEN_PIPE_EXIT)


class PipeAwareGroup(click.Group):
    """The command group: --help and usage text into a closed pipe end like a command's output does
    (click itself would exit 1 there). Commands are covered by handle_errors.

    A usage error click finds before a command runs (an unknown flag, a bad pool id) is printed as click
    prints it, and, when the command line asks for --json, also as the one JSON document on stdout: a
    script parsing stdout then always gets `error.kind`, not an empty string."""

    def main(  # type: ignore[override]  # always non-standalone inside; exits as standalone does
        self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None, **kwargs: Any
    ) -> Any:
        argv = list(sys.argv[1:] if args is None else args)
        kwargs.pop("standalone_mode", None)
        try:
            rv = super().main(argv, prog_name, complete_var, standalone_mode=False, **kwargs)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            err_console().print("[yellow]interrupted[/]")
            sys.exit(INTERRUPTED_EXIT)
        except click.ClickException as exc:
            if "--json" in argv:
                kind = UsageError.kind if isinstance(exc, click.UsageError) else CognitoBackupError.kind
                emit_json({"error": {"kind": kind, "message": exc.format_message(), "hint": None}})
            exc.show()
            sys.exit(exc.exit_code)
        # Without standalone mode click returns the code of a ctx.exit(code) (--help, --version: 0).
        if isinstance(rv, int) and not isinstance(rv, bool) and rv:
            sys.exit(rv)
        return rv

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except BrokenPipeError:
            exit_on_broken_pipe()

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except BrokenPipeError:
            exit_on_broken_pipe()


class Progress:
    """Progress for a person: a live rich display on a terminal, plain lines otherwise, nothing with
    --json (stdout is then reserved for the JSON object). Always on stderr."""

    def __init__(self, enabled: bool = True) -> None:
        self.console = err_console()
        self.enabled = enabled
        self.live = enabled and self.console.is_terminal
        self._bar: RichProgress | None = None
        self._task: Any = None
        self._counted = False
        self._totals: dict[str, int | None] = {}
        self._last: dict[str, int] = {}

    @contextmanager
    def running(self, title: str) -> Iterator[Progress]:
        if self.live:
            columns = (
                SpinnerColumn(),
                TextColumn("{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
            )
            self.console.print(title, markup=False, highlight=False)
            with RichProgress(*columns, console=self.console) as bar:
                self._bar = bar
                self._task = bar.add_task("starting", total=None)
                self._counted = False
                try:
                    yield self
                finally:
                    if not self._counted and self._task is not None:
                        bar.remove_task(self._task)  # a last stage with nothing to count
                    self._bar = None
        else:
            self.line(title)
            yield self

    def line(self, message: str) -> None:
        if self.enabled:
            self.console.print(message, markup=False, highlight=False, soft_wrap=True)

    def stage(self, name: str) -> None:
        if self._bar is not None:
            # One bar per stage: a finished stage that counted something stays on screen, full.
            # (rich's update(total=None) keeps the old total, so a task is never reused.)
            previous = self._bar.tasks[-1] if self._bar.tasks else None
            if previous is not None and self._counted:
                self._bar.update(self._task, total=max(1, int(previous.completed)), completed=previous.completed)
            elif previous is not None:
                self._bar.remove_task(self._task)
            self._task = self._bar.add_task(name, total=self._totals.get(name))
            self._counted = False
        else:
            self.line(f"  {name} ...")

    def set_total(self, what: str, total: int | None) -> None:
        """The expected count for `what` (a bar needs it; unknown totals show a pulsing bar)."""
        self._totals[what] = total

    def counter(self, what: str, every: int = 5000) -> Callable[..., None]:
        def update(n: int, total: int | None = None) -> None:
            if self._bar is not None:
                expected = total if total is not None else self._totals.get(what)
                if expected is not None and n > expected:
                    expected = n  # an estimate (EstimatedNumberOfUsers) can be short
                self._counted = True
                self._bar.update(self._task, description=what, completed=n, total=expected)
            elif n - self._last.get(what, 0) >= every:
                self._last[what] = n
                self.line(f"  {what}: {n:,}")

        return update


def global_options(fn: F) -> F:
    fn = click.option("--endpoint-url", envvar="AWS_ENDPOINT_URL", help="Override the AWS endpoint (emulators).")(fn)
    fn = click.option("--profile", envvar="AWS_PROFILE", help="AWS named profile (as the AWS CLI).")(fn)
    fn = click.option(
        "--region", envvar=["AWS_REGION", "AWS_DEFAULT_REGION"], help="AWS Region of the user pool (as the AWS CLI)."
    )(fn)
    return fn


def human_bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"
