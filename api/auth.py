"""Bearer-token checks and the refuse-to-expose rule.

When any token is configured, every route but ``/healthz``, ``/readyz`` and ``/version``
needs one: ingest routes (and ``POST /api/v1/tick``, which moves the clock and writes
history) an ingest token; read routes a read token (or, when no read tokens are
configured, an ingest token, so single-token setups work; when read tokens are
configured an ingest token may not read). The API's own documentation
(``/openapi.json``, ``/docs``, ``/redoc``) is a read route unless ``public_docs`` is
set. Tokens are compared in constant time.
"""

from __future__ import annotations

from collections.abc import Iterable

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

from loadsense.api.context import context
from loadsense.api.tokens import check_bearer, is_loopback
from loadsense.errors import ConfigError, Unauthorized, http_error_body, http_error_headers
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


class DocsGate:
    """ASGI guard of the documentation paths: a read token, as for the API itself."""

    def __init__(self, app: ASGIApp, paths: frozenset[str], tokens: tuple[str, ...]) -> None:
        self.app = app
        self.paths = paths
        self.tokens = tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["path"] in self.paths:
            try:
                check_bearer(Request(scope), self.tokens)
            except Unauthorized as exc:
                response = JSONResponse(
                    http_error_body(exc), status_code=exc.status, headers=http_error_headers(exc)
                )
                await response(scope, receive, send)
                return
        await self.app(scope, receive, send)


def install_docs_gate(app: FastAPI, settings: Settings, extra_paths: Iterable[str] = ()) -> None:
    """Make ``/openapi.json``, ``/docs``, ``/redoc`` need a read token when tokens are
    configured, unless ``public_docs`` opens them on purpose. ``extra_paths``: docs pages
    the app serves itself (``/docs`` with local assets, api/routes/home.py)."""
    if not settings.auth_enabled or settings.public_docs:
        return
    paths = {app.openapi_url, app.docs_url, app.redoc_url, app.swagger_ui_oauth2_redirect_url}
    paths |= set(extra_paths)
    app.add_middleware(
        DocsGate,
        paths=frozenset(p for p in paths if p),
        tokens=settings.read_tokens or settings.ingest_tokens,
    )
