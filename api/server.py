"""The HTTP server ``serve`` and ``replica`` both run: uvicorn with bounded connections.

uvicorn on its own keeps a connection that sends nothing, or trickles its headers or
body, open forever; answers a too-long request line with plain text; and accepts any
number of connections. :func:`server_config` gives it a protocol (uvicorn's httptools
one, subclassed) that:

- refuses a connection beyond ``http_max_connections`` at once (503, ``Retry-After``);
- closes a connection whose request head is not complete ``http_header_timeout_s``
  after it opened or its previous response ended, or whose body is not complete
  ``http_body_timeout_s`` after its head (408); idle keep-alive connections close after
  ``http_keepalive_timeout_s`` (uvicorn's own timer);
- answers a URL longer than ``http_max_url_bytes`` with 414 and a head larger than
  ``http_max_header_bytes`` with 431;
- writes every such refusal, and malformed requests (400), in the house error format
  (loadsense/errors.py), with ``Connection: close``; and sends no ``server`` header.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import uvicorn
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from loadsense.errors import (
    HeadersTooLarge,
    InvalidInput,
    LoadsenseError,
    RequestTimeout,
    TooManyConnections,
    URITooLong,
    http_error_body,
    http_error_headers,
)
from loadsense.settings import Settings

_REASONS = {
    400: b"Bad Request",
    408: b"Request Timeout",
    414: b"URI Too Long",
    431: b"Request Header Fields Too Large",
    503: b"Service Unavailable",
}


@dataclass(frozen=True)
class ConnectionLimits:
    max_connections: int
    header_timeout_s: float
    body_timeout_s: float
    max_url_bytes: int
    max_header_bytes: int

    @classmethod
    def of(cls, settings: Settings) -> ConnectionLimits:
        return cls(
            max_connections=settings.http_max_connections,
            header_timeout_s=settings.http_header_timeout_s,
            body_timeout_s=settings.http_body_timeout_s,
            max_url_bytes=settings.http_max_url_bytes,
            max_header_bytes=settings.http_max_header_bytes,
        )


def error_response(err: LoadsenseError) -> bytes:
    """A complete HTTP/1.1 response for ``err`` in the house format, closing the
    connection (written straight to the transport, outside any ASGI cycle)."""
    body = json.dumps(http_error_body(err)).encode()
    headers = {**http_error_headers(err), "Connection": "close"}
    lines = [b"HTTP/1.1 %d %s" % (err.status, _REASONS.get(err.status, b"Error"))]
    lines += [b"content-type: application/json", b"content-length: %d" % len(body)]
    lines += [f"{k.lower()}: {v}".encode("latin-1") for k, v in headers.items()]
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


class BoundedProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the bounds of :class:`ConnectionLimits`."""

    limits: ConnectionLimits

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._timer: asyncio.TimerHandle | None = None
        self._refusal: LoadsenseError | None = None
        self._head_bytes = 0

    def _arm(self, seconds: float, err: LoadsenseError) -> None:
        self._disarm()
        self._timer = self.loop.call_later(seconds, self._refuse, err)

    def _disarm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _refuse(self, err: LoadsenseError) -> None:
        """Answer ``err`` unless a response has started, and close the connection."""
        self._timer = None
        if self.transport.is_closing():
            return
        if self.cycle is None or self.cycle.response_complete or not self.cycle.response_started:
            self.transport.write(error_response(err))
        self.transport.close()

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if len(self.connections) > self.limits.max_connections:
            self._refuse(
                TooManyConnections(
                    f"the server holds its maximum of {self.limits.max_connections} "
                    "connections; retry later"
                )
            )
            return
        self._arm(self.limits.header_timeout_s, self._head_timeout())

    def _head_timeout(self) -> RequestTimeout:
        return RequestTimeout(
            f"request head not received within {self.limits.header_timeout_s:g} s"
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._disarm()
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._timer is None and (self.cycle is None or self.cycle.response_complete):
            # The first bytes of a next request on a kept-alive connection.
            self._arm(self.limits.header_timeout_s, self._head_timeout())
        super().data_received(data)

    def send_400_response(self, msg: str) -> None:
        err = self._refusal or InvalidInput("malformed HTTP request")
        self._disarm()
        self.transport.write(error_response(err))
        self.transport.close()

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._head_bytes = 0

    def on_url(self, url: bytes) -> None:
        super().on_url(url)
        if len(self.url) > self.limits.max_url_bytes:
            self._refusal = URITooLong(
                f"the URL may have at most {self.limits.max_url_bytes} bytes"
            )
            raise ValueError("URL too long")  # stops the parser: send_400_response

    def on_header(self, name: bytes, value: bytes) -> None:
        self._head_bytes += len(name) + len(value)
        if self._head_bytes > self.limits.max_header_bytes:
            self._refusal = HeadersTooLarge(
                f"request headers may have at most {self.limits.max_header_bytes} bytes"
            )
            raise ValueError("headers too large")
        super().on_header(name, value)

    def on_headers_complete(self) -> None:
        self._arm(
            self.limits.body_timeout_s,
            RequestTimeout(f"request body not received within {self.limits.body_timeout_s:g} s"),
        )
        super().on_headers_complete()

    def on_message_complete(self) -> None:
        self._disarm()
        super().on_message_complete()


def bounded_protocol(limits: ConnectionLimits) -> type[BoundedProtocol]:
    """A :class:`BoundedProtocol` class bound to ``limits`` (uvicorn instantiates it)."""
    return type("BoundedProtocol", (BoundedProtocol,), {"limits": limits})


def server_config(app: Any, settings: Settings, port: int) -> uvicorn.Config:
    """The HTTP server both ``serve`` and ``replica`` run: no access log, bounded drain,
    bounded connections (module docstring), no ``server`` header."""
    return uvicorn.Config(
        app,
        host=settings.host,
        port=port,
        log_level=settings.log_level.lower(),
        access_log=False,
        timeout_graceful_shutdown=int(settings.shutdown_timeout_s),
        http=bounded_protocol(ConnectionLimits.of(settings)),
        timeout_keep_alive=max(1, round(settings.http_keepalive_timeout_s)),
        server_header=False,
    )
