"""Bearer tokens and the refuse-to-expose rule for the replica, without loadsense.api.auth.

The rules are ``serve``'s (api/auth.py): callers need a read token (or an ingest token
when no read tokens are configured), compared in constant time; a non-loopback bind
without tokens is refused unless ``--insecure``. The checks themselves are shared
(api/tokens.py); api/auth.py reads settings through the app context, which reaches
storage, which the replica never imports.
"""

from __future__ import annotations

from fastapi import Request

from loadsense.api.tokens import check_bearer, is_loopback
from loadsense.errors import ConfigError
from loadsense.settings import Settings


def read_tokens(settings: Settings) -> tuple[str, ...]:
    """Tokens a caller may read with; the first is also the one sent upstream."""
    return settings.read_tokens or settings.ingest_tokens


def require_read(settings: Settings, request: Request) -> None:
    allowed = read_tokens(settings)
    if not allowed:
        return
    check_bearer(request, allowed)


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without a read token, unless explicitly insecure."""
    if is_loopback(settings.host) or read_tokens(settings) or settings.insecure:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without authentication: set "
        "LOADSENSE_READ_TOKENS (also sent to the primary), bind 127.0.0.1, "
        "or pass --insecure to expose an unauthenticated replica deliberately"
    )
