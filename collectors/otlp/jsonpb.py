"""OTLP/JSON to binary protobuf, with the OTLP deviations from the proto3 JSON mapping.

OTLP/JSON (opentelemetry-proto ``docs/specification.md``, "JSON Protobuf Encoding")
differs from standard proto3 JSON in ways ``json_format`` does not know about:

- ``traceId`` / ``spanId`` / ``parentSpanId`` (spans, links, exemplars) are
  case-insensitive hex, not base64; they are rewritten to base64 before parsing;
- enums are integers (``json_format`` accepts integers, and names too);
- 64-bit integers may be strings or numbers (``json_format`` accepts both);
- unknown fields must be ignored (``ignore_unknown_fields=True``).

The result is serialized to binary so that one decoder (the shadow schema) serves both
encodings. JSON is the slow path; the binary encoding is what SDKs send by default.
"""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from google.protobuf import json_format

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


def json_to_protobuf(body: bytes, message_class: Any) -> bytes:
    """The binary encoding of the OTLP/JSON ``body`` parsed as ``message_class``."""
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and UnicodeDecodeError
        raise InvalidInput(f"invalid JSON: {json_reason(exc)}") from None
    if not isinstance(document, dict):
        raise InvalidInput("invalid OTLP/JSON: the body must be a JSON object")
    _hex_ids_to_base64(document)
    message = message_class()
    try:
        json_format.ParseDict(document, message, ignore_unknown_fields=True)
    except (json_format.ParseError, ValueError, TypeError, binascii.Error) as exc:
        raise otlp_json_error(exc) from None
    except RecursionError:
        raise InvalidInput("invalid OTLP/JSON: nested too deeply") from None
    data: bytes = message.SerializeToString()
    return data
