"""The inputs of the runs behind datasets' latest updates, kept between evaluations.

Freshness propagates through the inputs of the run that produced each dataset's latest
update. Looking them up in ``run_inputs`` costs one random primary-key read per run
(10k runs: 1.5 s with 30 days stored, docs/performance.md#lineage-history), while
between two ticks only a few of those runs change. :class:`RunInputsMemo` keeps each
run's input edges (dataset and latest declaration time) and re-reads a run only when it
is new to the memo or ``input_arrivals`` shows input edges inserted for it since the
memo last looked, less a margin (an insert's view runs before its commit: the dataset
summaries' ``MARGIN_S``). The rows are those of the lookup: each edge's latest
declaration at or before the instant, as ``lineage_edges FINAL`` keeps it.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable

from loadsense.signals.sql import engine_now_ms, json_param
from loadsense.signals.summaries import MARGIN_S
from loadsense.storage.client import Storage

_EDGES = """
SELECT run_id, dataset_namespace, dataset_name, toUnixTimestamp64Nano(max(last_time))
FROM run_inputs
WHERE run_id IN (SELECT arrayJoin(JSONExtract({runs:String}, 'Array(String)')))
GROUP BY run_id, job_namespace, job_name, dataset_namespace, dataset_name
"""

_ARRIVED = """
SELECT DISTINCT run_id FROM input_arrivals
WHERE inserted >= fromUnixTimestamp64Milli({since_ms:Int64}, 'UTC')
"""

Edges = tuple[tuple[str, int], ...]
"""A run's input edges: ``(namespace/name, latest declaration, epoch ns)``."""


def fetch(storage: Storage, runs: Iterable[str]) -> dict[str, Edges]:
    """Every input edge of ``runs`` (runs without any map to ``()``)."""
    wanted = sorted(set(runs))
    found: dict[str, list[tuple[str, int]]] = {r: [] for r in wanted}
    if wanted:
        result = storage.client.query(_EDGES, parameters={"runs": json_param(wanted)})
        for run, namespace, name, last_ns in result.result_rows:
            found[str(run)].append((f"{namespace}/{name}", int(last_ns)))
    return {r: tuple(edges) for r, edges in found.items()}


def as_of(edges: Edges, as_of_ns: int) -> list[str]:
    """The datasets of ``edges`` declared at or before ``as_of_ns``, each once."""
    return sorted({d for d, t in edges if t <= as_of_ns})


def lookup(storage: Storage, runs: Iterable[str], as_of_ns: int) -> dict[str, list[str]]:
    """``run -> inputs`` at ``as_of_ns``, read now (no memo)."""
    return {r: as_of(e, as_of_ns) for r, e in fetch(storage, runs).items()}


class RunInputsMemo:
    """Runs' input edges kept across evaluations by one long-lived reader (the
    correlator); thread-safe. It holds the runs of the latest evaluation only."""

    def __init__(self, margin_s: float = MARGIN_S) -> None:
        """``margin_s``: arrivals noted up to this long before the last look are read
        again (longer than any insert takes to commit)."""
        self._margin_ms = int(margin_s * 1000)
        self._lock = threading.Lock()
        self._edges: dict[str, Edges] = {}
        self._looked_ms: int | None = None  # engine clock before the last look
        self.fetched = 0  # runs read from storage, for tests and the benchmark

    def lookup(self, storage: Storage, runs: Iterable[str], as_of_ns: int) -> dict[str, list[str]]:
        """``run -> inputs`` at ``as_of_ns``, the same as :func:`lookup`."""
        wanted = set(runs)
        with self._lock:
            now_ms = engine_now_ms(storage)
            if self._looked_ms is not None:
                since_ms = self._looked_ms - self._margin_ms
                arrived = storage.client.query(_ARRIVED, parameters={"since_ms": since_ms})
                for (run,) in arrived.result_rows:
                    self._edges.pop(str(run), None)
            missing = [r for r in wanted if r not in self._edges]
            self._edges.update(fetch(storage, missing))
            self.fetched += len(missing)
            self._looked_ms = now_ms
            self._edges = {r: e for r, e in self._edges.items() if r in wanted}
            return {r: as_of(self._edges[r], as_of_ns) for r in wanted}

    def forget(self) -> None:
        """Drop everything (the next lookup reads every run)."""
        with self._lock:
            self._edges.clear()
            self._looked_ms = None
