"""OTLP/HTTP ingestion: ``POST /v1/traces`` and ``POST /v1/metrics`` (docs/telemetry.md).

Every answer on these paths is an OTLP message in the request's encoding: the
``Export*ServiceResponse`` on success (``partial_success`` naming what was rejected),
a ``google.rpc.Status`` on failure, never the API's JSON error body, because OTLP
clients decode and log exactly these. A request is acknowledged only after all of its
rows are committed; a full write queue answers 503 with ``Retry-After``.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import Any, NamedTuple

from fastapi import APIRouter, Request, Response

from loadsense.api.auth import require_ingest
from loadsense.api.body import read_body, request_media_type
from loadsense.api.context import context
from loadsense.collectors.contract import Decoded, Receiver
from loadsense.collectors.otlp.http import (
    JSON,
    MEDIA_TYPES,
    PROTOBUF,
    Encoded,
    metrics_response,
    response_media_type,
    status_response,
    traces_response,
)
from loadsense.collectors.otlp.receiver import MetricsReceiver, TracesReceiver
from loadsense.collectors.retry_dedup import request_key
from loadsense.context import AppContext
from loadsense.errors import LoadsenseError, UnsupportedMediaType

logger = logging.getLogger(__name__)

router = APIRouter(tags=["otlp"])

INLINE_DECODE_BYTES = 64 * 1024
"""Bodies up to this size are decoded on the event loop; larger ones in a worker thread,
so that one big request does not stall reading the next (the GIL still serialises the
CPU work; see docs/performance.md)."""

Respond = Callable[[int, str, str], Encoded]


class Answer(NamedTuple):
    """What a committed export was answered with, remembered for its retries (never the
    rows: collectors/retry_dedup.py keeps outcomes for its whole window)."""

    rejected: int
    reason: str


def _openapi(message: str, response: str) -> dict[str, Any]:
    binary = {"schema": {"type": "string", "format": "binary"}}
    return {
        "requestBody": {
            "required": True,
            "description": f"An OTLP `{message}`, binary protobuf or OTLP/JSON, "
            "optionally `Content-Encoding: gzip`.",
            "content": {PROTOBUF: binary, JSON: {"schema": {"type": "object"}}},
        },
        "responses": {
            "200": {
                "description": f"Accepted (`{response}`; `partial_success` names rejected items).",
                "content": {PROTOBUF: binary, JSON: {"schema": {"type": "object"}}},
            },
            "400": {"description": "Malformed body (`google.rpc.Status`)."},
            "401": {"description": "Missing or invalid bearer token."},
            "413": {"description": "Body or batch over the limit."},
            "415": {"description": "Unsupported Content-Type or Content-Encoding."},
            "503": {"description": "Write queue full or storage failing; see Retry-After."},
        },
    }


def _answer(encoded: Encoded) -> Response:
    return Response(
        content=encoded.body,
        status_code=encoded.status,
        media_type=encoded.media_type,
        headers=encoded.headers,
    )


async def _decode(receiver: Receiver, body: bytes, media: str, received_at_ns: int) -> Decoded:
    if len(body) <= INLINE_DECODE_BYTES:
        return receiver.decode(body, media, received_at_ns)
    return await asyncio.to_thread(receiver.decode, body, media, received_at_ns)


async def _export(
    request: Request, receiver_class: Callable[[float], Receiver], table: str, respond: Respond
) -> Response:
    ctx: AppContext = context(request)
    receiver = receiver_class(ctx.settings.retention_days)
    media = request_media_type(request)
    answer = response_media_type(media)
    try:
        require_ingest(request)
        if media not in MEDIA_TYPES:
            raise UnsupportedMediaType(
                f"unsupported Content-Type {media!r}: send application/x-protobuf or "
                "application/json"
            )
        body = await read_body(request, ctx.settings.max_body_bytes)
        received_at_ns = time.time_ns()

        decoded = await _decode(receiver, body, media, received_at_ns)

        async def commit() -> Answer:
            await ctx.writer.write(decoded.batches)
            return Answer(decoded.rejected, decoded.rejection_reason)

        key = decoded.content_key or request_key(request.url.path, media, body)
        answer_of, duplicate = await ctx.retry_dedup.once(key, commit)
    except LoadsenseError as err:
        logger.debug("OTLP %s export refused (%d): %s", table, err.status, err.message)
        return _answer(status_response(err, answer))
    except Exception:
        logger.exception("OTLP %s export failed unexpectedly", table)
        internal = LoadsenseError("internal error")
        return _answer(status_response(internal, answer))
    if duplicate:
        ctx.metrics.retried_requests.labels(table).inc()
        logger.debug("OTLP %s export retried: acknowledged without storing again", table)
    elif answer_of.rejected:
        ctx.metrics.rows_rejected.labels(table, "invalid").inc(answer_of.rejected)
        logger.info("OTLP %s: %s", table, answer_of.reason)
    return _answer(respond(answer_of.rejected, answer_of.reason, answer))


@router.post(
    "/v1/traces",
    summary="OTLP/HTTP trace export",
    openapi_extra=_openapi("ExportTraceServiceRequest", "ExportTraceServiceResponse"),
)
async def export_traces(request: Request) -> Response:
    return await _export(request, TracesReceiver, "spans", traces_response)


@router.post(
    "/v1/metrics",
    summary="OTLP/HTTP metrics export",
    openapi_extra=_openapi("ExportMetricsServiceRequest", "ExportMetricsServiceResponse"),
)
async def export_metrics(request: Request) -> Response:
    return await _export(request, MetricsReceiver, "metric_points", metrics_response)
