"""The receivers' body decoding (collectors/body.py) works on bytes and header values
alone: no request object, no web framework."""

from __future__ import annotations

import gzip

import pytest

from loadsense.collectors.body import (
    check_declared_length,
    content_encoding,
    decode_body,
    media_type,
)
from loadsense.errors import InvalidInput, PayloadTooLarge, UnsupportedMediaType


def test_header_values_are_normalised_and_checked() -> None:
    assert content_encoding(None) == "identity"
    assert content_encoding(" GZip ") == "gzip"
    with pytest.raises(UnsupportedMediaType, match="unsupported Content-Encoding 'br': use gzip"):
        content_encoding("br")
    assert media_type("Application/JSON; charset=utf-8") == "application/json"
    assert media_type(None) == ""
    check_declared_length("100", 100)  # exactly the limit is fine
    with pytest.raises(PayloadTooLarge, match="exceeds the limit of 100 bytes"):
        check_declared_length("101", 100)


def test_gzip_is_inflated_within_the_limit() -> None:
    body = b"x" * 1000
    assert decode_body(gzip.compress(body), "gzip", 1000) == body
    assert decode_body(body, "identity", 1000) == body
    # 1000 bytes inflate past a 999-byte limit: refused without inflating further.
    with pytest.raises(PayloadTooLarge, match="limit of 999 bytes"):
        decode_body(gzip.compress(body), "x-gzip", 999)
    with pytest.raises(PayloadTooLarge, match="limit of 999 bytes"):
        decode_body(body, "identity", 999)
    with pytest.raises(InvalidInput, match="invalid gzip body: truncated stream"):
        decode_body(gzip.compress(body)[:-8], "gzip", 1000)
