"""Errors speak our language: library texts (Python's int-conversion advice, zlib and
protobuf messages) become short messages naming the field, and a client's value is
echoed only as a short prefix. Against the real receivers over HTTP (OTLP routes answer
with OTLP's ``Status``, the others in the house format)."""

from __future__ import annotations

import gzip
import json

import httpx
import pytest

from tests.support.otlp import post, status_of
from tests.support.service import Service

JSON = "application/json"
PROTOBUF = "application/x-protobuf"
LIBRARY_WORDS = ("set_int_max_str_digits", "Error -3", "Error parsing message", "Couldn't parse")


def _message(response: httpx.Response) -> str:
    assert response.status_code == 400, response.text
    if response.headers["content-type"] == PROTOBUF:  # OTLP answers with a Status message
        message: str = status_of(response).message
    else:
        message = response.json()["message"]
    for words in LIBRARY_WORDS:
        assert words not in message
    assert len(message) < 300
    return message


def test_a_5000_digit_number_in_otlp_json_names_the_field(service: Service) -> None:
    span = {"traceId": "0" * 31 + "1", "spanId": "0" * 15 + "1", "name": "x"}
    span["startTimeUnixNano"] = "1" * 5000
    doc = {"resourceSpans": [{"scopeSpans": [{"spans": [span]}]}]}
    r = post(service.url, "/v1/traces", json.dumps(doc).encode(), JSON)
    message = _message(r)
    assert message == (
        "invalid OTLP/JSON: resourceSpans.scopeSpans.spans.startTimeUnixNano: "
        "not a valid value for its type"
    )


def test_a_non_list_in_otlp_json_names_the_field(service: Service) -> None:
    r = post(service.url, "/v1/metrics", b'{"resourceMetrics": "a"}', JSON)
    assert _message(r) == "invalid OTLP/JSON: resourceMetrics must be a list"


def test_a_5000_digit_number_in_a_json_body(service: Service) -> None:
    for path, body in (
        ("/v1/traces", b'{"resourceSpans": [], "x": ' + b"7" * 5000 + b"}"),
        ("/api/v1/lineage", b'{"eventTime": ' + b"7" * 5000 + b"}"),
    ):
        r = httpx.post(service.url + path, content=body, headers={"Content-Type": JSON})
        assert _message(r) == "invalid JSON: a number has more digits than allowed (4300)"


def test_a_corrupt_gzip_body(service: Service) -> None:
    for body in (b"definitely not gzip", gzip.compress(b"{}")[:-12] + b"\xff" * 12):
        r = httpx.post(
            service.url + "/v1/traces",
            content=body,
            headers={"Content-Type": PROTOBUF, "Content-Encoding": "gzip"},
        )
        assert _message(r).startswith("invalid gzip body")


@pytest.mark.parametrize("body", [b"\x0a\xff\xff\xff", b"\x0a\x05\x0a\x03\x0a\x01\xff"])
def test_corrupt_protobuf(service: Service, body: bytes) -> None:
    r = post(service.url, "/v1/traces", body, PROTOBUF)
    assert "truncated or corrupt" in _message(r)


def test_echoed_values_are_cut_short(service: Service) -> None:
    huge = "n" * 100_000
    for path, params in (
        ("/api/v1/signals/lineage/history", {"name": "x", "to": huge[:40]}),
        ("/api/v1/lineage/graph", {"node": huge[:20_000]}),
        ("/api/v1/signals/" + huge[:5000], {}),
    ):
        r = httpx.get(service.url + path, params=params)
        assert r.status_code in (400, 404), r.text
        assert len(r.json()["message"]) < 300
