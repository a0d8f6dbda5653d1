"""OTLP export requests as the OpenTelemetry Collector ClickHouse exporter stores them.

The rows follow the exporter's table schema (tests/fixtures/clickhouse_exporter/) and its
value mapping: hex trace and span ids, ``SPAN_KIND_*`` and ``STATUS_CODE_*`` names,
``Duration`` in nanoseconds, attribute values as text (``pcommon.Value.AsString``), the
resource's ``service.name`` as ``ServiceName``. This stands in for the Collector binary,
which cannot run here; the schema is the exporter's own.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue
from opentelemetry.proto.trace.v1 import trace_pb2

from loadsense.storage.client import Storage

_KINDS = {v: k for k, v in trace_pb2.Span.SpanKind.items()}
_STATUS = {0: "STATUS_CODE_UNSET", 1: "STATUS_CODE_OK", 2: "STATUS_CODE_ERROR"}

TRACE_COLUMNS = (
    "Timestamp", "TraceId", "SpanId", "ParentSpanId", "TraceState", "SpanName", "SpanKind",
    "ServiceName", "ResourceAttributes", "ScopeName", "ScopeVersion", "SpanAttributes",
    "Duration", "StatusCode", "StatusMessage",
)  # fmt: skip
_POINT = (
    "ResourceAttributes", "ScopeName", "ScopeVersion", "ServiceName", "MetricName",
    "MetricDescription", "MetricUnit", "Attributes", "StartTimeUnix", "TimeUnix", "Flags",
)  # fmt: skip
GAUGE_COLUMNS = (*_POINT, "Value")
SUM_COLUMNS = (*_POINT, "Value", "AggregationTemporality", "IsMonotonic")
HISTOGRAM_COLUMNS = (
    *_POINT, "Count", "Sum", "BucketCounts", "ExplicitBounds", "Min", "Max",
    "AggregationTemporality",
)  # fmt: skip


def as_string(value: AnyValue) -> str:
    """``pcommon.Value.AsString`` for the scalar kinds the tests send."""
    which = value.WhichOneof("value")
    if which == "string_value":
        return value.string_value
    if which == "bool_value":
        return "true" if value.bool_value else "false"
    if which == "int_value":
        return str(value.int_value)
    raise ValueError(f"attribute kind {which} is not mapped here")


def attributes(kvs: Iterable[KeyValue]) -> dict[str, str]:
    return {kv.key: as_string(kv.value) for kv in kvs}


def trace_rows(request: trace_service_pb2.ExportTraceServiceRequest) -> list[tuple[Any, ...]]:
    rows = []
    for rs in request.resource_spans:
        resource = attributes(rs.resource.attributes)
        for ss in rs.scope_spans:
            for s in ss.spans:
                rows.append(
                    (
                        s.start_time_unix_nano,
                        s.trace_id.hex(),
                        s.span_id.hex(),
                        s.parent_span_id.hex(),
                        s.trace_state,
                        s.name,
                        _KINDS[s.kind],
                        resource.get("service.name", ""),
                        resource,
                        ss.scope.name,
                        ss.scope.version,
                        attributes(s.attributes),
                        s.end_time_unix_nano - s.start_time_unix_nano,
                        _STATUS[s.status.code],
                        s.status.message,
                    )
                )
    return rows


def _number(point: Any) -> float:
    return float(point.as_double if point.HasField("as_double") else point.as_int)


def metric_rows(
    request: metrics_service_pb2.ExportMetricsServiceRequest,
) -> dict[str, list[tuple[Any, ...]]]:
    """Rows per exporter table suffix: ``gauge``, ``sum`` and ``histogram``."""
    out: dict[str, list[tuple[Any, ...]]] = {"gauge": [], "sum": [], "histogram": []}
    for rm in request.resource_metrics:
        resource = attributes(rm.resource.attributes)
        service = resource.get("service.name", "")
        for sm in rm.scope_metrics:
            for m in sm.metrics:
                kind = m.WhichOneof("data")
                data = getattr(m, kind)
                for p in data.data_points:
                    head = (
                        resource, sm.scope.name, sm.scope.version, service, m.name,
                        m.description, m.unit, attributes(p.attributes),
                        p.start_time_unix_nano, p.time_unix_nano, p.flags,
                    )  # fmt: skip
                    if kind == "gauge":
                        out["gauge"].append((*head, _number(p)))
                    elif kind == "sum":
                        sum_row = (
                            *head,
                            _number(p),
                            int(data.aggregation_temporality),
                            data.is_monotonic,
                        )
                        out["sum"].append(sum_row)
                    elif kind == "histogram":
                        out["histogram"].append(
                            (
                                *head,
                                p.count,
                                p.sum,
                                list(p.bucket_counts),
                                list(p.explicit_bounds),
                                p.min,
                                p.max,
                                int(data.aggregation_temporality),
                            )
                        )
                    else:
                        raise ValueError(f"metric kind {kind} is not mapped here")
    return out


def insert(
    storage: Storage, database: str, table: str, columns: Sequence[str], rows: list[Any]
) -> None:
    if rows:
        storage.client.insert(table, rows, column_names=list(columns), database=database)
