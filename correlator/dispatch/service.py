"""Dispatch as a correlator step, and its start-up hook.

:class:`DispatchStep` is the :class:`~loadsense.correlator.loop.TickStep` that turns each snapshot
into recommendations: reload the policy if its file changed, read the workload facts
the snapshot lacks, evaluate, append decision changes to the audit log, publish.
:meth:`DispatchStep.run` takes policy inputs directly (tests, simulations).
The running step is ``AppContext.dispatch``.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace

from loadsense.context import AppContext
from loadsense.correlator.dispatch.adapter import load_workload_facts, to_inputs
from loadsense.correlator.dispatch.audit import append_changes
from loadsense.correlator.dispatch.config import DispatchConfig, parse_dispatch_config
from loadsense.correlator.dispatch.engine import DispatchEngine, Evaluation
from loadsense.correlator.dispatch.inputs import DispatchInputs
from loadsense.correlator.dispatch.metrics import metrics_source
from loadsense.correlator.dispatch.regime_history import append_regime_point
from loadsense.correlator.dispatch.reload import PolicySource
from loadsense.correlator.dispatch.restore import restore
from loadsense.correlator.dispatch.store import RecommendationStore
from loadsense.correlator.snapshot import Snapshot
from loadsense.storage.client import Storage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class StepStats:
    """What ``/metrics`` reports about dispatch itself (replaced whole after each run)."""

    evaluations: int = 0
    workloads: int = 0
    changes: int = 0  # decision changes (audit rows) since start
    audit_failures: int = 0
    tick_seconds: float = 0.0  # wall time of the latest on_tick (facts, evaluate, publish)


class DispatchStep:
    def __init__(
        self, storage: Storage, source: PolicySource, config: DispatchConfig | None = None
    ) -> None:
        self.storage = storage
        self.source = source
        self.config = config or DispatchConfig()
        self.engine = DispatchEngine()
        policy = source.policy
        self.store = RecommendationStore(policy.version, policy.options.default_concurrency)
        self.audit_failures = 0
        self.stats = StepStats()
        self._lock = threading.Lock()
        if self.config.audit:
            try:
                restore(storage, self.engine)
            except Exception:  # start blank rather than not at all
                logger.exception("could not restore dispatch state from the audit log")

    def on_tick(self, snapshot: Snapshot) -> None:
        started = time.perf_counter()
        policy = self.source.refresh()
        # Telemetry older than telemetry_stale_s counts as missing, so look no further back.
        window = policy.options.telemetry_stale_s
        facts = load_workload_facts(self.storage, snapshot.as_of_ns, window)
        self.run(to_inputs(snapshot, facts))
        try:
            append_regime_point(self.storage, self.store.current)
        except Exception:  # history is best effort; recommendations still flow
            logger.exception("regime history append failed")
        self.stats = replace(self.stats, tick_seconds=time.perf_counter() - started)

    def run(self, inputs: DispatchInputs) -> Evaluation:
        """Evaluate ``inputs`` with the current policy, audit the changes, publish."""
        with self._lock:
            policy = self.source.refresh()
            evaluation = self.engine.evaluate(inputs, policy)
            if self.config.audit and evaluation.changes:
                try:
                    append_changes(self.storage, evaluation.changes)
                except Exception:  # the audit is best effort; recommendations still flow
                    self.audit_failures += 1
                    logger.exception(
                        "audit log append failed (%d changes)", len(evaluation.changes)
                    )
            self.store.publish(evaluation, policy.options.default_concurrency)
            self.stats = StepStats(
                evaluations=self.stats.evaluations + 1,
                workloads=len(evaluation.recommendations),
                changes=self.stats.changes + len(evaluation.changes),
                audit_failures=self.audit_failures,
                tick_seconds=self.stats.tick_seconds,
            )
            return evaluation


def start_dispatch(ctx: AppContext) -> Callable[[], None] | None:
    """``STARTUP_HOOKS`` entry (after the correlator's): build the step, register it."""
    config = parse_dispatch_config(ctx.settings.dispatch)
    step = DispatchStep(ctx.storage, PolicySource(config.policy_file), config)
    ctx.dispatch = step
    ctx.metrics_sources.append(metrics_source(step.store, lambda: step.stats))
    correlator = ctx.correlator
    if correlator is not None:
        correlator.add_step(step)
    else:
        logger.warning("no correlator running: recommendations will not be recomputed")
    logger.info("dispatch policy %s from %s", step.source.policy.version, step.source.policy.source)
    return None
