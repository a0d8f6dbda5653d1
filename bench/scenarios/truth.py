"""Ground-truth metrics, from the simulator's own state only (never Loadsense's signals).

* **SLO-violation minutes**: for every service and step, the step's minutes when its true
  p99 (the queueing model's, :mod:`.queueing`) exceeds its SLO; summed over services.
* **Stale-prediction exposure**: the share of requests served while some input of the
  service had a true age above its interval plus half-life (Loadsense's freshness 0.5
  point); a corrupt update does not reset the true age.
* **ETL throughput**: DAG runs whose every task completed.
* **Freshness-deadline misses**: DAG runs that finished after ``nominal + deadline_s``,
  or had not finished when that instant passed within the scenario.
* **Wasted work**: task runs that wrote corrupt outputs (their work must be redone) plus
  shards killed by a scheduler (their progress is lost), and the shard-minutes of both.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from loadsense.bench.scenarios.sim import Simulation, StepRecord


@dataclass(frozen=True)
class Metrics:
    slo_violation_minutes: float
    exposure: float
    etl_runs: int
    deadline_misses: int
    wasted_runs: int
    wasted_minutes: float


@dataclass
class Truth:
    """Accumulates per-step truth; :meth:`metrics` at the end. Series feed the plots."""

    violation_minutes: float = 0.0
    requests: int = 0
    stale_requests: int = 0
    times: list[float] = field(default_factory=list)
    p99_ms: dict[str, list[float]] = field(default_factory=dict)
    exposure: list[float] = field(default_factory=list)

    def observe(self, step: StepRecord) -> None:
        minutes = (step.end - step.start) / 60.0
        requests = stale = 0
        for s in step.services:
            if s.latency.p99_s > s.slo_s:
                self.violation_minutes += minutes
            requests += s.requests
            stale += s.requests if s.stale else 0
            self.p99_ms.setdefault(s.service, []).append(s.latency.p99_s * 1000.0)
        self.requests += requests
        self.stale_requests += stale
        self.times.append(step.start)
        self.exposure.append(stale / requests if requests else 0.0)

    def metrics(self, sim: Simulation) -> Metrics:
        end = sim.t
        misses = 0
        for run in sim.dag_runs:
            due = run.nominal + run.dag.deadline_s
            finished = run.finished_at
            if (finished is not None and finished > due) or (finished is None and due < end):
                misses += 1
        wasted = [r for r in sim.completed_runs if r.corrupt]
        killed_s = sum(done for _, done in sim.killed)
        return Metrics(
            slo_violation_minutes=round(self.violation_minutes, 6),
            exposure=round(self.stale_requests / self.requests, 6) if self.requests else 0.0,
            etl_runs=sum(1 for r in sim.dag_runs if r.finished_at is not None),
            deadline_misses=misses,
            wasted_runs=len(wasted) + len(sim.killed),
            wasted_minutes=round(
                (sum(r.work_s * r.task.width for r in wasted) + killed_s) / 60.0, 6
            ),
        )
