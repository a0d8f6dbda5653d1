"""Dataset summaries: what the freshness and exposure signals need from every update
stored before a boundary, so a tick reads one row per dataset plus the updates since.

A summary at boundary ``C`` holds, per dataset, from its updates with ``event_time < C``
(``dataset_updates``, deduplicated as ``FINAL`` does): the latest update (time, run,
producer, by the same key as docs/signals.md), the number of distinct update times and
the latest 21 of them (all the expected interval needs). :func:`advance` builds the next
summary from the current one plus the updates between the two boundaries, in the engine.

A summary is *valid* while nothing was inserted before its boundary after its build
began (``update_arrivals``, kept by a materialized view, minus a safety margin for an
insert in flight). Late updates that land before the boundary make it invalid: the
signals then read every stored update (the from-scratch definition) until the next
:func:`advance` rebuilds the summary from scratch. Either way the rows are the same.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

from loadsense.signals.contract import Params
from loadsense.storage.client import Storage
from loadsense.storage.schema.history import ARRIVAL_BUCKET_S

logger = logging.getLogger(__name__)

NS = 1_000_000_000
LAG_S = 1200
"""A summary boundary trails the instant by at least this (more than the exposure window
W of 900 s, so the window's curves start after it)."""
STEP_S = ARRIVAL_BUCKET_S
"""Boundaries are multiples of this; a new summary is built once per step."""
MARGIN_S = 60
"""Inserts noted less than this before a build began may not be in it: they make it
invalid (an insert's view runs just before its commit)."""

LATEST_KEY = "(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(event_time)), 64) + cityHash64(run_id))"
"""The latest update's key: its time, then a hash of its run id for equal times."""

RECENT = 21
"""Distinct update times kept: the expected interval is the median of the last 20 gaps."""

SEGMENT = f"""
SELECT dataset_namespace, dataset_name,
       max(t) AS last_ns, max(k) AS last_key, argMax(run_id, k) AS last_run,
       argMax(producer, k) AS producer,
       length(groupUniqArray(t)) AS updates,
       arraySlice(arraySort(groupUniqArray(t)), -{RECENT}) AS recent
FROM (
    -- one row per update identity, its producer from the row FINAL keeps
    SELECT dataset_namespace, dataset_name, run_id,
           toUnixTimestamp64Nano(event_time) AS t, {LATEST_KEY} AS k,
           argMax(concat(job_namespace, '/', job_name), event_hash) AS producer
    FROM dataset_updates
    WHERE event_time >= fromUnixTimestamp64Nano({{lo:Int64}}, 'UTC')
      AND event_time < fromUnixTimestamp64Nano({{hi:Int64}}, 'UTC')
    GROUP BY dataset_namespace, dataset_name, event_time, run_id
)
GROUP BY dataset_namespace, dataset_name
"""
"""Per dataset, its updates with ``lo <= event_time < hi`` in summary form."""

_MERGE = f"""
SELECT dataset_namespace, dataset_name,
       max(last_ns), max(last_key), argMax(last_run, last_key), argMax(producer, last_key),
       sum(updates), arraySlice(arraySort(arrayFlatten(groupArray(recent))), -{RECENT})
FROM (
    SELECT dataset_namespace, dataset_name, last_ns, last_key, last_run, producer, updates,
           recent
    FROM dataset_summaries WHERE boundary_ns = {{previous:Int64}}
    UNION ALL
    {SEGMENT}
)
GROUP BY dataset_namespace, dataset_name
"""


@dataclass(frozen=True)
class Summary:
    boundary_ns: int
    started_ms: int  # engine clock when its build began, epoch milliseconds


def boundary_for(as_of_ns: int) -> int:
    """The boundary a summary for ``as_of_ns`` is built at."""
    step = STEP_S * NS
    return (as_of_ns - LAG_S * NS) // step * step


def _marks(storage: Storage) -> list[Summary]:
    rows = storage.client.query(
        "SELECT boundary_ns, toUnixTimestamp64Milli(started) FROM summary_marks FINAL "
        "ORDER BY boundary_ns DESC LIMIT 2"
    ).result_rows
    return [Summary(int(b), int(s)) for b, s in rows]


def is_valid(storage: Storage, summary: Summary) -> bool:
    """True while no update was inserted before the boundary since the build began."""
    late = storage.client.query(
        "SELECT count() FROM update_arrivals "
        "WHERE bucket < fromUnixTimestamp64Nano({b:Int64}, 'UTC') "
        "AND last_insert >= fromUnixTimestamp64Milli({s:Int64}, 'UTC')",
        parameters={"b": summary.boundary_ns, "s": summary.started_ms - MARGIN_S * 1000},
    ).result_rows[0][0]
    return not late


def current(storage: Storage, as_of_ns: int) -> Summary | None:
    """The latest valid summary usable at ``as_of_ns`` (boundary at or before it), or None."""
    marks = _marks(storage)
    if not marks:
        return None
    latest = marks[0]
    if latest.boundary_ns > as_of_ns or not is_valid(storage, latest):
        return None
    return latest


def advance(storage: Storage, as_of_ns: int) -> Summary | None:
    """Build the summary for ``as_of_ns`` if its boundary is past the latest one: from the
    latest summary when that is still valid, else from every stored update. Returns the
    summary built, or None when the latest one is current."""
    boundary = boundary_for(as_of_ns)
    marks = _marks(storage)
    latest = marks[0] if marks else None
    if latest is not None and latest.boundary_ns >= boundary:
        return None
    started_ms = int(
        storage.client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0]
    )
    previous = latest if latest is not None and is_valid(storage, latest) else None
    if previous is None:
        sql = f"SELECT {boundary} AS boundary_ns, * FROM ({SEGMENT})"
        params = {"lo": 0, "hi": boundary}
    else:
        sql = f"SELECT {boundary} AS boundary_ns, * FROM ({_MERGE})"
        params = {"lo": previous.boundary_ns, "hi": boundary, "previous": previous.boundary_ns}
    storage.client.command(
        "INSERT INTO dataset_summaries (boundary_ns, dataset_namespace, dataset_name, last_ns, "
        f"last_key, last_run, producer, updates, recent) {sql}",
        parameters=params,
    )
    storage.client.command(
        "INSERT INTO summary_marks (boundary_ns, previous_ns, started) "
        "VALUES ({b:Int64}, {p:Int64}, fromUnixTimestamp64Milli({s:Int64}, 'UTC'))",
        parameters={
            "b": boundary,
            "p": previous.boundary_ns if previous else 0,
            "s": started_ms,
        },
    )
    _drop_older(storage, previous.boundary_ns if previous else boundary)
    logger.debug("dataset summary at %d built (%s)", boundary, "step" if previous else "scratch")
    return Summary(boundary, started_ms)


def _drop_older(storage: Storage, keep_from_ns: int) -> None:
    """Drop summaries older than the one a reader may still be using."""
    rows = storage.client.query(
        "SELECT DISTINCT boundary_ns FROM summary_marks WHERE boundary_ns < {k:Int64}",
        parameters={"k": keep_from_ns},
    ).result_rows
    for (old,) in rows:
        storage.client.command(f"ALTER TABLE dataset_summaries DROP PARTITION {int(old)}")
    if rows:
        storage.client.command(
            "DELETE FROM summary_marks WHERE boundary_ns < {k:Int64}",
            parameters={"k": keep_from_ns},
        )


_CACHE_KEY = "dataset_summary"


def usable(storage: Storage, as_of_ns: int, params: Params) -> Summary | None:
    """:func:`current`, looked up once per evaluation (``Params.cache``); None when the
    evaluation reads from scratch."""
    if params.from_scratch:
        return None
    cache = params.cache
    if _CACHE_KEY not in cache:
        cache[_CACHE_KEY] = current(storage, as_of_ns)
    found = cache[_CACHE_KEY]
    return found if isinstance(found, Summary) else None
