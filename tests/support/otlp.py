"""Helpers for the OTLP tests: real SDK exporters pointed at a service, raw requests for
bad input, and readers for what was stored. Names are uuid-suffixed by the callers."""

from __future__ import annotations

import time
import uuid
from collections.abc import Mapping, Sequence
from typing import Any, TypeVar

import httpx
from google.protobuf import json_format
from google.protobuf.message import Message
from google.rpc import status_pb2
from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.trace.v1 import trace_pb2
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    Gauge,
    Metric,
    MetricExportResult,
    MetricsData,
    NumberDataPoint,
    ResourceMetrics,
    ScopeMetrics,
    Sum,
)
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.util.instrumentation import InstrumentationScope

from loadsense.bench.payloads import kv
from loadsense.storage.client import Storage
from tests.conftest import query

PROTOBUF = "application/x-protobuf"
JSON = "application/json"
NS = 1_000_000_000

M = TypeVar("M", bound=Message)


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:10]}"


def now_ns() -> int:
    """A whole second a minute ago: recent (inside retention), never in the future."""
    return (time.time_ns() // NS - 60) * NS


# --- real clients -------------------------------------------------------------------


def span_exporter(url: str, token: str | None = None) -> OTLPSpanExporter:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return OTLPSpanExporter(endpoint=f"{url}/v1/traces", headers=headers, timeout=30)


def metric_exporter(url: str, token: str | None = None, **kwargs: Any) -> OTLPMetricExporter:
    headers = {"Authorization": f"Bearer {token}"} if token else None
    return OTLPMetricExporter(endpoint=f"{url}/v1/metrics", headers=headers, timeout=30, **kwargs)


Point = tuple[Mapping[str, Any], int, float]  # attributes, time_unix_nano, value


def number_metric(
    name: str,
    points: Sequence[Point],
    *,
    unit: str = "",
    kind: str = "gauge",
    start_ns: int | Sequence[int] = 0,
    monotonic: bool = True,
    temporality: AggregationTemporality = AggregationTemporality.CUMULATIVE,
) -> Metric:
    """An SDK gauge or sum with exactly these points (the SDK's own collection cannot fix
    timestamps, the semantic tests need to)."""
    starts = [start_ns] * len(points) if isinstance(start_ns, int) else list(start_ns)
    data_points = [
        NumberDataPoint(
            attributes=dict(attrs), start_time_unix_nano=start, time_unix_nano=t, value=v
        )
        for (attrs, t, v), start in zip(points, starts, strict=True)
    ]
    data: Gauge | Sum = (
        Gauge(data_points=data_points)
        if kind == "gauge"
        else Sum(
            data_points=data_points, aggregation_temporality=temporality, is_monotonic=monotonic
        )
    )
    return Metric(name=name, description=None, unit=unit, data=data)


def metrics_data(resource: Mapping[str, Any], metrics: Sequence[Metric]) -> MetricsData:
    scope = ScopeMetrics(
        scope=InstrumentationScope("loadsense.tests"), metrics=list(metrics), schema_url=""
    )
    return MetricsData(
        resource_metrics=[
            ResourceMetrics(resource=Resource(dict(resource)), scope_metrics=[scope], schema_url="")
        ]
    )


def export_metrics(url: str, data: MetricsData) -> None:
    exporter = metric_exporter(url)
    try:
        assert exporter.export(data) is MetricExportResult.SUCCESS
    finally:
        exporter.shutdown()


# --- raw requests (bad input) ----------------------------------------------------------


def trace_request(
    service: str, spans: int = 1, *, start_ns: int | None = None
) -> trace_service_pb2.ExportTraceServiceRequest:
    """``spans`` valid SERVER spans of ``service``, 5 ms each, one per millisecond."""
    start = start_ns or now_ns()
    request = trace_service_pb2.ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", service))
    ss = rs.scope_spans.add()
    for i in range(spans):
        span = ss.spans.add(
            trace_id=uuid.uuid4().bytes,
            span_id=uuid.uuid4().bytes[:8],
            name="predict",
            kind=trace_pb2.Span.SPAN_KIND_SERVER,
            start_time_unix_nano=start + i * 1_000_000,
            end_time_unix_nano=start + i * 1_000_000 + 5_000_000,
        )
        span.attributes.append(kv("i", i))
    return request


def metrics_request(
    service: str, values: Sequence[float], *, name: str = "app.load", time_ns: int | None = None
) -> metrics_service_pb2.ExportMetricsServiceRequest:
    """One gauge of ``service`` with one point per value, a second apart."""
    t = time_ns or now_ns()
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", service))
    metric = rm.scope_metrics.add().metrics.add(name=name, unit="1")
    for i, value in enumerate(values):
        metric.gauge.data_points.add(time_unix_nano=t + i * NS, as_double=value)
    return request


def post(
    url: str,
    path: str,
    body: bytes,
    content_type: str = PROTOBUF,
    headers: Mapping[str, str] | None = None,
) -> httpx.Response:
    return httpx.post(
        f"{url}{path}",
        content=body,
        headers={"Content-Type": content_type, **(headers or {})},
        timeout=60,
    )


def decoded_as(response: httpx.Response, message: M) -> M:
    """Parse ``response``'s body into ``message``, in the encoding the response declares."""
    if response.headers["content-type"] == JSON:
        json_format.Parse(response.content, message)
    else:
        message.ParseFromString(response.content)
    return message


def status_of(response: httpx.Response) -> status_pb2.Status:
    """The ``google.rpc.Status`` body of an error answer."""
    return decoded_as(response, status_pb2.Status())


def traces_answer(response: httpx.Response) -> trace_service_pb2.ExportTraceServiceResponse:
    return decoded_as(response, trace_service_pb2.ExportTraceServiceResponse())


def metrics_answer(response: httpx.Response) -> metrics_service_pb2.ExportMetricsServiceResponse:
    return decoded_as(response, metrics_service_pb2.ExportMetricsServiceResponse())


# --- what was stored ------------------------------------------------------------------


def stored(storage: Storage, service: str) -> dict[str, int]:
    """Rows mentioning ``service`` in every telemetry table (for "nothing was stored")."""
    counts = {}
    for table in ("spans", "metric_points", "resources", "queue_samples"):
        counts[table] = int(
            query(
                storage,
                f"SELECT count() FROM {table} WHERE service_name = {{s:String}}",
                s=service,
            )[0][0]
        )
    return counts


NOTHING = {"spans": 0, "metric_points": 0, "resources": 0, "queue_samples": 0}
