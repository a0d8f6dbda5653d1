"""Test data for the signal tests: lineage runs, spans, queue and host samples.

``Feed`` writes rows the way the receivers store them. Names are uuid-suffixed by the
callers so tests sharing the session's database never see each other's data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass

from storage.client import Storage

NS = 1_000_000_000
T0 = (int(time.time()) // 3600 - 24) * 3600 * NS
"""A whole-hour base instant a day ago (inside the retention TTL) for hand-computed tests."""


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _split(name: str) -> tuple[str, str]:
    ns, _, rest = name.partition("/")
    return ns, rest


@dataclass
class Feed:
    storage: Storage

    def _insert(self, table: str, columns: dict[str, Sequence[object]]) -> None:
        self.storage.client.insert(
            table, list(columns.values()), column_names=list(columns), column_oriented=True
        )

    def run(
        self,
        job: str,
        start_ns: int,
        end_ns: int,
        *,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
        state: str = "COMPLETE",
        nominal_start_ns: int | None = None,
        run_id: str | None = None,
    ) -> str:
        """A run's START and terminal events, its edges and (COMPLETE) dataset updates."""
        run_id = run_id or str(uuid.uuid4())
        jns, jname = _split(job)
        self._insert(
            "run_events",
            {
                "run_id": [run_id, run_id],
                "event_type": ["START", state],
                "event_time": [start_ns, end_ns],
                "job_namespace": [jns, jns],
                "job_name": [jname, jname],
                "nominal_start_time": [nominal_start_ns, nominal_start_ns],
            },
        )
        edges = [(d, "input") for d in inputs] + [(d, "output") for d in outputs]
        if edges:
            self._insert(
                "lineage_edges",
                {
                    "job_namespace": [jns] * len(edges),
                    "job_name": [jname] * len(edges),
                    "dataset_namespace": [_split(d)[0] for d, _ in edges],
                    "dataset_name": [_split(d)[1] for d, _ in edges],
                    "direction": [direction for _, direction in edges],
                    "run_id": [run_id] * len(edges),
                    "source": ["run"] * len(edges),
                    "event_time": [start_ns] * len(edges),
                },
            )
        if state == "COMPLETE" and outputs:
            self._insert(
                "dataset_updates",
                {
                    "dataset_namespace": [_split(d)[0] for d in outputs],
                    "dataset_name": [_split(d)[1] for d in outputs],
                    "event_time": [end_ns] * len(outputs),
                    "run_id": [run_id] * len(outputs),
                    "job_namespace": [jns] * len(outputs),
                    "job_name": [jname] * len(outputs),
                },
            )
        return run_id

    def spans(
        self,
        service: str,
        starts_ns: Sequence[int],
        durations_ns: Sequence[int],
        *,
        errors: Sequence[bool] = (),
        host: str = "",
        kind: str = "SERVER",
        ids: Sequence[int] = (),
    ) -> list[int]:
        """Spans with distinct ids (or ``ids``, to resend the same spans)."""
        n = len(starts_ns)
        ids = list(ids) or [uuid.uuid4().int & ((1 << 64) - 1) for _ in range(n)]
        self._insert(
            "spans",
            {
                "service_name": [service] * n,
                "host_name": [host] * n,
                "kind": [kind] * n,
                "span_name": ["predict"] * n,
                "start_time": list(starts_ns),
                "duration_ns": list(durations_ns),
                "trace_id": [i.to_bytes(16, "big") for i in ids],
                "span_id": [i.to_bytes(8, "big") for i in ids],
                "status_code": [2 if (errors and errors[k]) else 1 for k in range(n)],
            },
        )
        return ids

    def job_event(self, job: str, inputs: Sequence[str], at_ns: int) -> None:
        """Static lineage (a JobEvent): how a model service declares its inputs."""
        jns, jname = _split(job)
        self._insert(
            "lineage_edges",
            {
                "job_namespace": [jns] * len(inputs),
                "job_name": [jname] * len(inputs),
                "dataset_namespace": [_split(d)[0] for d in inputs],
                "dataset_name": [_split(d)[1] for d in inputs],
                "direction": ["input"] * len(inputs),
                "run_id": [""] * len(inputs),
                "source": ["job"] * len(inputs),
                "event_time": [at_ns] * len(inputs),
            },
        )

    def queue_samples(
        self,
        queue: str,
        field: str,
        points: Sequence[tuple[int, float]],
        *,
        start_ns: Sequence[int] = (),
        source: str = "loadsense.queue",
    ) -> None:
        """``(time_ns, value)`` samples of one queue field (``start_ns``: series starts)."""
        n = len(points)
        self._insert(
            "queue_samples",
            {
                "queue_name": [queue] * n,
                "field": [field] * n,
                "source": [source] * n,
                "time": [t for t, _ in points],
                "start_time": list(start_ns) or [points[0][0]] * n,
                "value": [v for _, v in points],
            },
        )

    def host_sample(
        self, host: str, resource: str, stall: str, at_ns: int, value: float, source: str = ""
    ) -> None:
        source = source or (
            "loadsense.host.pressure" if stall else f"system.{resource}.utilization"
        )
        self._insert(
            "host_samples",
            {
                "host_name": [host],
                "time": [at_ns],
                "resource": [resource],
                "stall": [stall],
                "source": [source],
                "value": [value],
            },
        )

    def schema(self, dataset: str, at_ns: int, fields: dict[str, str]) -> None:
        ns, name = _split(dataset)
        self._insert(
            "dataset_schemas",
            {
                "dataset_namespace": [ns],
                "dataset_name": [name],
                "event_time": [at_ns],
                "run_id": [str(uuid.uuid4())],
                "schema_hash": [hash(tuple(sorted(fields.items()))) & ((1 << 64) - 1)],
                "field_names": [list(fields)],
                "field_types": [list(fields.values())],
            },
        )

    def assertions(self, dataset: str, at_ns: int, results: Sequence[bool]) -> None:
        ns, name = _split(dataset)
        run_id = str(uuid.uuid4())
        n = len(results)
        self._insert(
            "quality_assertions",
            {
                "dataset_namespace": [ns] * n,
                "dataset_name": [name] * n,
                "event_time": [at_ns] * n,
                "run_id": [run_id] * n,
                "assertion": [f"check_{k}" for k in range(n)],
                "column": [""] * n,
                "success": [1 if ok else 0 for ok in results],
            },
        )
