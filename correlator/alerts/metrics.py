"""``ALERTS`` and ``ALERTS_FOR_STATE`` as Prometheus writes them, and the alerting
step's own health, for ``/metrics``.

- ``ALERTS{alertname, alertstate="pending"|"firing", <alert labels>} 1`` per active alert;
- ``ALERTS_FOR_STATE{alertname, <alert labels>} <active since, epoch seconds>``;
- ``loadsense_alerts_evaluations_total``, ``loadsense_alerts_rule_failures_total``,
  ``loadsense_alerts_store_failures_total``, ``loadsense_alerts_reload_failures_total``,
  ``loadsense_alerts_evaluation_seconds`` (latest), ``loadsense_alerts_rules``;
- per receiver: ``loadsense_alerts_notifications_sent_total``,
  ``loadsense_alerts_notifications_dropped_total``,
  ``loadsense_alerts_notification_failures_total`` (failed posts, retried) and
  ``loadsense_alerts_notification_queue_length``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

if TYPE_CHECKING:
    from loadsense.correlator.alerts.service import AlertStep


class _AlertCollector(Collector):
    def __init__(self, step: AlertStep) -> None:
        self.step = step

    def collect(self) -> Iterator[Metric]:
        ev = self.step.evaluator
        alerts = Metric("ALERTS", "Active alerts (Prometheus' ALERTS series)", "gauge")
        for_state = Metric(
            "ALERTS_FOR_STATE", "Since when each active alert is active (epoch seconds)", "gauge"
        )
        for a in ev.active():
            labels = a.label_map
            alerts.add_sample("ALERTS", {**labels, "alertstate": a.state}, 1.0)
            for_state.add_sample("ALERTS_FOR_STATE", labels, a.active_at)
        yield alerts
        yield for_state
        stats = ev.stats
        for name, text, value in (
            ("loadsense_alerts_evaluations", "Alert evaluations run", stats.evaluations),
            ("loadsense_alerts_rule_failures", "Rule evaluations that failed", stats.rule_failures),
            (
                "loadsense_alerts_store_failures",
                "Alert state writes that failed",
                stats.store_failures,
            ),
            (
                "loadsense_alerts_reload_failures",
                "Rule file reloads refused",
                self.step.reload_failures,
            ),
        ):
            yield CounterMetricFamily(name, text, value=value)
        yield GaugeMetricFamily(
            "loadsense_alerts_evaluation_seconds",
            "Wall time of the latest evaluation",
            value=stats.seconds,
        )
        yield GaugeMetricFamily(
            "loadsense_alerts_rules",
            "Alerting rules loaded",
            value=sum(len(g.rules) for g in ev.groups),
        )
        sent = CounterMetricFamily(
            "loadsense_alerts_notifications_sent", "Notifications delivered", labels=["receiver"]
        )
        dropped = CounterMetricFamily(
            "loadsense_alerts_notifications_dropped",
            "Notifications dropped (queue full or out of attempts)",
            labels=["receiver"],
        )
        failed = CounterMetricFamily(
            "loadsense_alerts_notification_failures",
            "Posts to a receiver that failed (retried with backoff)",
            labels=["receiver"],
        )
        queued = GaugeMetricFamily(
            "loadsense_alerts_notification_queue_length",
            "Notifications waiting for a receiver",
            labels=["receiver"],
        )
        for q in ev.queues:
            sent.add_metric([q.name], q.sent)
            dropped.add_metric([q.name], q.dropped)
            failed.add_metric([q.name], q.failed_posts)
            queued.add_metric([q.name], q.pending)
        yield from (sent, dropped, failed, queued)


def alerts_metrics_source(step: AlertStep) -> Callable[[], bytes]:
    """A ``metrics_sources`` entry rendering the alerting step."""
    registry = CollectorRegistry(auto_describe=False)
    registry.register(_AlertCollector(step))

    def render() -> bytes:
        return generate_latest(registry)

    return render
