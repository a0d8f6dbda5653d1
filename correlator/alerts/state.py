"""Per-series alert state, stepped the way Prometheus' ``AlertingRule.Eval`` steps it.

At each evaluation of a rule at instant ``ts`` (the tick's clock, never the wall
clock):

- a result series without an active alert starts one: ``pending``, ``active_at = ts``;
  an existing one takes the new value and annotations (and leaves ``keep_firing_for``);
- ``pending`` becomes ``firing`` once ``ts - active_at >= for`` (at once when ``for`` is
  0);
- an alert whose series is gone: ``pending`` is dropped (back to inactive); ``firing``
  keeps firing while ``ts - keep_firing_since < keep_firing_for``, then resolves
  (``resolved_at = ts``); a resolved alert is kept 15 minutes so receivers hear about
  it, as Prometheus keeps it;
- a series that comes back after resolving starts a new alert.

:meth:`RuleState.evaluate` returns the transitions it made, which the store appends to
history. :meth:`RuleState.restore` seeds ``active_at`` from stored state after a
restart (Prometheus' ``ALERTS_FOR_STATE``): a series still in the result at the first
evaluation keeps its ``for`` progress instead of starting over.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, replace

from loadsense.correlator.alerts import promql
from loadsense.correlator.alerts.rules import Rule
from loadsense.correlator.alerts.templates import TemplateData

RESOLVED_RETENTION_S = 15 * 60.0
"""How long a resolved alert is kept (and re-sent), as Prometheus."""

Labels = tuple[tuple[str, str], ...]


def fingerprint(labels: Labels) -> str:
    """A stable id of a label set (hex, 16 characters)."""
    h = hashlib.sha256()
    for k, v in labels:
        h.update(k.encode())
        h.update(b"\xff")
        h.update(v.encode())
        h.update(b"\xff")
    return h.hexdigest()[:16]


@dataclass(frozen=True)
class Alert:
    """One alert of one rule: its final labels (rule labels and ``alertname`` included)."""

    rule: str
    labels: Labels
    annotations: Mapping[str, str]
    state: str  # pending | firing | inactive (resolved)
    value: float
    active_at: float
    fired_at: float | None = None
    resolved_at: float | None = None
    keep_firing_since: float | None = None
    last_sent_at: float | None = None
    valid_until: float | None = None

    @property
    def fingerprint(self) -> str:
        return fingerprint(self.labels)

    @property
    def label_map(self) -> dict[str, str]:
        return dict(self.labels)


@dataclass(frozen=True)
class Transition:
    at: float
    alert: Alert
    from_state: str  # inactive | pending | firing
    to_state: str  # pending | firing | resolved


class RuleState:
    """The active alerts of one rule, by fingerprint, and its last evaluation."""

    def __init__(self, rule: Rule) -> None:
        self.rule = rule
        self.alerts: dict[str, Alert] = {}
        self.health = "unknown"
        self.last_error = ""
        self.last_evaluation: float | None = None
        self.evaluation_seconds = 0.0
        self._restore: dict[str, float] = {}

    def restore(self, active_at: Mapping[str, float]) -> None:
        """Stored ``fingerprint -> active_at`` of pending/firing alerts, used at the next
        evaluation only."""
        self._restore = dict(active_at)

    def _labels(self, series: Labels, data: TemplateData) -> Labels:
        out = {k: v for k, v in series if k != promql.NAME}
        out.update(self.rule.expand(self.rule.labels, data))
        out["alertname"] = self.rule.name
        return tuple(sorted(out.items()))

    def evaluate(self, vector: promql.Vector, ts: float) -> list[Transition]:
        """Step every alert of this rule to ``ts`` given the expression's result."""
        rule = self.rule
        seen: dict[str, tuple[Labels, float, dict[str, str]]] = {}
        for series, value in vector:
            plain = {k: v for k, v in series if k != promql.NAME}
            data = TemplateData(plain, value)
            labels = self._labels(series, data)
            fp = fingerprint(labels)
            if fp in seen:
                raise promql.EvalError(
                    "vector contains metrics with the same labelset after applying alert labels"
                )
            annotations = rule.expand(rule.annotations, TemplateData(plain, value))
            seen[fp] = (labels, value, annotations)
        transitions: list[Transition] = []
        restore, self._restore = self._restore, {}
        for fp, (labels, value, annotations) in seen.items():
            alert = self.alerts.get(fp)
            if alert is not None and alert.state != "inactive":
                self.alerts[fp] = replace(
                    alert, value=value, annotations=annotations, keep_firing_since=None
                )
                continue
            active_at = min(restore.get(fp, ts), ts)
            new = Alert(rule.name, labels, annotations, "pending", value, active_at)
            self.alerts[fp] = new
            transitions.append(Transition(ts, new, "inactive", "pending"))
        for fp, alert in list(self.alerts.items()):
            if fp in seen:
                if alert.state == "pending" and ts - alert.active_at >= rule.for_s:
                    fired = replace(alert, state="firing", fired_at=ts)
                    self.alerts[fp] = fired
                    transitions.append(Transition(ts, fired, "pending", "firing"))
                continue
            if alert.state == "pending":
                del self.alerts[fp]
                transitions.append(Transition(ts, alert, "pending", "resolved"))
            elif alert.state == "firing":
                since = alert.keep_firing_since if alert.keep_firing_since is not None else ts
                if rule.keep_firing_for_s > 0 and ts - since < rule.keep_firing_for_s:
                    self.alerts[fp] = replace(alert, keep_firing_since=since)
                    continue
                done = replace(alert, state="inactive", resolved_at=ts)
                self.alerts[fp] = done
                transitions.append(Transition(ts, done, "firing", "resolved"))
            elif alert.resolved_at is not None and ts - alert.resolved_at > RESOLVED_RETENTION_S:
                del self.alerts[fp]
        return transitions

    def active(self) -> list[Alert]:
        """Pending and firing alerts (what ``ALERTS`` and ``/api/v1/alerts`` show)."""
        return [a for a in self.alerts.values() if a.state in ("pending", "firing")]

    @property
    def state(self) -> str:
        states = {a.state for a in self.alerts.values()}
        if "firing" in states:
            return "firing"
        return "pending" if "pending" in states else "inactive"
