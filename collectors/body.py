"""Request bodies as receivers take them: decompressed, within the size limit.

The HTTP edge reads the bytes and the ``Content-Type`` / ``Content-Encoding`` /
``Content-Length`` header values and hands them here; nothing in ``collectors/`` sees a
request object (``collectors/contract.py``). The limit applies to the decompressed size;
decompression stops as soon as it is exceeded, so a gzip bomb is never inflated past
``limit`` bytes.
"""

from __future__ import annotations

import zlib

from loadsense.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType

GZIP_ENCODINGS = frozenset({"gzip", "x-gzip"})
ENCODINGS = frozenset({"", "identity"}) | GZIP_ENCODINGS


def too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds the limit of {limit} bytes (after decompression)")


def content_encoding(header: str | None) -> str:
    """The ``Content-Encoding`` header value, lower-cased; 415 unless identity or gzip."""
    encoding = (header or "identity").strip().lower()
    if encoding not in ENCODINGS:
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: use gzip")
    return encoding


def check_declared_length(header: str | None, limit: int) -> None:
    """413 before reading when ``Content-Length`` already says the body is over ``limit``."""
    if header and header.isdigit() and int(header) > limit:
        raise too_large(limit)


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data``; refuse output over ``limit`` or a truncated stream."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidInput("invalid gzip body: not a gzip stream, or corrupt") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise too_large(limit)
    if not inflater.eof:
        raise InvalidInput("invalid gzip body: truncated stream")
    return out


def decode_body(raw: bytes, encoding: str, limit: int) -> bytes:
    """``raw`` (at most ``limit`` bytes as sent) decompressed per ``encoding`` (a value
    :func:`content_encoding` accepted)."""
    if len(raw) > limit:
        raise too_large(limit)
    if encoding in GZIP_ENCODINGS:
        return gunzip_limited(raw, limit)
    return raw


def media_type(content_type: str | None) -> str:
    """The ``Content-Type`` header value without parameters, lower-cased."""
    return (content_type or "").split(";")[0].strip().lower()
