"""The correlator's start-up hook: build it from settings, attach it, start its clock."""

from __future__ import annotations

import logging
from collections.abc import Callable

from loadsense.context import AppContext
from loadsense.correlator.history import HistorySubmitter
from loadsense.correlator.loop import Correlator
from loadsense.correlator.signal_metrics import signal_metrics_source
from loadsense.signals.config import parse_signals_config

logger = logging.getLogger(__name__)


def start_correlator(ctx: AppContext) -> Callable[[], None]:
    """``STARTUP_HOOKS`` entry: sets ``ctx.correlator`` and, on the wall clock, starts
    the timer thread. Returns the stop callable."""
    config = parse_signals_config(ctx.settings.signals)
    external = ctx.settings.clock == "external"
    correlator = Correlator(
        ctx.storage,
        config,
        ctx.metrics,
        interval_s=ctx.settings.tick_interval_s,
        min_gap_s=ctx.settings.tick_min_gap_s,
        external_clock=external,
        history=HistorySubmitter(ctx.writer, wait=external),
        settle=ctx.journal.settle,
    )
    ctx.correlator = correlator
    # the signal gauges belong to the correlator: exported whether or not dispatch runs
    ctx.metrics_sources.append(signal_metrics_source(lambda: correlator.snapshot))
    warmed = correlator.warm()
    logger.info("start-up evaluation (unpublished) in %.1f s", warmed)
    correlator.start()
    logger.info(
        "correlator started (clock %s, interval %.1fs)",
        ctx.settings.clock,
        ctx.settings.tick_interval_s,
    )
    return correlator.stop
