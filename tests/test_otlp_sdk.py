"""The OpenTelemetry SDK's OTLP/HTTP exporters (protobuf) and an OTLP/JSON request,
against a service on a real port: what they send is stored, acknowledged after commit."""

from __future__ import annotations

import base64
import json

from opentelemetry import trace
from opentelemetry.sdk.metrics import Histogram, MeterProvider
from opentelemetry.sdk.metrics.export import (
    AggregationTemporality,
    PeriodicExportingMetricReader,
)
from opentelemetry.sdk.metrics.view import ExponentialBucketHistogramAggregation, View
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.trace import SpanKind, Status, StatusCode

from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.otlp import (
    JSON,
    NS,
    metric_exporter,
    metrics_answer,
    now_ns,
    post,
    span_exporter,
    traces_answer,
    unique,
)
from tests.support.service import Service

MS = 1_000_000


def test_sdk_span_exporter_spans_are_stored_with_attributes_kinds_and_status(
    service: Service, storage: Storage
) -> None:
    name, host = unique("ranker"), unique("node")
    provider = TracerProvider(
        resource=Resource.create(
            {"service.name": name, "host.name": host, "ml.model.version": "from-resource"}
        )
    )
    provider.add_span_processor(SimpleSpanProcessor(span_exporter(service.url)))
    tracer = provider.get_tracer("tests.otlp", "1.2.3")
    t0 = now_ns()
    server = tracer.start_span(
        "POST /v1/rank",
        kind=SpanKind.SERVER,
        start_time=t0,
        attributes={
            "ml.model.name": "ranker-xl",
            "http.response.status_code": 500,
            "retry": False,
            "ratio": 0.25,
            "tags": ["a", "b"],
        },
    )
    server.add_event("exception", {"exception.type": "ValueError"}, timestamp=t0 + 3 * MS)
    server.set_status(Status(StatusCode.ERROR, "model crashed"))
    child_kinds = [SpanKind.INTERNAL, SpanKind.CLIENT, SpanKind.PRODUCER, SpanKind.CONSUMER]
    context = trace.set_span_in_context(server)
    for i, kind in enumerate(child_kinds):
        child = tracer.start_span(f"child-{i}", kind=kind, context=context, start_time=t0 + i * MS)
        child.end(end_time=t0 + i * MS + 2 * MS)
    server.end(end_time=t0 + 40 * MS)  # exported synchronously: returns after commit
    provider.shutdown()

    rows = query(
        storage,
        "SELECT span_name, toString(kind), duration_ns, status_code, status_message,"
        " model_name, model_version, attributes, host_name, scope_name, scope_version,"
        " event_names, length(parent_span_id), hex(trace_id)"
        " FROM spans WHERE service_name = {s:String} ORDER BY start_time, span_name",
        s=name,
    )
    by_name = {r[0]: r for r in rows}
    assert sorted(by_name) == ["POST /v1/rank", "child-0", "child-1", "child-2", "child-3"]
    root = by_name["POST /v1/rank"]
    assert root[1:7] == ("SERVER", 40 * MS, 2, "model crashed", "ranker-xl", "from-resource")
    assert root[7] == {
        "ml.model.name": "ranker-xl",
        "http.response.status_code": "500",
        "retry": "false",
        "ratio": "0.25",
        "tags": '["a","b"]',
    }
    assert root[8:13] == (host, "tests.otlp", "1.2.3", ["exception"], 0)
    assert [by_name[f"child-{i}"][1] for i in range(4)] == [
        "INTERNAL",
        "CLIENT",
        "PRODUCER",
        "CONSUMER",
    ]
    assert {by_name[f"child-{i}"][2] for i in range(4)} == {2 * MS}
    assert {r[12] for r in rows if r[0] != "POST /v1/rank"} == {8}  # children have parents
    assert len({r[13] for r in rows}) == 1  # one trace
    # Resource attributes are stored once, in resources, and spans refer to them (each of
    # the 5 exports carried the resource: FINAL keeps one row per resource_id).
    resources = query(
        storage,
        "SELECT r.attributes['host.name'], r.attributes['telemetry.sdk.language'], count()"
        " FROM spans AS s INNER JOIN resources AS r FINAL USING resource_id"
        " WHERE s.service_name = {s:String} GROUP BY 1, 2",
        s=name,
    )
    assert resources == [(host, "python", 5)]


def test_sdk_metric_exporter_stores_types_units_and_temporality(
    service: Service, storage: Storage
) -> None:
    name = unique("worker")
    exporter = metric_exporter(
        service.url,
        preferred_temporality={Histogram: AggregationTemporality.DELTA},
    )
    reader = PeriodicExportingMetricReader(exporter, export_interval_millis=3_600_000)
    provider = MeterProvider(
        resource=Resource.create({"service.name": name}),
        metric_readers=[reader],
        views=[
            View(
                instrument_name="work.size",
                aggregation=ExponentialBucketHistogramAggregation(max_size=20),
            )
        ],
    )
    meter = provider.get_meter("tests.otlp")
    jobs = meter.create_counter("jobs.done", unit="{job}")
    inflight = meter.create_up_down_counter("jobs.inflight", unit="{job}")
    latency = meter.create_histogram(
        "job.duration", unit="s", explicit_bucket_boundaries_advisory=[0.1, 1.0]
    )
    size = meter.create_histogram("work.size", unit="By")
    jobs.add(5, {"queue.name": "q1"})
    jobs.add(7, {"queue.name": "q1"})
    inflight.add(3)
    inflight.add(-1)
    for seconds in (0.05, 0.5, 0.7, 3.0):
        latency.record(seconds)
    for nbytes in (1, 2, 4):
        size.record(nbytes)
    provider.force_flush()
    provider.shutdown()

    rows = query(
        storage,
        "SELECT metric_name, toString(metric_type), unit, toString(temporality), is_monotonic,"
        " value, count, sum, min, max, bucket_counts, explicit_bounds, attributes,"
        " start_time < time"
        " FROM metric_points WHERE service_name = {s:String} ORDER BY metric_name",
        s=name,
    )
    got = {r[0]: r[1:] for r in rows}
    assert got["jobs.done"][:5] == ("sum", "{job}", "cumulative", 1, 12.0)  # 5 + 7
    assert got["jobs.done"][11:] == ({"queue.name": "q1"}, True)
    assert got["jobs.inflight"][:5] == ("sum", "{job}", "cumulative", 0, 2.0)  # 3 - 1
    duration = got["job.duration"]
    assert duration[:3] == ("histogram", "s", "delta")
    # 4 observations: 0.05 | 0.5, 0.7 | 3.0 against bounds (0.1, 1.0]; sum 0.05+0.5+0.7+3.0.
    assert duration[5:11] == (4, 4.25, 0.05, 3.0, [1, 2, 1], [0.1, 1.0])
    work = got["work.size"]
    assert work[:3] == ("exponential_histogram", "By", "delta")  # histograms prefer delta here
    assert work[5:9] == (3, 7.0, 1.0, 4.0)  # count 3, sum 1 + 2 + 4
    counts, bounds = work[9], work[10]
    assert sum(counts) == 3 and len(counts) == len(bounds) + 1
    # Every observation falls in a bucket whose explicit bounds contain it.
    for observed in (1.0, 2.0, 4.0):
        i = next(k for k, b in enumerate(bounds) if observed <= b)
        assert counts[i] >= 1 and (i == 0 or bounds[i - 1] < observed)


def test_otlp_json_request_hex_ids_integer_enums_string_int64_unknown_fields(
    service: Service, storage: Storage
) -> None:
    name = unique("json-svc")
    t0 = now_ns()
    trace_hex, span_hex, parent_hex = (
        "5B8EFFF798038103D269B633813FC60C",
        "EEE19B7EC3C1B174",
        "EEE19B7EC3C1B173",
    )
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": name}}],
                    "someFutureField": {"x": 1},
                },
                "scopeSpans": [
                    {
                        "scope": {"name": "json-client"},
                        "spans": [
                            {
                                "traceId": trace_hex,
                                "spanId": span_hex,
                                "parentSpanId": parent_hex.lower(),
                                "name": "GET /items",
                                "kind": 2,
                                "startTimeUnixNano": str(t0),
                                "endTimeUnixNano": str(t0 + 7 * MS),
                                "attributes": [
                                    {"key": "http.route", "value": {"stringValue": "/items"}},
                                    {"key": "n", "value": {"intValue": "42"}},
                                ],
                                "status": {"code": 1},
                                "unknownSpanField": True,
                            }
                        ],
                    }
                ],
            }
        ]
    }
    response = post(service.url, "/v1/traces", json.dumps(body).encode(), JSON)
    assert response.status_code == 200
    assert response.headers["content-type"] == JSON
    assert not traces_answer(response).HasField("partial_success")
    rows = query(
        storage,
        "SELECT hex(trace_id), hex(span_id), hex(parent_span_id), toString(kind), duration_ns,"
        " attributes, status_code, scope_name FROM spans WHERE service_name = {s:String}",
        s=name,
    )
    assert rows == [
        (
            trace_hex,
            span_hex,
            parent_hex,
            "SERVER",
            7 * MS,
            {"http.route": "/items", "n": "42"},
            1,
            "json-client",
        )
    ]

    metrics = {
        "resourceMetrics": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": name}}]
                },
                "scopeMetrics": [
                    {
                        "metrics": [
                            {
                                "name": "requests",
                                "unit": "{request}",
                                "sum": {
                                    "aggregationTemporality": 1,
                                    "isMonotonic": True,
                                    "dataPoints": [
                                        {
                                            "startTimeUnixNano": str(t0 - 10 * NS),
                                            "timeUnixNano": str(t0),
                                            "asInt": "9007199254740993",
                                            "exemplars": [
                                                {
                                                    "traceId": trace_hex,
                                                    "spanId": span_hex,
                                                    "asDouble": 1,
                                                }
                                            ],
                                        }
                                    ],
                                },
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = post(service.url, "/v1/metrics", json.dumps(metrics).encode(), JSON)
    assert response.status_code == 200, response.text
    assert not metrics_answer(response).HasField("partial_success")
    points = query(
        storage,
        "SELECT metric_name, toString(temporality), is_monotonic, value,"
        " toUnixTimestamp64Nano(time) - toUnixTimestamp64Nano(start_time)"
        " FROM metric_points WHERE service_name = {s:String}",
        s=name,
    )
    # as_int 2^53 + 1 is stored as the nearest double, 2^53 (documented).
    assert points == [("requests", "delta", 1, float(2**53), 10 * NS)]


def test_json_base64_ids_are_not_accepted_as_hex(service: Service, storage: Storage) -> None:
    name = unique("b64")
    raw = bytes(range(1, 17))
    body = {
        "resourceSpans": [
            {
                "resource": {
                    "attributes": [{"key": "service.name", "value": {"stringValue": name}}]
                },
                "scopeSpans": [
                    {
                        "spans": [
                            {
                                "traceId": base64.b64encode(raw).decode(),
                                "spanId": "0102030405060708",
                            }
                        ]
                    }
                ],
            }
        ]
    }
    response = post(service.url, "/v1/traces", json.dumps(body).encode(), JSON)
    assert response.status_code == 400
    assert (
        "traceId" in response.json()["message"] and "not a hex string" in response.json()["message"]
    )
    assert query(storage, "SELECT count() FROM spans WHERE service_name = {s:String}", s=name) == [
        (0,)
    ]
