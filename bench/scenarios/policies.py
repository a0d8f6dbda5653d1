"""The static scheduling policies the benchmark compares Loadsense against.

All of them start shards greedily in their queue order, on the listed host with the
most free slots among those that admit the shard, and never beyond a host's ``slots``:

* ``fifo``: queue order (oldest first); a free slot is the only condition.
* ``static-priority``: serving first, ETL on leftover capacity. A shard starts only if
  the host's CPU and IO demand (services at their current traffic plus running shards
  plus this shard) stays within capacity.
* ``static-reservation``: a fixed share (the scenario's ``reservation``) of each host's
  CPU and IO is held for serving whatever its traffic: shards may use the rest.

The ``loadsense`` policy is :class:`loadsense.bench.scenarios.adapter.LoadsenseScheduler`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable

from loadsense.bench.scenarios.sim import Scheduler, Simulation, TaskRun

Admit = Callable[[TaskRun, str, float, float], bool]
"""``(run, host, cpu in use, io in use)`` -> may one more shard of ``run`` start there."""


def greedy(
    sim: Simulation,
    order: Iterable[TaskRun],
    admit: Admit,
    cap: Callable[[TaskRun], int | None] = lambda run: None,
) -> list[tuple[TaskRun, str]]:
    """Start shards in ``order`` while slots, ``admit`` and the per-workload ``cap`` allow."""
    slots = {n: h.slots - len(sim.running_on(n)) for n, h in sim.hosts.items()}
    cpu = {n: sum(s.run.task.cpu for s in sim.running_on(n)) for n in sim.hosts}
    io = {n: sum(s.run.task.io for s in sim.running_on(n)) for n in sim.hosts}
    width: dict[str, int] = {}
    starts: list[tuple[TaskRun, str]] = []
    for run in order:
        limit = cap(run)
        for _ in range(run.pending):
            running = width.setdefault(run.workload, sim.running_of(run.workload))
            if limit is not None and running >= limit:
                break
            hosts = [h for h in run.task.hosts if slots[h] > 0 and admit(run, h, cpu[h], io[h])]
            if not hosts:
                break
            host = max(hosts, key=lambda h: slots[h])
            starts.append((run, host))
            slots[host] -= 1
            cpu[host] += run.task.cpu
            io[host] += run.task.io
            width[run.workload] = running + 1
    return starts


def fifo_order(sim: Simulation) -> list[TaskRun]:
    return sorted((r for r in sim.queue if r.pending > 0), key=lambda r: (r.queued_at, r.seq))


class Fifo(Scheduler):
    name = "fifo"

    def choose(self, sim: Simulation) -> list[tuple[TaskRun, str]]:
        return greedy(sim, fifo_order(sim), lambda run, host, cpu, io: True)


def serving_first(sim: Simulation) -> Admit:
    """Admit a shard only where the host's demand (services at their current traffic,
    running shards, this shard) stays within its CPU and IO capacity."""
    demand = {h: sim.service_demand(h, sim.t) for h in sim.hosts}

    def admit(run: TaskRun, host: str, cpu: float, io: float) -> bool:
        cap, (scpu, sio) = sim.hosts[host], demand[host]
        return scpu + cpu + run.task.cpu <= cap.cpu and sio + io + run.task.io <= cap.io

    return admit


class StaticPriority(Scheduler):
    name = "static-priority"

    def choose(self, sim: Simulation) -> list[tuple[TaskRun, str]]:
        return greedy(sim, fifo_order(sim), serving_first(sim))


class StaticReservation(Scheduler):
    name = "static-reservation"

    def choose(self, sim: Simulation) -> list[tuple[TaskRun, str]]:
        keep = 1.0 - sim.scenario.reservation

        def admit(run: TaskRun, host: str, cpu: float, io: float) -> bool:
            cap = sim.hosts[host]
            return cpu + run.task.cpu <= keep * cap.cpu and io + run.task.io <= keep * cap.io

        return greedy(sim, fifo_order(sim), admit)


STATIC: dict[str, type[Scheduler]] = {p.name: p for p in (Fifo, StaticPriority, StaticReservation)}
