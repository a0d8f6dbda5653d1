"""Cumulative run outputs: a COMPLETE updates every output its run declared in any event.

The OpenLineage spec treats a run's events as parts of one run, and producers rely on
it: some list a run's outputs only in START or RUNNING and send a bare COMPLETE, others
add metadata in an ``OTHER`` event after it. The normaliser writes an update only for
the outputs a COMPLETE lists itself (each row a function of its event); these views
derive the rest in the engine, as lineage arrives, whatever the order:

- ``run_outputs``: per run output edge (``lineage_edges`` with a run), the run's job and
  the edge's first and last event time; keyed by run for point lookups;
- ``complete_outputs_mv``: a COMPLETE inserted into ``run_events`` -> one update per
  output already stored in ``run_outputs`` for its run;
- ``declared_outputs_mv``: an output inserted into ``run_outputs`` -> one update per
  COMPLETE already stored in ``run_events`` for its run (the declaration arrived after
  the COMPLETE, or in the same request).

A derived update carries the COMPLETE's time, run and job, no output statistics and
``event_hash = 0``. Outputs the COMPLETE lists itself (``run_events.outputs``) get no
derived row: the normaliser wrote theirs, with the event's statistics. (Should both
exist, after a COMPLETE resent with other outputs, the real hash is the larger
replacing version, so ``FINAL`` keeps the event's own row.) Each view sees only
rows committed before its insert began, so two concurrent inserts, a COMPLETE into
``run_events`` and its declaration into ``lineage_edges``, would miss each other: the
writer never runs those two tables' inserts at once (:data:`COUPLED_INSERTS`), so the
later insert's view sees the earlier one. Ingest replicas on a server write
independently and can still miss each other (docs/lineage.md#cumulative-run-outputs).

On a cluster ``run_outputs`` and the derived updates are routed through the
Distributed tables (run outputs by run, like ``run_events``; updates by dataset), so
each view reads the shard that holds its run.
"""

from __future__ import annotations

from loadsense.storage.schema.model import (
    DROP_WHOLE_DAYS,
    LC,
    TS,
    Backfill,
    Column,
    MaterializedView,
    Table,
    TableChange,
    coupled_inserts,
)

RUN_OUTPUTS = Table(
    name="run_outputs",
    columns=(
        Column("run_id", "String"),
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("job_namespace", f"SimpleAggregateFunction(any, {LC})"),
        Column("job_name", "SimpleAggregateFunction(any, String)"),
        Column("first_time", f"SimpleAggregateFunction(min, {TS})"),
        Column("last_time", f"SimpleAggregateFunction(max, {TS})"),
    ),
    order_by=("run_id", "dataset_namespace", "dataset_name"),
    engine="AggregatingMergeTree",
    partition_by="toDate(last_time)",
    ttl_column="last_time",
    shard_key="cityHash64(run_id)",
    settings=("index_granularity = 256", DROP_WHOLE_DAYS),
)

_RUN_OUTPUTS_SELECT = """SELECT run_id, dataset_namespace, dataset_name,
       any(job_namespace) AS job_namespace, any(job_name) AS job_name,
       min(event_time) AS first_time, max(event_time) AS last_time
FROM {source}
WHERE direction = 'output' AND source = 'run' AND run_id != ''
GROUP BY run_id, dataset_namespace, dataset_name"""

RUN_OUTPUTS_MV = MaterializedView(
    name="run_outputs_mv",
    source="lineage_edges",
    target="run_outputs",
    select=_RUN_OUTPUTS_SELECT,
    routed=True,
)

_UPDATE = """o.dataset_namespace AS dataset_namespace, o.dataset_name AS dataset_name,
       c.event_time AS event_time, c.run_id AS run_id,
       c.job_namespace AS job_namespace, c.job_name AS job_name,
       CAST(NULL, 'Nullable(Int64)') AS row_count, CAST(NULL, 'Nullable(Int64)') AS size_bytes,
       CAST(NULL, 'Nullable(Int64)') AS file_count, '' AS lifecycle_state,
       toUInt64(0) AS event_hash"""
"""A derived ``dataset_updates`` row: the COMPLETE ``c``'s time, run and job, the
declared output ``o``."""

_NOT_OWN = "NOT has(c.outputs, (toString(o.dataset_namespace), o.dataset_name))"
"""Outputs the COMPLETE lists itself have their own row (``run_events.outputs``)."""

COMPLETE_OUTPUTS_MV = MaterializedView(
    name="complete_outputs_mv",
    source="run_events",
    target="dataset_updates",
    joined="run_outputs",
    select=f"""SELECT DISTINCT {_UPDATE}
FROM (SELECT run_id, event_time, job_namespace, job_name, outputs FROM {{source}}
      WHERE event_type = 'COMPLETE') AS c
INNER JOIN (
    SELECT DISTINCT run_id, dataset_namespace, dataset_name FROM {{joined}}
    WHERE run_id IN (SELECT run_id FROM {{source}} WHERE event_type = 'COMPLETE')
) AS o ON o.run_id = c.run_id
WHERE {_NOT_OWN}""",
    routed=True,
)

DECLARED_OUTPUTS_MV = MaterializedView(
    name="declared_outputs_mv",
    source="run_outputs",
    target="dataset_updates",
    joined="run_events",
    select=f"""SELECT DISTINCT {_UPDATE}
FROM (SELECT DISTINCT run_id, dataset_namespace, dataset_name FROM {{source}}) AS o
INNER JOIN (
    SELECT run_id, event_time, job_namespace, job_name, outputs FROM {{joined}}
    WHERE event_type = 'COMPLETE' AND run_id IN (SELECT run_id FROM {{source}})
) AS c ON c.run_id = o.run_id
WHERE {_NOT_OWN}""",
    routed=True,
)

COUPLED_INSERTS = coupled_inserts((RUN_OUTPUTS_MV, COMPLETE_OUTPUTS_MV, DECLARED_OUTPUTS_MV))
"""``run_events`` with ``lineage_edges`` (and ``run_outputs`` between them): inserts the
writer serialises (storage/writer.py)."""

BACKFILL = Backfill("run_outputs", _RUN_OUTPUTS_SELECT, "lineage_edges", "run_id", 16)
"""Run outputs stored before the views existed; inserting them fires
``declared_outputs_mv``, which derives the updates of the runs already complete."""

OUTPUTS_COLUMN = TableChange(
    "run_events",
    ("ADD COLUMN IF NOT EXISTS outputs Array(Tuple(String, String)) AFTER event_hash",),
    columns=True,
)
"""Databases made before migration 5 lack the column (new ones have it from migration 1);
their stored COMPLETEs read as listing nothing, which at worst derives a duplicate of an
update they wrote themselves."""

OBJECTS = (
    OUTPUTS_COLUMN,
    RUN_OUTPUTS,
    DECLARED_OUTPUTS_MV,
    COMPLETE_OUTPUTS_MV,
    RUN_OUTPUTS_MV,
    BACKFILL,
)
"""Migration 5, in order: the state table and the view reading it exist before the view
that fills it, so no output inserted meanwhile goes without its updates."""
