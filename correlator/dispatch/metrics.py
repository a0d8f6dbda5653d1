"""Recommendations and the regime as Prometheus gauges, for ``/metrics``.

Exposed (labels in braces), so KEDA's prometheus scaler, prometheus-adapter and
Alertmanager can use them:

* ``loadsense_recommended_concurrency{workload, class, action}``: what a scaler should run;
* ``loadsense_priority{workload, class, action}``: 0..100;
* ``loadsense_recommendation_info{workload, class, action, confidence, regime,
  policy_version} 1``;
* ``loadsense_regime_pressure{pressure="etl"|"ml"}`` and
  ``loadsense_regime{regime}`` (1 for the current regime, 0 for the others);
* dispatch's own health: ``loadsense_dispatch_evaluations_total``,
  ``loadsense_dispatch_changes_total``, ``loadsense_dispatch_audit_failures_total``,
  ``loadsense_dispatch_workloads``, ``loadsense_dispatch_tick_seconds``.

The signal gauges are not dispatch's: ``correlator/signal_metrics.py`` exports them.

Rendered at scrape time by custom collectors, in registries of their own (names never
collide with self-metrics).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from loadsense.correlator.dispatch.regime import REGIMES
from loadsense.correlator.dispatch.store import RecommendationStore


class _RecommendationCollector(Collector):
    def __init__(self, store: RecommendationStore, stats: Callable[[], Any] | None) -> None:
        self.store = store
        self.stats = stats

    def collect(self) -> Iterator[Metric]:
        pub = self.store.current
        labels = ["workload", "class", "action"]
        concurrency = GaugeMetricFamily(
            "loadsense_recommended_concurrency",
            "Concurrency a scheduler should run the workload at (0 when held)",
            labels=labels,
        )
        priority = GaugeMetricFamily(
            "loadsense_priority", "Recommended priority, 0..100", labels=labels
        )
        info = GaugeMetricFamily(
            "loadsense_recommendation_info",
            "The current recommendation of each workload (always 1)",
            labels=[*labels, "confidence", "regime", "policy_version"],
        )
        for rec in pub.recommendations:
            values = [rec.workload, rec.cls, rec.action]
            concurrency.add_metric(values, rec.concurrency(pub.default_concurrency))
            priority.add_metric(values, rec.priority)
            info.add_metric([*values, rec.confidence, rec.regime, rec.policy_version], 1)
        pressure = GaugeMetricFamily(
            "loadsense_regime_pressure",
            "Regime pressures in [0, 1]: ETL load intensity and ML latency criticality",
            labels=["pressure"],
        )
        pressure.add_metric(["etl"], pub.regime.pressures.etl)
        pressure.add_metric(["ml"], pub.regime.pressures.ml)
        regime = GaugeMetricFamily(
            "loadsense_regime", "1 for the current dispatch regime", labels=["regime"]
        )
        for name in REGIMES:
            regime.add_metric([name], 1.0 if name == pub.regime.regime else 0.0)
        yield from (concurrency, priority, info, pressure, regime)
        if self.stats is not None:
            yield from _step_metrics(self.stats())


def _step_metrics(stats: Any) -> Iterator[Metric]:
    """Dispatch's own health: run count, workloads, changes, audit failures, duration."""
    yield CounterMetricFamily(
        "loadsense_dispatch_evaluations", "Dispatch evaluations run", value=stats.evaluations
    )
    yield CounterMetricFamily(
        "loadsense_dispatch_changes",
        "Decision changes written to the audit log",
        value=stats.changes,
    )
    yield CounterMetricFamily(
        "loadsense_dispatch_audit_failures",
        "Audit log appends that failed",
        value=stats.audit_failures,
    )
    yield GaugeMetricFamily(
        "loadsense_dispatch_workloads", "Workloads in the latest evaluation", value=stats.workloads
    )
    yield GaugeMetricFamily(
        "loadsense_dispatch_tick_seconds",
        "Wall time of the latest dispatch step (facts, evaluation, audit, publish)",
        value=stats.tick_seconds,
    )


def metrics_source(
    store: RecommendationStore, stats: Callable[[], Any] | None = None
) -> Callable[[], bytes]:
    """A ``metrics_sources`` entry rendering ``store`` (and the step's ``stats``)."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_RecommendationCollector(store, stats))

    def render() -> bytes:
        return generate_latest(registry)

    return render
