"""Realistic request bodies for the ingest benchmark, built once and reused.

- Traces: ``ExportTraceServiceRequest`` protobuf, a few services per request (resource
  ``service.name``, ``host.name``), each trace a SERVER span with HTTP semantic
  attributes (some carrying ``ml.model.name``/``ml.model.version``), an INTERNAL child
  and a CLIENT child.
- Metrics: ``ExportMetricsServiceRequest`` protobuf with gauges, cumulative sums and
  explicit-bucket histograms under names the service maps (queues, host contention,
  serving latency) and one it only stores.
- Lineage: OpenLineage 2-0-2 RunEvents as JSON, each run a START and a COMPLETE with
  two inputs and one output carrying schema and output-statistics facets.

Every body carries distinct trace ids / run ids (seeded from ``seed``) so a pool of
bodies does not collapse into one row set; a benchmark that sends the pool round and
round does resend identical rows, which the service inserts (and merges away later)
just like an exporter's retry.
"""

from __future__ import annotations

import json
import random
import struct
import time
import uuid
from dataclasses import dataclass
from typing import Any

from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.metrics.v1 import metrics_pb2
from opentelemetry.proto.trace.v1 import trace_pb2

SERVICES = ("feature-api", "ranker", "embedder", "checkout", "search")
ROUTES = ("/v1/predict", "/v1/features/{id}", "/v1/rank", "/healthz", "/v1/embed")
HISTOGRAM_BOUNDS = (0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.25, 0.5, 0.75, 1.0, 2.5, 5.0)
SPANS_PER_TRACE = 3
METRIC_KINDS = 5  # metrics per resource, see _resource_metrics
LINEAGE_PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.20.0/integration/airflow"
RUN_EVENT_SCHEMA = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"


@dataclass(frozen=True)
class Body:
    """One request body and how many items (spans, points, events) it carries."""

    data: bytes
    items: int


def distinct(body: bytes, n: int) -> bytes:
    """A protobuf export ``body`` with an unknown field (15, 8 bytes) carrying ``n``.

    The service acknowledges a byte-identical retry without storing it again
    (collectors/retry_dedup.py), so resending a pool of bodies would measure the
    retry-dedup path;
    a distinct suffix makes every request real ingest work (decode, rows, insert), as
    distinct exports from real producers are. Parsers skip unknown fields.
    """
    return body + b"\x7a\x08" + struct.pack(">Q", n)


def kv(key: str, value: str | int | float | bool) -> KeyValue:
    if isinstance(value, bool):
        return KeyValue(key=key, value=AnyValue(bool_value=value))
    if isinstance(value, int):
        return KeyValue(key=key, value=AnyValue(int_value=value))
    if isinstance(value, float):
        return KeyValue(key=key, value=AnyValue(double_value=value))
    return KeyValue(key=key, value=AnyValue(string_value=value))


def _resource(service: str, host: str) -> list[KeyValue]:
    return [
        kv("service.name", service),
        kv("host.name", host),
        kv("service.version", "1.4.2"),
        kv("telemetry.sdk.language", "python"),
        kv("telemetry.sdk.name", "opentelemetry"),
    ]


def trace_body(rng: random.Random, spans: int, now_ns: int) -> Body:
    """``spans`` spans (rounded down to whole traces) spread over ``len(SERVICES)`` resources."""
    request = ExportTraceServiceRequest()
    traces = max(1, spans // SPANS_PER_TRACE)
    per_service = max(1, traces // len(SERVICES))
    made = 0
    for s, service in enumerate(SERVICES):
        count = per_service if s < len(SERVICES) - 1 else traces - per_service * s
        if count <= 0:
            continue
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(_resource(service, f"node-{s % 3}"))
        ss = rs.scope_spans.add()
        ss.scope.name = "opentelemetry.instrumentation.fastapi"
        ss.scope.version = "0.48b0"
        for _ in range(count):
            _add_trace(ss.spans, rng, service, now_ns)
            made += SPANS_PER_TRACE
    return Body(request.SerializeToString(), made)


def _add_trace(spans: Any, rng: random.Random, service: str, now_ns: int) -> None:
    trace_id = rng.randbytes(16)
    root_id = rng.randbytes(8)
    start = now_ns - rng.randrange(0, 60_000_000_000)
    duration = int(rng.lognormvariate(17.0, 0.8))  # ~25 ms median
    route = rng.choice(ROUTES)
    status = rng.choices((200, 404, 500), weights=(95, 3, 2))[0]
    server = spans.add()
    server.trace_id = trace_id
    server.span_id = root_id
    server.name = f"POST {route}"
    server.kind = trace_pb2.Span.SPAN_KIND_SERVER
    server.start_time_unix_nano = start
    server.end_time_unix_nano = start + duration
    attrs = [
        kv("http.request.method", "POST"),
        kv("http.route", route),
        kv("http.response.status_code", status),
        kv("url.scheme", "http"),
        kv("url.path", route.replace("{id}", str(rng.randrange(10_000)))),
        kv("server.address", f"{service}.svc.cluster.local"),
        kv("server.port", 8080),
        kv("network.protocol.version", "1.1"),
        kv("user_agent.original", "python-httpx/0.27.0"),
    ]
    if service in ("ranker", "embedder"):
        attrs += [kv("ml.model.name", f"{service}-model"), kv("ml.model.version", "7")]
    server.attributes.extend(attrs)
    if status >= 500:
        server.status.code = trace_pb2.Status.STATUS_CODE_ERROR
        server.status.message = "upstream failed"
    for offset, (name, kind) in enumerate(
        (("predict", trace_pb2.Span.SPAN_KIND_INTERNAL), ("GET", trace_pb2.Span.SPAN_KIND_CLIENT))
    ):
        child = spans.add()
        child.trace_id = trace_id
        child.span_id = rng.randbytes(8)
        child.parent_span_id = root_id
        child.name = name
        child.kind = kind
        child.start_time_unix_nano = start + 1_000_000 * (offset + 1)
        child.end_time_unix_nano = start + duration // 2
        child.attributes.extend(
            [kv("code.function", "predict")]
            if kind == trace_pb2.Span.SPAN_KIND_INTERNAL
            else [kv("http.request.method", "GET"), kv("server.address", "redis")]
        )


def metrics_body(rng: random.Random, points: int, now_ns: int) -> Body:
    """About ``points`` data points: per resource, ``METRIC_KINDS`` metrics of N points."""
    request = ExportMetricsServiceRequest()
    per_metric = max(1, points // (len(SERVICES) * METRIC_KINDS))
    made = 0
    start_ns = now_ns - 3_600_000_000_000
    for s, service in enumerate(SERVICES):
        rm = request.resource_metrics.add()
        rm.resource.attributes.extend(_resource(service, f"node-{s % 3}"))
        sm = rm.scope_metrics.add()
        sm.scope.name = "opentelemetry.sdk"
        made += _resource_metrics(sm.metrics, rng, per_metric, start_ns, now_ns)
    return Body(request.SerializeToString(), made)


def _resource_metrics(metrics: Any, rng: random.Random, n: int, start_ns: int, now_ns: int) -> int:
    cumulative = metrics_pb2.AggregationTemporality.AGGREGATION_TEMPORALITY_CUMULATIVE
    t = now_ns - rng.randrange(0, 10_000_000_000)

    depth = metrics.add(name="loadsense.queue.depth", unit="{message}")
    for i in range(n):
        p = depth.gauge.data_points.add(time_unix_nano=t, as_double=float(rng.randrange(500)))
        p.attributes.append(kv("queue.name", f"queue-{i}"))

    enq = metrics.add(name="loadsense.queue.enqueued", unit="{message}")
    enq.sum.aggregation_temporality = cumulative
    enq.sum.is_monotonic = True
    for i in range(n):
        p = enq.sum.data_points.add(
            start_time_unix_nano=start_ns, time_unix_nano=t, as_int=rng.randrange(10**6)
        )
        p.attributes.append(kv("queue.name", f"queue-{i}"))

    cpu = metrics.add(name="system.cpu.utilization", unit="1")
    states = ("user", "system", "idle", "wait")
    for i in range(n):
        p = cpu.gauge.data_points.add(time_unix_nano=t, as_double=rng.random())
        p.attributes.extend([kv("cpu", f"cpu{i // len(states)}"), kv("state", states[i % 4])])

    hist = metrics.add(name="http.server.request.duration", unit="s")
    hist.histogram.aggregation_temporality = cumulative
    for i in range(n):
        counts = [rng.randrange(100) for _ in range(len(HISTOGRAM_BOUNDS) + 1)]
        p = hist.histogram.data_points.add(
            start_time_unix_nano=start_ns,
            time_unix_nano=t,
            count=sum(counts),
            sum=sum(counts) * 0.05,
            min=0.001,
            max=4.0,
        )
        p.bucket_counts.extend(counts)
        p.explicit_bounds.extend(HISTOGRAM_BOUNDS)
        p.attributes.extend(
            [kv("http.route", ROUTES[i % len(ROUTES)]), kv("http.response.status_code", 200)]
        )

    rpc = metrics.add(name="app.cache.hits", unit="{hit}")
    rpc.sum.aggregation_temporality = cumulative
    rpc.sum.is_monotonic = True
    for i in range(n):
        p = rpc.sum.data_points.add(
            start_time_unix_nano=start_ns, time_unix_nano=t, as_double=float(rng.randrange(10**5))
        )
        p.attributes.append(kv("cache.shard", str(i)))
    return METRIC_KINDS * n


def _iso(ns: int) -> str:
    seconds, rest = divmod(ns, 1_000_000_000)
    stamp = time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(seconds))
    return f"{stamp}.{rest // 1000:06d}Z"


def run_events(rng: random.Random, runs: int, now_ns: int) -> list[dict[str, Any]]:
    """``2 * runs`` RunEvents: a START and a COMPLETE per run."""
    events: list[dict[str, Any]] = []
    for _ in range(runs):
        run_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        job = f"etl.daily_{rng.randrange(200)}"
        start = now_ns - rng.randrange(60_000_000_000, 3_600_000_000_000)
        inputs = [
            {"namespace": "postgres://warehouse:5432", "name": f"raw.events_{rng.randrange(50)}"},
            {"namespace": "s3://lake", "name": f"dim/customers_{rng.randrange(20)}"},
        ]
        output = {
            "namespace": "s3://lake",
            "name": f"features/{job}",
            "facets": {
                "schema": {
                    "_producer": LINEAGE_PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-1-1/SchemaDatasetFacet.json",
                    "fields": [
                        {"name": "customer_id", "type": "BIGINT"},
                        {"name": "score", "type": "DOUBLE"},
                        {"name": "updated_at", "type": "TIMESTAMP"},
                    ],
                }
            },
        }
        job_facets = {
            "jobType": {
                "_producer": LINEAGE_PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/2-0-3/JobTypeJobFacet.json",
                "processingType": "BATCH",
                "integration": "AIRFLOW",
                "jobType": "TASK",
            }
        }
        base = {
            "producer": LINEAGE_PRODUCER,
            "schemaURL": RUN_EVENT_SCHEMA,
            "job": {"namespace": "airflow", "name": job, "facets": job_facets},
            "inputs": inputs,
        }
        nominal = {
            "nominalTime": {
                "_producer": LINEAGE_PRODUCER,
                "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json",
                "nominalStartTime": _iso(start - start % 3_600_000_000_000),
            }
        }
        events.append(
            {
                **base,
                "eventType": "START",
                "eventTime": _iso(start),
                "run": {"runId": run_id, "facets": nominal},
                "outputs": [{"namespace": output["namespace"], "name": output["name"]}],
            }
        )
        complete_output = {
            **output,
            "outputFacets": {
                "outputStatistics": {
                    "_producer": LINEAGE_PRODUCER,
                    "_schemaURL": "https://openlineage.io/spec/facets/1-0-2/OutputStatisticsOutputDatasetFacet.json",
                    "rowCount": rng.randrange(10**6),
                    "size": rng.randrange(10**9),
                }
            },
        }
        events.append(
            {
                **base,
                "eventType": "COMPLETE",
                "eventTime": _iso(start + rng.randrange(1_000_000_000, 50_000_000_000)),
                "run": {"runId": run_id, "facets": nominal},
                "outputs": [complete_output],
            }
        )
    return events


def lineage_batch_body(rng: random.Random, events: int, now_ns: int) -> Body:
    """A JSON array of ``events`` RunEvents for ``POST /api/v1/lineage/batch``."""
    made = run_events(rng, max(1, events // 2), now_ns)
    return Body(json.dumps(made).encode(), len(made))


def lineage_single_bodies(rng: random.Random, events: int, now_ns: int) -> list[Body]:
    """``events`` single-event JSON bodies for ``POST /api/v1/lineage``."""
    return [Body(json.dumps(e).encode(), 1) for e in run_events(rng, max(1, events // 2), now_ns)]
