"""Dispatch recommendations for schedulers: REST with ETag and long poll, KEDA, regime.

* ``GET /api/v1/recommendations``: filters ``class``, ``action``, ``workload`` (glob).
  A weak ``ETag`` covers the *decisions* in the filtered view (not the per-tick
  refresh of ``expires_at`` and reason values); ``If-None-Match`` answers 304.
  ``?wait=N`` (seconds, capped by ``dispatch.max_wait_s``) long-polls: the answer comes
  as soon as the filtered view changes, else 304 (or 200 without ``If-None-Match``).
* ``GET /api/v1/recommendations/{workload}``, ``GET /api/v1/recommendations/history``.
* ``GET /api/v1/regime``: the regime, both pressures as numbers, the policy in force.
* ``GET /api/v1/keda/{workload}``: ``{"value": n}`` for KEDA's ``metrics-api`` scaler.

The list is served from JSON rendered once per published tick on the correlator's thread
(correlator/dispatch/render.py), so a poll costs a filter and a hash, not a model
validation (bench/recommendations.py). docs/dispatch.md.

Two apps serve these routes: the primary (``serve``) and the read replica (``replica``,
api/replica/). Each puts a :class:`RecommendationSource` at ``app.state.recommendations``
and includes :data:`live_router`; the primary also includes :data:`history_router`
(the audit log is in storage). This module imports nothing that opens storage, so the
replica process stays free of it.
"""

from __future__ import annotations

import math
import time
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from starlette.concurrency import run_in_threadpool

from loadsense.api.models import (
    BoundsModel,
    ErrorBody,
    HistoryEntryModel,
    HistoryModel,
    KedaValue,
    PolicyModel,
    PressuresModel,
    RecommendationList,
    RecommendationModel,
    RegimeModel,
)
from loadsense.api.routes.params import instant_query
from loadsense.correlator.dispatch.reload import PolicySource
from loadsense.correlator.dispatch.render import Entry, RenderedView
from loadsense.correlator.dispatch.store import Published, ViewSource
from loadsense.errors import InvalidInput, LoadsenseError, NotFound, shown
from loadsense.globs import MAX_GLOB_CHARS, Glob, parse_glob
from loadsense.instants import (
    API_MAX_NS,
    parse_instant,
)
from loadsense.vocabulary import ACTIONS, CLASSES

if TYPE_CHECKING:
    from loadsense.correlator.dispatch.audit import AuditEntry


class DispatchUnavailable(LoadsenseError):
    code = "unavailable"
    status = 503


Responses = dict[int | str, dict[str, Any]]
_AUTH: Responses = {401: {"model": ErrorBody, "description": "Missing or invalid bearer token"}}
_UNAVAILABLE: Responses = {503: {"model": ErrorBody, "description": "Dispatch is not running"}}
_BAD: Responses = {400: {"model": ErrorBody, "description": "Invalid query parameter"}}
_MISSING: Responses = {
    404: {"model": ErrorBody, "description": "No recommendation for this workload"}
}


WORKLOAD_PATH = Path(
    description="Workload name: an OpenLineage job namespace/name, a service.name or a queue",
    json_schema_extra={"pattern": "^[^\\x00-\\x1f\\x7f]+$"},
)
"""Names never hold control characters (a newline would not even reach the route)."""


class RecommendationSource(Protocol):
    """What the recommendation routes read: the primary's dispatch step or a replica's copy.

    ``views`` raises :class:`DispatchUnavailable` when there is nothing to serve (dispatch
    not running; a replica that has not heard from its primary yet).
    """

    @property
    def max_wait_s(self) -> float:
        """Longest long poll (``dispatch.max_wait_s``)."""
        ...

    def views(self) -> ViewSource: ...

    def regime(self) -> RegimeModel: ...

    def require_read(self, request: Request) -> None:
        """Raise :class:`~loadsense.errors.Unauthorized` unless the caller may read."""
        ...


SOURCE_STATE = "recommendations"
"""Attribute of ``app.state`` holding the app's :class:`RecommendationSource`."""


def _source(request: Request) -> RecommendationSource:
    source: RecommendationSource | None = getattr(request.app.state, SOURCE_STATE, None)
    if source is None:
        raise DispatchUnavailable("dispatch is not running")
    return source


async def _read(request: Request) -> None:
    # Inline (not in the thread pool like a sync dependency): a poll must stay cheap.
    _source(request).require_read(request)


def regime_model(pub: Published, source: PolicySource) -> RegimeModel:
    """The primary's ``GET /api/v1/regime`` answer from its published state and policy."""
    state = pub.regime
    policy = source.policy
    bounds = policy.options.regime
    evaluated = pub.as_of is not None
    return RegimeModel(
        regime=state.regime,  # type: ignore[arg-type]
        since=datetime.fromtimestamp(state.since, UTC) if evaluated else None,
        as_of=datetime.fromtimestamp(pub.as_of, UTC) if pub.as_of is not None else None,
        pressures=PressuresModel(
            etl=state.pressures.etl,
            ml=state.pressures.ml,
            etl_driver=state.pressures.etl_subject,
            ml_driver=state.pressures.ml_subject,
        ),
        latched={"etl": state.etl_high, "ml": state.ml_high},
        bounds=BoundsModel(enter=bounds.enter, exit=bounds.exit, min_dwell_s=bounds.min_dwell_s),
        policy=PolicyModel(
            version=policy.version,
            source=policy.source,
            reloads=source.reloads,
            error=source.error,
        ),
    )


def _filtered(
    view: RenderedView, cls: str | None, action: str | None, workload: Glob | None
) -> tuple[str, bytes]:
    if cls is None and action is None and workload is None:
        return view.full_tag, view.full_body
    chosen = [
        e
        for e in view.items
        if (cls is None or e.cls == cls)
        and (action is None or e.action == action)
        and (workload is None or workload.match(e.workload))
    ]
    return view.tag(chosen), view.body(chosen)


async def _filtered_off_loop(
    view: RenderedView, cls: str | None, action: str | None, workload: Glob | None
) -> tuple[str, bytes]:
    # A glob costs time in proportion to the names it scans: off the event loop.
    if workload is None:
        return _filtered(view, cls, action, workload)
    return await run_in_threadpool(_filtered, view, cls, action, workload)


def _matches(if_none_match: str | None, tag: str) -> bool:
    if not if_none_match:
        return False
    wanted = tag.removeprefix("W/")
    for candidate in if_none_match.split(","):
        candidate = candidate.strip()
        if candidate == "*" or candidate.removeprefix("W/") == wanted:
            return True
    return False


def _headers(tag: str) -> dict[str, str]:
    return {"ETag": tag, "Cache-Control": "no-cache"}


def _check_choice(value: str | None, allowed: tuple[str, ...], name: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"unknown {name} {value!r} (known: {', '.join(allowed)})", field=name)


def _entry_of(request: Request, workload: str) -> tuple[RenderedView, Entry]:
    view = _source(request).views().current.rendered
    found = view.by_workload.get(workload)
    if found is None:
        raise NotFound(f"no recommendation for workload {shown(workload)}", field="workload")
    return view, found


live_router = APIRouter(prefix="/api/v1", tags=["recommendations"])
"""The routes served from the in-memory view (primary and replica alike)."""

history_router = APIRouter(prefix="/api/v1", tags=["recommendations"])
"""The audit log, read from storage (primary only)."""


def _query(name: str, description: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "name": name,
        "in": "query",
        "required": False,
        "description": description,
        "schema": schema,
    }


LIST_PARAMETERS = [
    _query("class", "Workload class", {"type": "string", "enum": list(CLASSES)}),
    _query("action", "Recommended action", {"type": "string", "enum": list(ACTIONS)}),
    _query(
        "workload",
        "Glob on the workload name: `*`, `?`, `[...]` (docs/signals.md#filters)",
        {"type": "string", "maxLength": MAX_GLOB_CHARS},
    ),
    _query(
        "wait",
        "Long poll: seconds to wait for a change (capped by dispatch.max_wait_s)",
        {"type": "number", "minimum": 0},
    ),
]
"""The list's query parameters, documented here and read from the raw query string:
FastAPI's per-request parameter and dependency resolution cost more CPU than the rest of
a poll (bench/recommendations.py), and this is the route schedulers poll most."""


def _wait(raw: str | None) -> float | None:
    if raw is None:
        return None
    try:
        wait = float(raw)
    except ValueError:
        wait = math.nan
    if not (math.isfinite(wait) and wait >= 0):
        raise InvalidInput("wait must be a number of seconds >= 0", field="wait")
    return wait


@live_router.get(
    "/recommendations",
    summary="Current recommendations (ETag / If-None-Match; long poll with ?wait=)",
    response_model=RecommendationList,
    responses={
        200: {"headers": {"ETag": {"description": "Weak validator of the filtered view"}}},
        304: {"description": "Unchanged since If-None-Match (also when a long poll times out)"},
        **_BAD,
        **_AUTH,
        **_UNAVAILABLE,
    },
    openapi_extra={"parameters": LIST_PARAMETERS},
)
async def list_recommendations(request: Request) -> Response:
    source = _source(request)
    source.require_read(request)
    query = request.query_params
    cls, action, pattern = query.get("class"), query.get("action"), query.get("workload")
    wait = _wait(query.get("wait"))
    _check_choice(cls, CLASSES, "class")
    _check_choice(action, ACTIONS, "action")
    workload = parse_glob(pattern, "workload") if pattern is not None else None
    store = source.views()
    inm = request.headers.get("if-none-match")
    pub = store.current
    tag, body = await _filtered_off_loop(pub.rendered, cls, action, workload)
    if not wait:
        if _matches(inm, tag):
            return Response(status_code=304, headers=_headers(tag))
        return Response(body, media_type="application/json", headers=_headers(tag))
    baseline = tag if not inm else None
    deadline = time.monotonic() + min(wait, source.max_wait_s)
    while True:
        changed = tag != baseline if baseline is not None else not _matches(inm, tag)
        if changed:
            return Response(body, media_type="application/json", headers=_headers(tag))
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            if inm:
                return Response(status_code=304, headers=_headers(tag))
            return Response(body, media_type="application/json", headers=_headers(tag))
        # Wait on the view this answer was filtered from, so a publish in between is not missed.
        await store.wait_for_change(pub.seq, remaining)
        pub = store.current
        tag, body = await _filtered_off_loop(pub.rendered, cls, action, workload)


HISTORY_END = API_MAX_NS / 1e9
"""2200-01-01T00:00:00Z: after the latest instant an API route accepts."""


def _instant_s(value: str | None, name: str, default: float) -> float:
    return default if value is None else parse_instant(value, name) / 1e9


def _history_entry(e: AuditEntry) -> HistoryEntryModel:
    return HistoryEntryModel.model_validate(
        {
            "issued_at": datetime.fromtimestamp(e.issued_at, UTC),
            "workload": e.workload,
            "class": e.cls,
            "action": e.action,
            "previous_action": e.previous_action,
            "priority": e.priority,
            "max_concurrency": e.max_concurrency,
            "regime": e.regime,
            "confidence": e.confidence,
            "policy_version": e.policy_version,
            "reasons": e.reasons,
        }
    )


@history_router.get(
    "/recommendations/history",
    summary="The audit log: decision changes with their reasons, newest first",
    dependencies=[Depends(_read)],
    response_model=HistoryModel,
    response_model_by_alias=True,
    responses={**_BAD, **_AUTH},
)
async def recommendation_history(
    request: Request,
    workload: str | None = Query(None, description="Exact workload name"),
    from_: str | None = instant_query("from", "; inclusive; default: the beginning"),
    to: str | None = instant_query(None, "; inclusive; default: 2200. Before from: no entries"),
    limit: int = Query(100, ge=1, le=10_000),
) -> HistoryModel:
    # Deferred: the audit module opens storage, which the replica never imports.
    from loadsense.api.context import context
    from loadsense.correlator.dispatch.audit import read_history

    start = _instant_s(from_, "from", 0.0)
    end = _instant_s(to, "to", HISTORY_END)
    if start > end:
        return HistoryModel(entries=[])
    storage = context(request).storage
    entries = await run_in_threadpool(read_history, storage, workload or "", start, end, limit)
    return HistoryModel(entries=[_history_entry(e) for e in entries])


@live_router.get(
    "/recommendations/{workload:path}",
    summary="One workload's recommendation",
    dependencies=[Depends(_read)],
    response_model=RecommendationModel,
    response_model_by_alias=True,
    responses={
        304: {"description": "Unchanged since If-None-Match"},
        **_MISSING,
        **_AUTH,
        **_UNAVAILABLE,
    },
)
async def get_recommendation(request: Request, workload: str = WORKLOAD_PATH) -> Response:
    view, entry = _entry_of(request, workload)
    tag = view.tag([entry])
    if _matches(request.headers.get("if-none-match"), tag):
        return Response(status_code=304, headers=_headers(tag))
    return Response(entry.body, media_type="application/json", headers=_headers(tag))


@live_router.get(
    "/keda/{workload:path}",
    summary='KEDA metrics-api scaler: the recommended concurrency as {"value": n}',
    dependencies=[Depends(_read)],
    response_model=KedaValue,
    responses={**_MISSING, **_AUTH, **_UNAVAILABLE},
)
async def keda_value(request: Request, workload: str = WORKLOAD_PATH) -> KedaValue:
    return KedaValue(value=_entry_of(request, workload)[1].concurrency)


@live_router.get(
    "/regime",
    summary="The dispatch regime, both pressures and the policy in force",
    dependencies=[Depends(_read)],
    response_model=RegimeModel,
    responses={**_AUTH, **_UNAVAILABLE},
)
async def get_regime(request: Request) -> RegimeModel:
    return _source(request).regime()


router = APIRouter()
"""The primary's routes: history first, so ``/recommendations/history`` is not a workload."""
router.include_router(history_router)
router.include_router(live_router)
