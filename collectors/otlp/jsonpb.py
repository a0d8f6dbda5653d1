"""OTLP/JSON to binary protobuf, with the OTLP deviations from the proto3 JSON mapping.

OTLP/JSON (opentelemetry-proto ``docs/specification.md``, "JSON Protobuf Encoding")
differs from standard proto3 JSON in ways ``json_format`` does not know about:

- ``traceId`` / ``spanId`` / ``parentSpanId`` (spans, links, exemplars) are
  case-insensitive hex, not base64; they are rewritten to base64 before parsing;
- enums are integers (``json_format`` accepts integers, and names too);
- 64-bit integers may be strings or numbers (``json_format`` accepts both);
- unknown fields must be ignored (``ignore_unknown_fields=True``).

With unknown fields ignored, ``json_format`` also accepts a string (or number) where a
message belongs and leaves an empty message there, so an ``attributes`` element written
as ``"host.name"`` would become an empty attribute. :func:`check_message_shapes` refuses
such a document first, naming the element.

The result is serialized to binary so that one decoder (the shadow schema) serves both
encodings. JSON is the slow path; the binary encoding is what SDKs send by default.

Ignoring unknown fields would also ignore, silently, every item of a body in the shape
before OTLP 1.0 (``instrumentationLibrarySpans`` / ``instrumentationLibraryMetrics``
where 1.0 says ``scopeSpans`` / ``scopeMetrics``): :func:`legacy_items` counts them so
the receiver reports them as rejected in ``partial_success``.
"""

from __future__ import annotations

import base64
import binascii
import json
from functools import cache
from typing import Any

from google.protobuf import json_format
from google.protobuf.descriptor import Descriptor, FieldDescriptor

from loadsense.collectors.reasons import json_reason, otlp_json_error
from loadsense.errors import InvalidInput

_ID_FIELDS = frozenset(
    {"traceId", "spanId", "parentSpanId", "trace_id", "span_id", "parent_span_id"}
)


def _hex_ids_to_base64(document: Any) -> None:
    """Rewrite every hex id field in ``document`` (in place, iteratively: no recursion)."""
    stack = [document]
    while stack:
        node = stack.pop()
        if isinstance(node, dict):
            for key, value in node.items():
                if key in _ID_FIELDS and isinstance(value, str):
                    node[key] = _hex_to_base64(key, value)
                elif isinstance(value, dict | list):
                    stack.append(value)
        elif isinstance(node, list):
            stack.extend(v for v in node if isinstance(v, dict | list))


def _hex_to_base64(field: str, value: str) -> str:
    try:
        raw = bytes.fromhex(value)
    except ValueError:
        raise InvalidInput(f"{field} {value[:40]!r} is not a hex string", field=field) from None
    return base64.b64encode(raw).decode("ascii")


@cache
def _message_fields(descriptor: Descriptor) -> dict[str, FieldDescriptor]:
    """JSON key (camelCase or proto name) -> message-typed field of ``descriptor``."""
    fields: dict[str, FieldDescriptor] = {}
    for field in descriptor.fields:
        if field.message_type is not None:
            fields[field.json_name] = field
            fields[field.name] = field
    return fields


def check_message_shapes(document: dict[str, Any], descriptor: Descriptor) -> None:
    """Raise :class:`InvalidInput` naming the first place where ``document`` has something
    other than a JSON object (or null) for a message, e.g. a string ``attributes`` element.
    Iterative, so a deep document cannot exhaust the stack."""
    stack: list[tuple[dict[str, Any], Descriptor, str]] = [(document, descriptor, "")]
    while stack:
        node, desc, path = stack.pop()
        fields = _message_fields(desc)
        for key, value in node.items():
            field = fields.get(key)
            if field is None or value is None:
                continue
            where = f"{path}.{key}" if path else key
            if field.is_repeated and not isinstance(value, list):
                continue  # json_format refuses it ("... must be a list")
            for index, item in enumerate(value) if field.is_repeated else ((None, value),):
                at = where if index is None else f"{where}[{index}]"
                if isinstance(item, dict):
                    stack.append((item, field.message_type, at))
                elif item is not None:
                    raise InvalidInput(
                        f"invalid OTLP/JSON: {at} must be an object ({field.message_type.name}), "
                        f"got {_json_kind(item)}",
                        field=at,
                    )


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return "a string"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    return "a list" if isinstance(value, list) else type(value).__name__


LEGACY_FIELDS = {
    "resourceSpans": ("instrumentationLibrarySpans", "instrumentation_library_spans"),
    "resourceMetrics": ("instrumentationLibraryMetrics", "instrumentation_library_metrics"),
}
"""Top-level list -> the pre-1.0 field names (JSON and proto names) inside its items."""

_POINT_KINDS = ("gauge", "sum", "histogram", "exponentialHistogram", "summary")


def _items(block: Any) -> int:
    """Spans or data points in one pre-1.0 ``instrumentationLibrary*`` element."""
    if not isinstance(block, dict):
        return 0
    spans = block.get("spans")
    if isinstance(spans, list):
        return len(spans)
    metrics = block.get("metrics")
    count = 0
    for metric in metrics if isinstance(metrics, list) else ():
        for kind in _POINT_KINDS:
            data = metric.get(kind) if isinstance(metric, dict) else None
            points = data.get("dataPoints") if isinstance(data, dict) else None
            count += len(points) if isinstance(points, list) else 0
    return count


def legacy_items(document: dict[str, Any]) -> dict[str, int]:
    """Pre-1.0 field name -> items (spans or data points) found under it in ``document``."""
    found: dict[str, int] = {}
    for top, names in LEGACY_FIELDS.items():
        resources = document.get(top)
        for resource in resources if isinstance(resources, list) else ():
            if not isinstance(resource, dict):
                continue
            for name in names:
                blocks = resource.get(name)
                if blocks is not None:
                    listed = blocks if isinstance(blocks, list) else [blocks]
                    found[name] = found.get(name, 0) + sum(_items(b) for b in listed)
    return found


def json_to_protobuf(body: bytes, message_class: Any) -> tuple[bytes, dict[str, int]]:
    """The binary encoding of the OTLP/JSON ``body`` parsed as ``message_class``, and the
    items it carries in the pre-1.0 shape (:func:`legacy_items`), which that encoding
    leaves out."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidInput(f"invalid JSON: {json_reason(exc)}") from None
    if not isinstance(document, dict):
        raise InvalidInput("invalid OTLP/JSON: the body must be a JSON object")
    check_message_shapes(document, message_class.DESCRIPTOR)
    _hex_ids_to_base64(document)
    message = message_class()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        raise otlp_json_error(exc) from None
    except RecursionError:
        raise InvalidInput("invalid OTLP/JSON: nested too deeply") from None
    data: bytes = message.SerializeToString()
    return data, legacy_items(document)
