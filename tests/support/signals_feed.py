"""Test data for the signal tests: lineage runs, spans, queue and host samples.

Lineage goes through the real OpenLineage receiver with the ``openlineage-python``
client, spans and metrics through the OTLP/HTTP receiver as OTLP/JSON (the service
acknowledges after commit, so rows are queryable once a request returns). Names are
uuid-suffixed by the callers so tests sharing the session's database never see each
other's data.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import httpx
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

from tests.support.service import settle_running

NS = 1_000_000_000
T0 = (int(time.time()) // 3600 - 24) * 3600 * NS
"""A whole-hour base instant a day ago (inside the retention TTL) for hand-computed tests."""

PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def _split(name: str) -> tuple[str, str]:
    ns, _, rest = name.partition("/")
    return ns, rest


SPAN_KINDS = {"INTERNAL": 1, "SERVER": 2, "CLIENT": 3, "PRODUCER": 4, "CONSUMER": 5}


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def iso(at_ns: int) -> str:
    """RFC 3339 with microseconds (the tests' instants are whole seconds)."""
    stamp = datetime.fromtimestamp(at_ns // 1000 / 1e6, UTC).isoformat(timespec="microseconds")
    return stamp.replace("+00:00", "Z")


@dataclass
class Feed:
    """Lineage through the OpenLineage receiver, telemetry through the OTLP receiver, of
    the service at ``url``."""

    url: str

    def _client(self) -> OpenLineageClient:
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
        settle_running()  # tests evaluate storage right after
        return run_id

    def event(
        self,
        job: str,
        run_id: str,
        at_ns: int,
        state: str = "OTHER",
        *,
        inputs: Sequence[str] = (),
        outputs: Sequence[str] = (),
    ) -> None:
        """One more RunEvent of run ``run_id`` (say metadata sent after its COMPLETE)."""
        jns, jname = _split(job)
        self._client().emit(
            RunEvent(
                eventType=RunState[state],
                eventTime=iso(at_ns),
                run=Run(runId=run_id),
                job=Job(namespace=jns, name=jname),
                producer=PRODUCER,
                inputs=[InputDataset(*_split(d)) for d in inputs],
                outputs=[OutputDataset(*_split(d)) for d in outputs],
            )
        )
        settle_running()

    def _otlp(self, path: str, body: dict[str, Any]) -> None:
        r = httpx.post(f"{self.url}{path}", json=body, timeout=30)
        assert r.status_code == 200, r.text
        assert not r.json().get("partialSuccess"), r.text

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
        """Spans as OTLP/JSON through ``POST /v1/traces``; distinct ids, or ``ids`` to
        resend the same spans (an exporter's retry)."""
        n = len(starts_ns)
        ids = list(ids) or [uuid.uuid4().int & ((1 << 64) - 1) for _ in range(n)]
        resource = [_attr("service.name", service)] + ([_attr("host.name", host)] if host else [])
        spans = [
            {
                "traceId": f"{ids[k]:032x}",
                "spanId": f"{ids[k]:016x}",
                "name": "predict",
                "kind": SPAN_KINDS[kind],
                "startTimeUnixNano": str(starts_ns[k]),
                "endTimeUnixNano": str(starts_ns[k] + durations_ns[k]),
                "status": {"code": 2 if (errors and errors[k]) else 1},
            }
            for k in range(n)
        ]
        self._otlp(
            "/v1/traces",
            {
                "resourceSpans": [
                    {
                        "resource": {"attributes": resource},
                        "scopeSpans": [{"scope": {"name": "tests"}, "spans": spans}],
                    }
                ]
            },
        )
        return ids

    def _metric(self, resource: dict[str, str], metric: dict[str, Any]) -> None:
        attrs = [_attr(k, v) for k, v in resource.items()]
        self._otlp(
            "/v1/metrics",
            {
                "resourceMetrics": [
                    {
                        "resource": {"attributes": attrs},
                        "scopeMetrics": [{"scope": {"name": "tests"}, "metrics": [metric]}],
                    }
                ]
            },
        )

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
        settle_running()

    def queue_samples(
        self,
        queue: str,
        field: str,
        points: Sequence[tuple[int, float]],
        *,
        start_ns: Sequence[int] = (),
        delta: bool = False,
    ) -> None:
        """``(time_ns, value)`` points of ``loadsense.queue.<field>`` with ``queue.name``
        (``dequeued``/``enqueued``: a monotonic sum; ``start_ns``: series starts)."""
        starts = list(start_ns) or [points[0][0] - NS] * len(points)
        data = [
            {
                "attributes": [_attr("queue.name", queue)],
                "startTimeUnixNano": str(starts[k]),
                "timeUnixNano": str(t),
                "asDouble": v,
            }
            for k, (t, v) in enumerate(points)
        ]
        name = f"loadsense.queue.{field}"
        if field in ("dequeued", "enqueued"):
            body = {"dataPoints": data, "aggregationTemporality": 1 if delta else 2}
            metric = {"name": name, "unit": "{item}", "sum": {**body, "isMonotonic": True}}
        else:
            metric = {"name": name, "unit": "s" if field == "oldest_age" else "{item}"}
            metric["gauge"] = {"dataPoints": data}
        self._metric({"service.name": "queue-exporter"}, metric)

    def host_sample(self, host: str, resource: str, stall: str, at_ns: int, value: float) -> None:
        """PSI (``stall`` some/full: ``loadsense.host.pressure``) or utilisation
        (``system.<resource>.utilization``) of one host, as the agent exports them."""
        point: dict[str, Any] = {"timeUnixNano": str(at_ns), "asDouble": value}
        if stall:
            point["attributes"] = [_attr("resource", resource), _attr("stall", stall)]
            name = "loadsense.host.pressure"
        else:
            name = f"system.{resource}.utilization"
        metric = {"name": name, "unit": "1", "gauge": {"dataPoints": [point]}}
        self._metric({"host.name": host, "service.name": "agent"}, metric)

    def disk_io_time(
        self, host: str, device: str, points: Sequence[tuple[int, float]], start_ns: int
    ) -> None:
        """Cumulative busy seconds of one disk (``system.disk.io_time``)."""
        data = [
            {
                "attributes": [_attr("device", device)],
                "startTimeUnixNano": str(start_ns),
                "timeUnixNano": str(t),
                "asDouble": v,
            }
            for t, v in points
        ]
        metric = {
            "name": "system.disk.io_time",
            "unit": "s",
            "sum": {"dataPoints": data, "aggregationTemporality": 2, "isMonotonic": True},
        }
        self._metric({"host.name": host, "service.name": "agent"}, metric)

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
        settle_running()

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
        settle_running()
