"""``ExportTraceServiceRequest`` to rows of ``spans`` (docs/telemetry.md, "Spans").

The hot path goes straight from protobuf objects to column lists: no per-span objects,
resource- and scope-level values computed once and repeated per accepted span, ids kept
as raw bytes (``FixedString`` columns), attributes decoded through the shadow schema.
Checks that cost nothing in the common case run inline; a span failing one is handed
to :func:`_span_problem`, which finds the reason it is reported under.
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import repeat
from typing import Any

from loadsense.collectors.contract import Decoded
from loadsense.collectors.otlp.anyvalue import MAX_ATTRIBUTES, ItemRejected, attributes
from loadsense.collectors.otlp.limits import (
    FUTURE_REASON,
    MAX_NAME_LENGTH,
    MAX_STATUS_MESSAGE_LENGTH,
    TimeWindow,
    queued_bytes,
)
from loadsense.collectors.otlp.payload import parse_traces, report_legacy
from loadsense.collectors.otlp.report import Rejections
from loadsense.collectors.otlp.resources import HOST_NAME, SERVICE_NAME, Resources, resource_id
from loadsense.collectors.otlp.shadow import Span
from loadsense.storage.schema.telemetry import SPANS
from loadsense.storage.writer import RowBatch

SPANS_TABLE = SPANS.name

MODEL_NAME = "ml.model.name"
MODEL_VERSION = "ml.model.version"

_HAS_FIELD = Span.HasField
_ZERO_TRACE = bytes(16)
_ZERO_SPAN = bytes(8)
_NO_EVENTS: tuple[Sequence[int], Sequence[str], Sequence[dict[str, str]]] = ((), (), ())


def decode_traces(
    body: bytes, media_type: str, received_at_ns: int, retention_days: float = 0
) -> Decoded:
    """Rows of ``spans`` for one request body; see :class:`loadsense.collectors.contract.Receiver`.
    Spans starting more than ``retention_days`` before receipt are rejected (0: no bound)."""
    parsed = parse_traces(body, media_type)
    request = parsed.request
    window = TimeWindow.around(received_at_ns, retention_days)
    floor, horizon = window.floor, window.horizon
    rejections = Rejections()
    report_legacy(parsed, rejections, "scopeSpans")

    service_names: list[str] = []
    host_names: list[str] = []
    kinds: list[int] = []
    span_names: list[str] = []
    start_times: list[int] = []
    durations: list[int] = []
    trace_ids: list[bytes] = []
    span_ids: list[bytes] = []
    parent_ids: list[bytes] = []
    status_codes: list[int] = []
    status_messages: list[str] = []
    model_names: list[str] = []
    model_versions: list[str] = []
    scope_names: list[str] = []
    scope_versions: list[str] = []
    span_attributes: list[dict[str, str]] = []
    resource_ids: list[int] = []
    resources = Resources(received_at_ns)
    event_times: list[Sequence[int]] = []
    event_names: list[Sequence[str]] = []
    event_attributes: list[Sequence[dict[str, str]]] = []

    append_kind = kinds.append
    append_name = span_names.append
    append_start = start_times.append
    append_duration = durations.append
    append_trace = trace_ids.append
    append_span = span_ids.append
    append_parent = parent_ids.append
    append_code = status_codes.append
    append_message = status_messages.append
    append_model = model_names.append
    append_version = model_versions.append
    append_attributes = span_attributes.append
    append_event_times = event_times.append
    append_event_names = event_names.append
    append_event_attributes = event_attributes.append
    reject = rejections.reject

    for resource_spans in request.resource_spans:
        scope_spans = resource_spans.scope_spans
        try:
            resource = attributes(resource_spans.resource.attributes)
        except ItemRejected as exc:
            reject(f"resource has {exc.reason}", sum(len(s.spans) for s in scope_spans))
            continue
        rid = resource_id(resource)
        service = resource.get(SERVICE_NAME, "")
        host = resource.get(HOST_NAME, "")
        resource_model = resource.get(MODEL_NAME, "")
        resource_version = resource.get(MODEL_VERSION, "")
        for scoped in scope_spans:
            scope = scoped.scope
            scope_name = scope.name
            scope_version = scope.version
            spans = scoped.spans
            if len(scope_name) > MAX_NAME_LENGTH or len(scope_version) > MAX_NAME_LENGTH:
                reject(f"scope name or version longer than {MAX_NAME_LENGTH}", len(spans))
                continue
            before = len(trace_ids)
            for span in spans:
                trace_id = span.trace_id
                span_id = span.span_id
                parent_id = span.parent_span_id
                start = span.start_time_unix_nano
                end = span.end_time_unix_nano
                kind = span.kind
                name = span.name
                if _HAS_FIELD(span, "status"):  # mostly unset: skip building the submessage
                    status = span.status
                    code, message = status.code, status.message
                else:
                    code, message = 0, ""
                if (
                    len(trace_id) != 16
                    or len(span_id) != 8
                    or trace_id == _ZERO_TRACE
                    or span_id == _ZERO_SPAN
                    or not floor < start <= end <= horizon
                    or not 0 <= kind <= 5
                    or not 0 <= code <= 2
                    or len(name) > MAX_NAME_LENGTH
                    or (parent_id and len(parent_id) != 8)
                    or len(message) > MAX_STATUS_MESSAGE_LENGTH
                ):
                    reject(_span_problem(span, window))
                    continue
                try:
                    attrs = attributes(span.attributes)
                    events = span.events
                    times, names, event_attrs = _events(events, horizon) if events else _NO_EVENTS
                except ItemRejected as exc:
                    reject(exc.reason)
                    continue
                append_trace(trace_id)
                append_span(span_id)
                append_parent(b"" if parent_id == _ZERO_SPAN else parent_id)
                append_start(start)
                append_duration(end - start)
                append_kind(kind)
                append_name(name)
                append_code(code)
                append_message(message)
                append_model(attrs.get(MODEL_NAME, resource_model))
                append_version(attrs.get(MODEL_VERSION, resource_version))
                append_attributes(attrs)
                append_event_times(times)
                append_event_names(names)
                append_event_attributes(event_attrs)
            accepted = len(trace_ids) - before
            if accepted:
                service_names.extend(repeat(service, accepted))
                host_names.extend(repeat(host, accepted))
                scope_names.extend(repeat(scope_name, accepted))
                scope_versions.extend(repeat(scope_version, accepted))
                resource_ids.extend(repeat(rid, accepted))
                resources.add(rid, resource)

    batches: tuple[RowBatch, ...] = ()
    if trace_ids:
        columns: dict[str, Sequence[Any]] = {
            "service_name": service_names,
            "host_name": host_names,
            "kind": kinds,
            "span_name": span_names,
            "start_time": start_times,
            "duration_ns": durations,
            "trace_id": trace_ids,
            "span_id": span_ids,
            "parent_span_id": parent_ids,
            "status_code": status_codes,
            "status_message": status_messages,
            "model_name": model_names,
            "model_version": model_versions,
            "scope_name": scope_names,
            "scope_version": scope_versions,
            "attributes": span_attributes,
            "resource_id": resource_ids,
            "event_times": event_times,
            "event_names": event_names,
            "event_attributes": event_attributes,
        }
        nbytes = queued_bytes(len(trace_ids), len(body))
        batches = (RowBatch.of(SPANS_TABLE, columns, nbytes), resources.batch())
    return Decoded(
        batches=batches,
        accepted=len(trace_ids),
        rejected=rejections.count,
        rejection_reason=rejections.message("spans"),
        content_key=parsed.content_key,
    )


def _events(
    events: Any, horizon: int
) -> tuple[Sequence[int], Sequence[str], Sequence[dict[str, str]]]:
    if len(events) > MAX_ATTRIBUTES:
        raise ItemRejected(f"more than {MAX_ATTRIBUTES} events")
    times: list[int] = []
    names: list[str] = []
    attrs: list[dict[str, str]] = []
    for event in events:
        time = event.time_unix_nano
        name = event.name
        if time > horizon:
            raise ItemRejected(FUTURE_REASON)
        if len(name) > MAX_NAME_LENGTH:
            raise ItemRejected(f"event name longer than {MAX_NAME_LENGTH}")
        times.append(time)
        names.append(name)
        attrs.append(attributes(event.attributes))
    return times, names, attrs


def _span_problem(span: Any, window: TimeWindow) -> str:
    """Why ``span`` failed the inline checks (the first problem found)."""
    if len(span.trace_id) != 16 or span.trace_id == _ZERO_TRACE:
        return "trace_id is not 16 bytes or is all zero"
    if len(span.span_id) != 8 or span.span_id == _ZERO_SPAN:
        return "span_id is not 8 bytes or is all zero"
    if span.parent_span_id and len(span.parent_span_id) != 8:
        return "parent_span_id is not 8 bytes"
    if span.start_time_unix_nano == 0 or span.end_time_unix_nano == 0:
        return "start_time_unix_nano or end_time_unix_nano missing"
    if span.end_time_unix_nano < span.start_time_unix_nano:
        return "end_time_unix_nano before start_time_unix_nano"
    problem = window.problem(span.end_time_unix_nano) or window.problem(span.start_time_unix_nano)
    if problem:
        return problem
    if not 0 <= span.kind <= 5:
        return f"unknown span kind {span.kind}"
    if not 0 <= span.status.code <= 2:
        return f"unknown status code {span.status.code}"
    if len(span.status.message) > MAX_STATUS_MESSAGE_LENGTH:
        return f"status message longer than {MAX_STATUS_MESSAGE_LENGTH}"
    return f"span name longer than {MAX_NAME_LENGTH}"
