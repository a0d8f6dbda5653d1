"""Reading a request body at the HTTP edge, for the receivers in ``collectors/``.

The edge streams the bytes (stopping at the size limit, so an oversized body is never
held whole) and hands them, with the header values, to ``collectors/body.py``, which
decompresses within the same limit; receivers get bytes, never the request.
"""

from __future__ import annotations

from starlette.requests import Request

from loadsense.collectors.body import (
    check_declared_length,
    content_encoding,
    decode_body,
    media_type,
    too_large,
)


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, decompressed per ``Content-Encoding`` (identity or gzip)."""
    encoding = content_encoding(request.headers.get("content-encoding"))
    check_declared_length(request.headers.get("content-length"), limit)
    chunks = bytearray()
    async for chunk in request.stream():
        chunks += chunk
        if len(chunks) > limit:
            raise too_large(limit)
    return decode_body(bytes(chunks), encoding, limit)


def request_media_type(request: Request) -> str:
    """The request's content type without parameters, lower-cased."""
    return media_type(request.headers.get("content-type"))
