"""The service's own metrics (``/metrics``), one registry per running app.

A registry per app instead of the global default lets several apps live in one
process (tests) without colliding, and keeps library metrics out of our exposition.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


@dataclass
class SelfMetrics:
    """Counters and gauges the write path, receivers and correlator update."""

    registry: CollectorRegistry = field(default_factory=CollectorRegistry)

    def __post_init__(self) -> None:
        r = self.registry
        self.rows_accepted = Counter(
            "loadsense_rows_accepted", "Rows committed to storage", ["table"], registry=r
        )
        self.rows_rejected = Counter(
            "loadsense_rows_rejected",
            "Rows or items refused, by table and reason",
            ["table", "reason"],
            registry=r,
        )
        self.queue_rows = Gauge(
            "loadsense_write_queue_rows", "Rows waiting to be committed", registry=r
        )
        self.queue_bytes = Gauge(
            "loadsense_write_queue_bytes", "Approximate bytes waiting to be committed", registry=r
        )
        self.flush_seconds = Histogram(
            "loadsense_flush_seconds",
            "Insert latency of one batch",
            ["table"],
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
            registry=r,
        )
        self.batch_rows = Histogram(
            "loadsense_batch_rows",
            "Rows per inserted batch",
            ["table"],
            buckets=(1, 10, 100, 1_000, 5_000, 10_000, 50_000, 100_000),
            registry=r,
        )
        self.retried_requests = Counter(
            "loadsense_retried_requests",
            "Export requests acknowledged again without storing (a retry of a committed one)",
            ["table"],
            registry=r,
        )
        self.lineage_lenient = Counter(
            "loadsense_lineage_lenient",
            "OpenLineage events accepted only under a documented leniency, by reason "
            "(event_time_without_offset, missing_schema_url; docs/lineage.md)",
            ["reason"],
            registry=r,
        )
        self.flush_failures = Counter(
            "loadsense_flush_failures", "Batches whose insert failed", ["table"], registry=r
        )
        self.tick_seconds = Histogram(
            "loadsense_correlator_tick_seconds",
            "Duration of one correlator tick",
            buckets=(0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
            registry=r,
        )
        self.tick_lag_seconds = Gauge(
            "loadsense_correlator_lag_seconds",
            "Wall time between a tick's scheduled time and its completion",
            registry=r,
        )
        self.steps_skipped = Counter(
            "loadsense_correlator_steps_skipped",
            "Snapshots whose tick steps (dispatch) were skipped for a newer one",
            registry=r,
        )
        self.tick_failures = Counter(
            "loadsense_correlator_tick_failures", "Correlator ticks that failed", registry=r
        )
        self.publish_failures = Counter(
            "loadsense_publish_failures",
            "Publications of the correlator's state to ClickHouse that failed",
            registry=r,
        )
        self.published_read_failures = Counter(
            "loadsense_published_read_failures",
            "Reads of the published correlator state that failed (roles without correlator)",
            registry=r,
        )
