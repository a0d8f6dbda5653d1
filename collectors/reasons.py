"""Our own words for the parser libraries' errors, naming the field at fault.

zlib, protobuf and Python's own parsers explain failures in their terms (``Error -3
while decompressing data``, ``Error parsing message with type '...'``, advice to call
``sys.set_int_max_str_digits()``) and often quote the offending input at length. A client
should read what was wrong with its request, briefly; these functions say it so.
"""

from __future__ import annotations

import re

from loadsense.errors import InvalidInput

_INT_LIMIT = "integer string conversion"
_FIELD = re.compile(r"Failed to parse (\w+) field")
_REPEATED = re.compile(r"repeated field (\w+) must be in \[\]")


def value_reason(exc: ValueError) -> str:
    """A short reason for a ``ValueError`` raised while reading a number or text."""
    if _INT_LIMIT in str(exc):
        return "a number has more digits than allowed (4300)"
    return "a value could not be read"


def json_reason(exc: ValueError | RecursionError) -> str:
    """Why a body is not JSON (without echoing it)."""
    if isinstance(exc, RecursionError):
        return "nested too deeply"
    msg, lineno, colno = (
        getattr(exc, "msg", None),
        getattr(exc, "lineno", 0),
        getattr(exc, "colno", 0),
    )
    if isinstance(msg, str):
        return f"{msg} at line {lineno} column {colno}"
    if isinstance(exc, UnicodeDecodeError):
        return f"not valid UTF-8 (byte {exc.start})"
    return value_reason(exc)


def otlp_json_error(exc: Exception) -> InvalidInput:
    """:class:`InvalidInput` for protobuf's ``json_format`` refusing an OTLP/JSON document."""
    text = str(exc)
    path = ".".join(_FIELD.findall(text))
    repeated = _REPEATED.search(text)
    if repeated:
        field = ".".join([*_FIELD.findall(text)[:-1], repeated.group(1)])
        return InvalidInput(f"invalid OTLP/JSON: {field} must be a list", field=field)
    if _INT_LIMIT in text:
        reason = "a number has more digits than allowed (4300)"
    else:
        reason = "not a valid value for its type"
    if path:
        return InvalidInput(f"invalid OTLP/JSON: {path}: {reason}", field=path)
    return InvalidInput(f"invalid OTLP/JSON: {reason}")
