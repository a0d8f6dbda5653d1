"""The replica's FastAPI app: the live recommendation routes, health and its metrics.

Routes: the primary's :data:`~api.routes.recommendations.live_router` (list, one
workload, KEDA, regime) over the follower's copy, ``/healthz``, ``/readyz`` (ready once
it holds a view from the primary and while the latest successful exchange is younger
than ``replica_max_staleness_s``; otherwise 503 saying why) and ``/metrics`` (the
follower's counters). Anything else is 404 in the house error format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager

from fastapi import APIRouter, Depends, FastAPI, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from starlette.exceptions import HTTPException as StarletteHTTPException

import loadsense
from api.replica.auth import read_tokens, require_read
from api.replica.follower import Follower, UpstreamError
from api.routes.recommendations import SOURCE_STATE, RegimeModel, live_router
from correlator.dispatch.config import parse_dispatch_config
from correlator.dispatch.store import ViewSource
from loadsense.errors import (
    ConfigError,
    LoadsenseError,
    NotFound,
    http_error_body,
    http_error_headers,
)
from loadsense.settings import Settings

logger = logging.getLogger(__name__)


class ReplicaSource:
    """The recommendation routes' source on the replica: the follower's copy."""

    def __init__(self, follower: Follower, settings: Settings) -> None:
        self._follower = follower
        self._settings = settings
        self._max_wait_s = parse_dispatch_config(settings.dispatch).max_wait_s

    @property
    def max_wait_s(self) -> float:
        return self._max_wait_s

    def views(self) -> ViewSource:
        if self._follower.store.current.regime is None:
            raise UpstreamError(_not_yet(self._follower))
        return self._follower.store

    def regime(self) -> RegimeModel:
        regime = self._follower.store.current.regime
        if regime is None:
            raise UpstreamError(_not_yet(self._follower))
        return regime

    def require_read(self, request: Request) -> None:
        require_read(self._settings, request)


def _not_yet(follower: Follower) -> str:
    why = f" (last error: {follower.last_error})" if follower.last_error else ""
    return f"no recommendations from the primary {follower.upstream} yet{why}"


def readiness(follower: Follower, max_staleness_s: float) -> tuple[bool, str]:
    """Whether the replica should receive traffic, and a sentence saying why."""
    current = follower.store.current
    if current.regime is None:
        return False, _not_yet(follower)
    age = follower.age_s() or 0.0
    as_of = current.rendered.as_of
    if age > max_staleness_s:
        why = f": {follower.last_error}" if follower.last_error else ""
        return False, (
            f"no successful exchange with the primary {follower.upstream} for {age:.0f} s "
            f"(bound {max_staleness_s:g} s){why}; still serving the view as of {as_of}"
        )
    return True, f"following {follower.upstream}; view as of {as_of}, exchanged {age:.1f} s ago"


class _FollowerCollector(Collector):
    def __init__(self, follower: Follower, max_staleness_s: float) -> None:
        self._f = follower
        self._bound = max_staleness_s

    def collect(self) -> Iterator[Metric]:
        f = self._f
        yield CounterMetricFamily(
            "loadsense_replica_exchanges",
            "Successful exchanges (long poll and regime) with the primary",
            value=f.exchanges,
        )
        yield CounterMetricFamily(
            "loadsense_replica_updates", "Recommendation lists adopted", value=f.updates
        )
        yield CounterMetricFamily(
            "loadsense_replica_upstream_failures",
            "Failed exchanges with the primary (each retried after a back-off)",
            value=f.failures,
        )
        age = f.age_s()
        yield GaugeMetricFamily(
            "loadsense_replica_staleness_seconds",
            "Seconds since the latest successful exchange (NaN: none yet)",
            value=float("nan") if age is None else age,
        )
        yield GaugeMetricFamily(
            "loadsense_replica_ready",
            "1 when /readyz answers 200",
            value=float(readiness(f, self._bound)[0]),
        )
        yield GaugeMetricFamily(
            "loadsense_replica_recommendations",
            "Recommendations in the replica's view",
            value=len(f.store.current.rendered.items),
        )
        yield GaugeMetricFamily(
            "loadsense_replica_long_polls_waiting",
            "Long polls waiting on the replica",
            value=f.store.waiting,
        )


def _health_router(follower: Follower, settings: Settings) -> APIRouter:
    router = APIRouter(tags=["health"])
    registry = CollectorRegistry()
    registry.register(_FollowerCollector(follower, settings.replica_max_staleness_s))

    async def _read(request: Request) -> None:
        require_read(settings, request)

    @router.get("/healthz", summary="The process is alive")
    async def healthz() -> dict[str, str]:
        return {"status": "ok"}

    @router.get(
        "/readyz",
        summary="Holds a view from the primary, exchanged within the staleness bound",
        responses={503: {"description": "No view yet, or the primary unreachable too long"}},
    )
    async def readyz() -> JSONResponse:
        ready, why = readiness(follower, settings.replica_max_staleness_s)
        if not ready:
            return JSONResponse({"error": "unavailable", "message": why}, status_code=503)
        return JSONResponse({"status": "ok", "message": why})

    @router.get("/api/v1/recommendations/history", include_in_schema=False)
    async def history() -> None:
        # Matched before the live routes, which would take "history" for a workload.
        raise NotFound("the audit history is served by the primary, not by a replica")

    @router.get(
        "/metrics",
        summary="Prometheus text exposition of the replica's follower",
        dependencies=[Depends(_read)],
        response_class=Response,
    )
    async def metrics() -> Response:
        return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)

    return router


def create_replica_app(settings: Settings) -> FastAPI:
    if settings.replica_max_staleness_s <= settings.replica_wait_s:
        raise ConfigError(
            "replica_max_staleness_s must exceed replica_wait_s (a quiet long poll lasts "
            f"that long): {settings.replica_max_staleness_s:g} <= {settings.replica_wait_s:g}",
            field="replica_max_staleness_s",
        )
    tokens = read_tokens(settings)
    follower = Follower(
        settings.replica_upstream, tokens[0] if tokens else None, settings.replica_wait_s
    )

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        task = asyncio.create_task(follower.run(), name="replica-follower")
        logger.info("loadsense replica %s following %s", loadsense.__version__, follower.upstream)
        try:
            yield
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task

    app = FastAPI(
        title="Loadsense read replica",
        version=loadsense.__version__,
        description="Serves the primary's dispatch recommendations from memory.",
        lifespan=lifespan,
    )
    setattr(app.state, SOURCE_STATE, ReplicaSource(follower, settings))
    app.state.follower = follower

    @app.exception_handler(LoadsenseError)
    async def _loadsense_error(request: Request, exc: LoadsenseError) -> JSONResponse:
        return JSONResponse(
            http_error_body(exc), status_code=exc.status, headers=http_error_headers(exc)
        )

    @app.exception_handler(StarletteHTTPException)
    async def _http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
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

    app.include_router(_health_router(follower, settings))
    app.include_router(live_router)
    return app
