"""The wiring context of a running service: what the API and the correlator share.

``serve`` builds one :class:`AppContext` at start-up (``loadsense.api.app``), hands it
to each start-up hook (the correlator, then dispatch, then alerts), and every route reaches it as
``request.app.state.ctx``. It lives below every room so that the correlator can be
wired without importing the HTTP edge.

At run time this module imports nothing but the standard library: the components it
holds are named for the type checker only, so any room may import it without an
import cycle (tests/test_import_direction.py holds it to that).
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from loadsense.api.journal import LineageJournal
    from loadsense.api.published import PublishedState
    from loadsense.collectors.openlineage import LineageReceiver
    from loadsense.collectors.retry_dedup import RetryDedup
    from loadsense.correlator.alerts.service import AlertStep
    from loadsense.correlator.dispatch.service import DispatchStep
    from loadsense.correlator.loop import Correlator
    from loadsense.selfmetrics import SelfMetrics
    from loadsense.settings import Settings
    from loadsense.storage.client import Storage
    from loadsense.storage.writer import Writer

MetricsSource = Callable[[], bytes]
"""Extra Prometheus text appended to ``/metrics`` (signals, recommendations)."""


@dataclass
class AppContext:
    """Settings, storage, the writer and self-metrics, plus the components started on
    them. A component that is not running is ``None``; routes that need it answer 503."""

    settings: Settings
    storage: Storage
    writer: Writer
    metrics: SelfMetrics
    lineage: LineageReceiver
    """Decodes OpenLineage bodies (holds the future-skew and retention bounds)."""
    retry_dedup: RetryDedup[Any]
    """Committed OTLP export requests, so an exporter's retry is not stored twice."""
    journal: LineageJournal
    """Writes OpenLineage requests and owes their derived rows (settle before reading)."""
    started_at: float = field(default_factory=time.time)
    correlator: Correlator | None = None
    """The running correlator (set by its start-up hook)."""
    dispatch: DispatchStep | None = None
    """The running dispatch step (set by its start-up hook, after the correlator's)."""
    alerts: AlertStep | None = None
    """The running alert evaluator step (set by its start-up hook, after dispatch's)."""
    published: PublishedState | None = None
    """What the correlator published, on a process without the correlator role."""
    metrics_sources: list[MetricsSource] = field(default_factory=list)
    """Components' extra ``/metrics`` text, appended in registration order."""
