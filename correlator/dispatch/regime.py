"""The regime: which of ETL and serving is under pressure, decided with hysteresis.

Two pressures in [0, 1] (formulas in docs/dispatch.md):

* ETL load intensity ``etl`` = max(queue aging, dispatch delay, ETL host contention),
  each the mean over its subjects of the value normalised by its limit and capped at 1;
* ML latency criticality ``ml`` = max over services of
  clamp(1 - slack / slack_reference, 0, 1) * min(1, rps / rps_reference): the worst
  latency slack, weighted by traffic, so an idle service cannot dominate.

Each pressure latches "high" when it reaches ``enter`` and unlatches only below
``exit``; the regime is ``calm``, ``etl-heavy``, ``serving-critical`` or ``overload``
from the two latches, and may change only after ``min_dwell_s`` in the current one.
Time is the snapshot's ``as_of`` (simulated or wall), never read from the clock here.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from statistics import fmean

from loadsense.correlator.dispatch.inputs import RegimeInputs
from loadsense.vocabulary import REGIMES as REGIMES
from loadsense.vocabulary import RegimeName

logger = logging.getLogger(__name__)

# Names for the regimes of loadsense.vocabulary (the type checker holds each to it).
CALM: RegimeName = "calm"
ETL_HEAVY: RegimeName = "etl-heavy"
SERVING_CRITICAL: RegimeName = "serving-critical"
OVERLOAD: RegimeName = "overload"


@dataclass(frozen=True)
class RegimeOptions:
    enter: float = 0.85
    exit: float = 0.80
    min_dwell_s: float = 60.0
    queue_age_limit_s: float = 900.0
    dispatch_delay_limit_s: float = 600.0
    slack_reference: float = 0.5
    rps_reference: float = 1.0


@dataclass(frozen=True)
class Pressures:
    etl: float
    ml: float
    etl_subject: str = ""  # what drove the ETL pressure (a queue, 'dispatch-delay', 'hosts')
    ml_subject: str = ""  # the service that drove the ML pressure


@dataclass(frozen=True)
class RegimeState:
    regime: str
    since: float  # as_of at which the current regime was entered
    pressures: Pressures
    etl_high: bool = False
    ml_high: bool = False


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def pressures(inputs: RegimeInputs, options: RegimeOptions) -> Pressures:
    """The two pressures of one tick; unknown inputs contribute nothing."""
    queue_terms = [
        _clamp(q.oldest_age_s / (q.age_limit_s or options.queue_age_limit_s))
        for q in inputs.queues
        if q.oldest_age_s is not None
    ]
    parts = {
        "queues": fmean(queue_terms) if queue_terms else 0.0,
        "dispatch-delay": fmean(
            [_clamp(d / options.dispatch_delay_limit_s) for d in inputs.dispatch_delays_s]
        )
        if inputs.dispatch_delays_s
        else 0.0,
        "hosts": fmean([_clamp(c) for c in inputs.etl_host_contention])
        if inputs.etl_host_contention
        else 0.0,
    }
    etl_subject, etl = max(parts.items(), key=lambda kv: kv[1])
    ml, ml_subject = 0.0, ""
    for svc in inputs.services:
        if svc.latency_slack is None:
            continue
        risk = _clamp(1.0 - svc.latency_slack / options.slack_reference)
        weight = _clamp(svc.rps / options.rps_reference)
        if risk * weight > ml:
            ml, ml_subject = risk * weight, svc.name
    return Pressures(round(etl, 6), round(ml, 6), etl_subject if etl > 0 else "", ml_subject)


def classify(etl_high: bool, ml_high: bool) -> str:
    if etl_high and ml_high:
        return OVERLOAD
    if etl_high:
        return ETL_HEAVY
    if ml_high:
        return SERVING_CRITICAL
    return CALM


def _latch(high: bool, value: float, options: RegimeOptions) -> bool:
    return value >= options.exit if high else value >= options.enter


class RegimeTracker:
    """Carries the latches and dwell time from tick to tick (one per correlator)."""

    def __init__(self) -> None:
        self.state: RegimeState | None = None

    def update(self, as_of: float, current: Pressures, options: RegimeOptions) -> RegimeState:
        """Advance to ``as_of``; a clock that goes backwards (a replay) starts afresh."""
        prev = self.state
        if prev is None or as_of < prev.since:
            etl_high = _latch(False, current.etl, options)
            ml_high = _latch(False, current.ml, options)
            state = RegimeState(classify(etl_high, ml_high), as_of, current, etl_high, ml_high)
        else:
            etl_high = _latch(prev.etl_high, current.etl, options)
            ml_high = _latch(prev.ml_high, current.ml, options)
            candidate = classify(etl_high, ml_high)
            dwelt = as_of - prev.since >= options.min_dwell_s
            if candidate != prev.regime and dwelt:
                logger.info(
                    "regime %s -> %s at %.3f (etl %.3f, ml %.3f)",
                    prev.regime,
                    candidate,
                    as_of,
                    current.etl,
                    current.ml,
                )
                state = RegimeState(candidate, as_of, current, etl_high, ml_high)
            else:
                state = replace(prev, pressures=current, etl_high=etl_high, ml_high=ml_high)
        self.state = state
        return state
