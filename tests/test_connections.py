"""Bounded connections (loadsense/api/server.py) on a real ``loadsense serve`` process with
small limits, driven over raw sockets so the client can be as slow or as greedy as an
attacker: idle and trickling clients are cut off, a connection over the cap is refused,
oversized request lines and heads are answered, all in the house error format.

An unexpected exception is checked on a small app served by the same server config: a
house 500, and the connection stays usable.
"""

from __future__ import annotations

import json
import socket
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from loadsense.api.handlers import install_error_handlers
from loadsense.api.server import server_config
from loadsense.bench.harness import serve_in_thread
from loadsense.settings import Settings
from tests.support.service import ServiceProcess, service_process

LIMITS = {
    "LOADSENSE_HTTP_MAX_CONNECTIONS": "20",
    "LOADSENSE_HTTP_HEADER_TIMEOUT_S": "1",
    "LOADSENSE_HTTP_BODY_TIMEOUT_S": "1",
    "LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S": "1",
    "LOADSENSE_HTTP_MAX_URL_BYTES": "2048",
    "LOADSENSE_HTTP_MAX_HEADER_BYTES": "4096",
    "LOADSENSE_LOG_LEVEL": "WARNING",
}


@pytest.fixture(scope="module")
def api(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServiceProcess]:
    with service_process(tmp_path_factory.mktemp("conn") / "data", env=LIMITS) as svc:
        yield svc


def _connect(svc: ServiceProcess) -> socket.socket:
    host, port = svc.url.removeprefix("http://").split(":")
    sock = socket.create_connection((host, int(port)), timeout=10)
    return sock


def _read_all(sock: socket.socket, timeout: float = 10) -> bytes:
    """Everything the server sends until it closes (fails after ``timeout``)."""
    sock.settimeout(timeout)
    chunks = []
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return b"".join(chunks)
        chunks.append(chunk)


def _parse(raw: bytes) -> tuple[int, dict[str, str], dict[str, Any]]:
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:])}
    return status, headers, json.loads(body)


def _refused(raw: bytes, status: int, code: str) -> dict[str, Any]:
    got, headers, body = _parse(raw)
    assert got == status, raw[:300]
    assert headers["connection"] == "close"
    assert headers["content-type"] == "application/json"
    assert "server" not in headers
    assert body["error"] == code and body["message"]
    return body


def test_a_silent_connection_gets_408_and_is_closed(api: ServiceProcess) -> None:
    with _connect(api) as sock:
        started = time.monotonic()
        raw = _read_all(sock)
        waited = time.monotonic() - started
    body = _refused(raw, 408, "request_timeout")
    assert body["message"] == "request head not received within 1 s"
    assert 0.9 <= waited < 5


def test_trickled_headers_get_408(api: ServiceProcess) -> None:
    with _connect(api) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        time.sleep(0.5)
        sock.sendall(b"X-Slow: 1\r\n")  # still no end of head: the clock keeps running
        _refused(_read_all(sock), 408, "request_timeout")


def test_a_trickled_body_gets_408(api: ServiceProcess) -> None:
    with _connect(api) as sock:
        sock.sendall(
            b"POST /api/v1/lineage HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
            b"Content-Length: 1000\r\n\r\n{"
        )
        body = _refused(_read_all(sock), 408, "request_timeout")
    assert body["message"] == "request body not received within 1 s"


def test_an_idle_keep_alive_connection_is_closed(api: ServiceProcess) -> None:
    with _connect(api) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        started = time.monotonic()
        raw = _read_all(sock)
        waited = time.monotonic() - started
    assert raw.startswith(b"HTTP/1.1 200")
    assert raw.count(b"HTTP/1.1") == 1  # one answer, then a quiet close
    assert 0.9 <= waited < 5


def test_a_connection_beyond_the_cap_is_refused_at_once(api: ServiceProcess) -> None:
    held = [_connect(api) for _ in range(20)]
    try:
        # The server counts a connection once it accepts it: wait until all 20 are in.
        deadline = time.monotonic() + 5
        while True:
            with _connect(api) as extra:
                extra.settimeout(0.5)
                try:
                    raw = extra.recv(65536)
                except TimeoutError:
                    raw = b""
            if raw or time.monotonic() > deadline:
                break
        _refused(raw, 503, "too_many_connections")
        assert _parse(raw)[1]["retry-after"] == "1"
    finally:
        for sock in held:
            sock.close()
    # Once they are gone, new connections are served again.
    deadline = time.monotonic() + 5
    while httpx.get(f"{api.url}/healthz").status_code != 200:
        assert time.monotonic() < deadline


def test_a_long_url_gets_414(api: ServiceProcess) -> None:
    with _connect(api) as sock:
        sock.sendall(b"GET /api/v1/regime?x=" + b"a" * 70_000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
        body = _refused(_read_all(sock), 414, "uri_too_long")
    assert body["message"] == "the URL may have at most 2048 bytes"


def test_large_headers_get_431(api: ServiceProcess) -> None:
    headers = b"".join(b"X-Pad-%d: %s\r\n" % (i, b"p" * 500) for i in range(20))
    with _connect(api) as sock:
        sock.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        _refused(_read_all(sock), 431, "headers_too_large")


def test_a_malformed_request_gets_400_in_the_house_format(api: ServiceProcess) -> None:
    with _connect(api) as sock:
        sock.sendall(b"NOT HTTP AT ALL\r\n\r\n")
        body = _refused(_read_all(sock), 400, "invalid")
    assert body["message"] == "malformed HTTP request"


@pytest.fixture
def failing_app(tmp_path: Path) -> Iterator[str]:
    app = FastAPI()
    install_error_handlers(app)

    @app.get("/boom")
    def boom() -> None:
        raise ArithmeticError("decimal.Overflow-like internals: /secret/path")

    @app.get("/fine")
    def fine() -> dict[str, bool]:
        return {"ok": True}

    config = server_config(app, Settings(log_level="CRITICAL"), 0)
    with serve_in_thread(app, "failing-app", config=config) as url:
        yield url


def test_an_unexpected_exception_is_a_house_500_on_a_live_connection(failing_app: str) -> None:
    with httpx.Client(base_url=failing_app) as client:
        r = client.get("/boom")
        assert r.status_code == 500
        assert r.json() == {"error": "internal", "message": "internal error"}
        assert "server" not in r.headers
        assert r.headers.get("connection") != "close"
        # The same connection answers the next request.
        assert client.get("/fine").json() == {"ok": True}
        assert client.get("/fine").extensions["network_stream"] is r.extensions["network_stream"]
