"""Bearer-token checks and the refuse-to-expose rule.

When any token is configured, every route but ``/healthz``, ``/readyz`` and ``/version``
needs one: ingest routes an ingest token; read routes a read token (or, when no read
tokens are configured, an ingest token, so single-token setups work). Tokens are
compared in constant time.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request

from api.context import context
from loadsense.errors import ConfigError, Unauthorized
from loadsense.settings import Settings


def _bearer(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        return None
    return token.strip()


def _matches(token: str, allowed: tuple[str, ...]) -> bool:
    # Compare against every token, without short-circuit, in constant time each.
    found = False
    for candidate in allowed:
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    return found


def _check(request: Request, allowed: tuple[str, ...]) -> None:
    token = _bearer(request)
    if token is None:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    if not _matches(token, allowed):
        raise Unauthorized("invalid bearer token")


def require_ingest(request: Request) -> None:
    """FastAPI dependency for routes that write telemetry."""
    settings = context(request).settings
    if settings.auth_enabled:
        _check(request, settings.ingest_tokens)


def require_read(request: Request) -> None:
    """FastAPI dependency for routes that read signals, recommendations and metrics."""
    settings = context(request).settings
    if settings.auth_enabled:
        _check(request, settings.read_tokens or settings.ingest_tokens)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without tokens, unless explicitly insecure."""
    if is_loopback(settings.host) or settings.auth_enabled or settings.insecure:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without authentication: set "
        "LOADSENSE_INGEST_TOKENS and LOADSENSE_READ_TOKENS, bind 127.0.0.1, "
        "or pass --insecure to expose an unauthenticated service deliberately"
    )
