"""``GET /api/v1/diagnostics``: what producers send that Loadsense cannot correlate.

Today one finding: services whose OTLP resources carry no ``host.name``
(signals/diagnostics.py), with the fix. Read token required, like every read route.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_read
from loadsense.api.context import context
from loadsense.api.routes.params import QUERY_ERRORS
from loadsense.signals.diagnostics import DEFAULT_WINDOW_S, missing_host_name

router = APIRouter(prefix="/api/v1", tags=["diagnostics"], dependencies=[Depends(require_read)])

HOST_NAME_FIX = (
    "set OTEL_RESOURCE_ATTRIBUTES=host.name=<host> in the service's environment "
    "(or the Collector's resourcedetection processor)"
)


class MissingHostModel(BaseModel):
    service: str = Field(description="service.name of the resource")
    resources_without_host: int = Field(description="Distinct resources lacking host.name")
    resources_with_host: int = Field(description="Distinct resources of it that carry one")
    last_seen: float = Field(description="Latest receipt without host.name, epoch seconds")


class DiagnosticsModel(BaseModel):
    window_s: float = Field(description="Receipts counted: this many seconds back from now")
    missing_host_name: list[MissingHostModel]
    fix: str = Field(description="How to fix a service listed in missing_host_name")


@router.get(
    "/diagnostics",
    summary="Services sending telemetry that cannot be tied to a host",
    response_model=DiagnosticsModel,
    responses=QUERY_ERRORS,
)
async def diagnostics(
    request: Request,
    window_s: float = Query(DEFAULT_WINDOW_S, gt=0, le=366 * 86400, description="Seconds"),
) -> DiagnosticsModel:
    storage = context(request).storage
    rows = await run_in_threadpool(missing_host_name, storage, time.time_ns(), window_s)
    return DiagnosticsModel(
        window_s=window_s,
        missing_host_name=[
            MissingHostModel(
                service=r.service,
                resources_without_host=r.resources_without_host,
                resources_with_host=r.resources_with_host,
                last_seen=r.last_seen_s,
            )
            for r in rows
        ],
        fix=HOST_NAME_FIX,
    )
