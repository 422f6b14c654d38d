"""The classic hosted UI logo's bytes (issue #11: "UI customization with its image bytes").

GetUICustomization answers the logo as an `ImageUrl` (a CloudFront URL), SetUICustomization takes it back
only as `ImageFile` bytes: the URL stops working once the pool is deleted, so the backup fetches the bytes
and keeps them (base64) in the snapshot. The fetch is bounded: HTTPS only (plain HTTP only to a loopback
address, which nothing but a test's local server answers), a time limit for the whole download and a size
limit; redirects follow the same rule. A logo that cannot be fetched raises LogoUnavailable: the reader
then marks the section incomplete instead of dropping the logo silently.
"""

from __future__ import annotations

import http.client
import ipaddress
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from typing import IO, Any

LOGO_TIMEOUT = 10.0  # seconds for the whole download
MAX_LOGO_BYTES = 1 << 20  # a bound on what is read, far above a logo's size (Cognito's own limit is lower)
CHUNK = 64 * 1024


class LogoUnavailable(Exception):
    """The logo at an ImageUrl could not be fetched; the message says why (never the bytes)."""


def allowed(url: str) -> bool:
    """HTTPS, or plain HTTP to a loopback address."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme == "https":
        return bool(parts.hostname)
    return parts.scheme == "http" and _loopback(parts.hostname or "")


def _loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class _SameRules(urllib.request.HTTPRedirectHandler):
    def redirect_request(
        self, req: urllib.request.Request, fp: IO[bytes], code: int, msg: str, headers: Any, newurl: str
    ) -> urllib.request.Request | None:
        if not allowed(newurl):
            raise LogoUnavailable(f"redirected to a URL that is not HTTPS ({urllib.parse.urlsplit(newurl).scheme})")
        return super().redirect_request(req, fp, code, msg, headers, newurl)


_OPENER = urllib.request.build_opener(_SameRules)


def fetch_logo(
    url: str,
    *,
    timeout: float = LOGO_TIMEOUT,
    max_bytes: int = MAX_LOGO_BYTES,
    clock: Callable[[], float] = time.monotonic,
) -> bytes:
    """The bytes at `url`, or LogoUnavailable."""
    if not allowed(url):
        raise LogoUnavailable(f"not fetched: {urllib.parse.urlsplit(url).scheme or 'no'} scheme (HTTPS only)")
    deadline = clock() + timeout
    try:
        with _OPENER.open(url, timeout=timeout) as answer:
            data = bytearray()
            while chunk := answer.read(CHUNK):
                data += chunk
                if len(data) > max_bytes:
                    raise LogoUnavailable(f"larger than {max_bytes} bytes")
                if clock() > deadline:
                    raise LogoUnavailable(f"not downloaded within {timeout:g} s")
    except urllib.error.HTTPError as exc:
        raise LogoUnavailable(f"HTTP {exc.code}") from exc
    except (urllib.error.URLError, OSError, http.client.HTTPException, ValueError) as exc:
        raise LogoUnavailable(f"{type(exc).__name__}: {getattr(exc, 'reason', exc)}") from exc
    if not data:
        raise LogoUnavailable("empty answer")
    return bytes(data)
