"""Reading request bodies safely: size limit after decompression, gzip without bombs.

The limit applies to the decompressed size; decompression stops as soon as it is
exceeded, so a gzip bomb is never inflated past ``limit`` bytes.
"""

from __future__ import annotations

import zlib

from starlette.requests import Request

from loadsense.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType


def _too_large(limit: int) -> PayloadTooLarge:
    return PayloadTooLarge(f"request body exceeds the limit of {limit} bytes (after decompression)")


def gunzip_limited(data: bytes, limit: int) -> bytes:
    """Decompress gzip ``data``; refuse output over ``limit`` or a truncated stream."""
    inflater = zlib.decompressobj(16 + zlib.MAX_WBITS)
    try:
        out = inflater.decompress(data, limit + 1)
    except zlib.error:
        raise InvalidInput("invalid gzip body: not a gzip stream, or corrupt") from None
    if len(out) > limit or inflater.unconsumed_tail:
        raise _too_large(limit)
    if not inflater.eof:
        raise InvalidInput("invalid gzip body: truncated stream")
    return out


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed per ``Content-Encoding`` (identity or gzip)."""
    encoding = request.headers.get("content-encoding", "identity").strip().lower()
    if encoding not in {"", "identity", "gzip", "x-gzip"}:
        raise UnsupportedMediaType(f"unsupported Content-Encoding {encoding!r}: use gzip")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > limit:
        raise _too_large(limit)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise _too_large(limit)
    if encoding in {"gzip", "x-gzip"}:
        return gunzip_limited(bytes(chunks), limit)
    return bytes(chunks)


def media_type(request: Request) -> str:
    """The request's content type without parameters, lower-cased."""
    return request.headers.get("content-type", "").split(";")[0].strip().lower()
