"""Dataset summaries: what the freshness and exposure signals need from every update
stored before a boundary, so a tick reads one row per dataset plus the updates since.

A summary at boundary ``C`` holds, per dataset, from its updates with ``event_time < C``
(``dataset_updates``, deduplicated as ``FINAL`` does): the latest update (time, run,
producer, by the same key as docs/signals.md), the number of distinct update times and
the latest 21 of them (all the expected interval needs). :func:`advance` builds the next
summary from the current one plus the updates between the two boundaries, in the engine.

``C`` trails both the instant and the engine clock by :data:`LAG_S`, more than
``LATE_S``: an update inserted before ``C`` after the build began is *late* and noted per
dataset in ``late_updates`` (a materialized view). Such a dataset is *dirty* for that
summary: readers take all of its stored updates instead (a primary-key read of its
rows), and the next build recomputes it from scratch. Either way the rows are the same.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from typing import Any

from loadsense.signals.contract import Params
from loadsense.signals.sql import EscapedParam, engine_now_ms, json_param
from loadsense.storage.client import Storage
from loadsense.storage.schema.history import LATE_S

logger = logging.getLogger(__name__)

NS = 1_000_000_000
LAG_S = 1200
"""A summary boundary trails the instant and the engine clock by at least this: more
than the exposure window W (900 s), so its curves start after it, and than ``LATE_S``."""
STEP_S = 300
"""Boundaries are multiples of this; a new summary is built once per step."""
MARGIN_S = 60
"""Late inserts noted less than this before a build began may not be in it (an insert's
view runs before its commit): they leave the dataset dirty."""
assert LAG_S > LATE_S

LATEST_KEY = "(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(event_time)), 64) + cityHash64(run_id))"
"""The latest update's key: its time, then a hash of its run id for equal times."""

NEVER_NS = 9_223_372_036_854_775_807

RECENT = 21
"""Distinct update times kept: the expected interval is the median of the last 20 gaps."""

SLICE_ROWS = 250_000
"""The first summary (no earlier one to start from) is built in time slices of about
this many stored updates, each merged into the summary of the slices before it, so its
memory is that of one slice (a few hundred bytes per update), not of the whole
retained history."""

DIRTY = (
    "(dataset_namespace, dataset_name) IN (SELECT x.1, x.2 FROM (SELECT arrayJoin("
    "JSONExtract({dirty:String}, 'Array(Tuple(String, String))')) AS x))"
)
"""The summary's dirty datasets (a primary-key condition on ``dataset_updates``)."""


def segment(lo: str, hi: str, only: str) -> str:
    """Per dataset, its updates with ``lo <= event_time < hi`` (nanosecond parameter
    names) and ``only``, in summary form."""
    return f"""
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
    WHERE event_time >= fromUnixTimestamp64Nano({{{lo}:Int64}}, 'UTC')
      AND event_time < fromUnixTimestamp64Nano({{{hi}:Int64}}, 'UTC')
      AND {only}
    GROUP BY dataset_namespace, dataset_name, event_time, run_id
)
GROUP BY dataset_namespace, dataset_name
"""


def parts(boundary: str, hi: str) -> str:
    """A dataset summary's rows and the updates since, in summary form, to be merged per
    dataset: clean datasets from the summary at ``boundary`` plus ``[boundary, hi)``,
    dirty ones from all their updates before ``hi``."""
    return f"""
    SELECT dataset_namespace, dataset_name, last_ns, last_key, last_run, producer, updates,
           recent
    FROM dataset_summaries WHERE boundary_ns = {{{boundary}:Int64}} AND NOT {DIRTY}
    UNION ALL
    {segment(boundary, hi, f"NOT {DIRTY}")}
    UNION ALL
    {segment("zero", hi, DIRTY)}
"""


_MERGE = f"""
SELECT dataset_namespace, dataset_name,
       max(last_ns), max(last_key), argMax(last_run, last_key), argMax(producer, last_key),
       sum(updates), arraySlice(arraySort(arrayFlatten(groupArray(recent))), -{RECENT})
FROM ({parts("previous", "hi")})
GROUP BY dataset_namespace, dataset_name
"""


@dataclass(frozen=True)
class Summary:
    boundary_ns: int
    started_ms: int  # engine clock when its build began, epoch milliseconds
    dirty: tuple[tuple[str, str], ...] = ()  # (namespace, name) read from scratch

    def parameters(self) -> dict[str, Any]:
        """The bound parameters :func:`parts` and :data:`DIRTY` read."""
        return {"boundary": self.boundary_ns, "zero": 0, "dirty": self.dirty_param()}

    def dirty_param(self) -> EscapedParam:
        return json_param([list(d) for d in self.dirty])


def boundary_for(as_of_ns: int, engine_now_ns: int) -> int:
    """The boundary a summary for ``as_of_ns`` is built at, built at ``engine_now_ns``."""
    step = STEP_S * NS
    return (min(as_of_ns, engine_now_ns) - LAG_S * NS) // step * step


def _latest_mark(storage: Storage) -> tuple[int, int] | None:
    rows = storage.client.query(
        "SELECT boundary_ns, toUnixTimestamp64Milli(started) FROM summary_marks FINAL "
        "ORDER BY boundary_ns DESC LIMIT 1"
    ).result_rows
    return (int(rows[0][0]), int(rows[0][1])) if rows else None


def _dirty(storage: Storage, boundary_ns: int, started_ms: int) -> tuple[tuple[str, str], ...]:
    rows = storage.client.query(
        "SELECT dataset_namespace, dataset_name FROM late_updates "
        "GROUP BY dataset_namespace, dataset_name "
        "HAVING min(first_event) < fromUnixTimestamp64Nano({b:Int64}, 'UTC') "
        "AND max(last_insert) >= fromUnixTimestamp64Milli({s:Int64}, 'UTC') "
        "ORDER BY dataset_namespace, dataset_name",
        parameters={"b": boundary_ns, "s": started_ms - MARGIN_S * 1000},
    ).result_rows
    return tuple((str(ns), str(name)) for ns, name in rows)


def current(storage: Storage, as_of_ns: int) -> Summary | None:
    """The latest summary usable at ``as_of_ns`` (boundary at or before it) with its dirty
    datasets, or None when there is none."""
    mark = _latest_mark(storage)
    if mark is None or mark[0] > as_of_ns:
        return None
    return Summary(mark[0], mark[1], _dirty(storage, *mark))


def forget(storage: Storage) -> None:
    """Drop every summary and mark: the next build reads every stored update."""
    _drop_older(storage, NEVER_NS)
    storage.client.command("TRUNCATE TABLE summary_marks")


def advance(
    storage: Storage, as_of_ns: int, rebuild: bool = False, slice_rows: int = SLICE_ROWS
) -> Summary | None:
    """Build the summary for ``as_of_ns`` if its boundary is past the latest one: from the
    latest summary (its dirty datasets from scratch), or from every stored update when
    there is none. Returns the summary built, or None when the latest one is current.
    ``rebuild`` drops every summary first and builds from every stored update (after a
    bulk load, when most datasets would be dirty; readers meanwhile read from scratch).
    A first summary is built in slices of about ``slice_rows`` updates (:func:`_build_first`)."""
    if rebuild:
        forget(storage)
    started_ms = engine_now_ms(storage)
    boundary = boundary_for(as_of_ns, started_ms * 1_000_000)
    mark = _latest_mark(storage)
    if mark is not None and mark[0] >= boundary:
        return None
    if mark is None:
        _build_first(storage, boundary, slice_rows)
    else:
        # rows a build that did not reach its mark left at this boundary would count twice
        _drop_partition(storage, boundary)
        _build(storage, boundary, Summary(mark[0], mark[1], _dirty(storage, *mark)))
    storage.client.command(
        "INSERT INTO summary_marks (boundary_ns, previous_ns, started) "
        "VALUES ({b:Int64}, {p:Int64}, fromUnixTimestamp64Milli({s:Int64}, 'UTC'))",
        parameters={"b": boundary, "p": mark[0] if mark else 0, "s": started_ms},
    )
    _drop_older(storage, mark[0] if mark else boundary)
    return Summary(boundary, started_ms)


def _build(storage: Storage, boundary_ns: int, previous: Summary | None) -> None:
    """Insert the summary at ``boundary_ns``: ``previous`` plus the updates since (its
    dirty datasets from scratch), or every update before the boundary without one."""
    if previous is None:
        sql = f"SELECT {boundary_ns} AS boundary_ns, * FROM ({segment('zero', 'hi', '1')})"
        params: dict[str, Any] = {"zero": 0, "hi": boundary_ns}
    else:
        sql = f"SELECT {boundary_ns} AS boundary_ns, * FROM ({_MERGE})"
        params = {"previous": previous.boundary_ns, "zero": 0, "hi": boundary_ns}
        params["dirty"] = previous.dirty_param()
    storage.client.command(
        "INSERT INTO dataset_summaries (boundary_ns, dataset_namespace, dataset_name, "
        f"last_ns, last_key, last_run, producer, updates, recent) {sql}",
        parameters=params,
    )


def slices(storage: Storage, boundary_ns: int, slice_rows: int) -> list[int]:
    """The ascending boundaries a first summary at ``boundary_ns`` is built through, each
    slice about ``slice_rows`` stored updates: whole UTC days together while they fit,
    a larger day cut into equal time slices; ending with ``boundary_ns`` (one count over
    the time column)."""
    day = 86_400 * NS
    rows = storage.client.query(
        "SELECT intDiv(toUnixTimestamp64Nano(event_time), {day:Int64}), count() "
        "FROM dataset_updates WHERE event_time < fromUnixTimestamp64Nano({hi:Int64}, 'UTC') "
        "GROUP BY 1 ORDER BY 1",
        parameters={"day": day, "hi": boundary_ns},
    ).result_rows
    limit = max(1, slice_rows)
    cuts: list[int] = []
    pending = 0  # updates since the last cut
    for index, count in rows:
        start, count = int(index) * day, int(count)
        if pending + count <= limit:
            pending += count
            continue
        if pending:
            cuts.append(start)
        pieces = -(-count // limit)
        cuts.extend(start + day * k // pieces for k in range(1, pieces))
        pending = count // pieces
    return [c for c in cuts if c < boundary_ns] + [boundary_ns]


def _build_first(storage: Storage, boundary_ns: int, slice_rows: int) -> None:
    """The first summary at ``boundary_ns``, through intermediate summaries at
    :func:`slices` (unmarked: readers never see them; each is dropped once the next one
    is built). Every step merges as :func:`advance` does, so the rows equal one
    statement over every update, at the memory of one slice."""
    _drop_older(storage, NEVER_NS)  # unmarked leftovers of a build that did not finish
    cuts = slices(storage, boundary_ns, slice_rows)
    started = time.monotonic()
    reported = started
    previous: Summary | None = None
    for k, cut in enumerate(cuts, start=1):
        _build(storage, cut, previous)
        if previous is not None:
            _drop_partition(storage, previous.boundary_ns)
        previous = Summary(cut, 0)
        if time.monotonic() - reported >= 10 and k < len(cuts):
            reported = time.monotonic()
            logger.info("first dataset summary: slice %d/%d built", k, len(cuts))
    if len(cuts) > 1:
        logger.info(
            "first dataset summary built from %d slices in %.1f s",
            len(cuts),
            time.monotonic() - started,
        )


def _drop_older(storage: Storage, keep_from_ns: int) -> None:
    """Drop summaries older than the one a reader may still be using (their marks stay:
    a few bytes each, and only the latest is read)."""
    rows = storage.client.query(
        "SELECT DISTINCT partition FROM system.parts WHERE database = currentDatabase() "
        "AND table = 'dataset_summaries' AND active"
    ).result_rows
    for (partition,) in rows:
        if int(partition) < keep_from_ns:
            _drop_partition(storage, int(partition))


def _drop_partition(storage: Storage, boundary_ns: int) -> None:
    storage.client.command(f"ALTER TABLE dataset_summaries DROP PARTITION {int(boundary_ns)}")


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
