"""The house error format for every app (``serve`` and the replica): one place turns
exceptions into JSON answers, and internals never leak to clients."""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException as StarletteHTTPException

from loadsense.errors import LoadsenseError, http_error_body, http_error_headers

logger = logging.getLogger(__name__)


def install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(LoadsenseError)
    async def _loadsense_error(request: Request, exc: LoadsenseError) -> JSONResponse:
        return JSONResponse(
            http_error_body(exc), status_code=exc.status, headers=http_error_headers(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # Unmatched paths and methods answer in the house error format too.
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        return JSONResponse(
            {"error": code, "message": str(exc.detail)},
            status_code=exc.status_code,
            headers=exc.headers,
        )

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        logger.exception("unhandled error on %s %s", request.method, request.url.path)
        return JSONResponse({"error": "internal", "message": "internal error"}, status_code=500)
