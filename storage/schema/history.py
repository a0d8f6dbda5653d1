"""Lineage state kept as lineage arrives, so a tick reads state instead of history.

Materialized views fill three state tables on every insert (docs/storage.md#lineage-state):

- ``run_hours``: per run and UTC hour, the merged facts the job signal needs (first and
  last event, first START, latest terminal event, nominal start), sorted by hour: a
  run's window state is the merge of its hours in the window, a key range read instead
  of every run event of the window (it replaced ``run_states``, per run and day sorted
  by run, which read up to two whole days);
- ``edge_states``: per distinct lineage edge, its first and last event time (the graph);
- ``run_inputs``: per run input edge, its first and last event time (the inputs of the
  run behind a dataset's latest update), with small granules for point lookups;
  ``input_arrivals`` notes when a run gained input edges, so those inputs can be kept
  between ticks and re-read only when they change.

``late_updates`` notes, per dataset, updates inserted well after their ``event_time``:
a summary built before such an insert is stale for that dataset. The summaries
themselves (``dataset_summaries``: per dataset, everything stored before a boundary) are
built by ``signals/summaries.py`` in the engine and marked in ``summary_marks``.

Every state is a min/max/argMax of its rows, so duplicates and arrival order change
nothing.
"""

from __future__ import annotations

from loadsense.storage.schema import lineage
from loadsense.storage.schema.model import (
    DROP_WHOLE_DAYS,
    LC,
    TS,
    TS_MS,
    Backfill,
    Column,
    Drop,
    MaterializedView,
    Table,
    TableChange,
)

NEVER = 9_223_372_036_854_775_807
"""``start_ns``/``nominal_ns`` of a run without a START event or nominal time (max Int64)."""

TERMINAL_CODES = (("FAIL", 3), ("COMPLETE", 2), ("ABORT", 1))
"""Terminal event types in ``end_key = event_time_ns * 4 + code``: the latest terminal
event wins, equal times by type name (FAIL > COMPLETE > ABORT), as in docs/signals.md."""

_END_CODE = "multiIf(" + ", ".join(f"event_type = '{t}', {c}" for t, c in TERMINAL_CODES) + ", 0)"

RUN_STATES = Table(
    name="run_states",
    columns=(
        Column("day", "Date"),
        Column("run_key", "UInt64"),  # cityHash64(job_namespace, job_name, run_id)
        Column("job_namespace", f"SimpleAggregateFunction(any, {LC})"),
        Column("job_name", "SimpleAggregateFunction(any, String)"),
        Column("run_id", "SimpleAggregateFunction(any, String)"),
        Column("first_ns", "SimpleAggregateFunction(min, Int64)"),
        Column("last_ns", "SimpleAggregateFunction(max, Int64)"),
        Column("start_ns", "SimpleAggregateFunction(min, Int64)"),
        Column("end_key", "SimpleAggregateFunction(max, Int128)"),
        Column("nominal_ns", "SimpleAggregateFunction(min, Int64)"),
    ),
    order_by=("run_key",),
    engine="AggregatingMergeTree",
    partition_by="day",
    ttl_column="day",
    shard_key="run_key",
)


def _run_state_select(column: str, period: str) -> str:
    """A run's merged facts per ``period`` of its events (``column`` = ``period``)."""
    return f"""SELECT p AS {column}, rk AS run_key,
       any(job_namespace) AS job_namespace, any(job_name) AS job_name, any(run_id) AS run_id,
       min(toUnixTimestamp64Nano(event_time)) AS first_ns,
       max(toUnixTimestamp64Nano(event_time)) AS last_ns,
       if(countIf(event_type = 'START') > 0,
          minIf(toUnixTimestamp64Nano(event_time), event_type = 'START'), {NEVER}) AS start_ns,
       max(if({_END_CODE} > 0,
              toInt128(toUnixTimestamp64Nano(event_time)) * 4 + {_END_CODE}, 0)) AS end_key,
       if(count(nominal_start_time) > 0,
          min(toUnixTimestamp64Nano(nominal_start_time)), {NEVER}) AS nominal_ns
FROM (SELECT *, {period} AS p, cityHash64(job_namespace, job_name, run_id) AS rk
      FROM {{source}})
GROUP BY p, rk"""


_RUN_STATES_SELECT = _run_state_select("day", "toDate(event_time)")

RUN_STATES_MV = MaterializedView(
    name="run_states_mv", source="run_events", target="run_states", select=_RUN_STATES_SELECT
)

RUN_HOURS = Table(
    name="run_hours",
    columns=(
        Column("hour", "DateTime('UTC')"),
        *(c for c in RUN_STATES.columns if c.name != "day"),
    ),
    order_by=("hour", "run_key"),
    engine="AggregatingMergeTree",
    partition_by="toDate(hour)",
    ttl_column="hour",
    shard_key="run_key",
)
"""Per run and UTC hour, its merged facts (as ``run_states`` per day): sorted by hour, so
the job signal's window is a key range (migration 10)."""

_RUN_HOURS_SELECT = _run_state_select("hour", "toStartOfHour(event_time)")

RUN_HOURS_MV = MaterializedView(
    name="run_hours_mv", source="run_events", target="run_hours", select=_RUN_HOURS_SELECT
)

BY_HOUR = (
    RUN_HOURS,
    RUN_HOURS_MV,
    Backfill("run_hours", _RUN_HOURS_SELECT, "run_events", "run_id", 16),
    Drop("run_states_mv", view=True),
    Drop("run_states"),
)
"""Migration 10: the hourly run state, filled from the stored run events (in slices),
replacing the daily one."""

EDGE_STATES = Table(
    name="edge_states",
    columns=(
        *lineage.EDGE_KEY,
        Column("source", LC),
        Column("first_time", f"SimpleAggregateFunction(min, {TS})"),
        Column("last_time", f"SimpleAggregateFunction(max, {TS})"),
    ),
    order_by=(
        "job_namespace",
        "job_name",
        "dataset_namespace",
        "dataset_name",
        "direction",
        "source",
    ),
    engine="AggregatingMergeTree",
    ttl_column="last_time",
    ttl_where="source = 'run'",
    shard_key="cityHash64(job_namespace, job_name)",
)

_EDGE_STATES_SELECT = """SELECT job_namespace, job_name, dataset_namespace, dataset_name,
       direction, source, min(event_time) AS first_time, max(event_time) AS last_time
FROM {source}
GROUP BY job_namespace, job_name, dataset_namespace, dataset_name, direction, source"""

EDGE_STATES_MV = MaterializedView(
    name="edge_states_mv", source="lineage_edges", target="edge_states", select=_EDGE_STATES_SELECT
)

_POINT_READ_BLOCKS = ("min_compress_block_size = 4096", "max_compress_block_size = 8192")
"""Compressed blocks of about one granule: a point read by run decompresses its granule
instead of a 64 KiB block holding dozens (10k runs' inputs at 30 days: 1.56 s against
0.63 s, docs/performance.md#lineage-history)."""

RUN_INPUTS = Table(
    name="run_inputs",
    columns=(
        Column("run_id", "String"),
        Column("job_namespace", LC),
        Column("job_name", "String"),
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("first_time", f"SimpleAggregateFunction(min, {TS})"),
        Column("last_time", f"SimpleAggregateFunction(max, {TS})"),
    ),
    order_by=("run_id", "job_namespace", "job_name", "dataset_namespace", "dataset_name"),
    engine="AggregatingMergeTree",
    partition_by="toDate(last_time)",
    ttl_column="last_time",
    shard_key="cityHash64(run_id)",
    settings=("index_granularity = 256", *_POINT_READ_BLOCKS, DROP_WHOLE_DAYS),
)

_RUN_INPUTS_SELECT = """SELECT run_id, job_namespace, job_name, dataset_namespace, dataset_name,
       min(event_time) AS first_time, max(event_time) AS last_time
FROM {source}
WHERE direction = 'input' AND run_id != ''
GROUP BY run_id, job_namespace, job_name, dataset_namespace, dataset_name"""

RUN_INPUTS_MV = MaterializedView(
    name="run_inputs_mv", source="lineage_edges", target="run_inputs", select=_RUN_INPUTS_SELECT
)

RUN_INPUTS_BLOCKS = TableChange(
    table="run_inputs",
    clauses=(f"MODIFY SETTING {', '.join(_POINT_READ_BLOCKS)}",),
)
"""The small compressed blocks on a ``run_inputs`` made before them (new parts and
merges; migration 9)."""

INPUT_ARRIVALS = Table(
    name="input_arrivals",
    columns=(Column("inserted", TS_MS), Column("run_id", "String")),
    order_by=("inserted", "run_id"),
    engine="MergeTree",
    partition_by="toDate(inserted)",
    ttl_column="inserted",
    ttl_days=1,
    shard_key="cityHash64(run_id)",
    settings=(DROP_WHOLE_DAYS,),
)
"""When input edges of a run were inserted (engine clock): a reader that keeps runs'
inputs between evaluations re-reads the runs that gained edges since it last looked
(signals/run_inputs.py)."""

INPUT_ARRIVALS_MV = MaterializedView(
    name="input_arrivals_mv",
    source="lineage_edges",
    target="input_arrivals",
    select="""SELECT max(now64(3)) AS inserted, run_id
FROM {source}
WHERE direction = 'input' AND run_id != ''
GROUP BY run_id""",
)

LATE_S = 900
"""An update whose ``event_time`` is more than this before its insert is *late*: it may
land before a summary's boundary (which trails the clock by more), so it is noted."""

LATE_UPDATES = Table(
    name="late_updates",
    columns=(
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("first_event", f"SimpleAggregateFunction(min, {TS})"),
        Column("last_insert", f"SimpleAggregateFunction(max, {TS_MS})"),
    ),
    order_by=("dataset_namespace", "dataset_name"),
    engine="AggregatingMergeTree",
    ttl_column="last_insert",
    shard_key="cityHash64(dataset_namespace, dataset_name)",
)
"""Per dataset, its earliest late update and when the last one was inserted: a summary
built before that insert is stale for this dataset (signals/summaries.py)."""

_LATE_SELECT = f"""SELECT dataset_namespace, dataset_name,
       min(event_time) AS first_event, max(now64(3)) AS last_insert
FROM {{source}}
WHERE event_time < now64(9) - toIntervalSecond({LATE_S})
GROUP BY dataset_namespace, dataset_name"""

LATE_UPDATES_MV = MaterializedView(
    name="late_updates_mv", source="dataset_updates", target="late_updates", select=_LATE_SELECT
)

DATASET_SUMMARIES = Table(
    name="dataset_summaries",
    columns=(
        Column("boundary_ns", "Int64"),
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("last_ns", "Int64"),
        Column("last_key", "UInt128"),
        Column("last_run", "String"),
        Column("producer", "String"),
        Column("updates", "UInt64"),
        Column("recent", "Array(Int64)"),  # the latest <= 21 distinct update times, sorted
    ),
    order_by=("boundary_ns", "dataset_namespace", "dataset_name"),
    partition_by="boundary_ns",
    shard_key="cityHash64(dataset_namespace, dataset_name)",
)
"""Per dataset, its updates with ``event_time < boundary``: what the freshness signal
needs from them (signals/summaries.py)."""

SUMMARY_MARKS = Table(
    name="summary_marks",
    columns=(
        Column("boundary_ns", "Int64"),
        Column("previous_ns", "Int64"),  # 0: built from every stored update
        Column("started", TS_MS),  # engine clock when the build began
    ),
    order_by=("boundary_ns",),
    shard_key="boundary_ns",
)
"""One row per complete ``dataset_summaries`` build: a summary exists once marked."""

BACKFILLS = (
    Backfill("run_states", _RUN_STATES_SELECT, "run_events", "run_id", 16),
    Backfill("edge_states", _EDGE_STATES_SELECT, "lineage_edges", "job_name", 16),
    Backfill("run_inputs", _RUN_INPUTS_SELECT, "lineage_edges", "run_id", 16),
)
"""State of the lineage stored before the views existed (at migration 4, in slices)."""

STATE = (
    RUN_STATES,
    RUN_STATES_MV,
    EDGE_STATES,
    EDGE_STATES_MV,
    RUN_INPUTS,
    RUN_INPUTS_MV,
    LATE_UPDATES,
    LATE_UPDATES_MV,
    DATASET_SUMMARIES,
    SUMMARY_MARKS,
)
