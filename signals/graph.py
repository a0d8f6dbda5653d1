"""The lineage graph as of an instant: which jobs produce and consume which datasets.

Names: a dataset or job is ``namespace/name``; a model service is its ``service.name``.
:func:`neighbourhood` walks the graph around one node (``GET /api/v1/lineage/graph``).
A service's inputs are the inputs a JobEvent declared for the job whose *name* equals
the service name (static lineage, any job namespace), plus the datasets bound to it in
the ``signals.services`` config section. Such a job *is* the service: the neighbourhood
shows it as one node, ``service:<name>`` (docs/lineage.md). The graph is small (one edge
per distinct job/dataset/direction), so it is aggregated in SQL and walked in Python.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from types import MappingProxyType
from typing import Any, TypeVar

from loadsense.errors import NotFound, shown
from loadsense.storage.client import Storage

_EMPTY: Mapping[str, tuple[str, ...]] = MappingProxyType({})
T = TypeVar("T")


def _freeze(pairs: Iterable[tuple[str, str]]) -> Mapping[str, tuple[str, ...]]:
    grouped: dict[str, set[str]] = {}
    for key, value in pairs:
        grouped.setdefault(key, set()).add(value)
    return MappingProxyType({k: tuple(sorted(v)) for k, v in sorted(grouped.items())})


@dataclass(frozen=True)
class LineageGraph:
    """Job -> dataset edges plus service inputs, as of one instant (read-only)."""

    produces: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    """job -> datasets it wrote (run outputs and static outputs)."""
    consumes: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    """job -> datasets it read (run inputs and static inputs)."""
    service_inputs: Mapping[str, tuple[str, ...]] = field(default_factory=lambda: _EMPTY)
    """service name -> datasets it serves from (static lineage + config bindings)."""
    service_jobs: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    """job -> the service it declares: the jobs whose JobEvents gave static inputs."""
    _derived: dict[Any, Any] = field(default_factory=dict, compare=False, repr=False)

    def derived(self, key: Any, build: Callable[[], T]) -> T:
        """``build()`` once per graph and ``key``: structures computed from the graph
        alone (depths, reachability) survive across ticks while the graph is unchanged
        (:func:`load_graph` returns the same object then)."""
        if key not in self._derived:
            self._derived[key] = build()
        value: T = self._derived[key]
        return value

    @cached_property
    def producers(self) -> Mapping[str, tuple[str, ...]]:
        """dataset -> jobs that wrote it."""
        return _freeze((d, j) for j, ds in self.produces.items() for d in ds)

    @cached_property
    def consumers(self) -> Mapping[str, tuple[str, ...]]:
        """dataset -> jobs that read it."""
        return _freeze((d, j) for j, ds in self.consumes.items() for d in ds)

    @cached_property
    def datasets(self) -> tuple[str, ...]:
        names = {d for ds in self.produces.values() for d in ds}
        names |= {d for ds in self.consumes.values() for d in ds}
        names |= {d for ds in self.service_inputs.values() for d in ds}
        return tuple(sorted(names))

    def upstream(self, dataset: str) -> tuple[str, ...]:
        """Datasets read by the jobs that write ``dataset`` (one hop up)."""
        producers = self.producers.get(dataset, ())
        return tuple(sorted({i for j in producers for i in self.consumes.get(j, ())}))

    def service_consumers(self) -> Mapping[str, tuple[str, ...]]:
        """dataset -> services that serve from it directly."""
        return _freeze((d, s) for s, ds in self.service_inputs.items() for d in ds)


_KEY = "job_namespace, job_name, dataset_namespace, dataset_name, direction, source"

_EDGES_SQL = f"""
SELECT job_namespace, job_name, dataset_namespace, dataset_name, toString(direction), source
FROM lineage_edges FINAL
WHERE event_time <= fromUnixTimestamp64Nano({{as_of:Int64}}, 'UTC')
GROUP BY {_KEY}
ORDER BY {_KEY}
"""
"""The distinct edges from every stored declaration (the definition)."""

_STATE_EDGES_SQL = f"""
WITH states AS (
    SELECT {_KEY}, min(first_time) AS first_t, max(last_time) AS last_t
    FROM edge_states
    GROUP BY {_KEY}
    HAVING first_t <= fromUnixTimestamp64Nano({{as_of:Int64}}, 'UTC')
)
SELECT job_namespace, job_name, dataset_namespace, dataset_name, toString(direction), source
FROM (
    -- every declaration at or before as_of: the edge is there
    SELECT {_KEY} FROM states WHERE last_t <= fromUnixTimestamp64Nano({{as_of:Int64}}, 'UTC')
    UNION ALL
    -- some declared after as_of: as the definition, from the raw edges (a run's edge
    -- counts only if its latest declaration is at or before as_of)
    SELECT {_KEY}
    FROM lineage_edges FINAL
    WHERE event_time <= fromUnixTimestamp64Nano({{as_of:Int64}}, 'UTC')
      AND ({_KEY}) IN (
          SELECT {_KEY} FROM states
          WHERE last_t > fromUnixTimestamp64Nano({{as_of:Int64}}, 'UTC'))
    GROUP BY {_KEY}
)
ORDER BY {_KEY}
"""
"""The same edges from ``edge_states`` (one row per distinct edge, kept on insert)."""


_last: tuple[Any, LineageGraph] | None = None
_last_lock = threading.Lock()
"""The last graph built and what it was built from: the distinct edges change only when
a new job/dataset pair appears, so most ticks reuse it (and what was derived from it)."""


def load_graph(
    storage: Storage,
    as_of_ns: int,
    bindings: Mapping[str, tuple[str, ...]] | None = None,
    from_scratch: bool = False,
) -> LineageGraph:
    """The graph from ``lineage_edges`` at or before ``as_of_ns``, plus config bindings.

    ``bindings`` maps a service name to the datasets the config binds to it.
    """
    global _last
    sql = _EDGES_SQL if from_scratch else _STATE_EDGES_SQL
    rows = storage.client.query(sql, parameters={"as_of": as_of_ns}).result_rows
    source = (storage.location, storage.database, rows, sorted((bindings or {}).items()))
    with _last_lock:
        if _last is not None and _last[0] == source:
            return _last[1]
    graph = _build(rows, bindings)
    with _last_lock:
        _last = (source, graph)
    return graph


def _build(
    rows: list[tuple[Any, ...]], bindings: Mapping[str, tuple[str, ...]] | None
) -> LineageGraph:
    produces: list[tuple[str, str]] = []
    consumes: list[tuple[str, str]] = []
    service_inputs: list[tuple[str, str]] = []
    service_jobs: dict[str, str] = {}
    for job_ns, job_name, ds_ns, ds_name, direction, source in rows:
        job = f"{job_ns}/{job_name}"
        dataset = f"{ds_ns}/{ds_name}"
        if direction == "output":
            produces.append((job, dataset))
        else:
            consumes.append((job, dataset))
            if source == "job":
                service_inputs.append((str(job_name), dataset))
                service_jobs[job] = str(job_name)
    for service, datasets in (bindings or {}).items():
        service_inputs.extend((service, d) for d in datasets)
    return LineageGraph(
        produces=_freeze(produces),
        consumes=_freeze(consumes),
        service_inputs=_freeze(service_inputs),
        service_jobs=MappingProxyType(dict(sorted(service_jobs.items()))),
    )


Edge = tuple[str, str, str]
"""``(source, target, relation)`` between node ids ``<type>:<name>``: ``writes``
(job -> dataset) or ``reads`` (dataset -> job or service)."""


@dataclass(frozen=True)
class Neighbourhood:
    """Node ids (``dataset:<ns>/<name>``, ``job:<ns>/<name>``, ``service:<name>``) and the
    edges between them, both sorted."""

    nodes: tuple[str, ...]
    edges: tuple[Edge, ...]


def _node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def neighbourhood(graph: LineageGraph, node: str | None, depth: int) -> Neighbourhood:
    """The nodes within ``depth`` hops of ``node`` (edges followed in both directions)
    and the edges among them; all of the graph when ``node`` is None.

    A job that declares a service (``graph.service_jobs``) is that service's node: its
    edges are the service's, and its job id (or bare ``ns/name``) finds the service.

    ``node`` is a node id or a bare name, which starts from every node of that name (a
    job and a dataset may share one). :class:`~loadsense.errors.NotFound` when no node
    has it.
    """
    aliases = {
        _node_id("job", job): _node_id("service", service)
        for job, service in graph.service_jobs.items()
    }

    def job_node(job: str) -> str:
        job_id = _node_id("job", job)
        return aliases.get(job_id, job_id)

    edges: set[Edge] = set()
    for job, datasets in graph.produces.items():
        edges |= {(job_node(job), _node_id("dataset", d), "writes") for d in datasets}
    for job, datasets in graph.consumes.items():
        edges |= {(_node_id("dataset", d), job_node(job), "reads") for d in datasets}
    for service, datasets in graph.service_inputs.items():
        edges |= {(_node_id("dataset", d), _node_id("service", service), "reads") for d in datasets}
    adjacent: dict[str, set[str]] = {}
    for src, dst, _ in edges:
        adjacent.setdefault(src, set()).add(dst)
        adjacent.setdefault(dst, set()).add(src)
    if node is None:
        keep = set(adjacent)
    else:
        starts = {n for n in adjacent if n == node or n.partition(":")[2] == node}
        starts |= {
            service
            for job_id, service in aliases.items()
            if node in (job_id, job_id.partition(":")[2]) and service in adjacent
        }
        if not starts:
            raise NotFound(f"node {shown(node)} is not in the lineage graph", field="node")
        keep, frontier = set(starts), set(starts)
        for _ in range(depth):
            frontier = {m for n in frontier for m in adjacent.get(n, ())} - keep
            keep |= frontier
    kept = tuple(e for e in sorted(edges) if e[0] in keep and e[1] in keep)
    return Neighbourhood(tuple(sorted(keep)), kept)
