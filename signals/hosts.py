"""Host contention per host (docs/signals.md#hosts).

Per host and resource (cpu, memory, io), from ``host_samples`` in the last
``host_window_s`` (default 60 s), the latest value of each source:

- pressure: PSI ``some avg10`` as a fraction of time stalled (``stall = 'some'``) is
  the resource's contention when present;
- else utilisation mapped through the knees ``[low, high]``:
  ``clamp((u - low) / (high - low), 0, 1)``. CPU and memory utilisation are the OTLP
  receiver's per-host busy/used shares; io utilisation is the busiest device's rate of
  ``system.disk.io_time`` (busy seconds per second, reset-safe, needs 2 samples).

``contention`` is the max over the three (unknown when the host has no sample). The
services and jobs seen on the host are the ``service.name`` values of spans, metric
points and queue samples carrying its ``host.name`` in W; a name is a job when a
lineage job has that name and it serves no requests (no latency row: neither SERVER
spans nor request-duration histograms; jobs are then reported as ``namespace/name``),
else a service.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.signals.config import RESOURCES
from loadsense.signals.contract import Params
from loadsense.signals.graph import LineageGraph
from loadsense.signals.latency import LatencyRow
from loadsense.signals.sql import AS_OF, counter_rate, render, seen_spans, since
from loadsense.storage.client import Storage

KIND = "hosts"


@dataclass(frozen=True)
class HostRow:
    subject: str  # host.name
    cpu: float | None  # normalised pressure in [0, 1]
    memory: float | None
    io: float | None
    contention: float | None  # max of the three
    source: str  # psi | utilisation | mixed | none
    services: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()


_SAMPLES_SQL = """
SELECT host_name, resource AS res, stall = 'some' AS psi, max(latest) AS value
FROM (
    SELECT host_name, resource, stall, source, device, argMax(value, time) AS latest
    FROM host_samples FINAL
    WHERE time > @since@ AND time <= @as_of@
      AND resource IN ('cpu', 'memory', 'io') AND stall IN ('some', '')
    GROUP BY host_name, resource, stall, source, device
)
GROUP BY host_name, res, psi
UNION ALL
SELECT host_name, 'io', false, max(rate)
FROM (
    SELECT host_name, device,
           arraySort(s -> s.1, groupArray(
               (toUnixTimestamp64Nano(time), value, toUnixTimestamp64Nano(start_time))))
               AS samples,
           any(temporality) AS t,
           @rate@ AS rate
    FROM host_samples FINAL
    WHERE time > @since@ AND time <= @as_of@
      AND resource = 'disk' AND source = 'system.disk.io_time'
    GROUP BY host_name, device
)
WHERE rate IS NOT NULL
GROUP BY host_name
"""

_MEMBERS_SQL = """
SELECT host_name, groupUniqArray(service_name)
FROM (
    SELECT host_name, service_name FROM (@spans@)
    WHERE host_name != '' AND service_name != ''
    GROUP BY host_name, service_name
    UNION ALL
    SELECT host_name, service_name FROM metric_points
    WHERE time > @window@ AND time <= @as_of@ AND host_name != '' AND service_name != ''
    GROUP BY host_name, service_name
    UNION ALL
    SELECT host_name, service_name FROM queue_samples
    WHERE time > @window@ AND time <= @as_of@ AND host_name != '' AND service_name != ''
    GROUP BY host_name, service_name
)
GROUP BY host_name
"""


def knee(u: float, low: float, high: float) -> float:
    """Utilisation mapped to contention: 0 below ``low``, 1 above ``high``, linear between."""
    return min(1.0, max(0.0, (u - low) / (high - low)))


def _jobs_by_name(graph: LineageGraph) -> dict[str, set[str]]:
    """job name -> the ``namespace/name`` of every lineage job with that name."""
    jobs: dict[str, set[str]] = {}
    for job in (*graph.produces, *graph.consumes):
        jobs.setdefault(job.partition("/")[2] or job, set()).add(job)
    return jobs


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[HostRow, ...]:
    """Host rows for every host with samples or telemetry (module docstring)."""
    cfg = params.config
    base = {"as_of": as_of_ns, "hw": cfg.host_window_s, "w": cfg.window_s}
    samples = storage.client.query(
        render(
            _SAMPLES_SQL,
            since=since("hw"),
            as_of=AS_OF,
            rate=counter_rate("samples", "toString(t)"),
        ),
        parameters=base,
    ).result_rows
    members = storage.client.query(
        render(
            render(_MEMBERS_SQL, spans=seen_spans("@window@", "@as_of@")),
            window=since("w"),
            as_of=AS_OF,
        ),
        parameters=base,
    ).result_rows
    readings: dict[str, dict[tuple[str, bool], float]] = {}
    for host, resource, psi, value in samples:
        readings.setdefault(str(host), {})[(str(resource), bool(psi))] = float(value)
    seen = {str(h): set(map(str, names)) for h, names in members}
    servers = {r.subject for r in params.earlier.get("latency", ()) if isinstance(r, LatencyRow)}
    graph = params.graph
    jobs_by_name = graph.derived("jobs_by_name", lambda: _jobs_by_name(graph))
    rows = []
    for host in sorted(set(readings) | set(seen)):
        values = readings.get(host, {})
        knees = cfg.knees_for(host)
        levels: dict[str, float | None] = {}
        kinds: set[str] = set()
        for resource in RESOURCES:
            if (resource, True) in values:
                levels[resource] = min(1.0, max(0.0, values[(resource, True)]))
                kinds.add("psi")
            elif (resource, False) in values:
                levels[resource] = knee(values[(resource, False)], *knees[resource])
                kinds.add("utilisation")
            else:
                levels[resource] = None
        known = [v for v in levels.values() if v is not None]
        names = seen.get(host, set())
        jobs = {j for n in names if n not in servers for j in jobs_by_name.get(n, ())}
        job_names = {n for n in names if n not in servers and n in jobs_by_name}
        rows.append(
            HostRow(
                subject=host,
                cpu=levels["cpu"],
                memory=levels["memory"],
                io=levels["io"],
                contention=max(known) if known else None,
                source="mixed" if len(kinds) > 1 else (kinds.pop() if kinds else "none"),
                services=tuple(sorted(names - job_names)),
                jobs=tuple(sorted(jobs)),
            )
        )
    return tuple(rows)
