"""Request bodies to shadow messages, for either OTLP/HTTP encoding.

A body that does not parse is malformed as a whole (400, nothing stored). A request
carrying more than :data:`~loadsense.collectors.otlp.limits.MAX_ITEMS_PER_REQUEST` items is
refused (413) before any row is built.
"""

from __future__ import annotations

from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from loadsense.collectors.otlp.http import JSON
from loadsense.collectors.otlp.jsonpb import json_to_protobuf
from loadsense.collectors.otlp.limits import MAX_ITEMS_PER_REQUEST
from loadsense.collectors.otlp.shadow import MetricsRequest, TraceRequest
from loadsense.errors import InvalidInput, PayloadTooLarge


def _parse(body: bytes, media_type: str, shadow: Any, upstream: Any) -> Any:
    if media_type == JSON:
        body = json_to_protobuf(body, upstream)
    try:
        return shadow.FromString(body)
    except DecodeError:
        name = upstream.DESCRIPTOR.name
        raise InvalidInput(f"body is not a valid protobuf {name} (truncated or corrupt)") from None


def _check_count(count: int, noun: str) -> None:
    if count > MAX_ITEMS_PER_REQUEST:
        raise PayloadTooLarge(
            f"request carries {count} {noun}; at most {MAX_ITEMS_PER_REQUEST} per request "
            "are accepted: send smaller batches"
        )


def parse_traces(body: bytes, media_type: str) -> Any:
    """The shadow ``ExportTraceServiceRequest`` of ``body``."""
    request = _parse(body, media_type, TraceRequest, trace_service_pb2.ExportTraceServiceRequest)
    _check_count(sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans), "spans")
    return request


def parse_metrics(body: bytes, media_type: str) -> Any:
    """The shadow ``ExportMetricsServiceRequest`` of ``body``."""
    request = _parse(
        body, media_type, MetricsRequest, metrics_service_pb2.ExportMetricsServiceRequest
    )
    _check_count(sum(point_count(m) for m in all_metrics(request)), "data points")
    return request


def all_metrics(request: Any) -> list[Any]:
    return [m for r in request.resource_metrics for s in r.scope_metrics for m in s.metrics]


def point_count(metric: Any) -> int:
    """Data points of ``metric`` whatever its type (0 when it carries no data)."""
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0
