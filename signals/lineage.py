"""Lineage-derived signals per dataset (docs/signals.md#lineage).

- ``depth``: longest path, in jobs, from a source dataset (one no job with inputs
  writes); 0 for sources;
- ``downstream_services``: serving services whose inputs (static lineage or config)
  are this dataset or anything built from it; ``criticality`` = the sum of their
  requests per second over W (from the latency signal);
- ``recompute_cost``: median duration (s) of the producing job's COMPLETE runs in the
  run window; ``failure_rate`` and ``runs``: that job's FAIL/ABORT share and finished
  runs. The producing job is the one behind the latest update, else the slowest writer;
- ``schema_drift``: fields added + removed + retyped between consecutive schema
  versions (``schema`` facet) whose later version falls in W;
- ``validation_confidence``: passing share of the ``dataQualityAssertions`` of the
  latest run that reported any (in the run window); unknown when none.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadsense.signals.contract import Params
from loadsense.signals.exposure import ExposureRow
from loadsense.signals.freshness import FreshnessRow
from loadsense.signals.graph import LineageGraph
from loadsense.signals.latency import LatencyRow
from loadsense.signals.queues import QueueRow
from loadsense.signals.sql import AS_OF, render, since
from loadsense.storage.client import Storage

KIND = "lineage"


@dataclass(frozen=True)
class LineageRow:
    subject: str  # dataset namespace/name
    depth: int  # longest path from a source dataset
    producers: tuple[str, ...]
    downstream_services: tuple[str, ...]
    criticality: float  # sum of downstream services' requests per second
    recompute_cost: float | None  # seconds, median duration of producing runs
    failure_rate: float | None  # producing runs FAIL/ABORT share in the run window
    runs: int
    schema_drift: int  # fields added + removed + retyped in W
    validation_confidence: float | None  # passing share of the latest assertions


_DRIFT_SQL = """
SELECT subject,
       arraySum(arrayMap(
           i -> if(vs[i].1 > {since_ns:Int64},
                   length(arrayFilter(n -> NOT has(vs[i - 1].2, n), vs[i].2))
                   + length(arrayFilter(n -> NOT has(vs[i].2, n), vs[i - 1].2))
                   + length(arrayFilter(
                         (n, t) -> has(vs[i - 1].2, n)
                                   AND vs[i - 1].3[indexOf(vs[i - 1].2, n)] != t,
                         vs[i].2, vs[i].3)),
                   0),
           range(2, length(vs) + 1))) AS drift
FROM (
    SELECT concat(dataset_namespace, '/', dataset_name) AS subject,
           arraySort(v -> v.1, groupArray(
               (toUnixTimestamp64Nano(event_time), field_names, field_types))) AS vs
    FROM dataset_schemas FINAL
    WHERE event_time <= @as_of@
    GROUP BY dataset_namespace, dataset_name
)
"""

_ASSERTIONS_SQL = """
SELECT subject, argMax(share, (t, run_id))
FROM (
    SELECT concat(dataset_namespace, '/', dataset_name) AS subject, run_id,
           max(event_time) AS t, countIf(success = 1) / count() AS share
    FROM quality_assertions FINAL
    WHERE event_time > @lookback@ AND event_time <= @as_of@
    GROUP BY dataset_namespace, dataset_name, run_id
)
GROUP BY subject
"""


def source_depths(graph: LineageGraph) -> dict[str, int]:
    """dataset -> longest path from a source (cycle back edges count as sources)."""
    producers, consumes = graph.producers, graph.consumes
    done: dict[str, int] = {}
    active: set[str] = set()

    def depth(d: str) -> int:
        if d in done:
            return done[d]
        if d in active:
            return 0
        active.add(d)
        parents = {i for j in producers.get(d, ()) for i in consumes.get(j, ())}
        value = max((depth(p) + 1 for p in parents), default=0)
        active.discard(d)
        done[d] = value
        return value

    for d in graph.datasets:
        depth(d)
    return done


def downstream_services(
    graph: LineageGraph, service_inputs: Mapping[str, tuple[str, ...]]
) -> dict[str, frozenset[str]]:
    """dataset -> services that read it directly or through any chain of jobs.

    Memoised depth-first: each dataset's set is computed once from its consumers'
    outputs (a cycle's back edge contributes nothing).
    """
    produces, consumers = graph.produces, graph.consumers
    direct: dict[str, set[str]] = {}
    for service, inputs in service_inputs.items():
        for d in inputs:
            direct.setdefault(d, set()).add(service)
    done: dict[str, frozenset[str]] = {}
    active: set[str] = set()

    def visit(d: str) -> frozenset[str]:
        if d in done:
            return done[d]
        if d in active:
            return frozenset()
        active.add(d)
        found = set(direct.get(d, ()))
        for job in consumers.get(d, ()):
            for out in produces.get(job, ()):
                if out != d:
                    found |= visit(out)
        active.discard(d)
        done[d] = frozenset(found)
        return done[d]

    for d in (*graph.datasets, *direct):
        visit(d)
    return done


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[LineageRow, ...]:
    """Lineage rows for every dataset known to the freshness signal (module docstring)."""
    cfg = params.config
    freshness: dict[str, FreshnessRow] = {r.subject: r for r in params.earlier["freshness"]}
    rps = {r.subject: r.rps for r in params.earlier["latency"] if isinstance(r, LatencyRow)}
    inputs = {r.subject: r.inputs for r in params.earlier["exposure"] if isinstance(r, ExposureRow)}
    jobs = {
        r.subject: r
        for r in params.earlier["queues"]
        if isinstance(r, QueueRow) and r.type == "job"
    }
    base = {
        "as_of": as_of_ns,
        "since_ns": as_of_ns - round(cfg.window_s * 1e9),
        "lookback": cfg.run_window_s,
    }
    drift = dict(storage.client.query(render(_DRIFT_SQL, as_of=AS_OF), parameters=base).result_rows)
    confidence = {
        str(s): float(c)
        for s, c in storage.client.query(
            render(_ASSERTIONS_SQL, lookback=since("lookback"), as_of=AS_OF), parameters=base
        ).result_rows
    }
    graph = params.graph
    depths = graph.derived("source_depths", lambda: source_depths(graph))
    downstream = graph.derived(
        ("downstream_services", tuple(sorted(inputs.items()))),
        lambda: {d: tuple(sorted(s)) for d, s in downstream_services(graph, inputs).items()},
    )
    producers = params.graph.producers
    rows = []
    for subject in sorted(set(freshness) | set(depths)):
        writers = producers.get(subject, ())
        latest = freshness[subject].producer if subject in freshness else None
        job = jobs.get(latest) if latest else None
        if job is None:
            timed = [jobs[w] for w in writers if w in jobs and jobs[w].duration_p50 is not None]
            job = max(timed, key=lambda r: r.duration_p50 or 0.0, default=None)
        services = downstream.get(subject, ())
        rows.append(
            LineageRow(
                subject=subject,
                depth=depths.get(subject, 0),
                producers=writers,
                downstream_services=services,
                criticality=sum([rps.get(s, 0.0) for s in services]) if services else 0.0,
                recompute_cost=job.duration_p50 if job else None,
                failure_rate=job.failure_rate if job else None,
                runs=job.runs or 0 if job else 0,
                schema_drift=int(drift.get(subject, 0)),
                validation_confidence=confidence.get(subject),
            )
        )
    return tuple(rows)
