"""Bearer tokens and the refuse-to-expose rule for the replica, without api.auth.

The rules are ``serve``'s (api/auth.py): callers need a read token (or an ingest token
when no read tokens are configured), compared in constant time; a non-loopback bind
without tokens is refused unless ``--insecure``. They are restated here because
api/auth.py reaches storage through the app context, which the replica never imports.
"""

from __future__ import annotations

import hmac
import ipaddress

from fastapi import Request

from loadsense.errors import ConfigError, Unauthorized
from loadsense.settings import Settings


def read_tokens(settings: Settings) -> tuple[str, ...]:
    """Tokens a caller may read with; the first is also the one sent upstream."""
    return settings.read_tokens or settings.ingest_tokens


def require_read(settings: Settings, request: Request) -> None:
    allowed = read_tokens(settings)
    if not allowed:
        return
    scheme, _, token = request.headers.get("authorization", "").partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise Unauthorized("missing bearer token (Authorization: Bearer <token>)")
    found = False
    for candidate in allowed:  # every token, each in constant time
        found |= hmac.compare_digest(token.encode(), candidate.encode())
    if not found:
        raise Unauthorized("invalid bearer token")


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a read token, unless explicitly insecure."""
    if _is_loopback(settings.host) or read_tokens(settings) or settings.insecure:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without authentication: set "
        "LOADSENSE_READ_TOKENS (also sent to the primary), bind 127.0.0.1, "
        "or pass --insecure to expose an unauthenticated replica deliberately"
    )
