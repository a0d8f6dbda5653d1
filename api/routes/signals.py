"""Signals over HTTP: the latest snapshot, history, ticks and evaluations at any instant.

- ``GET /api/v1/signals/{kind}``: the latest snapshot's rows of one kind
  (``freshness``, ``exposure``, ``queues``, ``latency``, ``hosts``, ``lineage``),
  filtered by ``?name=<glob>`` on the subject, and searched, sorted and paged on the
  server with ``search``, ``sort``, ``order``, ``limit`` and ``offset``
  (api/routes/paging.py; ``total`` counts the rows before the page); 404 for an unknown
  kind. The whole answer of a kind is serialized once per snapshot and reused.
- ``GET /api/v1/signals/{kind}/history?name=&from=&to=``: stored points from
  ``signal_points``.
- ``POST /api/v1/tick?as_of=T``: with ``serve --clock external``, run exactly one tick
  at ``T`` and answer when it is done (409 on the wall clock).
- ``POST /api/v1/evaluate?as_of=T``: every signal at ``T``, computed but not stored.

Instants are epoch seconds (``1750000000.5``) or RFC 3339 (``2025-06-15T15:06:40Z``),
read by loadsense/instants.py; name filters are globs read by loadsense/globs.py.
Every route needs a read token but ``tick``, which moves the published clock and writes
history and audit rows, and so needs an ingest token. See docs/signals.md.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request, Response
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_ingest, require_read
from loadsense.api.context import context, latest_snapshot, running_correlator
from loadsense.api.routes import paging
from loadsense.api.routes.params import QUERY_ERRORS, instant_query
from loadsense.correlator.dispatch import regime_history
from loadsense.correlator.history import read_history
from loadsense.correlator.loop import Correlator
from loadsense.correlator.snapshot import Snapshot
from loadsense.errors import InvalidInput, LoadsenseError, NotFound, shown
from loadsense.globs import MAX_GLOB_CHARS, parse_glob
from loadsense.instants import (
    INSTANT_DESCRIPTION,
    INSTANT_PATTERN,
    MAX_INSTANT_CHARS,
    parse_instant,
)
from loadsense.signals.config import parse_signals_config
from loadsense.signals.contract import KINDS, NS_PER_S
from loadsense.signals.evaluate import FAMILIES
from loadsense.signals.exposure import ExposureRow
from loadsense.signals.freshness import FreshnessRow
from loadsense.signals.hosts import HostRow
from loadsense.signals.latency import LatencyRow
from loadsense.signals.lineage import LineageRow
from loadsense.signals.queues import QueueRow

router = APIRouter(prefix="/api/v1", tags=["signals"], dependencies=[Depends(require_read)])

control_router = APIRouter(
    prefix="/api/v1", tags=["signals"], dependencies=[Depends(require_ingest)]
)
"""``POST /api/v1/tick`` moves the published clock and writes history and audit rows:
it takes an ingest token, not a read token."""

Row = TypeVar("Row")


class Conflict(LoadsenseError):
    code = "conflict"
    status = 409


class SignalRows(BaseModel, Generic[Row]):
    """One kind's rows at one instant."""

    kind: str
    as_of: float = Field(description="Evaluation instant, epoch seconds (0: no tick yet)")
    as_of_iso: str | None
    total: int = Field(description="Rows that matched the filters, before limit/offset")
    rows: list[Row]


class AllSignals(BaseModel):
    """Every signal kind at one instant."""

    as_of: float
    as_of_iso: str
    seconds: float = Field(description="Wall time the evaluation took")
    freshness: list[FreshnessRow]
    exposure: list[ExposureRow]
    queues: list[QueueRow]
    latency: list[LatencyRow]
    hosts: list[HostRow]
    lineage: list[LineageRow]


class TickResult(BaseModel):
    as_of: float
    as_of_iso: str
    seconds: float
    rows: dict[str, int] = Field(description="Rows per signal kind")


class Series(BaseModel):
    subject: str
    field: str
    points: list[tuple[float, float]] = Field(description="[epoch seconds, value] pairs")


class History(BaseModel):
    kind: str
    start: float = Field(alias="from")
    end: float = Field(alias="to")
    truncated: bool
    series: list[Series]


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _correlator(request: Request) -> Correlator:
    return running_correlator(request)


def _evaluator(request: Request) -> Correlator:
    """The correlator, or on a process without that role an idle one that only evaluates
    (an evaluation reads storage and stores nothing, so any replica may run it)."""
    ctx = context(request)
    if ctx.correlator is not None or ctx.published is None:
        return _correlator(request)
    idle: Correlator | None = getattr(request.app.state, "evaluator", None)
    if idle is None:
        config = parse_signals_config(ctx.settings.signals)
        idle = Correlator(ctx.storage, config, ctx.metrics, settle=ctx.journal.settle)
        request.app.state.evaluator = idle
    return idle


def _filter(rows: tuple[Any, ...], name: str | None) -> list[Any]:
    if not name:
        return list(rows)
    glob = parse_glob(name, "name")
    return [r for r in rows if glob.match(r.subject)]


def _rows(kind: str, snap: Snapshot, name: str | None, page: paging.PageRequest) -> dict[str, Any]:
    found = paging.apply(_filter(snap.rows(kind), name), page)
    return {
        "kind": kind,
        "as_of": snap.as_of,
        "as_of_iso": iso(snap.as_of) if snap.as_of else None,
        "total": found.total,
        "rows": found.rows,
    }


_WHOLE: dict[str, tuple[Snapshot, bytes]] = {}
"""Per kind, the latest snapshot and its whole answer as JSON: the dashboard and
schedulers ask for the same 10k rows many times between two ticks, and serializing them
costs far more than sending them. Races only compute the same bytes twice."""


def _whole(kind: str, snap: Snapshot) -> Response:
    cached = _WHOLE.get(kind)
    if cached is None or cached[0] is not snap:
        model: Any = SignalRows.__class_getitem__(FAMILIES[kind].row_type)
        body = model.model_validate(_rows(kind, snap, None, paging.PageRequest()))
        cached = (snap, body.model_dump_json().encode())
        _WHOLE[kind] = cached
    return Response(cached[1], media_type="application/json")


def _all(snap: Snapshot) -> AllSignals:
    rows = {kind: list(snap.rows(kind)) for kind in KINDS}
    return AllSignals.model_validate(
        {"as_of": snap.as_of, "as_of_iso": iso(snap.as_of), "seconds": snap.tick_seconds, **rows}
    )


NAME_QUERY = Query(
    None,
    max_length=MAX_GLOB_CHARS,
    description="Glob on the subject: `*`, `?`, `[...]` (docs/signals.md#filters)",
)


SUMMARIES: dict[str, str] = {
    "freshness": "Freshness per dataset",
    "exposure": "Stale-prediction exposure per model service",
    "queues": "Queue aging per queue and run timing per ETL job",
    "latency": "Serving latency per service",
    "hosts": "Host contention per host",
    "lineage": "Lineage-derived signals per dataset",
}
"""What each kind's ``GET /api/v1/signals/{kind}`` answers (its OpenAPI description)."""


def _kind_route(kind: str) -> Callable[..., dict[str, Any] | Response]:
    allowed = paging.sort_keys(FAMILIES[kind].row_type)

    def route(
        request: Request,
        name: str | None = NAME_QUERY,
        search: str | None = paging.SEARCH_QUERY,
        sort: str | None = paging.sort_query(allowed),
        order: str | None = paging.ORDER_QUERY,
        limit: int | None = paging.LIMIT_QUERY,
        offset: int = paging.OFFSET_QUERY,
    ) -> dict[str, Any] | Response:
        page = paging.page_request(allowed, search, sort, order, limit, offset)
        snap = latest_snapshot(request)
        if name is None and page == paging.PageRequest():
            return _whole(kind, snap)
        return _rows(kind, snap, name, page)

    route.__name__ = f"get_{kind}"
    route.__doc__ = f"{SUMMARIES[kind]} (docs/signals.md#{kind})."
    return route


for _kind in KINDS:
    # One route per kind (not one with a path parameter) so that OpenAPI names each
    # kind's row schema; the row type is a value here, hence __class_getitem__.
    router.add_api_route(
        f"/signals/{_kind}",
        _kind_route(_kind),
        methods=["GET"],
        response_model=SignalRows.__class_getitem__(FAMILIES[_kind].row_type),
        responses=QUERY_ERRORS,
    )


HISTORY_KINDS = (*KINDS, regime_history.KIND)
"""Kinds with stored history: every signal kind and the regime's pressures."""


@router.get(
    "/signals/{kind}/history",
    response_model=History,
    response_model_by_alias=True,
    responses={**QUERY_ERRORS, 404: {"description": "Unknown signal kind"}},
)
def get_history(
    request: Request,
    kind: str,
    name: str | None = NAME_QUERY,
    start: str | None = instant_query("from", ". Default: `to` - 1 h"),
    end: str | None = instant_query("to", ". Default: the latest tick"),
) -> History:
    """Stored signal points per subject and field (docs/signals.md#history).

    Per-input exposure subjects are ``<service>::<dataset>``; kind ``regime`` holds the
    dispatch regime's ``etl`` and ``ml`` pressures (subject ``pressures``).
    """
    if kind not in HISTORY_KINDS:
        known = ", ".join(HISTORY_KINDS)
        raise NotFound(f"unknown signal kind {shown(kind)} (known: {known})")
    glob = parse_glob(name or "*", "name")
    snap = latest_snapshot(request)
    end_ns = parse_instant(end, "to") if end is not None else (snap.as_of_ns or time.time_ns())
    start_ns = parse_instant(start, "from") if start is not None else end_ns - 3600 * NS_PER_S
    if start_ns > end_ns:
        raise InvalidInput("from: must not be after 'to'", field="from")
    storage = context(request).storage
    page = read_history(storage, kind, glob.re2(), start_ns, end_ns)
    return History.model_validate(
        {
            "kind": kind,
            "from": start_ns / NS_PER_S,
            "to": end_ns / NS_PER_S,
            "truncated": page.truncated,
            "series": [
                Series(subject=s.subject, field=s.field, points=list(s.points)) for s in page.series
            ],
        }
    )


@router.get(
    "/signals/{kind}",
    responses={**QUERY_ERRORS, 404: {"description": "Unknown signal kind"}},
    include_in_schema=False,
)
def get_unknown_kind(kind: str) -> None:
    """Every known kind has its own route above; anything else is a 404."""
    raise NotFound(f"unknown signal kind {shown(kind)} (known: {', '.join(KINDS)})")


AS_OF_QUERY = Query(
    ...,
    max_length=MAX_INSTANT_CHARS,
    json_schema_extra={"pattern": INSTANT_PATTERN},
    description=INSTANT_DESCRIPTION,
)


@control_router.post(
    "/tick",
    response_model=TickResult,
    responses={
        **QUERY_ERRORS,
        409: {"description": "The correlator runs on the wall clock (serve --clock external)"},
    },
)
async def post_tick(request: Request, as_of: str = AS_OF_QUERY) -> TickResult:
    """Run exactly one correlator tick at ``as_of`` (external clock only); answer when done."""
    correlator = _correlator(request)
    at = parse_instant(as_of, "as_of")
    if not correlator.external_clock:
        raise Conflict(
            "the correlator runs on the wall clock; start the service with "
            "'serve --clock external' (LOADSENSE_CLOCK=external) to drive ticks"
        )
    snap = await run_in_threadpool(correlator.tick, at)
    return TickResult(
        as_of=snap.as_of,
        as_of_iso=iso(snap.as_of),
        seconds=snap.tick_seconds,
        rows={k: len(snap.rows(k)) for k in KINDS},
    )


@router.post("/evaluate", response_model=AllSignals, responses=QUERY_ERRORS)
async def post_evaluate(request: Request, as_of: str = AS_OF_QUERY) -> AllSignals:
    """Every signal at ``as_of`` (a past or simulated instant), computed and not stored."""
    at = parse_instant(as_of, "as_of")
    snap = await run_in_threadpool(_evaluator(request).evaluate, at)
    return _all(snap)
