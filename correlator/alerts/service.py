"""Alerting as a correlator step, and its start-up hook.

:class:`AlertStep` is the :class:`~loadsense.correlator.loop.TickStep` that evaluates the
rules on each snapshot. Before each evaluation it checks the rule files' modification
times (a few ``stat`` calls): changed files are reloaded whole; a file that no longer
loads is logged, counted in ``loadsense_alerts_reload_failures_total`` and the last
good rules stay. At start-up a broken rule file is a :class:`RuleError` and the
service does not start. The running step is ``ctx.alerts``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable

from loadsense.context import AppContext
from loadsense.correlator.alerts.config import AlertsConfig, parse_alerts_config
from loadsense.correlator.alerts.evaluator import AlertEvaluator
from loadsense.correlator.alerts.metrics import alerts_metrics_source
from loadsense.correlator.alerts.notify.alertmanager import AlertmanagerNotifier
from loadsense.correlator.alerts.notify.queue import SendQueue
from loadsense.correlator.alerts.notify.webhook import WebhookNotifier
from loadsense.correlator.alerts.rules import RuleError, RuleSet, expand_globs, load_files
from loadsense.correlator.snapshot import Snapshot
from loadsense.storage.client import Storage

logger = logging.getLogger(__name__)


def _stamp(patterns: tuple[str, ...]) -> tuple[tuple[str, float], ...]:
    out = []
    for file in expand_globs(patterns):
        try:
            out.append((file, os.stat(file).st_mtime))
        except OSError:
            out.append((file, -1.0))
    return tuple(out)


class AlertStep:
    def __init__(
        self, config: AlertsConfig, storage: Storage | None, queues: list[SendQueue], url: str
    ) -> None:
        self.config = config
        self.rules: RuleSet = load_files(config.rule_files)  # RuleError: refuse to start
        self._stamp = _stamp(config.rule_files)
        self.reload_failures = 0
        self.evaluator = AlertEvaluator(
            self.rules,
            storage,
            queues,
            resend_delay_s=config.resend_delay_s,
            outage_tolerance_s=config.outage_tolerance_s,
            external_url=url,
        )

    def reload(self) -> bool:
        """Reload the rule files if they changed; keep the last good rules on error."""
        try:
            stamp = _stamp(self.config.rule_files)
            if stamp == self._stamp:
                return False
            self._stamp = stamp
            rules = load_files(self.config.rule_files)
        except RuleError as exc:
            self.reload_failures += 1
            logger.error("rule files not reloaded, keeping the last good rules: %s", exc)
            return False
        self.rules = rules
        self.evaluator.load(rules)
        logger.info("alert rules reloaded: %d rules", sum(len(g.rules) for g in rules.groups))
        return True

    def on_tick(self, snapshot: Snapshot) -> None:
        self.reload()
        self.evaluator.evaluate(snapshot)

    def close(self) -> None:
        for q in self.evaluator.queues:
            q.close()


def build_queues(config: AlertsConfig, external_url: str) -> list[SendQueue]:
    queues = [
        SendQueue(AlertmanagerNotifier(r.url, r.timeout_s), r.queue_capacity, r.max_attempts)
        for r in config.alertmanagers
    ]
    queues.extend(
        SendQueue(
            WebhookNotifier(r.url, external_url, r.timeout_s), r.queue_capacity, r.max_attempts
        )
        for r in config.webhooks
    )
    return queues


def start_alerts(ctx: AppContext) -> Callable[[], None]:
    """``STARTUP_HOOKS`` entry (after the correlator's): load rules, register the step."""
    config = parse_alerts_config(ctx.settings.alerts, ctx.settings.alerts_default_rules)
    url = config.external_url or f"http://{ctx.settings.host}:{ctx.settings.port}"
    queues = build_queues(config, url)
    try:
        step = AlertStep(config, ctx.storage, queues, url)
    except Exception:
        for q in queues:
            q.close()
        raise
    ctx.alerts = step
    ctx.metrics_sources.append(alerts_metrics_source(step))
    correlator = ctx.correlator
    if correlator is not None:
        correlator.add_step(step)
    logger.info(
        "alerting: %d rules from %d files, %d receivers",
        sum(len(g.rules) for g in step.rules.groups),
        len({g.file for g in step.rules.groups}),
        len(queues),
    )
    return step.close
