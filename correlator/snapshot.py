"""The correlator's snapshot: every signal at one instant plus the lineage facts.

This is the interface the dispatch layer (``correlator/dispatch/``) and the API read.
A :class:`Snapshot` is immutable and replaced as a whole each tick (an atomic swap of
one reference), so a reader never sees a half-updated mix of two ticks.

Naming: datasets and jobs are ``"namespace/name"``; services are their
``service.name``; hosts their ``host.name``; queues their ``queue.name``. Times are
epoch seconds (float, UTC); durations seconds; rates per second.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from loadsense.signals.contract import KINDS, NS_PER_S
from loadsense.signals.exposure import ExposureRow
from loadsense.signals.freshness import FreshnessRow
from loadsense.signals.graph import LineageGraph
from loadsense.signals.hosts import HostRow
from loadsense.signals.latency import LatencyRow
from loadsense.signals.lineage import LineageRow
from loadsense.signals.queues import QueueRow


@dataclass(frozen=True)
class Snapshot:
    """All signal rows at ``as_of`` and the lineage facts dispatch needs.

    - ``freshness``: per dataset (``FreshnessRow``: freshness, deadline, effective
      freshness, depth, producing job).
    - ``exposure``: per model service (``ExposureRow``; ``exposure_ratio`` is None when
      the service declares no inputs).
    - ``queues``: per queue (``type == "queue"``) and per ETL job (``type == "job"``).
    - ``latency``: per service (p50/p95/p99 ms, error rate, slack, rps).
    - ``hosts``: per host (contention in [0, 1], services and jobs seen there).
    - ``lineage``: per dataset (depth, downstream services, criticality, recompute cost,
      failure rate, schema drift, validation confidence).
    - ``graph``: which datasets each job produces/consumes and each service serves from.
    - ``host_members``: host -> services and jobs seen on it (from ``hosts``).
    """

    as_of: float
    freshness: tuple[FreshnessRow, ...] = ()
    exposure: tuple[ExposureRow, ...] = ()
    queues: tuple[QueueRow, ...] = ()
    latency: tuple[LatencyRow, ...] = ()
    hosts: tuple[HostRow, ...] = ()
    lineage: tuple[LineageRow, ...] = ()
    graph: LineageGraph = field(default_factory=LineageGraph)
    tick_seconds: float = 0.0
    """How long computing this snapshot took (wall time)."""

    @property
    def as_of_ns(self) -> int:
        return round(self.as_of * NS_PER_S)

    def rows(self, kind: str) -> tuple[Any, ...]:
        """The rows of ``kind`` (one of :data:`loadsense.signals.contract.KINDS`)."""
        if kind not in KINDS:
            raise KeyError(kind)
        rows: tuple[Any, ...] = getattr(self, kind)
        return rows

    def by_subject(self, kind: str) -> Mapping[str, Any]:
        """``subject -> row`` for ``kind`` (queues: jobs and queues share one namespace
        of subjects; jobs are ``namespace/name``, queues their plain name)."""
        return MappingProxyType({r.subject: r for r in self.rows(kind)})

    @property
    def host_members(self) -> Mapping[str, tuple[str, ...]]:
        """host -> services and jobs seen on it."""
        return MappingProxyType({h.subject: (*h.services, *h.jobs) for h in self.hosts})

    @property
    def hosts_of(self) -> Mapping[str, tuple[str, ...]]:
        """service or job -> hosts it was seen on."""
        out: dict[str, set[str]] = {}
        for h in self.hosts:
            for member in (*h.services, *h.jobs):
                out.setdefault(member, set()).add(h.subject)
        return MappingProxyType({k: tuple(sorted(v)) for k, v in sorted(out.items())})


EMPTY = Snapshot(as_of=0.0)
"""The snapshot before the first tick."""
