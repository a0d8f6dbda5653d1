"""Evaluate every signal family at one instant, in dependency order."""

from __future__ import annotations

import logging
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from signals import exposure, freshness, hosts, latency, lineage, queues
from signals.config import SignalsConfig
from signals.contract import KINDS, Family, Params
from signals.graph import LineageGraph, load_graph
from storage.client import Storage

logger = logging.getLogger(__name__)

FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        m.KIND: Family(m.KIND, row, m.compute)
        for m, row in (
            (freshness, freshness.FreshnessRow),
            (exposure, exposure.ExposureRow),
            (queues, queues.QueueRow),
            (latency, latency.LatencyRow),
            (hosts, hosts.HostRow),
            (lineage, lineage.LineageRow),
        )
    }
)
"""Every signal family by kind; evaluation follows :data:`signals.contract.KINDS`."""

# Exposure and lineage read latency rows; evaluate latency first although it is listed
# later in KINDS (the order of kinds in the API does not change).
_ORDER = ("freshness", "latency", "exposure", "queues", "hosts", "lineage")
assert set(_ORDER) == set(KINDS)


@dataclass(frozen=True)
class Evaluation:
    as_of_ns: int
    graph: LineageGraph
    rows: Mapping[str, tuple[Any, ...]]
    seconds: Mapping[str, float]
    """Wall time per kind (and ``graph``), for the benchmark and debugging."""


def evaluate_all(storage: Storage, as_of_ns: int, config: SignalsConfig) -> Evaluation:
    """Every signal at ``as_of_ns``; raises if any family fails (the caller retries)."""
    started = time.perf_counter()
    bindings = {r.glob: tuple(r.values["inputs"]) for r in config.services if "inputs" in r.values}
    graph = load_graph(
        storage, as_of_ns, {k: v for k, v in bindings.items() if not set(k) & set("*?")}
    )
    seconds = {"graph": time.perf_counter() - started}
    done: dict[str, tuple[Any, ...]] = {}
    cache: dict[str, Any] = {}
    for kind in _ORDER:
        started = time.perf_counter()
        params = Params(config, graph, MappingProxyType(dict(done)), cache)
        done[kind] = FAMILIES[kind].compute(storage, as_of_ns, params)
        seconds[kind] = time.perf_counter() - started
    rows = MappingProxyType({k: done[k] for k in KINDS})
    return Evaluation(as_of_ns, graph, rows, MappingProxyType(seconds))
