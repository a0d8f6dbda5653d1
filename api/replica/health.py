"""The replica's own routes: liveness, readiness (with the reason) and its metrics.

``/readyz`` is 200 once the replica holds a view from the primary and while its latest
successful exchange is younger than ``replica_max_staleness_s``; otherwise 503 in the
house error format, saying why. ``/metrics`` (read token) exposes the follower's
counters, failures included.
"""

from __future__ import annotations

from collections.abc import Iterator

from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from loadsense.api.replica.auth import require_read
from loadsense.api.replica.follower import Follower
from loadsense.errors import NotFound
from loadsense.settings import Settings


def not_yet(follower: Follower) -> str:
    why = f" (last error: {follower.last_error})" if follower.last_error else ""
    return f"no recommendations from the primary {follower.upstream} yet{why}"


def readiness(follower: Follower, max_staleness_s: float) -> tuple[bool, str]:
    """Whether the replica should receive traffic, and a sentence saying why."""
    current = follower.store.current
    if current.regime is None:
        return False, not_yet(follower)
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


def health_router(follower: Follower, settings: Settings) -> APIRouter:
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
