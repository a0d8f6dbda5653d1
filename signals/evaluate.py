"""Evaluate every signal family at one instant, independent families side by side.

The families form a small dependency graph (exposure reads freshness and latency,
lineage reads nearly everything). Evaluation runs it in two lanes: the calling thread
and one helper thread, each taking its families in a fixed order and waiting for the
needs of the next one. The engine releases the GIL while a query runs, so one lane's
SQL overlaps the other's Python (and the engine's threads stay busy); the rows are the
same as evaluating one family after another, because every family reads only the
stored data, the instant and the rows it declares it needs.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType
from typing import Any

from loadsense.signals import exposure, freshness, hosts, latency, lineage, queues
from loadsense.signals.config import SignalsConfig
from loadsense.signals.contract import KINDS, Family, Params
from loadsense.signals.graph import LineageGraph, load_graph
from loadsense.signals.run_inputs import RunInputsMemo
from loadsense.storage.client import Storage

logger = logging.getLogger(__name__)

FAMILIES: Mapping[str, Family] = MappingProxyType(
    {
        f.kind: f
        for f in (
            Family(freshness.KIND, freshness.FreshnessRow, freshness.compute),
            Family(latency.KIND, latency.LatencyRow, latency.compute),
            Family(exposure.KIND, exposure.ExposureRow, exposure.compute, ("freshness", "latency")),
            Family(queues.KIND, queues.QueueRow, queues.compute),
            Family(hosts.KIND, hosts.HostRow, hosts.compute, ("latency",)),
            Family(
                lineage.KIND,
                lineage.LineageRow,
                lineage.compute,
                ("freshness", "latency", "exposure", "queues"),
            ),
        )
    }
)
"""Every signal family by kind, with what it needs; the API lists them in
:data:`loadsense.signals.contract.KINDS` order."""

LANES: tuple[tuple[str, ...], ...] = (
    ("latency", "exposure", "lineage"),
    ("freshness", "queues", "hosts"),
)
"""The families each lane evaluates, in order. The first lane is the longest chain of
needs (latency, then exposure, then lineage); the other fits freshness in before exposure
needs it and queues before lineage does (on the benchmark world the lanes end within a
tenth of a second of each other: docs/performance.md#correlator)."""


def _check_lanes() -> None:
    """Every family in exactly one lane, and no lane can wait for itself."""
    listed = [k for lane in LANES for k in lane]
    assert sorted(listed) == sorted(KINDS) == sorted(FAMILIES), listed
    done: set[str] = set()
    position = [0] * len(LANES)
    while len(done) < len(listed):  # simulate: some lane can always move on
        moved = False
        for i, lane in enumerate(LANES):
            if position[i] < len(lane) and set(FAMILIES[lane[position[i]]].needs) <= done:
                done.add(lane[position[i]])
                position[i] += 1
                moved = True
        assert moved, f"lanes deadlock after {sorted(done)}"


_check_lanes()


@dataclass(frozen=True)
class Evaluation:
    as_of_ns: int
    graph: LineageGraph
    rows: Mapping[str, tuple[Any, ...]]
    seconds: Mapping[str, float]
    """Wall time per kind (and ``graph``), for the benchmark and debugging."""


class _Board:
    """The rows done so far in one evaluation, and the first failure, for both lanes."""

    def __init__(self) -> None:
        self.done: dict[str, tuple[Any, ...]] = {}
        self.seconds: dict[str, float] = {}
        self.failure: BaseException | None = None
        self._changed = threading.Condition()

    def wait_for(self, kinds: tuple[str, ...]) -> dict[str, tuple[Any, ...]] | None:
        """The rows of ``kinds`` once all are done; None when the other lane failed."""
        with self._changed:
            self._changed.wait_for(
                lambda: self.failure is not None or all(k in self.done for k in kinds)
            )
            return None if self.failure is not None else {k: self.done[k] for k in kinds}

    def post(self, kind: str, rows: tuple[Any, ...], seconds: float) -> None:
        with self._changed:
            self.done[kind] = rows
            self.seconds[kind] = seconds
            self._changed.notify_all()

    def fail(self, exc: BaseException) -> None:
        with self._changed:
            if self.failure is None:
                self.failure = exc
            self._changed.notify_all()


def _run_lane(
    lane: tuple[str, ...],
    board: _Board,
    storage: Storage,
    as_of_ns: int,
    config: SignalsConfig,
    graph: LineageGraph,
    cache: dict[str, Any],
    from_scratch: bool,
    memo: RunInputsMemo | None,
) -> None:
    try:
        for kind in lane:
            family = FAMILIES[kind]
            earlier = board.wait_for(family.needs)
            if earlier is None:
                return
            started = time.perf_counter()
            params = Params(config, graph, MappingProxyType(earlier), cache, from_scratch, memo)
            rows = family.compute(storage, as_of_ns, params)
            board.post(kind, rows, time.perf_counter() - started)
    except BaseException as exc:  # handed to the caller, which raises it
        board.fail(exc)


def evaluate_all(
    storage: Storage,
    as_of_ns: int,
    config: SignalsConfig,
    from_scratch: bool = False,
    memo: RunInputsMemo | None = None,
) -> Evaluation:
    """Every signal at ``as_of_ns``; raises if any family fails (the caller retries).
    ``from_scratch`` reads every stored event instead of the lineage state (same rows);
    ``memo`` keeps runs' inputs for the next evaluation (the correlator's)."""
    started = time.perf_counter()
    bindings = {r.glob: tuple(r.values["inputs"]) for r in config.services if "inputs" in r.values}
    graph = load_graph(
        storage,
        as_of_ns,
        {k: v for k, v in bindings.items() if not set(k) & set("*?")},
        from_scratch,
    )
    graph_s = time.perf_counter() - started
    board = _Board()
    # Shared by the families of this instant (the served requests latency and exposure
    # both read); a family reads an entry only after the family that wrote it is done.
    cache: dict[str, Any] = {}
    helpers = [
        threading.Thread(
            target=_run_lane,
            args=(lane, board, storage, as_of_ns, config, graph, cache, from_scratch, memo),
            name=f"evaluate-lane-{i}",
            daemon=True,
        )
        for i, lane in enumerate(LANES[1:], start=1)
    ]
    for helper in helpers:
        helper.start()
    _run_lane(LANES[0], board, storage, as_of_ns, config, graph, cache, from_scratch, memo)
    for helper in helpers:
        helper.join()
    if board.failure is not None:
        raise board.failure
    rows = MappingProxyType({k: board.done[k] for k in KINDS})
    seconds = {"graph": graph_s, **{k: board.seconds[k] for k in KINDS}}
    return Evaluation(as_of_ns, graph, rows, MappingProxyType(seconds))
