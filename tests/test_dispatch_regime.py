"""Regime pressures and hysteresis over noisy series, in simulated time."""

from __future__ import annotations

import random

from loadsense.correlator.dispatch.inputs import QueueLoad, RegimeInputs, ServiceView
from loadsense.correlator.dispatch.regime import Pressures, RegimeOptions, RegimeTracker, pressures

T0 = 1_790_000_000.0
OPTIONS = RegimeOptions(enter=0.85, exit=0.80, min_dwell_s=60.0)


def test_pressures_from_queues_delays_hosts_and_services() -> None:
    inputs = RegimeInputs(
        queues=(QueueLoad("a", 450.0), QueueLoad("b", 1800.0), QueueLoad("c", None)),
        dispatch_delays_s=(60.0, 120.0),
        etl_host_contention=(0.9, 0.5),
        services=(
            ServiceView("busy", latency_slack=0.1, rps=50.0),
            ServiceView("idle", latency_slack=-1.0, rps=0.25),
            ServiceView("unknown", latency_slack=None, rps=100.0),
        ),
    )
    p = pressures(inputs, OPTIONS)
    # queues: mean(450/900 = 0.5, min(1, 1800/900) = 1) = 0.75 (unknown age skipped);
    # dispatch delay: mean(60/600, 120/600) = 0.15; hosts: mean(0.9, 0.5) = 0.7 -> max 0.75.
    assert (p.etl, p.etl_subject) == (0.75, "queues")
    # busy: (1 - 0.1/0.5) * min(1, 50/1) = 0.8; idle: min(1, 1 + 2) * 0.25 = 0.25.
    assert (p.ml, p.ml_subject) == (0.8, "busy")


def _run(series: list[tuple[float, float]], options: RegimeOptions = OPTIONS) -> list[str]:
    tracker = RegimeTracker()
    return [
        tracker.update(T0 + 5 * i, Pressures(etl, ml), options).regime
        for i, (etl, ml) in enumerate(series)
    ]


def _transitions(regimes: list[str]) -> list[tuple[int, str]]:
    return [(i, r) for i, r in enumerate(regimes) if i and r != regimes[i - 1]]


def test_noise_around_the_bounds_does_not_flap() -> None:
    rng = random.Random(7)
    calm = [(0.3, 0.1)] * 20  # 100 s of calm: the dwell time has passed
    rise = [(0.86, 0.1)]
    noisy = [(0.825 + rng.uniform(-0.024, 0.024), 0.1) for _ in range(200)]  # 0.801..0.849
    fall = [(0.79, 0.1)] * 20
    regimes = _run(calm + rise + noisy + fall)
    # Without hysteresis a 0.85 threshold would flip on almost every noisy sample (all are
    # below 0.85); with exit at 0.80 the regime enters once and leaves once.
    assert _transitions(regimes) == [(20, "etl-heavy"), (221, "calm")]
    single_threshold = RegimeOptions(enter=0.85, exit=0.85, min_dwell_s=0.0)
    assert len(_transitions(_run(calm + rise + noisy, single_threshold))) == 2


def test_minimum_dwell_time_holds_a_regime_after_a_spike() -> None:
    regimes = _run([(0.1, 0.1)] * 20 + [(0.1, 0.9)] + [(0.1, 0.1)] * 20)
    # Sample i is at t = 5 i. The spike at t = 100 (calm since t = 0, dwell 60 s met)
    # enters serving-critical; the pressure falls right after, but the regime may only
    # leave at t >= 100 + 60 = 160, i.e. sample 32.
    assert _transitions(regimes) == [(20, "serving-critical"), (32, "calm")]


def test_overload_needs_both_pressures_and_a_replay_starts_afresh() -> None:
    tracker = RegimeTracker()
    assert tracker.update(T0, Pressures(0.9, 0.9), OPTIONS).regime == "overload"
    assert tracker.update(T0 + 100, Pressures(0.9, 0.5), OPTIONS).regime == "etl-heavy"
    # The clock went backwards (a replay from an earlier instant): no dwell is owed.
    assert tracker.update(T0 - 1000, Pressures(0.1, 0.1), OPTIONS).regime == "calm"
