"""The evaluator over snapshots built in memory (no storage): group intervals round to
ticks, and the samples rules see are the ones ``/metrics`` exports."""

from __future__ import annotations

from loadsense.correlator.alerts.evaluator import AlertEvaluator
from loadsense.correlator.alerts.rules import RuleSet, load_text
from loadsense.correlator.signal_metrics import signal_samples
from loadsense.correlator.snapshot import Snapshot
from loadsense.signals.latency import LatencyRow

RULES = """
groups:
  - name: every-tick
    rules:
      - alert: Fast
        expr: loadsense_latency_slack < 0
  - name: slow
    interval: 25s
    rules:
      - alert: Slow
        expr: loadsense_latency_slack < 0
        for: 50s
"""


def snapshot(at: float) -> Snapshot:
    # p99 400 ms against a 200 ms SLO: slack (200 - 400) / 200 = -1
    row = LatencyRow("svc", 900.0, 9, 0.01, 100.0, 300.0, 400.0, 0.0, 200.0, -1.0)
    return Snapshot(as_of=at, latency=(row,))


def test_group_intervals_round_to_ticks() -> None:
    ev = AlertEvaluator(RuleSet(load_text(RULES, "r.yaml")))
    fast, slow = ev.groups
    seen = []
    for at in range(0, 101, 10):  # ticks every 10 s
        ev.evaluate(snapshot(float(at)))
        seen.append((at, slow.last_evaluation))
    # due every 25 s, run at the first tick at or after: 0, 30 (>= 25), 60 (>= 55), 90
    assert [at for at, last in seen if last == at] == [0, 30, 60, 90]
    assert fast.last_evaluation == 100.0
    # `for` counts from the group's own evaluations: active at 0, firing at 60 (60 >= 50)
    (alert,) = [a for a in ev.active() if a.rule == "Slow"]
    assert (alert.rule, alert.state, alert.active_at, alert.fired_at) == (
        "Slow",
        "firing",
        0.0,
        60.0,
    )


def test_rules_read_the_exported_series() -> None:
    samples = list(signal_samples(snapshot(0.0)))
    assert ("loadsense_latency_slack", (("service", "svc"),), -1.0) in samples
    assert ("loadsense_latency_p99_seconds", (("service", "svc"),), 0.4) in samples
    assert ("loadsense_latency_slo_seconds", (("service", "svc"),), 0.2) in samples
