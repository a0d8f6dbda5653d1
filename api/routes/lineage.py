"""OpenLineage ingestion: ``POST /api/v1/lineage`` and ``POST /api/v1/lineage/batch``.

The paths are the ones the ``openlineage-python`` HTTP transport and Marquez use, so
Airflow, Spark, dbt and the Python client need only a URL and a token. Both answer
after the rows are committed (the writer acknowledges after commit); a full queue is a
503 with ``Retry-After``, which every OpenLineage transport retries. See docs/lineage.md.
"""

from __future__ import annotations

import time
from typing import Any, Literal

from fastapi import APIRouter, Depends, Request, Response
from pydantic import BaseModel
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_ingest
from loadsense.api.context import AppContext, context
from loadsense.collectors.body import media_type, read_body
from loadsense.collectors.contract import Decoded
from loadsense.collectors.openlineage import BatchDecoded, LineageReceiver
from loadsense.collectors.openlineage.validate import EVENT_SCHEMA
from loadsense.correlator.loop import EXTENSION_KEY as CORRELATOR
from loadsense.correlator.loop import Correlator
from loadsense.errors import InvalidInput

router = APIRouter(prefix="/api/v1", tags=["lineage"])

INLINE_DECODE_BYTES = 256 * 1024
"""Bodies larger than this are decoded on a worker thread, not on the event loop."""

_RECEIVER_KEY = "lineage_receiver"

_EVENT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": EVENT_SCHEMA}},
    }
}
_BATCH_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "array",
                    "items": {},
                    "description": "OpenLineage events of any kind; each is checked on its "
                    "own (one event's schema: POST /api/v1/lineage), and one that is refused, "
                    "even one that is not an object, is listed in failed_events",
                }
            }
        },
    }
}
_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Malformed JSON or an invalid event; the body names the field"},
    401: {"description": "Missing or invalid bearer token"},
    413: {"description": "Body (after decompression) or batch over the limit"},
    415: {"description": "Content-Type is not application/json"},
    503: {"description": "Write queue full (Retry-After) or storage write failed"},
}


class BatchSummary(BaseModel):
    received: int
    successful: int
    failed: int
    retriable: int
    non_retriable: int


class FailedEventModel(BaseModel):
    index: int
    reason: str
    retriable: bool


class BatchResponse(BaseModel):
    """The OpenLineage batch API's answer: which events were refused and why."""

    status: Literal["success", "partial_success", "failure"]
    summary: BatchSummary
    failed_events: list[FailedEventModel]


def _receiver(ctx: AppContext) -> LineageReceiver:
    receiver = ctx.extensions.get(_RECEIVER_KEY)
    if receiver is None:
        receiver = LineageReceiver(
            max_future_skew_s=ctx.settings.max_future_skew_s,
            retention_days=ctx.settings.retention_days,
        )
        ctx.extensions[_RECEIVER_KEY] = receiver
    assert isinstance(receiver, LineageReceiver)
    return receiver


@router.post(
    "/lineage",
    status_code=201,
    summary="Receive one OpenLineage event (RunEvent, JobEvent or DatasetEvent)",
    dependencies=[Depends(require_ingest)],
    response_class=Response,
    responses={201: {"description": "Stored (committed)"}, **_ERRORS},
    openapi_extra=_EVENT_BODY,
)
async def post_lineage(request: Request) -> Response:
    ctx = context(request)
    body = await read_body(request, ctx.settings.max_body_bytes)
    receiver = _receiver(ctx)
    args = (body, media_type(request), time.time_ns())
    try:
        decoded: Decoded = (
            await run_in_threadpool(receiver.decode, *args)
            if len(body) > INLINE_DECODE_BYTES
            else receiver.decode(*args)
        )
    except InvalidInput:
        ctx.metrics.rows_rejected.labels("lineage_events", "invalid").inc()
        raise
    await ctx.writer.write(decoded.batches)
    _nudge(ctx)
    return Response(status_code=201)


@router.post(
    "/lineage/batch",
    summary="Receive a JSON array of OpenLineage events; bad events are listed, good ones stored",
    dependencies=[Depends(require_ingest)],
    response_model=BatchResponse,
    responses=_ERRORS,
    openapi_extra=_BATCH_BODY,
)
async def post_lineage_batch(request: Request) -> BatchResponse:
    ctx = context(request)
    body = await read_body(request, ctx.settings.max_body_bytes)
    receiver = _receiver(ctx)
    args = (body, media_type(request), time.time_ns())
    result: BatchDecoded = (
        await run_in_threadpool(receiver.decode_batch, *args)
        if len(body) > INLINE_DECODE_BYTES
        else receiver.decode_batch(*args)
    )
    if result.failed:
        ctx.metrics.rows_rejected.labels("lineage_events", "invalid").inc(len(result.failed))
    await ctx.writer.write(result.decoded.batches)
    if result.decoded.batches:
        _nudge(ctx)
    return batch_response(result)


def _nudge(ctx: AppContext) -> None:
    """Committed lineage changes freshness now: ask the correlator for an early tick."""
    correlator = ctx.extensions.get(CORRELATOR)
    if ctx.settings.tick_on_lineage and isinstance(correlator, Correlator):
        correlator.nudge()


def batch_response(result: BatchDecoded) -> BatchResponse:
    """The summary of a committed batch (storage failures never get here: they are 503)."""
    failed = len(result.failed)
    retriable = sum(1 for f in result.failed if f.retriable)
    if failed == 0:
        status: Literal["success", "partial_success", "failure"] = "success"
    elif failed == result.received:
        status = "failure"
    else:
        status = "partial_success"
    return BatchResponse(
        status=status,
        summary=BatchSummary(
            received=result.received,
            successful=result.received - failed,
            failed=failed,
            retriable=retriable,
            non_retriable=failed - retriable,
        ),
        failed_events=[
            FailedEventModel(index=f.index, reason=f.reason, retriable=f.retriable)
            for f in result.failed
        ],
    )
