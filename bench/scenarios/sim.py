"""The simulated cluster: a seeded discrete-event simulation in simulated time.

Time advances in fixed steps of ``step_s``; every event (a DAG run coming due, a
schema change, a shard finishing) takes effect at the step boundary it falls in, so a
run is always replayed identically for a seed. Per step:

1. scenario events due in the step apply (a schema change marks a dataset drifted);
2. DAG runs whose nominal time falls in the step are created and their first tasks
   queued (each task run is ``width`` shards, the unit a scheduler starts);
3. the scheduler (:mod:`.policies`) picks shards to start and where;
4. each host's CPU and IO demand (running shards plus the services at their current
   traffic) gives the processor-sharing shares; services' latencies follow
   (:mod:`.queueing`); running shards advance by ``step_s * min(phi_cpu, phi_io)``;
5. a task run whose last shard finished completes at the step's end and writes its
   outputs; DAG dependents are queued.

Randomness uses one stream per (seed, subject), so traffic and run times are the same
under every policy (common random numbers): policies differ only by their decisions.
A task run started while any of its inputs is drifted or corrupt writes corrupt
outputs: the update lands, but the data is no good (it counts as wasted work, and the
dataset's true age keeps growing until a clean run rewrites it).
"""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field

from loadsense.bench.scenarios import queueing
from loadsense.bench.scenarios.spec import Dag, Scenario, Service, Task

RUN_NAMESPACE = uuid.UUID("6f1c2a43-3b7e-4f5e-9a51-5a2f0c7d9b10")


def workload_name(dag: Dag, task: Task) -> str:
    """The OpenLineage job of a task, as Loadsense names workloads: ``namespace/name``."""
    return f"{dag.namespace}/{dag.name}.{task.name}"


@dataclass(eq=False)
class TaskRun:
    dag: Dag
    task: Task
    nominal: float
    queued_at: float
    seq: int
    run_id: str
    work_s: float
    pending: int
    running: int = 0
    finished: int = 0
    started_at: float | None = None
    finished_at: float | None = None
    corrupt: bool = False
    dag_run: DagRun | None = None

    @property
    def workload(self) -> str:
        return workload_name(self.dag, self.task)


@dataclass(eq=False)
class Shard:
    run: TaskRun
    host: str
    remaining_s: float


@dataclass(eq=False)
class DagRun:
    dag: Dag
    nominal: float
    done: set[str] = field(default_factory=set)
    queued: set[str] = field(default_factory=set)
    finished_at: float | None = None


@dataclass(frozen=True)
class HostLoad:
    host: str
    cpu_demand: float
    io_demand: float
    phi_cpu: float
    phi_io: float
    shards: int


@dataclass(frozen=True)
class ServiceStep:
    service: str
    rps: float
    requests: int
    latency: queueing.Latency
    stale: bool
    slo_s: float


@dataclass(frozen=True)
class StepRecord:
    """What happened in one step: the producers' and the ground truth's only input."""

    index: int
    start: float
    end: float
    started: tuple[TaskRun, ...]
    completed: tuple[TaskRun, ...]
    hosts: tuple[HostLoad, ...]
    services: tuple[ServiceStep, ...]
    running: tuple[Shard, ...]
    queued: tuple[TaskRun, ...]
    schema_changes: tuple[str, ...]


class Simulation:
    """One scenario under one scheduler; :meth:`step` until :attr:`done`."""

    def __init__(self, scenario: Scenario, seed: int) -> None:
        self.scenario = scenario
        self.seed = seed
        self.t = 0.0
        self.index = 0
        self.queue: list[TaskRun] = []
        self.shards: list[Shard] = []
        self.dag_runs: list[DagRun] = []
        self.completed_runs: list[TaskRun] = []
        self.last_valid: dict[str, float] = {d.name: -d.initial_age_s for d in scenario.datasets}
        self.corrupt: dict[str, bool] = {d.name: False for d in scenario.datasets}
        self.drifted: set[str] = set()
        self.schema_version: dict[str, int] = {d.name: 0 for d in scenario.datasets}
        self.hosts = {h.name: h for h in scenario.hosts}
        self.killed: list[tuple[Shard, float]] = []
        self._seq = 0
        self._traffic = {
            s.name: random.Random(f"{seed}:traffic:{s.name}") for s in scenario.services
        }
        self._dues = self._schedule()

    @property
    def done(self) -> bool:
        return self.t >= self.scenario.duration_s - 1e-9

    def _schedule(self) -> list[tuple[float, Dag]]:
        dues: list[tuple[float, Dag]] = []
        for dag in self.scenario.dags:
            k = 0
            while (nominal := dag.offset_s + k * dag.every_s) < self.scenario.duration_s:
                dues.append((nominal, dag))
                k += 1
            for at, runs in dag.bursts:
                dues.extend((at, dag) for _ in range(runs))
        return sorted(dues, key=lambda d: (d[0], d[1].name))

    # -- what schedulers may read ------------------------------------------------------

    def rps(self, service: Service, t: float) -> float:
        factor = 1.0
        for surge in service.surges:
            if surge.start_s <= t < surge.end_s:
                factor *= surge.factor
        return service.rps * factor

    def service_demand(self, host: str, t: float) -> tuple[float, float]:
        """CPU and IO the services on ``host`` ask for at their traffic at ``t``."""
        cpu = io = 0.0
        for s in self.scenario.services:
            if s.host == host:
                busy = min(1.0, self.rps(s, t) * s.service_ms / 1000.0 / s.replicas)
                cpu += s.replicas * s.cpu_per_replica * busy
                io += s.replicas * s.io_per_replica * busy
        return cpu, io

    def running_on(self, host: str) -> list[Shard]:
        return [s for s in self.shards if s.host == host]

    def running_of(self, workload: str) -> int:
        return sum(1 for s in self.shards if s.run.workload == workload)

    # -- one step ----------------------------------------------------------------------

    def _new_run(self, dag_run: DagRun, task: Task) -> TaskRun:
        dag, nominal = dag_run.dag, dag_run.nominal
        self._seq += 1
        key = f"{self.seed}:{dag.name}:{task.name}:{nominal:.3f}:{self._seq}"
        jitter = task.jitter
        noise = random.Random(f"{self.seed}:work:{key}").uniform(1.0 - jitter, 1.0 + jitter)
        run = TaskRun(
            dag=dag,
            task=task,
            nominal=nominal,
            queued_at=self.t,
            seq=self._seq,
            run_id=str(uuid.uuid5(RUN_NAMESPACE, key)),
            work_s=task.work_s * noise,
            pending=task.width,
            dag_run=dag_run,
        )
        self.queue.append(run)
        return run

    def _queue_ready(self, dag_run: DagRun) -> None:
        for task in dag_run.dag.tasks:
            if task.name in dag_run.queued or not set(task.needs) <= dag_run.done:
                continue
            dag_run.queued.add(task.name)
            self._new_run(dag_run, task)

    def start(self, run: TaskRun, host: str) -> None:
        """Start one shard of ``run`` on ``host`` (the scheduler's only action)."""
        if run.pending <= 0 or host not in run.task.hosts:
            raise ValueError(f"cannot start {run.workload} on {host}")
        if run.started_at is None:
            run.started_at = self.t
            run.corrupt = run.task.kind != "validation" and any(
                name in self.drifted or self.corrupt[name] for name in run.task.inputs
            )
        run.pending -= 1
        run.running += 1
        self.shards.append(Shard(run, host, run.work_s))

    def kill(self, shard: Shard) -> None:
        """Stop a running shard; its progress is lost (wasted work) and it queues again."""
        self.shards.remove(shard)
        run = shard.run
        run.running -= 1
        run.pending += 1
        self.killed.append((shard, run.work_s - shard.remaining_s))

    def step(self, scheduler: Scheduler) -> StepRecord:
        sc, t, dt = self.scenario, self.t, self.scenario.step_s
        end = t + dt
        changes: list[str] = []
        for event in sc.events:
            if t <= event.at_s < end:
                if event.kind == "schema-change":
                    self.drifted.add(event.dataset)
                    self.schema_version[event.dataset] += 1
                    changes.append(event.dataset)
                else:
                    self.drifted.discard(event.dataset)
        while self._dues and self._dues[0][0] < end:
            nominal, dag = self._dues.pop(0)
            dag_run = DagRun(dag, nominal)
            self.dag_runs.append(dag_run)
            self._queue_ready(dag_run)
        for shard in scheduler.preempt(self):
            self.kill(shard)
        before = {id(r) for r in self.queue if r.started_at is not None}
        for run, host in scheduler.choose(self):
            self.start(run, host)
        started = tuple(r for r in self.queue if r.started_at is not None and id(r) not in before)
        loads = self._loads(t)
        services = tuple(self._serve(s, t, loads[s.host]) for s in sc.services)
        completed = self._advance(dt, loads, end)
        self.queue = [r for r in self.queue if r.finished_at is None]
        record = StepRecord(
            index=self.index,
            start=t,
            end=end,
            started=started,
            completed=completed,
            hosts=tuple(loads[h.name] for h in sc.hosts),
            services=services,
            running=tuple(self.shards),
            queued=tuple(r for r in self.queue if r.pending > 0),
            schema_changes=tuple(changes),
        )
        self.t, self.index = end, self.index + 1
        return record

    def _loads(self, t: float) -> dict[str, HostLoad]:
        loads = {}
        for name, host in self.hosts.items():
            cpu, io = self.service_demand(name, t)
            shards = self.running_on(name)
            cpu += sum(s.run.task.cpu for s in shards)
            io += sum(s.run.task.io for s in shards)
            loads[name] = HostLoad(
                name,
                cpu,
                io,
                queueing.share(host.cpu, cpu),
                queueing.share(host.io, io),
                len(shards),
            )
        return loads

    def _serve(self, s: Service, t: float, load: HostLoad) -> ServiceStep:
        rng = self._traffic[s.name]
        rps = max(0.0, self.rps(s, t) * (1.0 + s.noise * rng.gauss(0.0, 1.0)))
        lat = queueing.latency(
            rps, s.replicas, s.service_ms / 1000.0, s.cpu_share, load.phi_cpu, load.phi_io
        )
        stale = any(self.true_age(d, t) > self._due(d) for d in s.inputs)
        requests = round(rps * self.scenario.step_s)
        return ServiceStep(s.name, rps, requests, lat, stale, s.slo_ms / 1000.0)

    def _due(self, name: str) -> float:
        d = self.scenario.dataset(name)
        return d.interval_s + d.half_life_s

    def true_age(self, dataset: str, t: float) -> float:
        """Seconds since the dataset's last clean update (corrupt updates do not count)."""
        return t - self.last_valid[dataset]

    def _advance(self, dt: float, loads: dict[str, HostLoad], end: float) -> tuple[TaskRun, ...]:
        completed: list[TaskRun] = []
        keep: list[Shard] = []
        for shard in self.shards:
            load = loads[shard.host]
            shard.remaining_s -= dt * min(load.phi_cpu, load.phi_io)
            if shard.remaining_s > 1e-9:
                keep.append(shard)
                continue
            run = shard.run
            run.running -= 1
            run.finished += 1
            if run.finished == run.task.width:
                run.finished_at = end
                completed.append(run)
        self.shards = keep
        for run in sorted(completed, key=lambda r: r.seq):
            self.completed_runs.append(run)
            for name in run.task.outputs:
                self.corrupt[name] = run.corrupt
                if not run.corrupt:
                    self.last_valid[name] = end
            dag_run = run.dag_run
            assert dag_run is not None
            dag_run.done.add(run.task.name)
            if len(dag_run.done) == len(run.dag.tasks):
                dag_run.finished_at = end
            else:
                self._queue_ready(dag_run)
        return tuple(sorted(completed, key=lambda r: r.seq))


class Scheduler:
    """A scheduling policy: which queued shards start where, once per step.

    :meth:`preempt` may stop running shards first (their work is lost); :meth:`choose`
    sees the simulation (queue, running shards, hosts, services' demand)
    and returns ``(run, host)`` pairs, one per shard to start; a run may appear several
    times. It must not start more shards on a host than its ``slots``.
    """

    name = "abstract"

    def preempt(self, sim: Simulation) -> list[Shard]:
        """Running shards to stop before this step's starts (none by default)."""
        return []

    def choose(self, sim: Simulation) -> list[tuple[TaskRun, str]]:
        raise NotImplementedError
