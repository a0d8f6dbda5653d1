"""``GET /api/v1/datasets/timeline``: one dataset's updates, schema versions and quality
results between two instants (signals/dataset_timeline.py), newest first.

The dataset is a query parameter, not a path segment, because OpenLineage names hold
slashes (``namespace/name`` as in every signal's subject). Read token required.
"""

from __future__ import annotations

import time

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_read
from loadsense.api.context import context
from loadsense.api.routes.params import instant_query
from loadsense.instants import (
    parse_instant,
)
from loadsense.signals.contract import NS_PER_S
from loadsense.signals.dataset_timeline import dataset_timeline

router = APIRouter(prefix="/api/v1", tags=["signals"], dependencies=[Depends(require_read)])


class UpdateModel(BaseModel):
    at: float = Field(description="Epoch seconds")
    job: str = Field(description="Producing job, namespace/name")
    run_id: str
    row_count: int | None


class SchemaModel(BaseModel):
    at: float
    fields: list[tuple[str, str]] = Field(description="[name, type] pairs")


class QualityModel(BaseModel):
    at: float
    assertion: str
    column: str
    success: bool


class TimelineModel(BaseModel):
    dataset: str
    updates: list[UpdateModel]
    schemas: list[SchemaModel]
    quality: list[QualityModel]


MAX_NAME_CHARS = 512
"""Longest dataset name accepted (as long as a glob may be; the URL stays under the
server's bound even in 4-byte characters)."""


@router.get(
    "/datasets/timeline",
    summary="One dataset's updates, schema versions and quality results, newest first",
    response_model=TimelineModel,
    responses={
        400: {"description": "Invalid parameter (the message names it)"},
        401: {"description": "Missing or invalid bearer token"},
    },
)
async def get_dataset_timeline(
    request: Request,
    dataset: str = Query(
        ..., min_length=1, max_length=MAX_NAME_CHARS, description="namespace/name"
    ),
    start: str | None = instant_query("from", " (inclusive). Default: `to` - 24 h"),
    end: str | None = instant_query("to", " (inclusive). Default: now. Before from: no rows"),
    limit: int = Query(500, ge=1, le=10_000, description="Most rows of each list"),
) -> TimelineModel:
    end_s = parse_instant(end, "to") / NS_PER_S if end is not None else time.time()
    start_s = parse_instant(start, "from") / NS_PER_S if start is not None else end_s - 86_400
    storage = context(request).storage
    found = await run_in_threadpool(dataset_timeline, storage, dataset, start_s, end_s, limit)
    return TimelineModel(
        dataset=found.dataset,
        updates=[UpdateModel(**vars(u)) for u in found.updates],
        schemas=[SchemaModel(at=s.at, fields=list(s.fields)) for s in found.schemas],
        quality=[QualityModel(**vars(q)) for q in found.quality],
    )
