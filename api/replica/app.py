"""The replica's FastAPI app: the live recommendation routes, health and its metrics.

Routes: the primary's :data:`~loadsense.api.routes.recommendations.live_router` (list, one
workload, KEDA, regime) over the follower's copy, and api/replica/health.py. Anything
else (the OpenAPI document included: the primary's is the reference) is 404 in the
house error format.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request

import loadsense
from loadsense.api.handlers import install_error_handlers
from loadsense.api.models import RegimeModel
from loadsense.api.replica.auth import read_tokens, require_read
from loadsense.api.replica.follower import Follower, UpstreamError
from loadsense.api.replica.health import health_router, not_yet
from loadsense.api.routes.recommendations import SOURCE_STATE, live_router
from loadsense.correlator.dispatch.config import parse_dispatch_config
from loadsense.correlator.dispatch.store import ViewSource
from loadsense.errors import (
    ConfigError,
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
            raise UpstreamError(not_yet(self._follower))
        return self._follower.store

    def regime(self) -> RegimeModel:
        regime = self._follower.store.current.regime
        if regime is None:
            raise UpstreamError(not_yet(self._follower))
        return regime

    def require_read(self, request: Request) -> None:
        require_read(self._settings, request)


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
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        version=loadsense.__version__,
        description="Serves the primary's dispatch recommendations from memory.",
        lifespan=lifespan,
    )
    setattr(app.state, SOURCE_STATE, ReplicaSource(follower, settings))
    app.state.follower = follower

    install_error_handlers(app)

    app.include_router(health_router(follower, settings))
    app.include_router(live_router)
    return app
