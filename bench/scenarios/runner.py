"""One scenario under one policy and seed: the simulator, the scheduler, the ground truth.

Static policies need nothing but the simulator. The ``loadsense`` policy runs against a
real service: after each step the producers send the step's lineage and telemetry and
tick the service at the step's end; the adapter reads the recommendations before the
next step's scheduling pass. Simulated time starts at ``t0``, a whole hour far enough in
the past that the whole scenario lies before the wall clock (receivers refuse future
timestamps) and inside the retention.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from loadsense.api.client import LoadsenseClient
from loadsense.bench.scenarios.adapter import LoadsenseScheduler
from loadsense.bench.scenarios.policies import STATIC
from loadsense.bench.scenarios.producers import Producers
from loadsense.bench.scenarios.service import LiveService, live_service
from loadsense.bench.scenarios.sim import Scheduler, Simulation
from loadsense.bench.scenarios.spec import POLICIES, Scenario, ScenarioError
from loadsense.bench.scenarios.truth import Metrics, Truth


@dataclass(frozen=True)
class RunResult:
    scenario: str
    policy: str
    seed: int
    metrics: Metrics
    times: tuple[float, ...]
    p99_ms: dict[str, tuple[float, ...]]
    exposure: tuple[float, ...]
    slo_ms: dict[str, float]


def start_time(scenario: Scenario, now: float | None = None) -> float:
    now = time.time() if now is None else now
    return math.floor((now - scenario.duration_s - 3600.0) / 3600.0) * 3600.0


def simulate(scenario: Scenario, scheduler: Scheduler, seed: int) -> tuple[Simulation, Truth]:
    """Run the simulator alone (static policies read nothing from Loadsense)."""
    sim, truth = Simulation(scenario, seed), Truth()
    while not sim.done:
        truth.observe(sim.step(scheduler))
    return sim, truth


def run(
    scenario: Scenario,
    policy: str,
    seed: int,
    service: LiveService | None = None,
    policy_file: str | None = None,
) -> RunResult:
    """Run ``scenario`` under ``policy``; ``loadsense`` starts a fresh service unless given."""
    if policy not in POLICIES:
        raise ScenarioError(f"unknown policy {policy!r} (known: {', '.join(POLICIES)})")
    if policy != "loadsense":
        sim, truth = simulate(scenario, STATIC[policy](), seed)
    elif service is None:
        with live_service(scenario, policy_file) as live:
            sim, truth = simulate_with_loadsense(scenario, seed, live)
    else:
        sim, truth = simulate_with_loadsense(scenario, seed, service)
    return RunResult(
        scenario=scenario.name,
        policy=policy,
        seed=seed,
        metrics=truth.metrics(sim),
        times=tuple(truth.times),
        p99_ms={k: tuple(v) for k, v in truth.p99_ms.items()},
        exposure=tuple(truth.exposure),
        slo_ms={s.name: s.slo_ms for s in scenario.services},
    )


def simulate_with_loadsense(
    scenario: Scenario, seed: int, live: LiveService, t0: float | None = None
) -> tuple[Simulation, Truth]:
    """Run the simulator with the ``loadsense`` policy against the service at ``live``."""
    t0 = start_time(scenario) if t0 is None else t0
    sim, truth = Simulation(scenario, seed), Truth()
    producers = Producers(scenario, live.url, live.token, t0)
    client = LoadsenseClient(live.url, token=live.token, timeout=60.0)
    scheduler = LoadsenseScheduler(client.recommendations, lambda: t0 + sim.t)
    try:
        producers.begin(sim)
        producers.tick(0.0)
        while not sim.done:
            step = sim.step(scheduler)
            truth.observe(step)
            producers.publish(step, sim)
            producers.tick(step.end)
        return sim, truth
    finally:
        client.close()
        producers.close()
