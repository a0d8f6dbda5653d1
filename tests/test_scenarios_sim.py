"""The simulator, its schedulers and its ground truth, without a service.

The tiny scenario below is checked by hand (the arithmetic is in each test); the shipped
scenarios check determinism and each policy's rules at every scheduling pass.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loadsense.api.client import Recommendation, parse_recommendation
from loadsense.bench.scenarios import queueing
from loadsense.bench.scenarios.adapter import LoadsenseScheduler
from loadsense.bench.scenarios.policies import Fifo, StaticPriority, StaticReservation
from loadsense.bench.scenarios.report import markdown
from loadsense.bench.scenarios.runner import run, simulate
from loadsense.bench.scenarios.sim import Scheduler, Simulation, TaskRun
from loadsense.bench.scenarios.spec import (
    Scenario,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
)

TINY: dict[str, Any] = {
    "name": "tiny",
    "duration_s": 1800,
    "step_s": 60,
    "reservation": 0.3,
    "hosts": [{"name": "h", "cpu": 4, "io": 1.0, "slots": 2}],
    "services": [
        {
            "name": "svc", "host": "h", "replicas": 1, "service_ms": 10, "cpu_share": 1.0,
            "cpu_per_replica": 1.0, "io_per_replica": 0.0, "slo_ms": 100, "rps": 50,
            "noise": 0.0, "inputs": ["f/x"],
        }
    ],
    "datasets": [{"name": "f/x", "interval_s": 600, "half_life_s": 300, "initial_age_s": 0}],
    "dags": [
        {
            "name": "d", "every_s": 1200, "deadline_s": 600,
            "tasks": [
                {"name": "t", "kind": "feature-refresh", "work_s": 300, "width": 2,
                 "jitter": 0.0, "cpu": 3, "hosts": ["h"], "outputs": ["f/x"]}
            ],
        }
    ],
}  # fmt: skip


def tiny() -> Scenario:
    return parse_scenario(TINY, "tiny.yaml")


def test_queueing_model_p99_and_buckets() -> None:
    # 1 replica, 10 ms alone, 50 req/s: mu = 100, sojourn ~ Exp(100 - 50), p99 = ln(100)/50.
    lat = queueing.latency(50.0, 1, 0.010, 1.0, 1.0, 1.0)
    assert lat.p99_s == pytest.approx(math.log(100) / 50)
    # CPU share 4/6.5: service time 10 ms * 6.5/4 = 16.25 ms, spare 1/0.01625 - 50.
    slow = queueing.latency(50.0, 1, 0.010, 1.0, 4 / 6.5, 1.0)
    assert slow.service_s == pytest.approx(0.01625)
    assert slow.p99_s == pytest.approx(math.log(100) / (1 / 0.01625 - 50))
    # An unstable queue answers at its timeout.
    assert queueing.latency(200.0, 1, 0.010, 1.0, 1.0, 1.0).p99_s == queueing.SATURATED_S
    counts = queueing.bucket_counts(3000, lat)
    assert sum(counts) == 3000 and len(counts) == len(queueing.BOUNDS_S) + 1
    # First bucket (0, 5 ms]: 3000 * (1 - e^(-50 * 0.005)) = 663.6 -> 663 or 664.
    assert counts[0] in (663, 664)
    assert queueing.bucket_counts(7, queueing.latency(200.0, 1, 0.01, 1.0, 1.0, 1.0))[-2] == 7


def test_fifo_ground_truth_by_hand() -> None:
    # Both shards start at 0. CPU demand: the service's 1 core * busy 0.5 plus 2 * 3 = 6.5
    # on 4 cores, so phi = 4/6.5 and each shard does 60 * 4/6.5 = 36.92 s of work a step:
    # 300 s take 9 steps (8.125 rounded up), the run completes at 540. While it runs the
    # service's p99 is ln(100)/(61.54 - 50) = 399 ms > 100 ms: 9 violating minutes; alone
    # it is ln(100)/50 = 92 ms. The 1200 run repeats it: 18 minutes, done at 1740.
    # Exposure: due = 600 + 300 = 900; after the 540 update a step starting at t is stale
    # when t - 540 > 900: 1500, 1560, 1620, 1680 (the 1740 update ends that) -> 4 of 30.
    result = run(tiny(), "fifo", seed=7)
    m = result.metrics
    assert m.slo_violation_minutes == 18.0
    assert m.exposure == pytest.approx(4 / 30, abs=1e-6)
    assert (m.etl_runs, m.deadline_misses, m.wasted_runs, m.wasted_minutes) == (2, 0, 0, 0.0)
    assert result.p99_ms["svc"][0] == pytest.approx(1000 * math.log(100) / (4 / 0.065 - 50))
    assert result.p99_ms["svc"][9] == pytest.approx(1000 * math.log(100) / 50)


def test_static_priority_ground_truth_by_hand() -> None:
    # Serving first: 0.5 (service) + 3 fits in 4 cores, a second shard does not. One shard
    # at a time at full speed: 5 steps each, the run completes at 600 (its deadline: not a
    # miss) and the 1200 run at 1800. No violation. Stale steps: t - 600 > 900, i.e.
    # 1560, 1620, 1680, 1740 -> 4 of 30.
    m = run(tiny(), "static-priority", seed=7).metrics
    assert m.slo_violation_minutes == 0.0
    assert m.exposure == pytest.approx(4 / 30, abs=1e-6)
    assert (m.etl_runs, m.deadline_misses) == (2, 0)


def test_static_reservation_ground_truth_by_hand() -> None:
    # 30 % held for serving leaves 2.8 cores: a 3-core shard never starts. Nothing
    # completes; the first run's deadline (600) passes, the second's (1800) is the end.
    # The input stays at its initial update: stale when t > 900, steps 960..1740 -> 14.
    m = run(tiny(), "static-reservation", seed=7).metrics
    assert m.slo_violation_minutes == 0.0
    assert m.exposure == pytest.approx(14 / 30, abs=1e-6)
    assert (m.etl_runs, m.deadline_misses) == (0, 1)


def test_corrupt_runs_are_wasted_and_do_not_refresh_the_truth() -> None:
    # The task reads a drifted table from 0 to 1000: the first run (started at 0) writes
    # corrupt output, which keeps the true age growing; the 1200 run is clean again.
    raw = {
        **TINY,
        "datasets": [*TINY["datasets"], {"name": "raw/y", "interval_s": 600}],
        "events": [
            {"at_s": 0, "kind": "schema-change", "dataset": "raw/y"},
            {"at_s": 1000, "kind": "schema-fix", "dataset": "raw/y"},
        ],
    }
    raw["dags"] = [
        dict(TINY["dags"][0], tasks=[dict(TINY["dags"][0]["tasks"][0], inputs=["raw/y"])])
    ]
    m = run(parse_scenario(raw, "drift.yaml"), "fifo", seed=7).metrics
    # Wasted: one run, 2 shards * 300 s = 10 shard-minutes. Truth age from 0 until the
    # clean update at 1740: stale steps 960..1680 -> 13 of 30.
    assert (m.wasted_runs, m.wasted_minutes) == (1, 10.0)
    assert m.exposure == pytest.approx(13 / 30, abs=1e-6)


def test_same_seed_same_report_byte_for_byte() -> None:
    scenarios = [load_scenario(f) for f in shipped_scenarios()]
    seeds = {"held-out": [101, 102]}

    def report() -> str:
        policies = ("fifo", "static-priority", "static-reservation")
        results = [
            run(s, p, seed) for s in scenarios for p in policies for seed in seeds["held-out"]
        ]
        return markdown(results, seeds, {})

    first = report()
    assert report() == first
    assert "| fifo |" in first and "## io-pressure" in first
    other = [run(scenarios[1], "fifo", 103)]
    assert markdown(other, {"held-out": [103]}, {}) != markdown(
        [run(scenarios[1], "fifo", 101)], {"held-out": [103]}, {}
    )


class Checked(Scheduler):
    """Wraps a policy and checks its rule on every pass, against the simulation's state."""

    def __init__(
        self, inner: Scheduler, check: Callable[[Simulation, list[tuple[TaskRun, str]]], None]
    ) -> None:
        self.inner, self.check, self.passes = inner, check, 0
        self.name = inner.name

    def preempt(self, sim: Simulation) -> list[Any]:
        return self.inner.preempt(sim)

    def choose(self, sim: Simulation) -> list[tuple[TaskRun, str]]:
        starts = self.inner.choose(sim)
        self.check(sim, starts)
        self.passes += 1
        return starts


def _after(
    sim: Simulation, starts: list[tuple[TaskRun, str]], host: str
) -> tuple[int, float, float]:
    running = sim.running_on(host)
    new = [r for r, h in starts if h == host]
    shards = len(running) + len(new)
    cpu = sum(s.run.task.cpu for s in running) + sum(r.task.cpu for r in new)
    io = sum(s.run.task.io for s in running) + sum(r.task.io for r in new)
    return shards, cpu, io


def fifo_rule(sim: Simulation, starts: list[tuple[TaskRun, str]]) -> None:
    for name, host in sim.hosts.items():
        assert _after(sim, starts, name)[0] <= host.slots
    started = [r for r, _ in starts]
    # A free slot is the only condition: nothing is left waiting beside a free slot.
    for queued in sim.queue:
        left = queued.pending - started.count(queued)
        free = [h for h in queued.task.hosts if _after(sim, starts, h)[0] < sim.hosts[h].slots]
        assert not (left > 0 and free), f"fifo left {queued.workload} waiting beside a free slot"


def priority_rule(sim: Simulation, starts: list[tuple[TaskRun, str]]) -> None:
    for name, host in sim.hosts.items():
        if any(h == name for _, h in starts):
            scpu, sio = sim.service_demand(name, sim.t)
            _, cpu, io = _after(sim, starts, name)
            assert scpu + cpu <= host.cpu + 1e-9 and sio + io <= host.io + 1e-9


def reservation_rule(sim: Simulation, starts: list[tuple[TaskRun, str]]) -> None:
    keep = 1 - sim.scenario.reservation
    for name, host in sim.hosts.items():
        if any(h == name for _, h in starts):
            _, cpu, io = _after(sim, starts, name)
            assert cpu <= keep * host.cpu + 1e-9 and io <= keep * host.io + 1e-9


@pytest.mark.parametrize(
    ("policy", "rule"),
    [(Fifo, fifo_rule), (StaticPriority, priority_rule), (StaticReservation, reservation_rule)],
)
def test_each_static_policy_obeys_its_rule(policy: type[Scheduler], rule: Any) -> None:
    for f in shipped_scenarios():
        scenario = load_scenario(f)
        checked = Checked(policy(), rule)
        sim, _ = simulate(scenario, checked, seed=3)
        assert checked.passes == scenario.duration_s / scenario.step_s
        assert sim.completed_runs, f"{scenario.name}: {policy.name} completed nothing"


NOW = datetime(2030, 1, 1, tzinfo=UTC)


def rec(
    workload: str, action: str, priority: int = 50, max_concurrency: int | None = None
) -> Recommendation:
    """A recommendation as the API renders it, read by the client's own parser."""
    return parse_recommendation(
        {
            "workload": workload, "class": "etl-transform", "action": action,
            "priority": priority, "max_concurrency": max_concurrency,
            "recommended_concurrency": 0 if action in ("defer", "pause") else max_concurrency or 4,
            "reasons": [], "regime": "calm", "confidence": "high",
            "issued_at": NOW.isoformat(), "expires_at": (NOW + timedelta(seconds=60)).isoformat(),
            "policy_version": "test@00000000",
        }
    )  # fmt: skip


def test_loadsense_adapter_obeys_caps_holds_pauses_and_priorities() -> None:
    # io-pressure with ten times the IO, so the serving-first base placement lets the
    # backfill fill node-a and the cap is what limits it.
    base = load_scenario(shipped_scenarios()[1])
    scenario = replace(base, hosts=tuple(replace(h, io=10 * h.io) for h in base.hosts))
    backfill, refresh, extract = (
        "etl/history_backfill.load",
        "etl/user_profile.refresh",
        "etl/user_profile.extract",
    )
    recs: list[Recommendation] = []
    starts_seen: list[tuple[float, int, int]] = []  # (t, running before, started)

    def rule(sim: Simulation, starts: list[tuple[TaskRun, str]]) -> None:
        priority_rule(sim, starts)  # the base placement protects serving capacity
        started = sum(1 for r, _ in starts if r.workload == backfill)
        starts_seen.append((sim.t, sim.running_of(backfill), started))

    scheduler = Checked(LoadsenseScheduler(lambda: recs, lambda: NOW.timestamp()), rule)
    sim = Simulation(scenario, seed=5)
    while sim.t < 1800:
        # The backfill is queued at 600 and fills node-a; from 720 it is throttled to 2;
        # the refresh is deferred.
        if sim.t >= 720:
            recs[:] = [rec(backfill, "throttle", 40, 2), rec(refresh, "defer")]
        record = sim.step(scheduler)
        if record.start == 600:  # no recommendation yet: every free slot of node-a
            on_a = [s for s in record.running if s.host == "node-a"]
            assert len(on_a) == 6 and sum(s.run.workload == backfill for s in on_a) >= 3
        if record.start >= 720:
            assert not any(r.workload == refresh for r in record.started)
    throttled = [(t, before, n) for t, before, n in starts_seen if t >= 720]
    # Throttling limits new starts to the cap and stops nothing: the shards above it
    # finish, and a new one starts only once fewer than 2 run.
    assert throttled and all(n == 0 or before + n <= 2 for _, before, n in throttled)
    assert any(before > 2 for _, before, _ in throttled)
    assert sim.killed == []
    # A pause stops every running shard of the workload at the next pass.
    recs[:] = [rec(backfill, "pause")]
    sim.step(scheduler)
    assert sim.running_of(backfill) == 0 and sim.killed
    # Priority: with one free slot, the boosted workload goes before an older neutral one.
    order_sim = Simulation(
        replace(scenario, hosts=tuple(replace(h, slots=1) for h in scenario.hosts)), 5
    )
    recs[:] = [rec(extract, "admit", 10), rec(backfill, "boost", 95)]
    for _ in range(6):  # the backfill is queued at 600
        order_sim.step(scheduler)
    assert any(s.run.workload == backfill for s in order_sim.shards)


def test_loadsense_adapter_protects_serving_capacity_where_loadsense_is_silent() -> None:
    # The shipped io-pressure: without recommendations the adapter places work as
    # static-priority does, so the same seed gives the same starts.
    scenario = load_scenario(shipped_scenarios()[1])
    checked = Checked(LoadsenseScheduler(lambda: [], lambda: NOW.timestamp()), priority_rule)
    ls_sim, ls_truth = simulate(scenario, checked, seed=3)
    sp_sim, sp_truth = simulate(scenario, StaticPriority(), seed=3)
    assert ls_truth.metrics(ls_sim) == sp_truth.metrics(sp_sim)


def test_expired_recommendations_are_ignored() -> None:
    scenario = load_scenario(shipped_scenarios()[1])
    recs = [rec("etl/user_profile.extract", "defer")]
    late = LoadsenseScheduler(lambda: recs, lambda: NOW.timestamp() + 61)
    sim = Simulation(scenario, seed=5)
    while sim.t < 600:
        sim.step(late)
    assert any(r.workload == "etl/user_profile.extract" for r in sim.completed_runs)
