"""Signals over HTTP: the latest snapshot, history, the lineage graph, ticks and replays.

- ``GET /api/v1/signals/{kind}``: the latest snapshot's rows of one kind
  (``freshness``, ``exposure``, ``queues``, ``latency``, ``hosts``, ``lineage``),
  filtered by ``?name=<glob>`` on the subject; 404 for an unknown kind.
- ``GET /api/v1/signals/{kind}/history?name=&from=&to=``: stored points from
  ``signal_points``.
- ``GET /api/v1/lineage/graph?node=&depth=``: nodes and edges around a dataset, job or
  service.
- ``POST /api/v1/tick?as_of=T``: with ``serve --clock external``, run exactly one tick
  at ``T`` and answer when it is done (409 on the wall clock).
- ``POST /api/v1/evaluate?as_of=T``: every signal at ``T``, computed but not stored.

Instants are epoch seconds (``1750000000.5``) or RFC 3339 (``2025-06-15T15:06:40Z``).
Every route needs a read token: ``tick`` and ``evaluate`` compute from stored data and
write nothing but the correlator's own history. See docs/signals.md.
"""

from __future__ import annotations

import re
import time
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool

from loadsense.api.auth import require_read
from loadsense.api.context import context
from loadsense.correlator.dispatch import regime_history
from loadsense.correlator.loop import EXTENSION_KEY, Correlator
from loadsense.correlator.snapshot import Snapshot
from loadsense.errors import InvalidInput, LoadsenseError, NotFound
from loadsense.signals.config import glob_regex
from loadsense.signals.contract import KINDS, NS_PER_S
from loadsense.signals.exposure import ExposureRow
from loadsense.signals.freshness import FreshnessRow
from loadsense.signals.graph import LineageGraph, load_graph
from loadsense.signals.hosts import HostRow
from loadsense.signals.latency import LatencyRow
from loadsense.signals.lineage import LineageRow
from loadsense.signals.queues import QueueRow

router = APIRouter(prefix="/api/v1", tags=["signals"], dependencies=[Depends(require_read)])

Row = TypeVar("Row")

_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid parameter (the message names it)"},
    401: {"description": "Missing or invalid bearer token"},
}


class Conflict(LoadsenseError):
    code = "conflict"
    status = 409


class SignalRows(BaseModel, Generic[Row]):
    """One kind's rows at one instant."""

    kind: str
    as_of: float = Field(description="Evaluation instant, epoch seconds (0: no tick yet)")
    as_of_iso: str | None
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


def parse_instant(value: str, name: str) -> int:
    """Epoch seconds (decimal, exact to the nanosecond) or RFC 3339, as int nanoseconds."""
    text = value.strip()
    try:
        seconds = Decimal(text)
        if not seconds.is_finite():
            raise InvalidInput(f"{name}: must be finite, got {value!r}", field=name)
        return _in_range(int(seconds * NS_PER_S), name, value)
    except InvalidOperation:
        pass
    try:
        parsed = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise InvalidInput(
            f"{name}: expected epoch seconds or an RFC 3339 time, got {value!r}", field=name
        ) from None
    if parsed.tzinfo is None:
        raise InvalidInput(f"{name}: an RFC 3339 time needs a UTC offset", field=name)
    delta = parsed - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * 86_400 + delta.seconds) * NS_PER_S + delta.microseconds * 1000
    return _in_range(ns, name, value)


def _in_range(ns: int, name: str, value: str) -> int:
    if not 0 <= ns < 2**63:
        raise InvalidInput(f"{name}: out of range (1970 .. 2262), got {value!r}", field=name)
    return ns


def iso(seconds: float) -> str:
    return datetime.fromtimestamp(seconds, UTC).isoformat().replace("+00:00", "Z")


def _correlator(request: Request) -> Correlator:
    correlator: Correlator = context(request).extensions[EXTENSION_KEY]
    return correlator


def _filter(rows: tuple[Any, ...], name: str | None) -> list[Any]:
    if not name:
        return list(rows)
    pattern = re.compile(glob_regex(name))
    return [r for r in rows if pattern.match(r.subject)]


def _rows(kind: str, snap: Snapshot, name: str | None) -> dict[str, Any]:
    return {
        "kind": kind,
        "as_of": snap.as_of,
        "as_of_iso": iso(snap.as_of) if snap.as_of else None,
        "rows": _filter(snap.rows(kind), name),
    }


def _all(snap: Snapshot) -> AllSignals:
    return AllSignals(
        as_of=snap.as_of,
        as_of_iso=iso(snap.as_of),
        seconds=snap.tick_seconds,
        freshness=list(snap.freshness),
        exposure=list(snap.exposure),
        queues=list(snap.queues),
        latency=list(snap.latency),
        hosts=list(snap.hosts),
        lineage=list(snap.lineage),
    )


NAME_QUERY = Query(None, description="Glob on the subject (`*`, `?`)")


@router.get("/signals/freshness", response_model=SignalRows[FreshnessRow], responses=_ERRORS)
def get_freshness(request: Request, name: str | None = NAME_QUERY) -> dict[str, Any]:
    """Freshness per dataset (docs/signals.md#freshness)."""
    return _rows("freshness", _correlator(request).snapshot, name)


@router.get("/signals/exposure", response_model=SignalRows[ExposureRow], responses=_ERRORS)
def get_exposure(request: Request, name: str | None = NAME_QUERY) -> dict[str, Any]:
    """Stale-prediction exposure per model service (docs/signals.md#exposure)."""
    return _rows("exposure", _correlator(request).snapshot, name)


@router.get("/signals/queues", response_model=SignalRows[QueueRow], responses=_ERRORS)
def get_queues(request: Request, name: str | None = NAME_QUERY) -> dict[str, Any]:
    """Queue aging per queue and run timing per ETL job (docs/signals.md#queues)."""
    return _rows("queues", _correlator(request).snapshot, name)


@router.get("/signals/latency", response_model=SignalRows[LatencyRow], responses=_ERRORS)
def get_latency(request: Request, name: str | None = NAME_QUERY) -> dict[str, Any]:
    """Serving latency per service (docs/signals.md#latency)."""
    return _rows("latency", _correlator(request).snapshot, name)


@router.get("/signals/hosts", response_model=SignalRows[HostRow], responses=_ERRORS)
def get_hosts(request: Request, name: str | None = NAME_QUERY) -> dict[str, Any]:
    """Host contention per host (docs/signals.md#hosts)."""
    return _rows("hosts", _correlator(request).snapshot, name)


@router.get("/signals/lineage", response_model=SignalRows[LineageRow], responses=_ERRORS)
def get_lineage(request: Request, name: str | None = NAME_QUERY) -> dict[str, Any]:
    """Lineage-derived signals per dataset (docs/signals.md#lineage)."""
    return _rows("lineage", _correlator(request).snapshot, name)


_HISTORY_SQL = """
SELECT subject, field, groupArray((toUnixTimestamp64Milli(as_of) / 1e3, value)) AS points
FROM (
    SELECT as_of, subject, field, value FROM signal_points FINAL
    WHERE kind = {kind:String}
      AND as_of >= fromUnixTimestamp64Milli({start:Int64}, 'UTC')
      AND as_of <= fromUnixTimestamp64Milli({end:Int64}, 'UTC')
      AND match(subject, {pattern:String})
    ORDER BY subject, field, as_of
    LIMIT {limit:UInt32}
)
GROUP BY subject, field
ORDER BY subject, field
"""

HISTORY_KINDS = (*KINDS, regime_history.KIND)
"""Kinds with stored history: every signal kind and the regime's pressures."""

HISTORY_LIMIT = 100_000
"""Most points one history answer carries (``truncated`` says when more matched)."""


@router.get(
    "/signals/{kind}/history",
    response_model=History,
    response_model_by_alias=True,
    responses={**_ERRORS, 404: {"description": "Unknown signal kind"}},
)
def get_history(
    request: Request,
    kind: str,
    name: str | None = NAME_QUERY,
    start: str | None = Query(None, alias="from", description="Default: `to` - 1 h"),
    end: str | None = Query(None, alias="to", description="Default: the latest tick"),
) -> History:
    """Stored signal points per subject and field (docs/signals.md#history).

    Per-input exposure subjects are ``<service>::<dataset>``; kind ``regime`` holds the
    dispatch regime's ``etl`` and ``ml`` pressures (subject ``pressures``).
    """
    if kind not in HISTORY_KINDS:
        known = ", ".join(HISTORY_KINDS)
        raise NotFound(f"unknown signal kind {kind!r} (known: {known})")
    snap = _correlator(request).snapshot
    end_ns = parse_instant(end, "to") if end else (snap.as_of_ns or time.time_ns())
    start_ns = parse_instant(start, "from") if start else end_ns - 3600 * NS_PER_S
    if start_ns > end_ns:
        raise InvalidInput("from: must not be after 'to'", field="from")
    result = context(request).storage.client.query(
        _HISTORY_SQL,
        parameters={
            "kind": kind,
            "start": start_ns // 1_000_000,
            "end": end_ns // 1_000_000,
            "pattern": glob_regex(name or "*"),
            "limit": HISTORY_LIMIT + 1,
        },
    )
    series = [
        Series(subject=s, field=f, points=[(float(t), float(v)) for t, v in pts])
        for s, f, pts in result.result_rows
    ]
    count = sum(len(s.points) for s in series)
    return History.model_validate(
        {
            "kind": kind,
            "from": start_ns / NS_PER_S,
            "to": end_ns / NS_PER_S,
            "truncated": count > HISTORY_LIMIT,
            "series": series,
        }
    )


@router.get(
    "/signals/{kind}",
    responses={**_ERRORS, 404: {"description": "Unknown signal kind"}},
    include_in_schema=False,
)
def get_unknown_kind(kind: str) -> None:
    """Every known kind has its own route above; anything else is a 404."""
    raise NotFound(f"unknown signal kind {kind!r} (known: {', '.join(KINDS)})")


def _node_id(kind: str, name: str) -> str:
    return f"{kind}:{name}"


def neighbourhood(
    graph: LineageGraph, node: str | None, depth: int
) -> tuple[list[Node], list[Edge]]:
    """Nodes and edges within ``depth`` hops of ``node`` (all of the graph when None)."""
    edges: set[tuple[str, str, str]] = set()
    for job, datasets in graph.produces.items():
        edges |= {(_node_id("job", job), _node_id("dataset", d), "writes") for d in datasets}
    for job, datasets in graph.consumes.items():
        edges |= {(_node_id("dataset", d), _node_id("job", job), "reads") for d in datasets}
    for service, datasets in graph.service_inputs.items():
        edges |= {(_node_id("dataset", d), _node_id("service", service), "reads") for d in datasets}
    adjacent: dict[str, set[str]] = {}
    for src, dst, _ in edges:
        adjacent.setdefault(src, set()).add(dst)
        adjacent.setdefault(dst, set()).add(src)
    if node is None:
        keep = set(adjacent)
    else:
        starts = {n for n in adjacent if n == node or n.partition(":")[2] == node}
        if not starts:
            raise NotFound(f"node {node!r} is not in the lineage graph", field="node")
        keep, frontier = set(starts), set(starts)
        for _ in range(depth):
            frontier = {m for n in frontier for m in adjacent.get(n, ())} - keep
            keep |= frontier
    nodes = [Node(id=n, type=n.partition(":")[0], name=n.partition(":")[2]) for n in sorted(keep)]
    kept = [
        Edge(source=s, target=t, relation=r) for s, t, r in sorted(edges) if s in keep and t in keep
    ]
    return nodes, kept


@router.get(
    "/lineage/graph",
    response_model=Graph,
    responses={**_ERRORS, 404: {"description": "The node is not in the graph"}},
)
def get_lineage_graph(
    request: Request,
    node: str | None = Query(
        None, description="'dataset:ns/name', 'job:ns/name', 'service:name' or a bare name"
    ),
    depth: int = Query(2, ge=0, le=20, description="Hops around the node"),
) -> Graph:
    """The lineage graph around a dataset, job or service, as of the latest tick."""
    snap = _correlator(request).snapshot
    as_of_ns = snap.as_of_ns or time.time_ns()
    graph = load_graph(context(request).storage, as_of_ns)
    nodes, edges = neighbourhood(graph, node, depth)
    return Graph(as_of=as_of_ns / NS_PER_S, nodes=nodes, edges=edges)


AS_OF_QUERY = Query(..., description="Epoch seconds or RFC 3339")


@router.post(
    "/tick",
    response_model=TickResult,
    responses={
        **_ERRORS,
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


@router.post("/evaluate", response_model=AllSignals, responses=_ERRORS)
async def post_evaluate(request: Request, as_of: str = AS_OF_QUERY) -> AllSignals:
    """Every signal at ``as_of`` (a past or simulated instant), computed and not stored."""
    at = parse_instant(as_of, "as_of")
    snap = await run_in_threadpool(_correlator(request).evaluate, at)
    return _all(snap)
