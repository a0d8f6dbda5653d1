"""A retried export is the same data whatever its encoding (collectors/retry_dedup.py keys
on the content, collectors/otlp/payload.py), and a body in the pre-1.0 OTLP/JSON shape is
reported in ``partial_success`` instead of storing nothing silently.

The protobuf bodies are what the SDK's OTLP/HTTP exporters send: real SDK spans and
metrics encoded by the exporters' own encoder (``opentelemetry-exporter-otlp-proto-common``).
The SDK has no OTLP/JSON exporter, so the JSON body is the same message in the OTLP/JSON
mapping (hex ids), as the Collector's ``otlphttp`` exporter with ``encoding: json`` sends it.
"""

from __future__ import annotations

import base64
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import Message
from opentelemetry.exporter.otlp.proto.common.metrics_encoder import encode_metrics
from opentelemetry.exporter.otlp.proto.common.trace_encoder import encode_spans
from opentelemetry.proto.collector.metrics.v1.metrics_service_pb2 import (
    ExportMetricsServiceRequest,
)
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind

from loadsense.collectors.otlp.payload import parse_traces
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.otlp import (
    JSON,
    NS,
    PROTOBUF,
    metrics_answer,
    metrics_data,
    now_ns,
    number_metric,
    post,
    traces_answer,
    unique,
)
from tests.support.service import Service

MS = 1_000_000
_IDS = ("traceId", "spanId", "parentSpanId")


def otlp_json(message: Message) -> bytes:
    """``message`` in OTLP/JSON: the proto3 JSON mapping with ids as hex, not base64."""
    document = json_format.MessageToDict(message)
    stack: list[Any] = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _IDS and isinstance(value, str):
                    node[key] = base64.b64decode(value).hex()
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(node)
    return json.dumps(document).encode()


def sdk_spans(service: str, n: int) -> bytes:
    """``n`` SERVER spans of ``service`` from the SDK, 1 ms apart, encoded as it exports."""
    memory = InMemorySpanExporter()
    provider = TracerProvider(resource=Resource.create({"service.name": service}))
    provider.add_span_processor(SimpleSpanProcessor(memory))
    tracer = provider.get_tracer("tests.retry", "1.0")
    t0 = now_ns()
    for i in range(n):
        span = tracer.start_span(
            "POST /predict", kind=SpanKind.SERVER, start_time=t0 + i * MS, attributes={"i": i}
        )
        span.end(end_time=t0 + i * MS + 2 * MS)
    provider.shutdown()
    data: bytes = encode_spans(memory.get_finished_spans()).SerializeToString()
    return data


def counts(storage: Storage, service: str) -> tuple[int, int]:
    """(distinct spans stored, spans counted by the ``span_steps`` rollup)."""
    spans = query(
        storage, "SELECT count() FROM spans FINAL WHERE service_name = {s:String}", s=service
    )
    rolled = query(
        storage, "SELECT sum(spans) FROM span_steps WHERE service_name = {s:String}", s=service
    )
    return int(spans[0][0]), int(rolled[0][0] or 0)  # type: ignore[call-overload]


def retried(svc: Service, table: str) -> float:
    value = svc.ctx.metrics.registry.get_sample_value(
        "loadsense_retried_requests_total", {"table": table}
    )
    return value or 0.0


def test_a_trace_export_sent_as_json_then_as_protobuf_is_stored_once(
    service: Service, storage: Storage
) -> None:
    name = unique("retried-enc")
    binary = sdk_spans(name, 7)
    text = otlp_json(ExportTraceServiceRequest.FromString(binary))
    before = retried(service, "spans")
    first = post(service.url, "/v1/traces", text, JSON)
    retry = post(service.url, "/v1/traces", binary, PROTOBUF)
    assert first.status_code == retry.status_code == 200
    assert not traces_answer(retry).HasField("partial_success")
    # 7 spans once, and the rollup counted 7, not 14.
    assert counts(storage, name) == (7, 7)
    assert retried(service, "spans") == before + 1
    # Different content (one more span) is a new export: 8 more in the rollup.
    assert post(service.url, "/v1/traces", sdk_spans(name, 8), PROTOBUF).status_code == 200
    assert counts(storage, name) == (15, 15)


def test_a_metrics_export_sent_as_protobuf_then_as_json_is_acknowledged_once(
    service: Service, storage: Storage
) -> None:
    name = unique("retried-metrics")
    t = now_ns()
    metric = number_metric("app.load", [({}, t, 0.5), ({}, t + NS, 0.75)])
    binary = encode_metrics(metrics_data({"service.name": name}, [metric])).SerializeToString()
    text = otlp_json(ExportMetricsServiceRequest.FromString(binary))
    before = retried(service, "metric_points")
    assert post(service.url, "/v1/metrics", binary, PROTOBUF).status_code == 200
    retry = post(service.url, "/v1/metrics", text, JSON)
    assert retry.status_code == 200
    assert not metrics_answer(retry).HasField("partial_success")
    assert retried(service, "metric_points") == before + 1
    points = query(
        storage, "SELECT count() FROM metric_points WHERE service_name = {s:String}", s=name
    )
    assert points == [(2,)]


def test_content_keys_agree_across_encodings_and_differ_with_content() -> None:
    binary = sdk_spans("keys", 3)
    parsed = parse_traces(binary, PROTOBUF)
    as_json = parse_traces(otlp_json(ExportTraceServiceRequest.FromString(binary)), JSON)
    assert as_json.content_key == parsed.content_key
    assert len(parsed.content_key) == 16
    # A field this version does not know (15, as bench/payloads.distinct adds) is content.
    assert parse_traces(binary + b"\x7a\x01\x00", PROTOBUF).content_key != parsed.content_key
    assert parse_traces(sdk_spans("keys", 3), PROTOBUF).content_key != parsed.content_key


def _legacy_traces(name: str, legacy: int, current: int) -> bytes:
    t0 = now_ns()

    def spans(k0: int, n: int) -> list[dict[str, Any]]:
        return [
            {
                "traceId": f"{k0 + k + 1:032x}",
                "spanId": f"{k0 + k + 1:016x}",
                "name": "predict",
                "kind": 2,
                "startTimeUnixNano": str(t0 + (k0 + k) * MS),
                "endTimeUnixNano": str(t0 + (k0 + k) * MS + MS),
            }
            for k in range(n)
        ]

    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]}
    old = {"resource": resource, "instrumentationLibrarySpans": [{"spans": spans(0, legacy)}]}
    new = {"resource": resource, "scopeSpans": [{"spans": spans(100, current)}]}
    return json.dumps({"resourceSpans": [old, new] if current else [old]}).encode()


def test_pre_1_0_trace_shape_is_rejected_in_partial_success(
    service: Service, storage: Storage
) -> None:
    name = unique("legacy")
    # 3 spans under the old field are rejected; the 2 under scopeSpans are stored.
    answer = post(service.url, "/v1/traces", _legacy_traces(name, 3, 2), JSON)
    assert answer.status_code == 200
    partial = traces_answer(answer).partial_success
    assert partial.rejected_spans == 3
    assert "3 x instrumentationLibrarySpans is the pre-1.0 OTLP/JSON field name" in (
        partial.error_message
    )
    assert "send scopeSpans" in partial.error_message
    assert counts(storage, name) == (2, 2)
    # Only the old shape: every span rejected, nothing stored, nothing silent.
    only_old = unique("legacy-only")
    answer = post(service.url, "/v1/traces", _legacy_traces(only_old, 4, 0), JSON)
    assert traces_answer(answer).partial_success.rejected_spans == 4
    assert counts(storage, only_old) == (0, 0)


def test_pre_1_0_metrics_shape_counts_every_data_point(service: Service, storage: Storage) -> None:
    name = unique("legacy-metrics")
    t = str(now_ns())
    gauge = {"name": "a", "gauge": {"dataPoints": [{"timeUnixNano": t, "asDouble": 1}] * 2}}
    total = {
        "name": "b",
        "sum": {
            "aggregationTemporality": 2,
            "isMonotonic": True,
            "dataPoints": [{"timeUnixNano": t, "asInt": "4"}] * 3,
        },
    }
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]}
    body = {
        "resourceMetrics": [
            {"resource": resource, "instrumentationLibraryMetrics": [{"metrics": [gauge, total]}]}
        ]
    }
    answer = post(service.url, "/v1/metrics", json.dumps(body).encode(), JSON)
    assert answer.status_code == 200
    partial = metrics_answer(answer).partial_success
    assert partial.rejected_data_points == 5  # 2 gauge points + 3 sum points
    assert "instrumentationLibraryMetrics" in partial.error_message
    assert "send scopeMetrics" in partial.error_message
    points = query(
        storage, "SELECT count() FROM metric_points WHERE service_name = {s:String}", s=name
    )
    assert points == [(0,)]
