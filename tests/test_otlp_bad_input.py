"""Bad OTLP input: each answer's status and message, and that nothing was stored.

Whole-request problems answer 4xx with a ``google.rpc.Status`` in the request's encoding;
item problems answer 200 with ``partial_success`` counting and naming them.
"""

from __future__ import annotations

import gzip
import json
import math
import threading
import time
import uuid
from typing import Any

import httpx
import pytest
from google.protobuf import json_format
from google.rpc import error_details_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.otlp import (
    JSON,
    NOTHING,
    NS,
    PROTOBUF,
    kv,
    metrics_answer,
    metrics_request,
    now_ns,
    post,
    status_of,
    stored,
    trace_request,
    traces_answer,
    unique,
)
from tests.support.service import Service, poll_until, running_service


def test_truncated_protobuf_is_400_with_a_protobuf_status(
    service: Service, storage: Storage
) -> None:
    name = unique("truncated")
    body = trace_request(name, spans=20).SerializeToString()
    response = post(service.url, "/v1/traces", body[: len(body) // 2])
    assert response.status_code == 400
    assert response.headers["content-type"] == PROTOBUF
    status = status_of(response)
    assert "not a valid protobuf ExportTraceServiceRequest" in status.message
    assert status.code == 3  # INVALID_ARGUMENT
    detail = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(detail)
    assert detail.field_violations[0].description == status.message
    assert stored(storage, name) == NOTHING


def test_wrong_content_type_is_415(service: Service, storage: Storage) -> None:
    name = unique("ctype")
    body = trace_request(name).SerializeToString()
    response = post(service.url, "/v1/traces", body, "text/plain")
    assert response.status_code == 415
    assert response.headers["content-type"] == JSON
    assert "unsupported Content-Type 'text/plain'" in status_of(response).message
    response = post(service.url, "/v1/metrics", body, "application/grpc")
    assert response.status_code == 415
    assert stored(storage, name) == NOTHING


def test_invalid_json_is_400_with_a_json_status(service: Service, storage: Storage) -> None:
    response = post(service.url, "/v1/metrics", b'{"resourceMetrics": [', JSON)
    assert response.status_code == 400
    assert response.headers["content-type"] == JSON
    assert response.json()["message"].startswith("invalid JSON")
    response = post(service.url, "/v1/metrics", b'{"resourceMetrics": 3}', JSON)
    assert response.status_code == 400
    assert "invalid OTLP/JSON" in response.json()["message"]
    response = post(service.url, "/v1/traces", b"[1, 2]", JSON)
    assert response.status_code == 400
    assert "must be a JSON object" in response.json()["message"]


def test_gzip_bomb_is_413_without_inflating_it(service: Service, storage: Storage) -> None:
    name = unique("bomb")
    payload = trace_request(name).SerializeToString() + bytes(100 * 1024 * 1024)
    bomb = gzip.compress(payload, compresslevel=9)
    assert len(bomb) < 200 * 1024  # 100 MiB of zeros packs into ~100 KiB
    response = post(service.url, "/v1/traces", bomb, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 413
    assert "exceeds the limit of 20971520 bytes" in status_of(response).message
    assert stored(storage, name) == NOTHING


def test_gzip_body_is_accepted(service: Service, storage: Storage) -> None:
    name = unique("gzip")
    body = gzip.compress(trace_request(name, spans=3).SerializeToString())
    response = post(service.url, "/v1/traces", body, headers={"Content-Encoding": "gzip"})
    assert response.status_code == 200
    assert stored(storage, name)["spans"] == 3


def test_body_over_the_limit_is_413(storage: Storage) -> None:
    name = unique("big")
    with running_service(storage, Settings().with_overrides(max_body_bytes=10_000)) as svc:
        body = trace_request(name, spans=400).SerializeToString()
        assert len(body) > 10_000
        response = post(svc.url, "/v1/traces", body)
        assert response.status_code == 413
        assert "exceeds the limit of 10000 bytes" in status_of(response).message
        # The limit applies after decompression too.
        response = post(
            svc.url, "/v1/traces", gzip.compress(body), headers={"Content-Encoding": "gzip"}
        )
        assert response.status_code == 413
    assert stored(storage, name) == NOTHING


def test_huge_batch_is_413_naming_the_limit(service: Service, storage: Storage) -> None:
    name = unique("huge")
    request = trace_service_pb2.ExportTraceServiceRequest()
    rs = request.resource_spans.add()
    rs.resource.attributes.append(kv("service.name", name))
    spans = rs.scope_spans.add().spans
    t0 = now_ns()
    trace_id = uuid.uuid4().bytes
    for i in range(100_001):  # one over MAX_ITEMS_PER_REQUEST, ~4 MiB: under the body limit
        spans.add(
            trace_id=trace_id,
            span_id=(i + 1).to_bytes(8, "big"),
            start_time_unix_nano=t0,
            end_time_unix_nano=t0,
        )
    body = request.SerializeToString()
    assert len(body) < 20 * 1024 * 1024
    response = post(service.url, "/v1/traces", body)
    assert response.status_code == 413
    assert "request carries 100001 spans; at most 100000" in status_of(response).message
    assert stored(storage, name) == NOTHING


def test_timestamps_far_in_the_future_are_rejected_in_partial_success(
    service: Service, storage: Storage
) -> None:
    name = unique("future")
    year_2100 = 4_102_444_800 * NS
    response = post(
        service.url, "/v1/traces", trace_request(name, 2, start_ns=year_2100).SerializeToString()
    )
    assert response.status_code == 200
    partial = traces_answer(response).partial_success
    assert partial.rejected_spans == 2
    assert partial.error_message == "rejected 2 spans: 2 x timestamp more than 3600s after receipt"
    points = metrics_request(name, [1.0, 2.0], time_ns=year_2100)
    response = post(service.url, "/v1/metrics", points.SerializeToString())
    partial_m = metrics_answer(response).partial_success
    assert (
        partial_m.rejected_data_points,
        "more than 3600s after receipt" in partial_m.error_message,
    ) == (2, True)
    assert stored(storage, name) == NOTHING


def test_nan_and_inf_values_are_rejected_in_partial_success(
    service: Service, storage: Storage
) -> None:
    name = unique("nan")
    request = metrics_request(name, [math.nan, math.inf, -math.inf])
    metric = request.resource_metrics[0].scope_metrics[0].metrics.add(name="latency", unit="s")
    metric.histogram.aggregation_temporality = 2
    metric.histogram.data_points.add(
        time_unix_nano=now_ns(), count=1, sum=math.nan, bucket_counts=[1]
    )
    response = post(service.url, "/v1/metrics", request.SerializeToString())
    assert response.status_code == 200
    partial = metrics_answer(response).partial_success
    assert partial.rejected_data_points == 4
    assert "1 x non-finite value nan" in partial.error_message
    assert "1 x non-finite value inf" in partial.error_message
    assert "1 x non-finite value -inf" in partial.error_message
    assert "1 x non-finite sum, min or max" in partial.error_message
    assert stored(storage, name) == NOTHING


def test_one_megabyte_attribute_value_rejects_the_span(service: Service, storage: Storage) -> None:
    name = unique("mb-attr")
    request = trace_request(name)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.append(
        kv("prompt", "x" * 1_000_000)
    )
    response = post(service.url, "/v1/traces", request.SerializeToString())
    assert response.status_code == 200
    partial = traces_answer(response).partial_success
    assert partial.rejected_spans == 1
    assert (
        partial.error_message == "rejected 1 spans: 1 x attribute 'prompt' larger than 65536 bytes"
    )
    assert stored(storage, name) == NOTHING


def test_ten_thousand_attributes_on_one_span_reject_it(service: Service, storage: Storage) -> None:
    name = unique("many-attrs")
    request = trace_request(name)
    request.resource_spans[0].scope_spans[0].spans[0].attributes.extend(
        kv(f"k{i}", i) for i in range(10_000)
    )
    response = post(service.url, "/v1/traces", request.SerializeToString())
    partial = traces_answer(response).partial_success
    assert (response.status_code, partial.rejected_spans) == (200, 1)
    assert partial.error_message == "rejected 1 spans: 1 x more than 1024 attributes"
    assert stored(storage, name) == NOTHING


def test_bad_spans_are_rejected_and_good_ones_in_the_same_request_stored(
    service: Service, storage: Storage
) -> None:
    name = unique("mixed")
    request = trace_request(name, spans=5)
    spans = request.resource_spans[0].scope_spans[0].spans
    spans[0].trace_id = b"short"
    spans[1].end_time_unix_nano = spans[1].start_time_unix_nano - 1
    spans[2].span_id = bytes(8)
    response = post(service.url, "/v1/traces", request.SerializeToString())
    partial = traces_answer(response).partial_success
    assert partial.rejected_spans == 3
    assert "1 x trace_id is not 16 bytes or is all zero" in partial.error_message
    assert "1 x end_time_unix_nano before start_time_unix_nano" in partial.error_message
    assert "1 x span_id is not 8 bytes or is all zero" in partial.error_message
    assert stored(storage, name)["spans"] == 2


def test_item_level_metric_problems_are_named(service: Service, storage: Storage) -> None:
    name = unique("metric-problems")
    request = metrics_request(name, [1.0])
    metrics = request.resource_metrics[0].scope_metrics[0].metrics
    unspecified = metrics.add(name="requests")
    unspecified.sum.data_points.add(time_unix_nano=now_ns(), as_int=3)  # temporality unset
    metrics.add(name="nothing")  # no data at all
    bad_buckets = metrics.add(name="latency")
    bad_buckets.histogram.aggregation_temporality = 2
    bad_buckets.histogram.data_points.add(
        time_unix_nano=now_ns(), count=2, bucket_counts=[1, 1], explicit_bounds=[1.0, 2.0]
    )
    response = post(service.url, "/v1/metrics", request.SerializeToString())
    partial = metrics_answer(response).partial_success
    assert partial.rejected_data_points == 2
    assert "1 x sum with unspecified aggregation_temporality" in partial.error_message
    assert (
        "1 x bucket_counts must have one more entry than explicit_bounds" in partial.error_message
    )
    assert "warning: 1 x metric 'nothing' carries no data" in partial.error_message
    assert stored(storage, name)["metric_points"] == 1  # the valid gauge point


def test_invalid_hex_id_in_json_is_400(service: Service, storage: Storage) -> None:
    body = {"resourceSpans": [{"scopeSpans": [{"spans": [{"traceId": "zz" * 16}]}]}]}
    response = post(service.url, "/v1/traces", json.dumps(body).encode(), JSON)
    assert response.status_code == 400
    assert (
        response.json()["message"]
        == "traceId 'zzzzzzzzzzzzzzzzzzzzzzzzzzzzzzzz' is not a hex string"
    )


def _trace_json(service: str, spans: int) -> dict[str, Any]:
    """``trace_request`` in OTLP/JSON: camelCase names, ids in hex."""
    request = trace_request(service, spans=spans)
    document = json_format.MessageToDict(request)
    for span, message in zip(
        document["resourceSpans"][0]["scopeSpans"][0]["spans"],
        request.resource_spans[0].scope_spans[0].spans,
        strict=True,
    ):
        span["traceId"], span["spanId"] = message.trace_id.hex(), message.span_id.hex()
    return document


def test_a_string_where_an_attribute_belongs_is_400_naming_it(
    service: Service, storage: Storage
) -> None:
    """protobuf's parser would turn ``"http.route"`` into an empty attribute and store it."""
    name = unique("attr-string")
    document = _trace_json(name, spans=2)
    span_attributes = document["resourceSpans"][0]["scopeSpans"][0]["spans"][1]["attributes"]
    span_attributes.append("http.route")
    response = post(service.url, "/v1/traces", json.dumps(document).encode(), JSON)
    assert response.status_code == 400
    at = f"resourceSpans[0].scopeSpans[0].spans[1].attributes[{len(span_attributes) - 1}]"
    assert response.json()["message"] == (
        f"invalid OTLP/JSON: {at} must be an object (KeyValue), got a string"
    )
    resource = document["resourceSpans"][0]["resource"]
    resource["attributes"] = "host.name=node-1"
    span_attributes.pop()
    response = post(service.url, "/v1/traces", json.dumps(document).encode(), JSON)
    assert response.status_code == 400
    assert response.json()["message"] == (
        "invalid OTLP/JSON: resourceSpans.resource.attributes must be a list"
    )
    assert stored(storage, name) == NOTHING
    response = post(service.url, "/v1/traces", json.dumps(_trace_json(name, 2)).encode(), JSON)
    assert response.status_code == 200  # the same document, well formed, is stored
    assert stored(storage, name)["spans"] == 2


def test_empty_requests_succeed_without_partial_success(service: Service) -> None:
    for path in ("/v1/traces", "/v1/metrics"):
        response = post(service.url, path, b"")
        assert (response.status_code, response.content) == (200, b"")
        response = post(service.url, path, b"{}", JSON)
        assert (response.status_code, response.json()) == (200, {})


def test_missing_or_wrong_token_is_401_with_a_status_body(storage: Storage) -> None:
    name = unique("auth")
    settings = Settings().with_overrides(ingest_tokens="secret-ingest")
    with running_service(storage, settings) as svc:
        body = trace_request(name).SerializeToString()
        for headers in ({}, {"Authorization": "Bearer wrong"}):
            response = post(svc.url, "/v1/traces", body, headers=headers)
            assert response.status_code == 401
            assert response.headers["www-authenticate"] == "Bearer"
            assert "bearer token" in status_of(response).message
        assert stored(storage, name) == NOTHING
        ok = post(svc.url, "/v1/traces", body, headers={"Authorization": "Bearer secret-ingest"})
        assert ok.status_code == 200
    assert stored(storage, name)["spans"] == 1


def test_full_write_queue_is_503_with_retry_after(storage: Storage) -> None:
    """A request arriving while another's rows wait in a one-row queue is throttled."""
    name, waiting = unique("throttled"), unique("waiting")
    settings = Settings().with_overrides(
        queue_max_rows=1,
        batch_max_rows=1_000_000,
        batch_max_delay_ms=3_000,
        retry_after_s=7,
        clock="external",  # no correlator tick may write into the one-row queue
    )
    with running_service(storage, settings) as svc:
        first: list[httpx.Response] = []
        sender = threading.Thread(
            target=lambda: first.append(
                post(svc.url, "/v1/traces", trace_request(waiting).SerializeToString())
            )
        )
        sender.start()
        poll_until(lambda: svc.ctx.writer.queued_rows > 0, timeout=10)
        response = post(svc.url, "/v1/traces", trace_request(name).SerializeToString())
        assert response.status_code == 503
        assert response.headers["retry-after"] == "7"
        assert "write queue full" in status_of(response).message
        sender.join(timeout=30)
        assert first[0].status_code == 200  # acknowledged once its rows were committed
    assert stored(storage, name) == NOTHING
    assert stored(storage, waiting)["spans"] == 1


@pytest.mark.parametrize("encoding", ["br", "deflate"])
def test_unsupported_content_encoding_is_415(service: Service, encoding: str) -> None:
    response = post(service.url, "/v1/traces", b"x", headers={"Content-Encoding": encoding})
    assert response.status_code == 415
    assert "Content-Encoding" in status_of(response).message


def test_requests_are_timed_with_time_of_receipt(service: Service, storage: Storage) -> None:
    """A span ending 59 minutes ahead of the clock is inside the skew allowance."""
    name = unique("skew")
    ahead = time.time_ns() + 59 * 60 * NS
    response = post(
        service.url, "/v1/traces", trace_request(name, start_ns=ahead).SerializeToString()
    )
    assert not traces_answer(response).HasField("partial_success")
    assert stored(storage, name)["spans"] == 1


def test_items_older_than_the_retention_are_rejected(service: Service, storage: Storage) -> None:
    """They would be deleted by the table TTL on arrival (default retention: 30 days)."""
    name = unique("stale")
    old = now_ns() - 31 * 86_400 * NS
    response = post(
        service.url, "/v1/traces", trace_request(name, start_ns=old).SerializeToString()
    )
    assert traces_answer(response).partial_success.error_message == (
        "rejected 1 spans: 1 x timestamp older than the retention window (30 days):"
        " it would expire on arrival"
    )
    response = post(
        service.url, "/v1/metrics", metrics_request(name, [1.0], time_ns=old).SerializeToString()
    )
    assert metrics_answer(response).partial_success.rejected_data_points == 1
    assert stored(storage, name) == NOTHING
