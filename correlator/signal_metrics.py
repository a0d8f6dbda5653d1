"""The correlator's latest snapshot as Prometheus gauges, and as samples for alert rules.

Every exported signal series is declared once, in :data:`SIGNAL_METRICS`: its metric
name (Prometheus conventions: base units with their suffix, ``_seconds``,
``_timestamp_seconds``, ``_ratio``; quantiles in the name, ``_p99_seconds``), the row field
it reads, the unit and the help text. ``/metrics`` renders it, the built-in alert
evaluator reads the very same samples (:func:`signal_samples`), ``loadsense rules
check`` knows the names from it, and ``docs/metrics.md`` is tested equal to it.

Unknown values (``None``, NaN) are not exported: an unknown never becomes a
misleading zero, and ``absent()`` sees it missing.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from loadsense.correlator.snapshot import Snapshot

SUBJECT_LABELS = MappingProxyType(
    {
        "freshness": "dataset",
        "exposure": "service",
        "queues": "queue",
        "latency": "service",
        "hosts": "host",
        "lineage": "dataset",
    }
)
"""The label naming each signal kind's subject."""

Labels = tuple[tuple[str, str], ...]
"""A series' labels (without ``__name__``), as sorted pairs."""


@dataclass(frozen=True)
class SignalMetric:
    """One exported gauge: ``name`` from ``kind`` rows' ``field`` times ``scale``."""

    name: str
    kind: str
    field: str
    unit: str
    help: str
    scale: float = 1.0

    @property
    def labels(self) -> tuple[str, ...]:
        subject = SUBJECT_LABELS[self.kind]
        return (subject, "type") if self.kind == "queues" else (subject,)


def _m(name: str, kind: str, field: str, unit: str, text: str, **kw: Any) -> SignalMetric:
    return SignalMetric(name, kind, field, unit, text, **kw)


def _q(prefix: str, kind: str, field: str, q: str, text: str, scale: float = 1.0) -> SignalMetric:
    """A quantile as its own name (``<prefix>_p99_seconds``): promtool reserves the
    ``quantile`` label for summaries."""
    return SignalMetric(f"{prefix}_{q}_seconds", kind, field, "seconds", f"{text}, {q}", scale)


SIGNAL_METRICS: tuple[SignalMetric, ...] = (
    # freshness, per dataset
    _m("loadsense_freshness", "freshness", "freshness", "1", "Freshness score in [0, 1]"),
    _m(
        "loadsense_freshness_effective",
        "freshness",
        "effective_freshness",
        "1",
        "Lowest freshness of the dataset and its upstream lineage",
    ),
    _m(
        "loadsense_freshness_effective_depth",
        "freshness",
        "depth",
        "1",
        "Lineage depth of the dataset that sets the effective freshness",
    ),
    _m("loadsense_freshness_age_seconds", "freshness", "age", "seconds", "Since last update"),
    _m(
        "loadsense_freshness_last_update_timestamp_seconds",
        "freshness",
        "last_update",
        "seconds",
        "Time of the latest update (epoch)",
    ),
    _m(
        "loadsense_freshness_deadline_timestamp_seconds",
        "freshness",
        "deadline",
        "seconds",
        "Last update + grace + half-life (epoch)",
    ),
    _m(
        "loadsense_freshness_expected_interval_seconds",
        "freshness",
        "expected_interval",
        "seconds",
        "Expected time between updates",
    ),
    _m(
        "loadsense_freshness_interval_declared",
        "freshness",
        "interval_declared",
        "1",
        "1 when the expected interval is declared, 0 when inferred",
    ),
    _m("loadsense_freshness_grace_seconds", "freshness", "grace", "seconds", "Grace period"),
    _m("loadsense_freshness_half_life_seconds", "freshness", "half_life", "seconds", "Half-life"),
    _m("loadsense_freshness_updates", "freshness", "updates", "1", "Updates seen in the window"),
    # exposure, per model service
    _m(
        "loadsense_exposure_ratio",
        "exposure",
        "exposure_ratio",
        "ratio",
        "Share of requests served while an input was stale",
    ),
    _m(
        "loadsense_exposure_weighted",
        "exposure",
        "weighted_exposure",
        "1",
        "Staleness-weighted exposure",
    ),
    _m(
        "loadsense_exposure_stale_requests",
        "exposure",
        "stale_requests",
        "1",
        "Requests served while an input was stale, in the window",
    ),
    _m("loadsense_exposure_requests", "exposure", "requests", "1", "Requests in the window"),
    _m("loadsense_exposure_theta", "exposure", "theta", "1", "Staleness threshold on freshness"),
    _m("loadsense_exposure_window_seconds", "exposure", "window_s", "seconds", "Exposure window"),
    # queues, per queue (type="queue") and per ETL job (type="job")
    _m("loadsense_queue_depth", "queues", "depth", "1", "Items waiting"),
    _m("loadsense_queue_depth_limit", "queues", "depth_limit", "1", "Configured depth limit"),
    _m(
        "loadsense_queue_oldest_age_seconds",
        "queues",
        "oldest_age",
        "seconds",
        "Age of the oldest waiting item",
    ),
    _m(
        "loadsense_queue_oldest_age_estimated",
        "queues",
        "oldest_age_estimated",
        "1",
        "1 when the oldest age is estimated with Little's law",
    ),
    _m(
        "loadsense_queue_age_limit_seconds",
        "queues",
        "age_limit_s",
        "seconds",
        "Configured age limit of the oldest item",
    ),
    _m(
        "loadsense_queue_dequeue_per_second",
        "queues",
        "dequeue_rate",
        "1/s",
        "Items dequeued per second",
    ),
    _m(
        "loadsense_queue_growth_per_second",
        "queues",
        "growth",
        "1/s",
        "Least-squares slope of the depth",
    ),
    _m(
        "loadsense_queue_time_to_breach_seconds",
        "queues",
        "time_to_breach",
        "seconds",
        "Until a limit is breached (0: breached)",
    ),
    _m(
        "loadsense_queue_dispatch_delay_seconds",
        "queues",
        "dispatch_delay",
        "seconds",
        "Latest run: start minus nominal start",
    ),
    _m("loadsense_queue_runs", "queues", "runs", "1", "Runs in the run window"),
    _q("loadsense_queue_run_duration", "queues", "duration_p50", "p50", "Run duration"),
    _q("loadsense_queue_run_duration", "queues", "duration_p95", "p95", "Run duration"),
    _q("loadsense_queue_run_duration", "queues", "duration_p99", "p99", "Run duration"),
    _m(
        "loadsense_queue_failure_ratio",
        "queues",
        "failure_rate",
        "ratio",
        "Failed or aborted share of finished runs",
    ),
    # latency, per service
    _q("loadsense_latency", "latency", "p50_ms", "p50", "Request latency", 1e-3),
    _q("loadsense_latency", "latency", "p95_ms", "p95", "Request latency", 1e-3),
    _q("loadsense_latency", "latency", "p99_ms", "p99", "Request latency", 1e-3),
    _m(
        "loadsense_latency_slo_seconds",
        "latency",
        "slo_ms",
        "seconds",
        "p99 latency objective",
        scale=1e-3,
    ),
    _m("loadsense_latency_slack", "latency", "latency_slack", "1", "(SLO - p99) / SLO"),
    _m("loadsense_latency_error_ratio", "latency", "error_rate", "ratio", "Failed share"),
    _m("loadsense_latency_requests", "latency", "requests", "1", "Requests in the window"),
    _m("loadsense_latency_requests_per_second", "latency", "rps", "1/s", "Requests per second"),
    _m(
        "loadsense_latency_recent_requests_per_second",
        "latency",
        "rps_recent",
        "1/s",
        "Requests per second over the short rate window",
    ),
    _m("loadsense_latency_window_seconds", "latency", "window_s", "seconds", "Latency window"),
    # hosts, per host
    _m("loadsense_host_contention_ratio", "hosts", "contention", "ratio", "Max of cpu, memory, io"),
    _m("loadsense_host_cpu_ratio", "hosts", "cpu", "ratio", "CPU pressure in [0, 1]"),
    _m("loadsense_host_memory_ratio", "hosts", "memory", "ratio", "Memory pressure in [0, 1]"),
    _m("loadsense_host_io_ratio", "hosts", "io", "ratio", "IO pressure in [0, 1]"),
    # lineage, per dataset
    _m("loadsense_lineage_depth", "lineage", "depth", "1", "Longest path from a source"),
    _m(
        "loadsense_lineage_criticality",
        "lineage",
        "criticality",
        "1/s",
        "Requests per second of downstream services",
    ),
    _m(
        "loadsense_lineage_recompute_cost_seconds",
        "lineage",
        "recompute_cost",
        "seconds",
        "Median duration of producing runs",
    ),
    _m(
        "loadsense_lineage_failure_ratio",
        "lineage",
        "failure_rate",
        "ratio",
        "Failed share of producing runs",
    ),
    _m("loadsense_lineage_runs", "lineage", "runs", "1", "Producing runs in the run window"),
    _m(
        "loadsense_lineage_schema_drift",
        "lineage",
        "schema_drift",
        "1",
        "Fields added, removed or retyped in the window",
    ),
    _m(
        "loadsense_lineage_validation_confidence",
        "lineage",
        "validation_confidence",
        "ratio",
        "Passing share of the latest quality assertions",
    ),
)
"""Every gauge read from one numeric row field (see the module docstring)."""


@dataclass(frozen=True)
class DerivedMetric:
    """A gauge built from a row's tuple field (relations and per-input breakdowns)."""

    name: str
    labels: tuple[str, ...]
    unit: str
    help: str


DERIVED_METRICS: tuple[DerivedMetric, ...] = (
    DerivedMetric(
        "loadsense_exposure_input_ratio",
        ("service", "dataset"),
        "ratio",
        "Share of the service's requests served while this input was stale",
    ),
    DerivedMetric(
        "loadsense_exposure_input_stale_requests",
        ("service", "dataset"),
        "1",
        "Requests served while this input was stale, in the window",
    ),
    DerivedMetric(
        "loadsense_exposure_input_requests",
        ("service", "dataset"),
        "1",
        "Requests of the service in the window, per declared input",
    ),
    DerivedMetric(
        "loadsense_host_service_info",
        ("host", "service"),
        "1",
        "1 for each service seen on the host",
    ),
    DerivedMetric(
        "loadsense_host_job_info", ("host", "job"), "1", "1 for each ETL job seen on the host"
    ),
    DerivedMetric(
        "loadsense_lineage_downstream_services",
        ("dataset",),
        "1",
        "Model services reading the dataset, directly or downstream",
    ),
)
"""Gauges from tuple fields, one series per (row, member)."""

METRIC_NAMES: frozenset[str] = frozenset(
    [m.name for m in SIGNAL_METRICS] + [m.name for m in DERIVED_METRICS]
)
"""Every signal series name ``/metrics`` may export."""

_BY_KIND: dict[str, tuple[SignalMetric, ...]] = {
    kind: tuple(m for m in SIGNAL_METRICS if m.kind == kind) for kind in SUBJECT_LABELS
}

Sample = tuple[str, Labels, float]
"""``(metric name, labels, value)``."""


def _finite(value: Any) -> float | None:
    if isinstance(value, bool):
        return 1.0 if value else 0.0
    if isinstance(value, int | float) and math.isfinite(value):
        return float(value)
    return None


def _derived(snap: Snapshot) -> Iterator[Sample]:
    for e in snap.exposure:
        for per in e.per_input:
            key = (("dataset", per.dataset), ("service", e.subject))
            ratio = _finite(per.exposure_ratio)
            if ratio is not None:
                yield "loadsense_exposure_input_ratio", key, ratio
            yield "loadsense_exposure_input_stale_requests", key, float(per.stale_requests)
        for dataset in e.inputs:
            key = (("dataset", dataset), ("service", e.subject))
            yield "loadsense_exposure_input_requests", key, float(e.requests)
    for h in snap.hosts:
        for service in h.services:
            yield "loadsense_host_service_info", (("host", h.subject), ("service", service)), 1.0
        for job in h.jobs:
            yield "loadsense_host_job_info", (("host", h.subject), ("job", job)), 1.0
    for lin in snap.lineage:
        count = float(len(lin.downstream_services))
        yield "loadsense_lineage_downstream_services", (("dataset", lin.subject),), count


def signal_samples(snap: Snapshot, names: frozenset[str] | None = None) -> Iterator[Sample]:
    """Every signal series of ``snap``: what ``/metrics`` exports and rules evaluate
    (only the metrics in ``names``, when given)."""
    for kind, every in _BY_KIND.items():
        metrics = every if names is None else tuple(m for m in every if m.name in names)
        if not metrics:
            continue
        subject = SUBJECT_LABELS[kind]
        for row in snap.rows(kind):
            base: Labels = (
                ((subject, row.subject), ("type", row.type))
                if kind == "queues"
                else ((subject, row.subject),)
            )
            for m in metrics:
                value = _finite(getattr(row, m.field))
                if value is not None:
                    yield m.name, base, value * m.scale
    if names is None or any(d.name in names for d in DERIVED_METRICS):
        yield from (s for s in _derived(snap) if names is None or s[0] in names)


def _help() -> dict[str, tuple[str, tuple[str, ...]]]:
    out: dict[str, tuple[str, tuple[str, ...]]] = {}
    for m in SIGNAL_METRICS:
        out.setdefault(m.name, (f"{m.help} ({m.kind}, docs/metrics.md)", m.labels))
    for d in DERIVED_METRICS:
        out[d.name] = (f"{d.help} (docs/metrics.md)", d.labels)
    return out


_HELP = _help()


class _SignalCollector(Collector):
    def __init__(self, snapshot: Callable[[], Snapshot]) -> None:
        self.snapshot = snapshot

    def collect(self) -> Iterator[Metric]:
        families: dict[str, GaugeMetricFamily] = {}
        for name, labels, value in signal_samples(self.snapshot()):
            family = families.get(name)
            if family is None:
                text, label_names = _HELP[name]
                family = GaugeMetricFamily(name, text, labels=sorted(label_names))
                families[name] = family
            family.add_metric([v for _, v in labels], value)
        yield from families.values()


def signal_metrics_source(snapshot: Callable[[], Snapshot]) -> Callable[[], bytes]:
    """A ``metrics_sources`` entry rendering the latest snapshot's signals as gauges."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_SignalCollector(snapshot))

    def render() -> bytes:
        return generate_latest(registry)

    return render


def metrics_markdown() -> str:
    """The signal rows of ``docs/metrics.md`` (tested equal to the file)."""
    rows = ["| metric | labels | unit | meaning |", "| --- | --- | --- | --- |"]
    for m in SIGNAL_METRICS:
        labels = ", ".join(f"`{x}`" for x in m.labels)
        rows.append(f"| `{m.name}` | {labels} | {m.unit} | {m.help} (`{m.kind}.{m.field}`) |")
    for d in DERIVED_METRICS:
        labels = ", ".join(f"`{x}`" for x in d.labels)
        rows.append(f"| `{d.name}` | {labels} | {d.unit} | {d.help} |")
    return "\n".join(rows) + "\n"
