"""A metric exporter that keeps what it could not send, within a fixed bound.

The SDK's ``OTLPMetricExporter`` already retries one request with exponential backoff
(and honours ``Retry-After`` on 429/503) until its timeout, then gives up and the
collection is lost. Host contention during an outage of the service is exactly what
one wants to see afterwards, so this wrapper keeps failed collections in a bounded
queue and sends them, oldest first, ahead of the next collection once the service
answers again. While the service is down it waits longer between attempts (doubling
from one export interval up to ``max_backoff_s``), so a dead endpoint costs one
connection attempt per backoff step, not one per sample.

Memory is bounded by ``max_batches`` collections and ``max_points`` data points (a
many-core host sends hundreds of points per collection): past either, the oldest
collection is dropped and counted in :attr:`BacklogExporter.dropped`. The newest
collection is always kept. Nothing here raises into the SDK's reader.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from typing import Any

from opentelemetry.sdk.metrics.export import (
    Metric,
    MetricExporter,
    MetricExportResult,
    MetricsData,
    ResourceMetrics,
    ScopeMetrics,
)

logger = logging.getLogger(__name__)

MERGE_MAX_BATCHES = 30
"""Backlogged collections merged into one request when catching up."""

DEFAULT_MAX_POINTS = 100_000
"""Data points kept in the backlog (a few hundred bytes of Python objects each)."""


def merge_collections(collections: Sequence[MetricsData]) -> MetricsData:
    """Every point of ``collections`` in one ``MetricsData``, oldest first.

    Concatenating the collections' resource metrics is not enough: the SDK's OTLP
    encoder folds them by resource and scope and keeps only the last metric of each
    name, which would silently send the newest sample alone. Points of the same
    (resource, scope, metric) are joined under one metric instead.
    """
    resources: dict[Any, tuple[ResourceMetrics, dict[Any, tuple[ScopeMetrics, dict[Any, Any]]]]]
    resources = {}
    for data in collections:
        for rm in data.resource_metrics:
            rkey = (frozenset(rm.resource.attributes.items()), rm.schema_url)
            _, scopes = resources.setdefault(rkey, (rm, {}))
            for sm in rm.scope_metrics:
                skey = (sm.scope.name, sm.scope.version, sm.scope.schema_url, sm.schema_url)
                _, metrics = scopes.setdefault(skey, (sm, {}))
                for metric in sm.metrics:
                    mkey = (metric.name, metric.unit, type(metric.data).__name__)
                    metrics.setdefault(mkey, []).append(metric)
    return MetricsData(
        resource_metrics=[
            dataclasses.replace(
                rm,
                scope_metrics=[
                    dataclasses.replace(sm, metrics=[_join(group) for group in metrics.values()])
                    for sm, metrics in scopes.values()
                ],
            )
            for rm, scopes in resources.values()
        ]
    )


def count_points(data: MetricsData) -> int:
    return sum(
        len(m.data.data_points)
        for rm in data.resource_metrics
        for sm in rm.scope_metrics
        for m in sm.metrics
    )


def _join(metrics: list[Metric]) -> Metric:
    if len(metrics) == 1:
        return metrics[0]
    points = [p for m in metrics for p in m.data.data_points]
    data: Any = metrics[0].data  # Gauge | Sum | Histogram | ExponentialHistogram
    return dataclasses.replace(metrics[0], data=dataclasses.replace(data, data_points=points))


class BacklogExporter(MetricExporter):
    """Wraps ``inner``; see the module docstring for the retry and memory contract."""

    def __init__(
        self,
        inner: MetricExporter,
        max_batches: int,
        min_backoff_s: float,
        max_backoff_s: float,
        clock: Callable[[], float] = time.monotonic,
        max_points: int = DEFAULT_MAX_POINTS,
    ) -> None:
        super().__init__(
            preferred_temporality=inner._preferred_temporality,
            preferred_aggregation=inner._preferred_aggregation,
        )
        if max_batches < 1:
            raise ValueError("max_batches must be >= 1")
        self._inner = inner
        self._backlog: deque[tuple[MetricsData, int]] = deque()
        self._points = 0
        self._max_batches = max_batches
        self._max_points = max_points
        self._min_backoff_s = min_backoff_s
        self._max_backoff_s = max(min_backoff_s, max_backoff_s)
        self._clock = clock
        self._lock = threading.Lock()
        self._failures = 0
        self._next_attempt = 0.0
        self.sent = 0
        """Collections delivered (each backlogged one counts once, when it is delivered)."""
        self.failed_attempts = 0
        self.dropped = 0
        """Collections discarded because the backlog was full."""

    @property
    def backlog(self) -> int:
        return len(self._backlog)

    def export(
        self, metrics_data: MetricsData, timeout_millis: float = 10_000, **kwargs: Any
    ) -> MetricExportResult:
        with self._lock:
            self._enqueue(metrics_data)
            if self._clock() < self._next_attempt:
                return MetricExportResult.FAILURE
            return self._drain(timeout_millis)

    @property
    def backlog_points(self) -> int:
        return self._points

    def _enqueue(self, metrics_data: MetricsData) -> None:
        points = count_points(metrics_data)
        self._backlog.append((metrics_data, points))
        self._points += points
        while len(self._backlog) > 1 and (
            len(self._backlog) > self._max_batches or self._points > self._max_points
        ):
            self._pop()
            self.dropped += 1
            if self.dropped == 1 or self.dropped % 100 == 0:
                logger.warning("metrics backlog full: %d collections dropped so far", self.dropped)

    def _drain(self, timeout_millis: float) -> MetricExportResult:
        while self._backlog:
            count = min(len(self._backlog), MERGE_MAX_BATCHES)
            batch = [self._backlog[i][0] for i in range(count)]
            merged = merge_collections(batch)
            try:
                result = self._inner.export(merged, timeout_millis=timeout_millis)
            except Exception:  # an exporter bug must not kill the reader's thread
                logger.exception("metric export raised")
                result = MetricExportResult.FAILURE
            if result is not MetricExportResult.SUCCESS:
                self._note_failure()
                return MetricExportResult.FAILURE
            for _ in range(count):
                self._pop()
            self.sent += count
        if self._failures:
            logger.info("metrics export recovered after %d failed attempts", self._failures)
        self._failures = 0
        self._next_attempt = 0.0
        return MetricExportResult.SUCCESS

    def _pop(self) -> None:
        _, points = self._backlog.popleft()
        self._points -= points

    def _note_failure(self) -> None:
        self._failures += 1
        self.failed_attempts += 1
        backoff = min(self._max_backoff_s, self._min_backoff_s * 2 ** (self._failures - 1))
        self._next_attempt = self._clock() + backoff
        logger.warning(
            "metrics export failed (%d in a row); %d collections kept, next attempt in %.1fs",
            self._failures,
            len(self._backlog),
            backoff,
        )

    def force_flush(self, timeout_millis: float = 10_000) -> bool:
        with self._lock:
            if self._backlog:
                self._drain(timeout_millis)
            return not self._backlog

    def shutdown(self, timeout_millis: float = 30_000, **kwargs: Any) -> None:
        self._inner.shutdown(timeout_millis=timeout_millis)
