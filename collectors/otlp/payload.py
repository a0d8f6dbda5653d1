"""Request bodies to shadow messages, for either OTLP/HTTP encoding.

A body that does not parse is malformed as a whole (400, nothing stored). A request
carrying more than :data:`~loadsense.collectors.otlp.limits.MAX_ITEMS_PER_REQUEST` items is
refused (413) before any row is built.

Each parse also yields the request's content key: a digest of the decoded message's
deterministic serialization, so the same export sent once as OTLP/JSON and once as
protobuf (an exporter or proxy that switched encodings on retry) has one key, which
``collectors/retry_dedup.py`` stores once. Unknown fields stay in the key: two bodies
that differ only in a field this version does not know are different requests.
"""

from __future__ import annotations

import hashlib
from typing import Any, NamedTuple

from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from loadsense.collectors.otlp.http import JSON
from loadsense.collectors.otlp.jsonpb import json_to_protobuf
from loadsense.collectors.otlp.limits import MAX_ITEMS_PER_REQUEST
from loadsense.collectors.otlp.report import Rejections
from loadsense.collectors.otlp.shadow import MetricsRequest, TraceRequest
from loadsense.errors import InvalidInput, PayloadTooLarge


class Parsed(NamedTuple):
    """A parsed export request: the shadow message, its content key (see the module
    docstring) and the pre-1.0 JSON items it carried, by field name (not in ``request``)."""

    request: Any
    content_key: bytes
    legacy: dict[str, int]


def content_key(request: Any, extra: bytes = b"") -> bytes:
    """16-byte BLAKE2b of the message type, its deterministic serialization and
    ``extra``."""
    h = hashlib.blake2b(request.DESCRIPTOR.full_name.encode(), digest_size=16)
    h.update(b"\0")
    h.update(request.SerializeToString(deterministic=True))
    h.update(extra)
    return h.digest()


def _parse(body: bytes, media_type: str, shadow: Any, upstream: Any) -> Parsed:
    legacy: dict[str, int] = {}
    raw = body
    if media_type == JSON:
        body, legacy = json_to_protobuf(body, upstream)
    try:
        request = shadow.FromString(body)
    except DecodeError:
        name = upstream.DESCRIPTOR.name
        raise InvalidInput(f"body is not a valid protobuf {name} (truncated or corrupt)") from None
    # Pre-1.0 items are not in the message: two bodies differing only there are not one.
    return Parsed(request, content_key(request, b"\0" + raw if legacy else b""), legacy)


def _check_count(count: int, noun: str) -> None:
    if count > MAX_ITEMS_PER_REQUEST:
        raise PayloadTooLarge(
            f"request carries {count} {noun}; at most {MAX_ITEMS_PER_REQUEST} per request "
            "are accepted: send smaller batches"
        )


def parse_traces(body: bytes, media_type: str) -> Parsed:
    """The shadow ``ExportTraceServiceRequest`` of ``body``."""
    parsed = _parse(body, media_type, TraceRequest, trace_service_pb2.ExportTraceServiceRequest)
    request = parsed.request
    _check_count(sum(len(s.spans) for r in request.resource_spans for s in r.scope_spans), "spans")
    return parsed


def parse_metrics(body: bytes, media_type: str) -> Parsed:
    """The shadow ``ExportMetricsServiceRequest`` of ``body``."""
    parsed = _parse(
        body, media_type, MetricsRequest, metrics_service_pb2.ExportMetricsServiceRequest
    )
    _check_count(sum(point_count(m) for m in all_metrics(parsed.request)), "data points")
    return parsed


def report_legacy(parsed: Parsed, rejections: Rejections, current: str) -> None:
    """Count the items sent under a pre-1.0 field name as rejected (a warning when that
    field holds none), naming the field and ``current``, its OTLP 1.0 name."""
    for field, n in sorted(parsed.legacy.items()):
        reason = f"{field} is the pre-1.0 OTLP/JSON field name; send {current} (OTLP 1.0)"
        if n:
            rejections.reject(reason, n)
        else:
            rejections.warn(reason)


def all_metrics(request: Any) -> list[Any]:
    return [m for r in request.resource_metrics for s in r.scope_metrics for m in s.metrics]


def point_count(metric: Any) -> int:
    """Data points of ``metric`` whatever its type (0 when it carries no data)."""
    kind = metric.WhichOneof("data")
    return len(getattr(metric, kind).data_points) if kind else 0
