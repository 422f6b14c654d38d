"""What a Lambda container keeps between invocations: the AWS clients its handler builds.

Building a boto3 client costs ~0.45 s on a cold Lambda (a session, the service model, the endpoint
rules); a deployed restore step built two, each step. Lambda's own advice is to build them once per
execution environment and reuse them, which this module does, keyed by what a client depends on: the
service, the Region and configuration asked for, and the environment botocore reads when building it
(the credentials' key id, i.e. the role; the Region; an endpoint override).

Credentials do not go stale in a kept client: Lambda hands a function its execution role's credentials
in environment variables, set once when the execution environment starts and valid for its life (Lambda
retires an environment before they expire). A client built anew each invocation would read the very same
variables, so keeping it changes nothing there; were they ever different, the key differs and a new client
is built. (A client whose credentials come from a refreshing provider, an assumed-role profile or the
container credentials endpoint, refreshes them itself before they expire.)

boto3 clients are thread-safe once built; building is what the lock serialises.
"""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")

# What botocore reads from the environment when it builds a client (and AWS_ENDPOINT_URL_<SERVICE>).
_ENV = ("AWS_ACCESS_KEY_ID", "AWS_REGION", "AWS_DEFAULT_REGION", "AWS_ENDPOINT_URL", "AWS_PROFILE")


def _environment() -> tuple[str | None, ...]:
    endpoints = sorted(f"{k}={v}" for k, v in os.environ.items() if k.startswith("AWS_ENDPOINT_URL_"))
    return (*(os.environ.get(name) for name in _ENV), *endpoints)


_kept: dict[tuple[Hashable, ...], Any] = {}
_lock = threading.Lock()


def kept(key: tuple[Hashable, ...], build: Callable[[], T]) -> T:
    """`build()`'s result for this key in this environment, built on first use and kept after."""
    full = (*key, *_environment())
    with _lock:
        if full not in _kept:
            _kept[full] = build()
        found: T = _kept[full]
        return found


def client(service: str, region: str | None = None) -> Any:
    """The library's client for `service` (cognito_backup.aws.session: paced services make one attempt
    per call), kept per Region."""
    from cognito_backup.aws.session import AwsContext

    return kept(("client", service, region), lambda: AwsContext(region=region).client(service))


def forget() -> None:
    """Drop every kept client (a cold container)."""
    with _lock:
        _kept.clear()
