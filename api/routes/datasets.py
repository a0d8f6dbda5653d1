"""The datasets' routes (read token required):

- ``GET /api/v1/datasets``: the freshness table of the latest snapshot, each dataset's
  freshness row with its lineage criticality, searched, sorted and paged on the server
  (api/routes/paging.py), so a client shows 50 rows of 10k without downloading them;
- ``GET /api/v1/datasets/timeline``: one dataset's updates, schema versions and quality
  results between two instants (signals/dataset_timeline.py), newest first.

A dataset is a query parameter, not a path segment, because OpenLineage names hold
slashes (``namespace/name`` as in every signal's subject).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, fields

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_read
from loadsense.api.context import context, latest_snapshot
from loadsense.api.routes import paging
from loadsense.api.routes.params import QUERY_ERRORS, instant_query
from loadsense.correlator.snapshot import Snapshot
from loadsense.globs import MAX_GLOB_CHARS, parse_glob
from loadsense.instants import (
    parse_instant,
)
from loadsense.signals.contract import NS_PER_S
from loadsense.signals.dataset_timeline import dataset_timeline
from loadsense.signals.freshness import FreshnessRow

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


@dataclass(frozen=True)
class DatasetRow(FreshnessRow):
    """A freshness row with what the lineage signals add for a table of datasets."""

    criticality: float | None = None  # req/s of the model services downstream
    downstream_services: tuple[str, ...] = ()


class DatasetTable(BaseModel):
    as_of: float = Field(description="Evaluation instant, epoch seconds (0: no tick yet)")
    total: int = Field(description="Datasets that matched name and search, before the page")
    datasets: int = Field(description="Datasets in the snapshot")
    offset: int
    rows: list[DatasetRow]


_TABLE: list[tuple[Snapshot, tuple[DatasetRow, ...]]] = []
"""The latest snapshot's joined rows, built once per snapshot."""


def dataset_rows(snap: Snapshot) -> tuple[DatasetRow, ...]:
    if _TABLE and _TABLE[0][0] is snap:
        return _TABLE[0][1]
    lineage = snap.by_subject("lineage")
    names = [f.name for f in fields(FreshnessRow)]
    built = []
    for row in snap.freshness:
        found = lineage.get(row.subject)
        built.append(
            DatasetRow(
                **{n: getattr(row, n) for n in names},
                criticality=None if found is None else found.criticality,
                downstream_services=() if found is None else found.downstream_services,
            )
        )
    table = tuple(built)
    _TABLE[:] = [(snap, table)]
    return table


DATASET_SORTS = paging.sort_keys(DatasetRow)


@router.get(
    "/datasets",
    summary="The freshness table: every dataset's freshness and criticality, paged",
    response_model=DatasetTable,
    responses=QUERY_ERRORS,
)
def get_datasets(
    request: Request,
    name: str | None = Query(
        None,
        max_length=MAX_GLOB_CHARS,
        description="Glob on the dataset name: `*`, `?`, `[...]` (docs/signals.md#filters)",
    ),
    search: str | None = paging.SEARCH_QUERY,
    sort: str | None = paging.sort_query(DATASET_SORTS),
    order: str | None = paging.ORDER_QUERY,
    limit: int = Query(
        50, ge=1, le=paging.MAX_LIMIT, description=f"Rows per page (1-{paging.MAX_LIMIT})"
    ),
    offset: int = paging.OFFSET_QUERY,
) -> DatasetTable:
    page = paging.page_request(DATASET_SORTS, search, sort, order, limit, offset)
    snap = latest_snapshot(request)
    rows: tuple[DatasetRow, ...] | list[DatasetRow] = dataset_rows(snap)
    if name:
        glob = parse_glob(name, "name")
        rows = [r for r in rows if glob.match(r.subject)]
    found = paging.apply(rows, page)
    return DatasetTable(
        as_of=snap.as_of,
        total=found.total,
        datasets=len(snap.freshness),
        offset=offset,
        rows=found.rows,
    )


MAX_NAME_CHARS = 512
"""Longest dataset name accepted (as long as a glob may be; the URL stays under the
server's bound even in 4-byte characters)."""


@router.get(
    "/datasets/timeline",
    summary="One dataset's updates, schema versions and quality results, newest first",
    response_model=TimelineModel,
    responses=QUERY_ERRORS,
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
    ctx = context(request)
    await ctx.journal.settle_async()  # every update acknowledged so far
    found = await run_in_threadpool(dataset_timeline, ctx.storage, dataset, start_s, end_s, limit)
    return TimelineModel(
        dataset=found.dataset,
        updates=[UpdateModel(**vars(u)) for u in found.updates],
        schemas=[SchemaModel(at=s.at, fields=list(s.fields)) for s in found.schemas],
        quality=[QualityModel(**vars(q)) for q in found.quality],
    )
