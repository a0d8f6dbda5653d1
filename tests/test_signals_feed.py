"""Test data for the signal tests: lineage runs, spans, queue and host samples.

Lineage goes through the real OpenLineage receiver with the ``openlineage-python``
client (the service acknowledges after commit, so rows are queryable once ``emit``
returns). Names are uuid-suffixed by the callers so tests sharing the session's
database never see each other's data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from openlineage.client import OpenLineageClient
from openlineage.client.event_v2 import (
    DatasetEvent,
    InputDataset,
    Job,
    JobEvent,
    OutputDataset,
    Run,
    RunEvent,
    RunState,
    StaticDataset,
)
from openlineage.client.facet_v2 import data_quality_assertions_dataset as dq
from openlineage.client.facet_v2 import nominal_time_run, schema_dataset

from storage.client import Storage

NS = 1_000_000_000
T0 = (int(time.time()) // 3600 - 24) * 3600 * NS
"""A whole-hour base instant a day ago (inside the retention TTL) for hand-computed tests."""

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _split(name: str) -> tuple[str, str]:
    ns, _, rest = name.partition("/")
    return ns, rest


def iso(at_ns: int) -> str:
    """RFC 3339 with microseconds (the tests' instants are whole seconds)."""
    stamp = datetime.fromtimestamp(at_ns // 1000 / 1e6, UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


@dataclass
class Feed:
    """Lineage through the OpenLineage receiver at ``url``; telemetry rows into storage."""

    storage: Storage
    url: str | None = None

    def _insert(self, table: str, columns: dict[str, Sequence[object]]) -> None:
        self.storage.client.insert(
            table, list(columns.values()), column_names=list(columns), column_oriented=True
        )

    def _client(self) -> OpenLineageClient:
        if self.url is None:
            raise AssertionError("lineage goes through the receiver: pass a service url")
        return OpenLineageClient(
            config={"transport": {"type": "http", "url": self.url, "compression": "gzip"}}
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
        """A run's START and terminal RunEvents through ``POST /api/v1/lineage``."""
        run_id = run_id or str(uuid.uuid4())
        jns, jname = _split(job)
        facets: dict[str, Any] = {}
        if nominal_start_ns is not None:
            facets["nominalTime"] = nominal_time_run.NominalTimeRunFacet(
                nominalStartTime=iso(nominal_start_ns)
            )
        client = self._client()
        for event_type, at in ((RunState.START, start_ns), (RunState[state], end_ns)):
            client.emit(
                RunEvent(
                    eventType=event_type,
                    eventTime=iso(at),
                    run=Run(runId=run_id, facets=facets),
                    job=Job(namespace=jns, name=jname),
                    producer=PRODUCER,
                    inputs=[InputDataset(*_split(d)) for d in inputs],
                    outputs=[OutputDataset(*_split(d)) for d in outputs],
                )
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
        self._client().emit(
            JobEvent(
                eventTime=iso(at_ns),
                job=Job(namespace=jns, name=jname),
                producer=PRODUCER,
                inputs=[InputDataset(*_split(d)) for d in inputs],
                outputs=[],
            )
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
        """A DatasetEvent carrying the ``schema`` facet (a schema version, no update)."""
        facet = schema_dataset.SchemaDatasetFacet(
            fields=[
                schema_dataset.SchemaDatasetFacetFields(name=n, type=t) for n, t in fields.items()
            ]
        )
        self._client().emit(
            DatasetEvent(
                eventTime=iso(at_ns),
                producer=PRODUCER,
                dataset=StaticDataset(*_split(dataset), facets={"schema": facet}),
            )
        )

    def assertions(self, dataset: str, at_ns: int, results: Sequence[bool]) -> None:
        """A validation run reading ``dataset`` with ``dataQualityAssertions`` results."""
        facet = dq.DataQualityAssertionsDatasetFacet(
            assertions=[
                dq.Assertion(assertion=f"check_{k}", success=ok) for k, ok in enumerate(results)
            ]
        )
        run = Run(runId=str(uuid.uuid4()))
        self._client().emit(
            RunEvent(
                eventType=RunState.COMPLETE,
                eventTime=iso(at_ns),
                run=run,
                job=Job(namespace="quality", name="checks"),
                producer=PRODUCER,
                inputs=[
                    InputDataset(*_split(dataset), inputFacets={"dataQualityAssertions": facet})
                ],
            )
        )
