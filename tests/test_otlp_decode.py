"""Decoder details with hand-computed expectations: exponential histograms as explicit
buckets, summaries, "no recorded value" points, attribute text, resource identity."""

from __future__ import annotations

import math

import pytest
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from loadsense.collectors.otlp.anyvalue import ItemRejected, attributes
from loadsense.collectors.otlp.exphistogram import to_explicit
from loadsense.collectors.otlp.metrics import decode_metrics
from loadsense.collectors.otlp.resources import resource_id
from loadsense.errors import InvalidInput
from tests.support.otlp import PROTOBUF, kv

NOW = 1_800_000_000 * 1_000_000_000


def _rows(body: bytes) -> list[dict[str, object]]:
    decoded = decode_metrics(body, PROTOBUF, NOW)
    batch = next(b for b in decoded.batches if b.table == "metric_points")
    return [dict(zip(batch.columns, row, strict=True)) for row in zip(*batch.data, strict=True)]


def _request() -> tuple[metrics_service_pb2.ExportMetricsServiceRequest, object]:
    request = metrics_service_pb2.ExportMetricsServiceRequest()
    rm = request.resource_metrics.add()
    rm.resource.attributes.append(kv("service.name", "svc"))
    return request, rm.scope_metrics.add().metrics


def test_exponential_buckets_at_scale_0_map_to_powers_of_two() -> None:
    # base = 2: positive bucket i holds (2^i, 2^(i+1)], negative bucket i [-2^(i+1), -2^i).
    bounds, counts = to_explicit(0, 5, 0.0, 0, [1, 2], 1, [3])
    assert bounds == [-4.0, -2.0, 0.0, 2.0, 4.0]
    assert counts == [0, 3, 5, 1, 2, 0]  # empty below -4; 3 in [-4, -2); 5 zeros; ...


def test_exponential_buckets_at_scale_1_use_base_sqrt_2() -> None:
    bounds, counts = to_explicit(1, 0, 0.0, 2, [7], 0, [])
    assert bounds == pytest.approx([0.0, 2 ** (3 / 2)])  # bucket 2 is (2^(2/2), 2^(3/2)]
    assert counts == [0, 7, 0]


def test_exponential_bounds_beyond_the_float_range_reject_the_point() -> None:
    with pytest.raises(ItemRejected, match="beyond the float range"):
        to_explicit(-10, 0, 0.0, 2_000_000, [1], 0, [])


def test_exponential_histogram_point_is_stored_in_explicit_form() -> None:
    request, metrics = _request()
    metric = metrics.add(name="size", unit="By")
    metric.exponential_histogram.aggregation_temporality = 2
    point = metric.exponential_histogram.data_points.add(
        time_unix_nano=NOW, count=6, sum=11.0, scale=0, zero_count=1, min=0.0, max=4.0
    )
    point.positive.offset = 0
    point.positive.bucket_counts.extend([2, 3])
    (row,) = _rows(request.SerializeToString())
    assert (row["metric_type"], row["count"], row["sum"], row["min"], row["max"]) == (
        4,
        6,
        11.0,
        0.0,
        4.0,
    )
    assert (row["explicit_bounds"], row["bucket_counts"]) == ([0.0, 2.0, 4.0], [1, 2, 3, 0])


def test_summary_keeps_count_sum_and_quantiles() -> None:
    request, metrics = _request()
    metric = metrics.add(name="rpc.duration", unit="ms")
    point = metric.summary.data_points.add(time_unix_nano=NOW, count=10, sum=123.5)
    for q, v in ((0.5, 10.0), (0.99, 40.0)):
        point.quantile_values.add(quantile=q, value=v)
    (row,) = _rows(request.SerializeToString())
    assert (row["metric_type"], row["temporality"], row["count"], row["sum"]) == (5, 2, 10, 123.5)
    assert (row["quantiles"], row["quantile_values"]) == ([0.5, 0.99], [10.0, 40.0])
    assert math.isnan(row["min"]) and math.isnan(row["max"])  # not part of a summary


def test_no_recorded_value_points_are_stored_with_their_flag() -> None:
    request, metrics = _request()
    metric = metrics.add(name="up")
    metric.gauge.data_points.add(time_unix_nano=NOW, as_double=math.nan, flags=1)
    (row,) = _rows(request.SerializeToString())
    assert (row["value"], row["flags"]) == (0.0, 1)


def test_histogram_without_sum_min_max_stores_nan() -> None:
    request, metrics = _request()
    metric = metrics.add(name="latency", unit="s")
    metric.histogram.aggregation_temporality = 1
    metric.histogram.data_points.add(
        time_unix_nano=NOW, count=3, bucket_counts=[1, 2], explicit_bounds=[0.5]
    )
    (row,) = _rows(request.SerializeToString())
    assert all(math.isnan(row[k]) for k in ("sum", "min", "max"))  # type: ignore[arg-type]
    assert (row["bucket_counts"], row["explicit_bounds"]) == ([1, 2], [0.5])


def _encoded(key: str, value: AnyValue) -> bytes:
    return KeyValue(key=key, value=value).SerializeToString()


def test_attribute_text_by_value_type() -> None:
    nested = AnyValue()
    nested.kvlist_value.values.add(key="a", value=AnyValue(int_value=-3))
    nested.kvlist_value.values.add(key="b", value=AnyValue(double_value=math.inf))
    array = AnyValue()
    array.array_value.values.extend(
        [AnyValue(string_value="x"), AnyValue(bool_value=True), nested, AnyValue()]
    )
    long_text = "é" * 200  # longer than the one-byte-length fast path
    raw = [
        _encoded("s", AnyValue(string_value="GET")),
        _encoded("long", AnyValue(string_value=long_text)),
        _encoded("b", AnyValue(bool_value=False)),
        _encoded("i", AnyValue(int_value=2**63 - 1)),
        _encoded("d", AnyValue(double_value=0.1)),
        _encoded("nan", AnyValue(double_value=math.nan)),
        _encoded("bytes", AnyValue(bytes_value=b"\x00\xff")),
        _encoded("array", array),
        _encoded("empty", AnyValue()),
    ]
    assert attributes(raw) == {
        "s": "GET",
        "long": long_text,
        "b": "false",
        "i": "9223372036854775807",
        "d": "0.1",
        "nan": "nan",
        "bytes": "AP8=",
        "array": '["x",true,{"a":-3,"b":"inf"},null]',
        "empty": "",
    }
    assert attributes(raw) == attributes(list(raw))  # memoised second pass agrees


def test_malformed_attribute_bytes_make_the_request_invalid() -> None:
    with pytest.raises(InvalidInput, match="malformed attribute"):
        attributes([b"\x0a\x05ab"])  # key claims 5 bytes, 2 follow
    with pytest.raises(InvalidInput, match="not UTF-8"):
        attributes([b"\x0a\x01k\x12\x04\x0a\x02\xff\xfe"])


def test_resource_id_is_independent_of_attribute_order() -> None:
    a = {"service.name": "x", "host.name": "h"}
    b = {"host.name": "h", "service.name": "x"}
    assert resource_id(a) == resource_id(b) != resource_id({"service.name": "x"})
    assert 0 <= resource_id(a) < 2**64
