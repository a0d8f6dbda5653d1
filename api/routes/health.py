"""Liveness, readiness, version and the Prometheus exposition."""

from __future__ import annotations

import logging
import time

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

import loadsense
from loadsense.api.auth import require_read
from loadsense.api.context import context
from loadsense.signals.diagnostics import missing_host_name
from loadsense.storage.migrations import LATEST_VERSION, applied_versions

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


@router.get(
    "/readyz",
    summary="Storage is reachable and the schema is current",
    responses={503: {"description": "Storage unreachable or migrations pending"}},
)
def readyz(request: Request) -> JSONResponse:
    ctx = context(request)
    try:
        versions = applied_versions(ctx.storage)
        current = LATEST_VERSION in versions
        without_host = len(missing_host_name(ctx.storage, time.time_ns())) if current else 0
    except Exception as exc:
        logger.warning("readiness check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "storage": "unreachable"}, status_code=503)
    if not current:
        body = {"status": "unavailable", "storage": "ok", "schema": "migrations pending"}
        return JSONResponse(body, status_code=503)
    return JSONResponse(
        {
            "status": "ok",
            "storage": "embedded" if ctx.storage.embedded else "server",
            "schema_version": max(versions),
            # A count only: /readyz needs no token; the names are in /api/v1/diagnostics.
            "services_without_host_name": without_host,
        }
    )


@router.get("/version", summary="Service and schema version")
def version() -> dict[str, object]:
    return {
        "service": "loadsense",
        "version": loadsense.__version__,
        "schema_version": LATEST_VERSION,
    }


@router.get(
    "/metrics",
    summary="Prometheus text exposition: self-metrics, signals and recommendations",
    dependencies=[Depends(require_read)],
    response_class=Response,
)
def metrics(request: Request) -> Response:
    ctx = context(request)
    body = generate_latest(ctx.metrics.registry)
    for source in ctx.metrics_sources:
        try:
            body += source()
        except Exception:  # one broken source must not hide the others
            logger.exception("metrics source failed")
    return Response(body, media_type=CONTENT_TYPE_LATEST)
