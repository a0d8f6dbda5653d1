"""OpenLineage over HTTP: ``POST /api/v1/lineage`` and ``POST /api/v1/lineage/batch``
receive events; ``GET /api/v1/lineage/graph`` shows the graph they built.

The paths are the ones the ``openlineage-python`` HTTP transport and Marquez use, so
Airflow, Spark, dbt and the Python client need only a URL and a token. Both answer
after the events are committed (api/journal.py: on embedded chDB the
rows derived from them follow and are rebuilt from the events after a crash); a full
queue is a 503 with ``Retry-After``, which every OpenLineage transport retries. See
docs/lineage.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, Literal, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_ingest, require_read
from loadsense.api.body import read_body, request_media_type
from loadsense.api.context import context, latest_snapshot
from loadsense.api.routes.params import QUERY_ERRORS
from loadsense.collectors.openlineage import BatchDecoded
from loadsense.collectors.openlineage.validate import EVENT_SCHEMA
from loadsense.context import AppContext
from loadsense.errors import InvalidInput
from loadsense.signals.contract import NS_PER_S
from loadsense.signals.graph import load_graph, neighbourhood

router = APIRouter(prefix="/api/v1", tags=["lineage"])

T = TypeVar("T")

INLINE_DECODE_BYTES = 256 * 1024
"""Bodies larger than this are decoded on a worker thread, not on the event loop."""

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


async def _decode(
    request: Request, ctx: AppContext, decode: Callable[[bytes, str, int], T], received_ns: int
) -> T:
    """Read the body and ``decode`` it: on the event loop when small, else on a worker
    thread (:data:`INLINE_DECODE_BYTES`)."""
    body = await read_body(request, ctx.settings.max_body_bytes)
    args = (body, request_media_type(request), received_ns)
    if len(body) > INLINE_DECODE_BYTES:
        return await run_in_threadpool(decode, *args)
    return decode(*args)


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
    received_ns = time.time_ns()
    token = ctx.journal.begin(received_ns)
    try:
        try:
            decoded = await _decode(request, ctx, ctx.lineage.decode, received_ns)
        except InvalidInput:
            ctx.metrics.rows_rejected.labels("lineage_events", "invalid").inc()
            raise
        await ctx.journal.write(token, decoded.batches)
    except BaseException:
        ctx.journal.abandon(token)
        raise
    _count_lenient(ctx, decoded.lenient)
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
    received_ns = time.time_ns()
    token = ctx.journal.begin(received_ns)
    try:
        result = await _decode(request, ctx, ctx.lineage.decode_batch, received_ns)
        if result.failed:
            ctx.metrics.rows_rejected.labels("lineage_events", "invalid").inc(len(result.failed))
        await ctx.journal.write(token, result.decoded.batches)
    except BaseException:
        ctx.journal.abandon(token)
        raise
    _count_lenient(ctx, result.decoded.lenient)
    if result.decoded.batches:
        _nudge(ctx)
    return batch_response(result)


def _count_lenient(ctx: AppContext, lenient: tuple[tuple[str, int], ...]) -> None:
    """Committed events that needed a leniency, by reason (after the commit: a refused
    or failed write counts nothing)."""
    for reason, n in lenient:
        ctx.metrics.lineage_lenient.labels(reason).inc(n)


def _nudge(ctx: AppContext) -> None:
    """Committed lineage changes freshness now: ask the correlator for an early tick."""
    correlator = ctx.correlator
    if ctx.settings.tick_on_lineage and correlator is not None:
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


class Node(BaseModel):
    id: str = Field(description="'dataset:<ns>/<name>', 'job:<ns>/<name>' or 'service:<name>'")
    type: str
    name: str


class Edge(BaseModel):
    source: str
    target: str
    relation: str = Field(description="writes (job->dataset), reads (dataset->job or service)")


class Graph(BaseModel):
    as_of: float
    nodes: list[Node]
    edges: list[Edge]


@router.get(
    "/lineage/graph",
    dependencies=[Depends(require_read)],
    response_model=Graph,
    responses={**QUERY_ERRORS, 404: {"description": "The node is not in the graph"}},
)
def get_lineage_graph(
    request: Request,
    node: str | None = Query(
        None, description="'dataset:ns/name', 'job:ns/name', 'service:name' or a bare name"
    ),
    depth: int = Query(2, ge=0, le=20, description="Hops around the node"),
) -> Graph:
    """The lineage graph around a dataset, job or service, as of the latest tick."""
    snap = latest_snapshot(request)
    as_of_ns = snap.as_of_ns or time.time_ns()
    ctx = context(request)
    ctx.journal.settle()  # the graph shows every event acknowledged so far
    graph = load_graph(ctx.storage, as_of_ns)
    near = neighbourhood(graph, node, depth)
    nodes = [Node(id=n, type=n.partition(":")[0], name=n.partition(":")[2]) for n in near.nodes]
    edges = [Edge(source=s, target=t, relation=r) for s, t, r in near.edges]
    return Graph(as_of=as_of_ns / NS_PER_S, nodes=nodes, edges=edges)
