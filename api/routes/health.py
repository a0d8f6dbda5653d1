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
from loadsense.storage.client import Storage
from loadsense.storage.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    applied_versions,
    schema_version,
)

logger = logging.getLogger(__name__)

router = APIRouter(tags=["health"])

KNOWN_VERSIONS = frozenset(m.version for m in MIGRATIONS)
"""The schema this code needs: every migration it knows (versions may have gaps)."""


@router.get("/healthz", summary="The process is alive")
def healthz() -> dict[str, str]:
    return {"status": "ok"}


def _versions(storage: Storage) -> set[int]:
    """The applied versions; none when no migration ever ran (a replica started before the
    correlator). One query on the ready path; the table check only when it fails."""
    try:
        return applied_versions(storage)
    except Exception:
        if schema_version(storage) == 0:
            return set()
        raise


@router.get(
    "/readyz",
    summary="Storage is reachable and the schema is current",
    responses={503: {"description": "Storage unreachable or migrations pending"}},
)
def readyz(request: Request) -> JSONResponse:
    """Ready once every migration this version knows is applied. The correlator role
    applies them at start-up; the other roles wait for it and name both versions."""
    ctx = context(request)
    try:
        versions = _versions(ctx.storage)
        current = versions >= KNOWN_VERSIONS
        without_host = len(missing_host_name(ctx.storage, time.time_ns())) if current else 0
    except Exception as exc:
        logger.warning("readiness check failed: %s", exc)
        return JSONResponse({"status": "unavailable", "storage": "unreachable"}, status_code=503)
    if not current:
        found = max(versions, default=0)
        waiting = "correlator" not in ctx.settings.roles
        body = {
            "status": "unavailable",
            "storage": "ok",
            "schema": (
                f"waiting for schema version {LATEST_VERSION} (found {found}): migrations "
                "run in the correlator role"
                if waiting
                else "migrations pending"
            ),
            "schema_needed": LATEST_VERSION,
            "schema_found": found,
        }
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
