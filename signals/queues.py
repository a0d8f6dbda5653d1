"""Queue aging per queue, and run timing per ETL job (docs/signals.md#queues).

Per queue (``queue_samples`` in ``(as_of - W, as_of]``):

- ``depth``: the latest depth sample; ``growth``: least-squares slope of depth over W
  (items/s, ``simpleLinearRegression``; needs 2 samples);
- ``dequeue_rate``: per reporting series, the increase of the ``dequeued`` counter over
  its samples in W divided by their time span (cumulative; a reset — the value drops or
  the series' start time changes — restarts the increase from the new value), or the
  sum of its delta points over the time they cover (delta); summed over series;
- ``oldest_age``: the latest reported age, else Little's law ``depth / dequeue_rate``
  (``oldest_age_estimated``; unknown when nothing is dequeued);
- ``time_to_breach``: seconds until ``depth_limit`` (``(limit - depth) / growth`` when
  growing) or ``age_limit_s`` (``(limit - age) / age slope``) is reached, the sooner;
  0 when already breached; unknown when neither limit is set or nothing grows.

Per ETL job (``type = "job"``; runs with events in the last ``run_window_s``):
``dispatch_delay = START eventTime - nominalStartTime`` of the latest started run,
``duration_p50/p95/p99`` of COMPLETE runs (``quantilesExactInclusive``), ``runs``
(finished runs) and ``failure_rate`` (FAIL or ABORT share of finished runs).
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.signals.contract import Params
from loadsense.signals.sql import AS_OF, counter_rate, render, since
from loadsense.storage.client import Storage
from loadsense.storage.schema.history import NEVER, TERMINAL_CODES

KIND = "queues"


@dataclass(frozen=True)
class QueueRow:
    """``type`` is ``queue`` (from queue samples) or ``job`` (an ETL job's runs)."""

    subject: str
    type: str
    depth: float | None = None
    oldest_age: float | None = None  # seconds
    oldest_age_estimated: bool = False  # True: Little's law depth / dequeue rate
    dequeue_rate: float | None = None  # items/s
    growth: float | None = None  # items/s, least-squares slope of depth over W
    depth_limit: float | None = None
    age_limit_s: float | None = None
    time_to_breach: float | None = None  # seconds; 0 when already breached
    dispatch_delay: float | None = None  # seconds, latest run: START - nominalStartTime
    runs: int | None = None
    duration_p50: float | None = None  # seconds, COMPLETE runs in the run window
    duration_p95: float | None = None
    duration_p99: float | None = None
    failure_rate: float | None = None  # FAIL/ABORT share of finished runs


_QUEUE_SQL = """
SELECT queue_name,
       argMaxIf(depth, t, depth_n > 0), sum(depth_n),
       argMaxIf(growth, t, depth_n > 1),
       argMaxIf(age, t, age_n > 0), sum(age_n), argMaxIf(age_slope, t, age_n > 1),
       sumIf(rate, rate IS NOT NULL), countIf(rate IS NOT NULL)
FROM (
    SELECT queue_name, service_name, host_name, source,
           max(time) AS t,
           countIf(field = 'depth') AS depth_n,
           argMaxIf(value, time, field = 'depth') AS depth,
           tupleElement(simpleLinearRegressionIf(x, value, field = 'depth'), 1) AS growth,
           countIf(field = 'oldest_age') AS age_n,
           argMaxIf(value, time, field = 'oldest_age') AS age,
           tupleElement(simpleLinearRegressionIf(x, value, field = 'oldest_age'), 1)
               AS age_slope,
           arraySort(s -> s.1, groupArrayIf(
               (toUnixTimestamp64Nano(time), value, toUnixTimestamp64Nano(start_time)),
               field = 'dequeued')) AS dq,
           anyIf(temporality, field = 'dequeued') AS dq_temporality,
           @rate@ AS rate
    FROM (
        SELECT *, (toUnixTimestamp64Nano(time) - {as_of:Int64}) / 1e9 AS x
        FROM queue_samples FINAL
        WHERE time > @since@ AND time <= @as_of@
    )
    GROUP BY queue_name, service_name, host_name, source
)
GROUP BY queue_name
ORDER BY queue_name
"""

_RUN_WINDOW = """
    SELECT job_namespace, job_name, run_id,
           countIf(event_type = 'START') > 0 AS has_start,
           minIf(toUnixTimestamp64Nano(event_time), event_type = 'START') AS start_ns,
           countIf(event_type IN ('COMPLETE', 'FAIL', 'ABORT')) > 0 AS ended,
           -- the latest terminal event, ties by type name; a numeric key, as a tuple
           -- key costs more than the rest of the query
           argMaxIf(event_type,
                    toInt128(toUnixTimestamp64Nano(event_time)) * 4
                        + multiIf(event_type = 'FAIL', 3, event_type = 'COMPLETE', 2, 1),
                    event_type IN ('COMPLETE', 'FAIL', 'ABORT')) AS state,
           maxIf(toUnixTimestamp64Nano(event_time),
                 event_type IN ('COMPLETE', 'FAIL', 'ABORT')) AS end_ns,
           min(toUnixTimestamp64Nano(nominal_start_time)) AS nominal_ns
    FROM run_events @final@
    WHERE event_time > @lookback@ AND event_time <= @as_of@ @only@
    GROUP BY job_namespace, job_name, run_id
"""
"""Per run, its events in the run window (the from-scratch definition)."""

_JOB_ROWS = """
SELECT concat(job_namespace, '/', job_name) AS job,
       countIf(ended) AS runs,
       quantilesExactInclusiveIf(0.5, 0.95, 0.99)((end_ns - start_ns) / 1e9,
           state = 'COMPLETE' AND has_start) AS q,
       countIf(state = 'COMPLETE' AND has_start) AS timed,
       if(runs > 0, countIf(state IN ('FAIL', 'ABORT')) / runs, NULL) AS failure_rate,
       argMaxIf((start_ns - nominal_ns) / 1e9, start_ns, has_start AND nominal_ns IS NOT NULL)
           AS delay,
       countIf(has_start AND nominal_ns IS NOT NULL) AS delayed
FROM (@runs@)
GROUP BY job_namespace, job_name
ORDER BY job
"""

_JOB_SQL = _JOB_ROWS.replace(
    "@runs@", _RUN_WINDOW.replace("@final@", "FINAL").replace("@only@", "")
)
"""Job rows from every run event in the window (the definition; docs/signals.md)."""

_STATE_WINDOW = """
    SELECT run_key, any(job_namespace) AS job_namespace, any(job_name) AS job_name,
           any(run_id) AS run_id, min(first_ns) AS first, max(last_ns) AS last,
           min(start_ns) AS start, max(end_key) AS end, min(nominal_ns) AS nominal
    FROM run_hours
    WHERE hour >= toStartOfHour(@lookback@) AND hour <= @as_of@
      -- a row with every event outside the window adds nothing the definition counts
      AND last_ns > {lookback_ns:Int64} AND first_ns <= {as_of:Int64}
    GROUP BY run_key
"""
"""Per run, the merge of its rows that overlap the window (``storage/schema/history.py``):
a key range of ``run_hours``."""

_CODES = " ".join(f"WHEN {c} THEN '{t}'" for t, c in TERMINAL_CODES)

_STRADDLERS = """WITH straddlers AS (
    SELECT DISTINCT run_id
    FROM run_hours
    WHERE hour IN (toStartOfHour(@lookback@), toStartOfHour(@as_of@))
      AND ((first_ns <= {lookback_ns:Int64} AND last_ns > {lookback_ns:Int64})
        OR (first_ns <= {as_of:Int64} AND last_ns > {as_of:Int64}))
)
"""
"""Runs with a state row holding events on both sides of the window's start or of the
instant: only the two boundary hours can hold one. Each row folds some of a run's events
(unmerged parts split an hour), so a row wholly inside the window counts exactly, one
wholly outside adds nothing, and only these runs need their raw events."""

_STATE_JOB_SQL = _STRADDLERS + _JOB_ROWS.replace(
    "@runs@",
    f"""
    SELECT job_namespace, job_name, run_id,
           start != {NEVER} AS has_start, if(has_start, start, 0) AS start_ns,
           end > 0 AS ended, CASE toUInt8(end % 4) {_CODES} ELSE '' END AS state,
           toInt64(intDiv(end, 4)) AS end_ns,
           if(nominal = {NEVER}, NULL, nominal) AS nominal_ns
    FROM ({_STATE_WINDOW})
    -- runs whose rows all lie inside the window: their state is exact
    WHERE first > {{lookback_ns:Int64}} AND last <= {{as_of:Int64}}
    UNION ALL
    -- the straddlers, from their raw events in the window; without FINAL, duplicates
    -- fold by min/max as in the state (docs/storage.md#lineage-state)
    {
        _RUN_WINDOW.replace("@final@", "").replace(
            "@only@", "AND run_id IN (SELECT run_id FROM straddlers)"
        )
    }
""",
)
"""Job rows from the per-run state: the same rows as :data:`_JOB_SQL` (a property test
holds them equal), reading the window's state rows (about one per run) and the raw
events of the runs that straddle its ends."""


def _breach(current: float | None, slope: float | None, limit: float | None) -> float | None:
    if current is None or limit is None:
        return None
    if current >= limit:
        return 0.0
    if slope is not None and slope > 0:
        return (limit - current) / slope
    return None


def _queue_rows(storage: Storage, as_of_ns: int, params: Params) -> list[QueueRow]:
    cfg = params.config
    result = storage.client.query(
        render(
            _QUEUE_SQL,
            since=since("w"),
            as_of=AS_OF,
            rate=counter_rate("dq", "toString(dq_temporality)"),
        ),
        parameters={"as_of": as_of_ns, "w": cfg.window_s},
    )
    rows = []
    for name, depth, depth_n, growth, age, age_n, age_slope, rate, rate_n in result.result_rows:
        depth_v = float(depth) if depth_n else None
        growth_v = float(growth) if depth_n > 1 else None
        rate_v = float(rate) if rate_n else None
        estimated = False
        if age_n:
            age_v: float | None = float(age)
        elif depth_v is not None and rate_v:
            age_v, estimated = depth_v / rate_v, True
        else:
            age_v = None
        slope_v = float(age_slope) if age_n > 1 else None
        depth_limit = cfg.lookup("queues", "depth_limit", name)
        age_limit = cfg.lookup("queues", "age_limit_s", name)
        breaches = [
            b
            for b in (
                _breach(depth_v, growth_v, depth_limit),
                _breach(age_v, slope_v, age_limit),
            )
            if b is not None
        ]
        rows.append(
            QueueRow(
                subject=str(name),
                type="queue",
                depth=depth_v,
                oldest_age=age_v,
                oldest_age_estimated=estimated,
                dequeue_rate=rate_v,
                growth=growth_v,
                depth_limit=depth_limit,
                age_limit_s=age_limit,
                time_to_breach=min(breaches) if breaches else None,
            )
        )
    return rows


def _job_rows(storage: Storage, as_of_ns: int, params: Params) -> list[QueueRow]:
    lookback_s = params.config.run_window_s
    result = storage.client.query(
        render(
            _JOB_SQL if params.from_scratch else _STATE_JOB_SQL,
            lookback=since("lookback"),
            as_of=AS_OF,
        ),
        parameters={
            "as_of": as_of_ns,
            "lookback": lookback_s,
            "lookback_ns": as_of_ns - int(lookback_s * 1e9),
        },
    )
    rows = []
    for job, runs, (p50, p95, p99), timed, failure_rate, delay, delayed in result.result_rows:
        rows.append(
            QueueRow(
                subject=str(job),
                type="job",
                dispatch_delay=float(delay) if delayed else None,
                runs=int(runs),
                duration_p50=float(p50) if timed else None,
                duration_p95=float(p95) if timed else None,
                duration_p99=float(p99) if timed else None,
                failure_rate=None if failure_rate is None else float(failure_rate),
            )
        )
    return rows


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[QueueRow, ...]:
    """Queue rows then job rows (formulas: module docstring)."""
    return (*_queue_rows(storage, as_of_ns, params), *_job_rows(storage, as_of_ns, params))
