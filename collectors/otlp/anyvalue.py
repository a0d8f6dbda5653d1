"""OTLP attributes to the ``{key: text}`` stored in ``Map(LowCardinality(String), String)``.

Attributes arrive as serialized ``KeyValue`` s (see :mod:`loadsense.collectors.otlp.shadow`).
Most key-value pairs repeat across spans and points (``http.request.method=POST``,
``state=idle``), so their encodings are memoised: a repeated pair costs one dict lookup
instead of a parse. Stored text, by value type:

- string: as is; bool: ``true`` / ``false``; int: decimal; double: Python ``repr``
  (shortest round-trip form, ``nan`` / ``inf`` / ``-inf`` included);
- bytes: standard base64; array / kvlist: compact JSON (nested values keep their JSON
  types, bytes as base64, non-finite doubles as strings); an empty AnyValue: ``""``.

Limits (:data:`MAX_ATTRIBUTES`, :data:`MAX_KEY_LENGTH`, :data:`MAX_VALUE_BYTES`) bound
what one span or point may carry; exceeding one rejects the item (:class:`ItemRejected`)
rather than truncating it silently. Bytes that are not a valid KeyValue, or strings that
are not UTF-8, make the whole request malformed (:class:`InvalidInput`), as the
generated protobuf parser would.
"""

from __future__ import annotations

import base64
import json
import math
from collections.abc import Sequence
from typing import Any

from google.protobuf.message import DecodeError
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from loadsense.errors import InvalidInput

MAX_ATTRIBUTES = 1024
"""Most attributes one span, data point or resource may carry."""

MAX_KEY_LENGTH = 1024
"""Longest attribute key, in characters."""

MAX_VALUE_BYTES = 64 * 1024
"""Largest attribute value, measured as its serialized ``AnyValue``."""

_MEMO_MAX_ENTRIES = 32_768
_MEMO_MAX_BYTES = 256  # longer encodings (mostly unique values) are not memoised
_memo: dict[bytes, tuple[str, str]] = {}
"""Serialized KeyValue to (key, text). Shared by all requests; cleared when full. Under
the GIL concurrent use is safe: a race at worst parses the same pair twice."""


class ItemRejected(Exception):
    """One span or data point cannot be stored; ``reason`` is reported to the client."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


def attributes(raw: Sequence[bytes]) -> dict[str, str]:
    """The stored form of one ``attributes`` field (hot path: keep it lean)."""
    if len(raw) > MAX_ATTRIBUTES:
        raise ItemRejected(f"more than {MAX_ATTRIBUTES} attributes")
    out = {}
    memo = _memo
    for encoded in raw:
        pair = memo.get(encoded)
        if pair is None:
            pair = key_value(encoded)
            if len(encoded) <= _MEMO_MAX_BYTES:
                if len(memo) >= _MEMO_MAX_ENTRIES:
                    memo.clear()
                memo[encoded] = pair
        out[pair[0]] = pair[1]
    return out


def key_value(encoded: bytes) -> tuple[str, str]:
    """``(key, text)`` of one serialized KeyValue, checked against the limits."""
    n = len(encoded)
    key_length = encoded[1] if n > 1 else 128
    at = key_length + 2
    # Common shape: key (< 128 bytes), then a value that is one string field (< 128 bytes).
    if (
        key_length < 128
        and encoded[0] == 0x0A
        and at + 3 < n < at + 130
        and encoded[at] == 0x12
        and encoded[at + 1] == n - at - 2
        and encoded[at + 2] == 0x0A
        and encoded[at + 3] == n - at - 4
    ):
        try:
            return encoded[2:at].decode(), encoded[at + 4 :].decode()
        except UnicodeDecodeError:
            raise InvalidInput("attribute key or string value is not UTF-8") from None
    try:
        pair = KeyValue.FromString(encoded)
    except DecodeError:
        raise InvalidInput("malformed attribute (truncated or corrupt protobuf)") from None
    key = pair.key
    if len(key) > MAX_KEY_LENGTH:
        raise ItemRejected(f"attribute key longer than {MAX_KEY_LENGTH} characters")
    if pair.value.ByteSize() > MAX_VALUE_BYTES:
        raise ItemRejected(f"attribute {key[:64]!r} larger than {MAX_VALUE_BYTES} bytes")
    return key, any_text(pair.value)


def any_text(value: AnyValue) -> str:
    """The stored text of a parsed AnyValue."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return str(value.string_value)
    if kind == "bool_value":
        return "true" if value.bool_value else "false"
    if kind == "int_value":
        return str(value.int_value)
    if kind == "double_value":
        return repr(value.double_value)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind in ("array_value", "kvlist_value"):
        return json.dumps(any_json(value), separators=(",", ":"), ensure_ascii=False)
    return ""


def any_json(value: AnyValue) -> Any:
    """A JSON-compatible Python value for an AnyValue (arrays and kvlists recurse)."""
    kind = value.WhichOneof("value")
    if kind == "string_value":
        return value.string_value
    if kind == "bool_value":
        return value.bool_value
    if kind == "int_value":
        return value.int_value
    if kind == "double_value":
        number = value.double_value
        return number if math.isfinite(number) else repr(number)
    if kind == "bytes_value":
        return base64.b64encode(value.bytes_value).decode("ascii")
    if kind == "array_value":
        return [any_json(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return {kv.key: any_json(kv.value) for kv in value.kvlist_value.values}
    return None
