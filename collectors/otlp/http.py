"""OTLP/HTTP content types and response bodies (opentelemetry-specification ``otlp.md``).

Responses use the request's encoding: ``Export*ServiceResponse`` on success (with
``partial_success`` only when something was rejected or there is a warning), and a
``google.rpc.Status`` for every 4xx/5xx, carrying a ``google.rpc.BadRequest`` detail
naming the field when one is known. A request whose content type is not supported is
answered in JSON, the only encoding a human reading the error is sure to decode.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from google.protobuf import json_format
from google.rpc import error_details_pb2, status_pb2
from opentelemetry.proto.collector.metrics.v1 import metrics_service_pb2
from opentelemetry.proto.collector.trace.v1 import trace_service_pb2

from loadsense.errors import LoadsenseError, http_error_headers

PROTOBUF = "application/x-protobuf"
JSON = "application/json"

MEDIA_TYPES = frozenset({PROTOBUF, "application/protobuf", JSON})
"""Request content types accepted on ``/v1/traces`` and ``/v1/metrics``."""

# google.rpc.Code values for the HTTP statuses we answer with.
_RPC_CODES = {400: 3, 401: 16, 404: 5, 413: 8, 415: 3, 500: 13, 503: 14}


def response_media_type(request_media_type: str) -> str:
    """The content type of the answer: the request's, or JSON when it is unsupported."""
    return request_media_type if request_media_type in MEDIA_TYPES else JSON


def is_json(media_type: str) -> bool:
    return media_type == JSON


def encode(message: Any, media_type: str) -> bytes:
    if is_json(media_type):
        text: str = json_format.MessageToJson(message, indent=None)
        return text.encode()
    data: bytes = message.SerializeToString()
    return data


@dataclass(frozen=True)
class Encoded:
    """A ready HTTP answer: status, body, and headers other than Content-Type."""

    status: int
    body: bytes
    media_type: str
    headers: dict[str, str]


def status_response(err: LoadsenseError, media_type: str) -> Encoded:
    """The ``google.rpc.Status`` answer for ``err``."""
    status = status_pb2.Status(code=_RPC_CODES.get(err.status, 2), message=err.message)
    if err.status == 400:
        detail = error_details_pb2.BadRequest()
        detail.field_violations.add(field=err.field or "body", description=err.message)
        status.details.add().Pack(detail)
    return Encoded(err.status, encode(status, media_type), media_type, http_error_headers(err))


def traces_response(rejected: int, message: str, media_type: str) -> Encoded:
    response = trace_service_pb2.ExportTraceServiceResponse()
    if rejected or message:
        response.partial_success.rejected_spans = rejected
        response.partial_success.error_message = message
    return Encoded(200, encode(response, media_type), media_type, {})


def metrics_response(rejected: int, message: str, media_type: str) -> Encoded:
    response = metrics_service_pb2.ExportMetricsServiceResponse()
    if rejected or message:
        response.partial_success.rejected_data_points = rejected
        response.partial_success.error_message = message
    return Encoded(200, encode(response, media_type), media_type, {})
