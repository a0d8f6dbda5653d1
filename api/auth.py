"""Bearer-token checks and the refuse-to-expose rule.

When any token is configured, every route but ``/healthz``, ``/readyz`` and ``/version``
needs one: ingest routes an ingest token; read routes a read token (or, when no read
tokens are configured, an ingest token, so single-token setups work). Tokens are
compared in constant time.
"""

from __future__ import annotations

from fastapi import Request

from loadsense.api.context import context
from loadsense.api.tokens import check_bearer, is_loopback
from loadsense.errors import ConfigError
from loadsense.settings import Settings


def require_ingest(request: Request) -> None:
    """FastAPI dependency for routes that write telemetry."""
    settings = context(request).settings
    if settings.auth_enabled:
        check_bearer(request, settings.ingest_tokens)


def require_read(request: Request) -> None:
    """FastAPI dependency for routes that read signals, recommendations and metrics."""
    settings = context(request).settings
    if settings.auth_enabled:
        check_bearer(request, settings.read_tokens or settings.ingest_tokens)


def check_exposure(settings: Settings) -> None:
    """Refuse to serve beyond loopback without tokens, unless explicitly insecure."""
    if is_loopback(settings.host) or settings.auth_enabled or settings.insecure:
        return
    raise ConfigError(
        f"refusing to listen on {settings.host} without authentication: set "
        "LOADSENSE_INGEST_TOKENS and LOADSENSE_READ_TOKENS, bind 127.0.0.1, "
        "or pass --insecure to expose an unauthenticated service deliberately"
    )
