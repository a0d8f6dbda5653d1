"""The FastAPI application: one port for ingestion (OTLP, OpenLineage) and the API.

``create_app`` wires settings, storage, the writer and the routes. Storage may be
passed in (the CLI opens it first to report lock errors cleanly; tests share one
embedded engine per process); otherwise it is opened at start-up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator, Callable
from contextlib import ExitStack, asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.routing import APIRoute

import loadsense
from loadsense.api.auth import install_docs_gate, require_ingest, require_read
from loadsense.api.context import context
from loadsense.api.handlers import install_error_handlers
from loadsense.api.journal import LineageJournal
from loadsense.api.models import RegimeModel
from loadsense.api.publish import start_publisher
from loadsense.api.published import PublishedRecommendations, start_published
from loadsense.api.routes import (
    alerts,
    datasets,
    diagnostics,
    health,
    lineage,
    otlp,
    recommendations,
    signals,
)
from loadsense.api.routes.home import DOCS_PATH, REDOC_PATH, install_home
from loadsense.api.routes.recommendations import DispatchUnavailable, regime_model
from loadsense.collectors.openlineage import LineageReceiver
from loadsense.collectors.retry_dedup import RetryDedup
from loadsense.context import AppContext
from loadsense.correlator.alerts.service import start_alerts
from loadsense.correlator.dispatch.config import parse_dispatch_config
from loadsense.correlator.dispatch.service import DispatchStep, start_dispatch
from loadsense.correlator.dispatch.store import ViewSource
from loadsense.correlator.service import start_correlator
from loadsense.errors import LoadsenseError
from loadsense.selfmetrics import SelfMetrics
from loadsense.settings import ROLES, Settings
from loadsense.signals import summaries
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.migrations import (
    apply_migrations,
    ensure_retention,
    exporter_of,
    target_for,
)
from loadsense.storage.writer import Writer, WriterLimits

logger = logging.getLogger(__name__)

StartupHook = Callable[[AppContext], Callable[[], None] | None]
"""Starts a component once the context exists; may return its shutdown callable."""

ROUTERS: tuple[Any, ...] = (
    health.router,
    lineage.router,
    otlp.router,
    signals.router,
    signals.control_router,
    recommendations.router,
    alerts.router,
    datasets.router,
    diagnostics.router,
)
"""Every route module's router, in the order they appear in the OpenAPI document."""

STARTUP_HOOKS: tuple[StartupHook, ...] = (
    start_correlator,
    start_dispatch,
    start_alerts,
    start_publisher,
)
"""Components the correlator role starts with the app (stopped in reverse order); the
publisher runs last on each tick, after dispatch and alerts (api/publish.py)."""

REPLICA_HOOKS: tuple[StartupHook, ...] = (start_published,)
"""What a process without the correlator role starts instead: it follows the published
state (api/published.py)."""


class DispatchSource:
    """The recommendation routes' source on the primary: the running dispatch step
    (looked up per request, so a step registered later is found)."""

    def __init__(self, ctx: AppContext) -> None:
        self._ctx = ctx

    def _step(self) -> DispatchStep:
        step = self._ctx.dispatch
        if step is None:
            raise DispatchUnavailable("dispatch is not running")
        return step

    @property
    def max_wait_s(self) -> float:
        return self._step().config.max_wait_s

    def views(self) -> ViewSource:
        return self._step().store

    def regime(self) -> RegimeModel:
        step = self._step()
        return regime_model(step.store.current, step.source)

    def require_read(self, request: Request) -> None:
        require_read(request)


def writer_limits(settings: Settings) -> WriterLimits:
    return WriterLimits(
        batch_max_rows=settings.batch_max_rows,
        batch_max_delay_s=settings.batch_max_delay_ms / 1000.0,
        queue_max_rows=settings.queue_max_rows,
        queue_max_bytes=settings.queue_max_bytes,
        retry_after_s=settings.retry_after_s,
        insert_connections=settings.insert_connections,
    )


def route_role(route: APIRoute) -> str | None:
    """The role that serves ``route``: ``None`` for the routes every role serves (health,
    metrics, the home and documentation pages), ``ingest`` for OTLP (``/v1/...``) and the
    routes that take an ingest token, ``correlator`` for the tick, else ``api``."""
    if route.path.startswith("/v1/"):
        return "ingest"
    if not route.path.startswith("/api/"):
        return None
    if route.path == "/api/v1/tick":
        return "correlator"
    if any(d.call is require_ingest for d in route.dependant.dependencies):
        return "ingest"
    return "api"


class NotThisRole(LoadsenseError):
    code = "not_found"
    status = 404


async def role_gate(request: Request) -> None:
    """Router dependency (runs before the routes' own, auth included): a route of a role
    this process does not run is a 404 that names the role. Installed only when some
    route can be refused (async: it runs inline, a poll stays cheap)."""
    route = request.scope.get("route")
    role = route_role(route) if isinstance(route, APIRoute) else None
    settings = context(request).settings
    if role is not None and role not in settings.roles:
        raise NotThisRole(
            f"{request.method} {request.url.path} is served by the {role} role; this "
            f"process runs {','.join(settings.roles)} (serve --roles)"
        )
    if role == "ingest" and request.url.path.startswith("/v1/") and exporter_of(settings):
        raise NotThisRole(
            "telemetry_source is otel-clickhouse: the OpenTelemetry Collector's ClickHouse "
            "exporter stores traces and metrics; send OTLP to the Collector"
        )


def prepare_storage(storage: Storage, settings: Settings) -> None:
    """Apply pending migrations and the configured retention (the correlator role's job:
    other roles wait for the schema, api/routes/health.py)."""
    target = target_for(
        storage.database,
        settings.retention_days,
        settings.clickhouse_cluster,
        exporter_of(settings),
    )
    applied = apply_migrations(storage, target)
    if applied:
        logger.info("applied schema migrations %s", applied)
    changed = ensure_retention(storage, target)
    if changed:
        logger.info("retention set to %d days on %s", settings.retention_days, changed)
    started = time.perf_counter()
    built = summaries.advance(storage, time.time_ns())
    if built is not None:
        logger.info("dataset summary built in %.1f s", time.perf_counter() - started)


def _close_writer(writer: Writer, timeout: float) -> None:
    flushed = writer.close(timeout)
    logger.info("write queue %s", "flushed" if flushed else "NOT fully flushed")


def _stop_component(stop: Callable[[], None]) -> None:
    try:
        stop()
    except Exception:
        logger.exception("component shutdown failed")


def create_app(settings: Settings, storage: Storage | None = None) -> FastAPI:
    owns_storage = storage is None

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        with ExitStack() as stack:
            store = storage or open_storage(settings.dsn, settings.clickhouse_database)
            if owns_storage:
                stack.callback(store.close)
            correlator = "correlator" in settings.roles
            if correlator:
                prepare_storage(store, settings)
            metrics = SelfMetrics()
            writer = Writer(store, writer_limits(settings), metrics)
            stack.callback(_close_writer, writer, settings.shutdown_timeout_s)
            receiver = LineageReceiver(
                max_future_skew_s=settings.max_future_skew_s,
                retention_days=settings.retention_days,
            )
            journal = LineageJournal(
                store,
                writer,
                receiver,
                metrics,
                early_ack=settings.lineage_ack == "event" and correlator,
                delay_s=settings.derived_delay_ms / 1000.0,
            )
            journal.start()
            stack.callback(_stop_component, lambda: journal.close(settings.shutdown_timeout_s))
            ctx = AppContext(
                settings=settings,
                storage=store,
                writer=writer,
                metrics=metrics,
                lineage=receiver,
                retry_dedup=RetryDedup(),
                journal=journal,
            )
            app.state.ctx = ctx
            # Components stop in reverse order, also when a later one fails to start.
            for hook in STARTUP_HOOKS if correlator else REPLICA_HOOKS:
                stop = hook(ctx)
                if stop is not None:
                    stack.callback(_stop_component, stop)
            source: Any = DispatchSource(ctx)
            if ctx.published is not None:
                max_wait = parse_dispatch_config(settings.dispatch).max_wait_s
                source = PublishedRecommendations(ctx.published, max_wait)
            setattr(app.state, recommendations.SOURCE_STATE, source)
            logger.info(
                "loadsense %s ready (roles: %s; storage: %s)",
                loadsense.__version__,
                ",".join(settings.roles),
                store.location,
            )
            yield

    app = FastAPI(
        title="Loadsense",
        version=loadsense.__version__,
        description="Correlates ETL lineage, serving telemetry and host contention into "
        "signals and dispatch recommendations.",
        lifespan=lifespan,
        docs_url=None,  # served by install_home with local assets
        redoc_url=None,
    )

    install_error_handlers(app)
    install_home(app)
    install_docs_gate(app, settings, extra_paths=(DOCS_PATH, REDOC_PATH))

    gated = set(settings.roles) != set(ROLES) or exporter_of(settings) is not None
    gate = [Depends(role_gate)] if gated else []
    for router in ROUTERS:
        app.include_router(router, dependencies=gate)
    return app
