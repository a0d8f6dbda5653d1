"""What a running app holds: settings, storage, the writer and self-metrics.

Routes reach it as ``request.app.state.ctx``; tests build apps around a shared storage.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import Request

from loadsense.collectors.retry_dedup import RetryDedup
from loadsense.selfmetrics import SelfMetrics
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from loadsense.storage.writer import Writer


@dataclass
class AppContext:
    settings: Settings
    storage: Storage
    writer: Writer
    metrics: SelfMetrics
    started_at: float = field(default_factory=time.time)
    retry_dedup: RetryDedup[Any] = field(default_factory=RetryDedup)
    """Committed OTLP export requests, so an exporter's retry is not stored twice."""
    extensions: dict[str, Any] = field(default_factory=dict)
    """Components later layers attach (correlator, policy); keyed by name."""


def context(request: Request) -> AppContext:
    ctx: AppContext = request.app.state.ctx
    return ctx
