"""The built-in evaluator: every tick, each due group's rules over the snapshot's series.

:meth:`AlertEvaluator.evaluate` runs at the tick's instant ``snapshot.as_of`` (simulated
time and replays included). It reads only the in-memory snapshot, through the same
samples ``/metrics`` exports (``correlator/signal_metrics.py``), so a rule sees exactly
what a Prometheus scraping Loadsense sees. A group without ``interval`` runs every
tick; one with an interval runs at the first tick at or after it is due (intervals
round to ticks). Then:

1. state steps per series (``state.py``), transitions are appended to storage
   (``store.py``), and the latest state of every active series is rewritten at most
   every :data:`HEARTBEAT_S` so a restart can tell recent progress from stale;
2. alerts that need sending (Prometheus' rule: firing or resolved, first time or
   ``resend_delay`` since the last send) are queued for every receiver; queues deliver
   on their own threads, so nothing here waits on a receiver.

A failing rule is marked ``health: err`` with its error and the others still run; a
failing storage write is logged and counted, the in-memory state stays authoritative.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from urllib.parse import quote

from loadsense.correlator.alerts import promql
from loadsense.correlator.alerts.notify.contract import Notification
from loadsense.correlator.alerts.notify.queue import SendQueue
from loadsense.correlator.alerts.rules import Group, RuleSet
from loadsense.correlator.alerts.state import Alert, RuleState, Transition
from loadsense.correlator.alerts.store import append_transitions, load_active
from loadsense.correlator.signal_metrics import signal_samples
from loadsense.correlator.snapshot import Snapshot
from loadsense.storage.client import Storage

logger = logging.getLogger(__name__)

HEARTBEAT_S = 60.0
"""Longest gap between rewrites of an active series' stored state."""


def samples_of(
    snapshot: Snapshot, names: frozenset[str] | None = None
) -> dict[str, list[tuple[promql.Labels, float]]]:
    """The snapshot's series by metric name (those in ``names``), for
    :func:`promql.evaluate`."""
    out: dict[str, list[tuple[promql.Labels, float]]] = {}
    for name, labels, value in signal_samples(snapshot, names):
        out.setdefault(name, []).append((labels, value))
    return out


@dataclass
class GroupState:
    group: Group
    rules: list[RuleState]
    last_evaluation: float | None = None
    evaluation_seconds: float = 0.0


@dataclass
class EvaluatorStats:
    evaluations: int = 0
    rule_failures: int = 0
    store_failures: int = 0
    seconds: float = 0.0


class AlertEvaluator:
    def __init__(
        self,
        rules: RuleSet,
        storage: Storage | None = None,
        queues: Sequence[SendQueue] = (),
        *,
        resend_delay_s: float = 60.0,
        outage_tolerance_s: float = 3600.0,
        external_url: str = "",
    ) -> None:
        self.storage = storage
        self.queues = list(queues)
        self.resend_delay_s = resend_delay_s
        self.outage_tolerance_s = outage_tolerance_s
        self.external_url = external_url
        self.stats = EvaluatorStats()
        self._lock = threading.Lock()
        self._restored = storage is None
        self._heartbeat: float | None = None
        self.last_tick: float | None = None
        self.groups: list[GroupState] = []
        self.load(rules)

    def load(self, rules: RuleSet) -> None:
        """Swap in ``rules``; a rule kept by (file, group, name, expr) keeps its alerts."""
        with self._lock:
            old = {
                (g.group.file, g.group.name, r.rule.name, r.rule.expr): r
                for g in self.groups
                for r in g.rules
            }
            groups: list[GroupState] = []
            for group in rules.groups:
                states = []
                for rule in group.rules:
                    prev = old.get((group.file, group.name, rule.name, rule.expr))
                    state = RuleState(rule)
                    if prev is not None:
                        state.alerts = prev.alerts
                    states.append(state)
                groups.append(GroupState(group, states))
            self.groups = groups
            self._names = frozenset(
                n
                for g in rules.groups
                for r in g.rules
                for n in promql.metric_names(promql.parse(r.expr))
            )

    def _restore(self, ts: float) -> None:
        self._restored = True
        assert self.storage is not None
        try:
            stored = load_active(self.storage, ts, ts - self.outage_tolerance_s)
        except Exception:
            logger.exception("could not read stored alert states; for progress starts over")
            return
        for g in self.groups:
            for r in g.rules:
                if r.rule.name in stored:
                    r.restore(stored[r.rule.name])

    def _due(self, g: GroupState, ts: float) -> bool:
        interval = g.group.interval_s
        return interval is None or g.last_evaluation is None or ts - g.last_evaluation >= interval

    def evaluate(self, snapshot: Snapshot) -> list[Transition]:
        """Evaluate every due group at ``snapshot.as_of``; return the transitions."""
        with self._lock:
            started = time.perf_counter()
            ts = snapshot.as_of
            self.last_tick = ts
            if not self._restored:
                self._restore(ts)
            samples = samples_of(snapshot, self._names)
            transitions: list[Transition] = []
            to_send: list[Notification] = []
            for g in self.groups:
                if not self._due(g, ts):
                    continue
                g_started = time.perf_counter()
                for r in g.rules:
                    transitions.extend(self._eval_rule(r, samples, ts))
                    to_send.extend(self._sendable(r, ts, g.group.interval_s))
                g.last_evaluation = ts
                g.evaluation_seconds = time.perf_counter() - g_started
            self._persist(transitions, ts)
            for q in self.queues:
                q.put(to_send)
            self.stats.evaluations += 1
            self.stats.seconds = time.perf_counter() - started
            return transitions

    def _eval_rule(self, r: RuleState, samples: promql.Samples, ts: float) -> list[Transition]:
        started = time.perf_counter()
        try:
            vector = promql.evaluate(r.rule.node, samples)
            out = r.evaluate(vector, ts)
            r.health, r.last_error = "ok", ""
        except Exception as exc:  # one rule's failure never stops the others
            self.stats.rule_failures += 1
            r.health = "err"
            r.last_error = exc.message if isinstance(exc, promql.EvalError) else repr(exc)
            logger.warning("alert rule %s failed: %s", r.rule.name, r.last_error)
            out = []
        r.last_evaluation = ts
        r.evaluation_seconds = time.perf_counter() - started
        return out

    def generator_url(self, rule: str) -> str:
        return f"{self.external_url}/api/v1/rules?rule_name[]={quote(rule)}"

    def _sendable(self, r: RuleState, ts: float, interval: float | None) -> Iterable[Notification]:
        delta = max(self.resend_delay_s, interval or 0.0)
        for fp, a in list(r.alerts.items()):
            if a.state == "pending":
                continue
            resolved_since_sent = a.resolved_at is not None and (
                a.last_sent_at is None or a.resolved_at > a.last_sent_at
            )
            if not (
                resolved_since_sent
                or a.last_sent_at is None
                or a.last_sent_at + self.resend_delay_s < ts
            ):
                continue
            a = replace(a, last_sent_at=ts, valid_until=ts + 4 * delta)
            r.alerts[fp] = a
            yield _notification(a, self.generator_url(r.rule.name))

    def _persist(self, transitions: list[Transition], ts: float) -> None:
        if self.storage is None:
            return
        refreshed: list[Alert] = []
        if self._heartbeat is None or ts - self._heartbeat >= HEARTBEAT_S or ts < self._heartbeat:
            changed = {t.alert.fingerprint for t in transitions}
            refreshed = [a for a in self.active() if a.fingerprint not in changed]
            self._heartbeat = ts
        try:
            append_transitions(self.storage, transitions, refreshed, ts)
        except Exception:
            self.stats.store_failures += 1
            logger.exception("could not store %d alert state changes", len(transitions))

    def active(self) -> list[Alert]:
        return [a for g in self.groups for r in g.rules for a in r.active()]


def _notification(a: Alert, generator_url: str) -> Notification:
    resolved = a.resolved_at is not None
    return Notification(
        labels=a.label_map,
        annotations=dict(a.annotations),
        starts_at=a.fired_at if a.fired_at is not None else a.active_at,
        ends_at=a.resolved_at if resolved else a.valid_until,
        generator_url=generator_url,
        fingerprint=a.fingerprint,
        resolved=resolved,
    )
