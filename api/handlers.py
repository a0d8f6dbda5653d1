"""The house error format for every app (``serve`` and the replica): one place turns
exceptions into JSON answers, and internals never leak to clients.

Every error answer is ``{"error": code, "message": text, "field"?: name}``: deliberate
errors (loadsense/errors.py), FastAPI's parameter validation (400, naming the
parameter, never echoing its value), unmatched routes, and anything unexpected (500,
logged with its traceback; the connection stays usable).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from loadsense.errors import LoadsenseError, http_error_body, http_error_headers

logger = logging.getLogger(__name__)

_INTERNAL = b'{"error":"internal","message":"internal error"}'


def _field(loc: Sequence[Any]) -> str:
    # ("query", "as_of") -> "as_of"; ("body", "run", "runId") -> "run.runId"
    parts = [str(p) for p in loc[1:]] if len(loc) > 1 else [str(p) for p in loc]
    return ".".join(parts)


def validation_body(errors: Sequence[Any]) -> dict[str, Any]:
    """The house body for FastAPI's validation ``errors``: the parameters and pydantic's
    short reasons, without the offending input (it may be megabytes)."""
    named = [(_field(e.get("loc", ())), str(e.get("msg", "invalid"))) for e in errors[:3]]
    message = "; ".join(f"{name}: {msg}" for name, msg in named) or "invalid request"
    body: dict[str, Any] = {"error": "invalid", "message": message}
    if named:
        body["field"] = named[0][0]
    return body


class CatchAll:
    """Innermost-but-one ASGI guard: an exception escaping a route becomes a house 500
    and the connection stays usable (Starlette's own handler answers, then re-raises, and
    uvicorn closes the connection without ``Connection: close``)."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def tracking_send(message: Message) -> None:
            nonlocal started
            if message["type"] == "http.response.start":
                started = True
            await send(message)

        try:
            await self.app(scope, receive, tracking_send)
        except Exception:
            logger.exception("unhandled error on %s %s", scope.get("method"), scope.get("path"))
            if started:
                raise  # half a response is out: only closing the connection is honest
            await send(
                {
                    "type": "http.response.start",
                    "status": 500,
                    "headers": [
                        (b"content-type", b"application/json"),
                        (b"content-length", str(len(_INTERNAL)).encode()),
                    ],
                }
            )
            await send({"type": "http.response.body", "body": _INTERNAL})


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoadsenseError)
    async def _loadsense_error(request: Request, exc: LoadsenseError) -> JSONResponse:
        return JSONResponse(
            http_error_body(exc), status_code=exc.status, headers=http_error_headers(exc)
        )

    @app.exception_handler(RequestValidationError)
    async def _invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        return JSONResponse(validation_body(exc.errors()), status_code=400)

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unmatched paths and methods answer in the house error format too.
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    app.add_middleware(CatchAll)
