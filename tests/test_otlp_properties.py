"""Generated OTLP payloads through the decoders: they never crash, every span or point
is either stored or counted as rejected, and what is stored round-trips (compared with
expectations computed from the generating Python values, not from the decoder)."""

from __future__ import annotations

import base64
import json
import math
import random
import time
from itertools import pairwise
from typing import Any

from google.protobuf import json_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from loadsense.collectors.otlp.metrics import POINTS_TABLE, decode_metrics
from loadsense.collectors.otlp.payload import all_metrics, parse_metrics, parse_traces, point_count
from loadsense.collectors.otlp.traces import SPANS_TABLE, decode_traces
from loadsense.errors import InvalidInput, PayloadTooLarge
from tests.support.otlp import JSON, PROTOBUF

NOW = 1_800_000_000 * 1_000_000_000
HOUR = 3600 * 1_000_000_000

SETTINGS = settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])

text = st.text(st.characters(exclude_categories=("Cs",)), max_size=40)
int64 = st.integers(-(2**63), 2**63 - 1)
scalars = st.one_of(text, st.booleans(), int64, st.floats(), st.binary(max_size=20), st.none())
py_values = st.recursive(
    scalars,
    lambda inner: st.one_of(st.lists(inner, max_size=3), st.dictionaries(text, inner, max_size=3)),
    max_leaves=6,
)
attribute_maps = st.dictionaries(text, py_values, max_size=6)


def any_value(value: Any) -> AnyValue:
    if value is None:
        return AnyValue()
    if isinstance(value, bool):
        return AnyValue(bool_value=value)
    if isinstance(value, int):
        return AnyValue(int_value=value)
    if isinstance(value, float):
        return AnyValue(double_value=value)
    if isinstance(value, bytes):
        return AnyValue(bytes_value=value)
    if isinstance(value, str):
        return AnyValue(string_value=value)
    out = AnyValue()
    if isinstance(value, list):
        out.array_value.values.extend(any_value(v) for v in value)
    else:
        out.kvlist_value.values.extend(
            KeyValue(key=k, value=any_value(v)) for k, v in value.items()
        )
    return out


def key_values(attrs: dict[str, Any]) -> list[KeyValue]:
    return [KeyValue(key=k, value=any_value(v)) for k, v in attrs.items()]


def _json_value(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    if isinstance(value, list):
        return [_json_value(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_value(v) for k, v in value.items()}
    return value


def expected_text(value: Any) -> str:
    """The documented stored text of an attribute value (docs/telemetry.md)."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int | str):
        return str(value)
    if isinstance(value, float):
        return repr(value)
    if isinstance(value, bytes):
        return base64.b64encode(value).decode()
    return json.dumps(_json_value(value), separators=(",", ":"), ensure_ascii=False)


def _id(size: int) -> st.SearchStrategy[bytes]:
    """Ids of ``size`` bytes, never all zero (hypothesis favours zero bytes)."""
    return st.binary(min_size=size, max_size=size).map(lambda b: bytes([b[0] | 1]) + b[1:])


CORRUPTIONS: dict[str, Any] = {
    "trace_id": b"\x01" * 15,
    "span_id": bytes(8),
    "parent": b"\x01\x02",
    "duration": -1,
    "kind": 7,
    "code": 3,
}


@st.composite
def spans_strategy(draw: st.DrawFn) -> dict[str, Any]:
    """A valid span, or now and then one with a single invalid field."""
    span = {
        "trace_id": draw(_id(16)),
        "span_id": draw(_id(8)),
        "parent": draw(st.one_of(st.just(b""), _id(8), st.just(bytes(8)))),
        "start": draw(st.integers(NOW - 10 * HOUR, NOW + HOUR // 2)),
        "duration": draw(st.integers(0, HOUR // 4)),
        "kind": draw(st.integers(0, 5)),
        "code": draw(st.integers(0, 2)),
        "name": draw(text),
        "attributes": draw(attribute_maps),
    }
    corrupt = draw(st.sampled_from([None, None, None, None, "start", *CORRUPTIONS]))
    if corrupt == "start":
        span["start"] = draw(st.sampled_from([0, NOW + 2 * HOUR]))
    elif corrupt is not None:
        span[corrupt] = CORRUPTIONS[corrupt]
    return span


resources_strategy = st.lists(
    st.tuples(
        attribute_maps,
        st.lists(st.lists(spans_strategy(), min_size=1, max_size=4), min_size=1, max_size=2),
    ),
    min_size=1,
    max_size=3,
)


def _span_ok(s: dict[str, Any]) -> bool:
    end = s["start"] + s["duration"]
    return (
        len(s["trace_id"]) == 16
        and s["trace_id"] != bytes(16)
        and len(s["span_id"]) == 8
        and s["span_id"] != bytes(8)
        and len(s["parent"]) in (0, 8)
        and 0 < s["start"] <= end <= NOW + HOUR
        and 0 <= s["kind"] <= 5
        and 0 <= s["code"] <= 2
    )


def _trace_request(resources: list[Any]) -> trace_service_pb2.ExportTraceServiceRequest:
    request = trace_service_pb2.ExportTraceServiceRequest()
    for resource_attrs, scopes in resources:
        rs = request.resource_spans.add()
        rs.resource.attributes.extend(key_values(resource_attrs))
        for spans in scopes:
            ss = rs.scope_spans.add()
            for s in spans:
                span = ss.spans.add(
                    trace_id=s["trace_id"],
                    span_id=s["span_id"],
                    parent_span_id=s["parent"],
                    name=s["name"],
                    kind=s["kind"],
                    start_time_unix_nano=s["start"],
                    end_time_unix_nano=max(0, s["start"] + s["duration"]),
                )
                span.status.code = s["code"]
                span.attributes.extend(key_values(s["attributes"]))
    return request


def _span_count(body: bytes, media: str) -> int:
    request = parse_traces(body, media).request
    return sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans)


def _point_count(body: bytes, media: str) -> int:
    return sum(point_count(m) for m in all_metrics(parse_metrics(body, media).request))


def _rows(decoded: Any) -> list[dict[str, Any]]:
    if not decoded.batches:
        return []
    batch = decoded.batches[0]
    return [dict(zip(batch.columns, row, strict=True)) for row in zip(*batch.data, strict=True)]


@SETTINGS
@given(resources_strategy)
def test_generated_traces_are_stored_or_rejected_and_round_trip(resources: list[Any]) -> None:
    body = _trace_request(resources).SerializeToString()
    decoded = decode_traces(body, PROTOBUF, NOW)
    expected = [(attrs, s) for attrs, scopes in resources for spans in scopes for s in spans]
    valid = [(attrs, s) for attrs, s in expected if _span_ok(s)]
    assert (decoded.accepted, decoded.rejected) == (len(valid), len(expected) - len(valid))
    rows = _rows(decoded)
    for row, (resource_attrs, s) in zip(rows, valid, strict=True):
        end = s["start"] + s["duration"]
        texts = {k: expected_text(v) for k, v in s["attributes"].items()}
        resource_texts = {k: expected_text(v) for k, v in resource_attrs.items()}
        assert row["trace_id"] == s["trace_id"] and row["span_id"] == s["span_id"]
        assert row["parent_span_id"] == (b"" if s["parent"] == bytes(8) else s["parent"])
        assert (row["start_time"], row["duration_ns"]) == (s["start"], end - s["start"])
        assert (row["kind"], row["status_code"], row["span_name"]) == (
            s["kind"],
            s["code"],
            s["name"],
        )
        assert row["attributes"] == texts
        assert row["service_name"] == resource_texts.get("service.name", "")
        assert row["model_name"] == texts.get(
            "ml.model.name", resource_texts.get("ml.model.name", "")
        )
    # OTLP/JSON of the same request decodes to the same rows.
    document = json.loads(json_format.MessageToJson(_trace_request(resources)))
    for rs in document.get("resourceSpans", []):
        for ss in rs.get("scopeSpans", []):
            for span in ss.get("spans", []):
                for key in ("traceId", "spanId", "parentSpanId"):
                    if key in span:
                        span[key] = base64.b64decode(span[key]).hex()
    from_json = decode_traces(json.dumps(document).encode(), JSON, NOW)
    assert (from_json.accepted, from_json.rejected) == (decoded.accepted, decoded.rejected)
    assert _rows(from_json) == rows


number_points = st.lists(
    st.tuples(
        st.one_of(st.floats(), st.integers(-(2**63), 2**63 - 1)),
        st.integers(0, NOW + 2 * HOUR),
        attribute_maps,
    ),
    max_size=5,
)
histogram_points = st.lists(
    st.tuples(
        st.lists(st.integers(0, 1000), max_size=5),
        st.lists(st.floats(-1e6, 1e6), max_size=5),
        st.floats(allow_nan=True),
    ),
    max_size=3,
)


@SETTINGS
@given(
    st.lists(st.tuples(st.sampled_from(["gauge", "sum"]), number_points), max_size=4),
    histogram_points,
)
def test_generated_metrics_are_stored_or_rejected_and_round_trip(
    numbers: list[Any], histograms: list[Any]
) -> None:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    metrics = request.resource_metrics.add().scope_metrics.add().metrics
    expected_values: list[tuple[float, dict[str, str]]] = []
    total = 0
    for i, (kind, points) in enumerate(numbers):
        metric = metrics.add(name=f"m{i}")
        data = metric.gauge if kind == "gauge" else metric.sum
        if kind == "sum":
            metric.sum.aggregation_temporality = 2
        for value, t, attrs in points:
            point = data.data_points.add(time_unix_nano=t)
            if isinstance(value, float):
                point.as_double = value
            else:
                point.as_int = value
            point.attributes.extend(key_values(attrs))
            total += 1
            if 0 < t <= NOW + HOUR and math.isfinite(float(value)):
                expected_values.append(
                    (float(value), {k: expected_text(v) for k, v in attrs.items()})
                )
    histogram = metrics.add(name="h")
    histogram.histogram.aggregation_temporality = 1
    valid_histograms = 0
    for counts, bounds, total_sum in histograms:
        histogram.histogram.data_points.add(
            time_unix_nano=NOW,
            count=sum(counts),
            sum=total_sum,
            bucket_counts=counts,
            explicit_bounds=bounds,
        )
        total += 1
        shaped = (not counts and not bounds) or len(counts) == len(bounds) + 1
        increasing = all(a < b for a, b in pairwise(bounds))
        valid_histograms += shaped and increasing and math.isfinite(total_sum)
    decoded = decode_metrics(request.SerializeToString(), PROTOBUF, NOW)
    accepted = len(expected_values) + valid_histograms
    assert (decoded.accepted, decoded.rejected) == (accepted, total - accepted)
    rows = [r for r in _rows(decoded) if r["metric_type"] in (1, 2)]
    assert [(r["value"], r["attributes"]) for r in rows] == expected_values


@SETTINGS
@given(st.binary(max_size=300), st.integers(0, 2**32))
def test_arbitrary_or_corrupted_bodies_never_crash_the_decoder(noise: bytes, seed: int) -> None:
    rng = random.Random(seed)
    valid = _trace_request(
        [
            (
                {"service.name": "s", "k": [1, "x"]},
                [
                    [
                        {
                            "trace_id": bytes(range(1, 17)),
                            "span_id": bytes(range(1, 9)),
                            "parent": b"",
                            "start": NOW - 10,
                            "duration": 5,
                            "kind": 2,
                            "code": 0,
                            "name": "n",
                            "attributes": {"a": "b", "c": 1.5, "d": {"e": [True]}},
                        }
                    ]
                ],
            )
        ]
    ).SerializeToString()
    corrupted = bytearray(valid)
    for _ in range(rng.randint(1, 4)):
        corrupted[rng.randrange(len(corrupted))] = rng.randrange(256)
    decoders = (
        (decode_traces, _span_count, SPANS_TABLE),
        (decode_metrics, _point_count, POINTS_TABLE),
    )
    for body in (noise, bytes(corrupted)):
        for decode, count_items, table in decoders:
            for media in (PROTOBUF, JSON):
                try:
                    result = decode(body, media, time.time_ns())
                except (InvalidInput, PayloadTooLarge):
                    continue
                # Whatever the bytes parsed into, every item is accounted for exactly once:
                # written to the item table or counted as rejected, never lost or doubled.
                assert result.accepted + result.rejected == count_items(body, media)
                written = sum(b.rows for b in result.batches if b.table == table)
                assert written == result.accepted
