"""Lineage tables: raw OpenLineage events and what the normaliser derives from them.

Retried deliveries are deduplicated by ``ReplacingMergeTree`` on the event identity
(the sorting key); queries that must not double count read with ``FINAL`` or group
by the identity (docs/storage.md, docs/lineage.md).

Rows derived from an event carry ``event_hash`` (a hash of the raw event) as the
replacing version: when two *different* events share an identity (a producer resent a
run's COMPLETE with other facets), the one with the larger hash wins whatever the
arrival order, so every table is a function of the set of events received.
"""

from __future__ import annotations

from loadsense.storage.schema.model import DROP_WHOLE_DAYS, LC, TS, Column, Table, View

LINEAGE_EVENTS = Table(
    name="lineage_events",
    columns=(
        Column("event_time", TS, "Delta, ZSTD"),
        Column("received_at", TS, "Delta, ZSTD"),
        Column("kind", LC),  # run | job | dataset
        Column("event_type", LC),
        Column("event_key", "String"),  # identity: run_id/eventType/eventTime, or job/dataset
        Column("run_id", "String"),
        Column("job_namespace", LC),
        Column("job_name", "String"),
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("producer", LC),
        Column("schema_url", LC),
        Column("raw", "String", "ZSTD(3)"),
        Column("event_hash", "UInt64"),
    ),
    order_by=("kind", "event_key"),
    version="event_hash",
    partition_by="toDate(event_time)",
    ttl_column="event_time",
    shard_key="cityHash64(event_key)",
)

RUN_EVENTS = Table(
    name="run_events",
    columns=(
        Column("run_id", "String"),
        Column("event_type", LC),
        Column("event_time", TS, "Delta, ZSTD"),
        Column("job_namespace", LC),
        Column("job_name", "String"),
        Column("nominal_start_time", f"Nullable({TS})"),
        Column("nominal_end_time", f"Nullable({TS})"),
        Column("parent_run_id", "String"),
        Column("parent_job_namespace", LC),
        Column("parent_job_name", "String"),
        Column("processing_type", LC),
        Column("integration", LC),
        Column("job_type", LC),
        Column("error_message", "String"),
        Column("producer", LC),
        Column("event_hash", "UInt64"),
        # a COMPLETE's own outputs (namespace, name), else []: storage/schema/cumulative.py
        Column("outputs", "Array(Tuple(String, String))"),
    ),
    order_by=("run_id", "event_type", "event_time"),
    version="event_hash",
    partition_by="toDate(event_time)",
    ttl_column="event_time",
    shard_key="cityHash64(run_id)",
)

# One row per run, merged from its events at query time. A function of the set of
# events, so neither arrival order nor duplicates change it.
RUNS = View(
    name="runs",
    select="""SELECT
    run_id,
    tupleElement(argMax((e.job_namespace, e.job_name), (e.event_time, e.job_namespace, e.job_name)),
        1) AS job_namespace,
    tupleElement(argMax((e.job_namespace, e.job_name), (e.event_time, e.job_namespace, e.job_name)),
        2) AS job_name,
    multiIf(
        countIf(event_type IN ('COMPLETE', 'FAIL', 'ABORT')) = 0, 'RUNNING',
        argMaxIf(event_type, (event_time, event_type), event_type IN ('COMPLETE', 'FAIL', 'ABORT'))
    ) AS state,
    if(countIf(event_type = 'START') > 0, minIf(event_time, event_type = 'START'), min(event_time))
        AS start_time,
    if(countIf(event_type IN ('COMPLETE', 'FAIL', 'ABORT')) > 0,
       toNullable(maxIf(event_time, event_type IN ('COMPLETE', 'FAIL', 'ABORT'))),
       NULL) AS end_time,
    min(nominal_start_time) AS nominal_start_time,
    min(nominal_end_time) AS nominal_end_time,
    maxIf(parent_run_id, parent_run_id != '') AS parent_run_id,
    maxIf(parent_job_namespace, parent_job_namespace != '') AS parent_job_namespace,
    maxIf(parent_job_name, parent_job_name != '') AS parent_job_name,
    maxIf(processing_type, processing_type != '') AS processing_type,
    maxIf(integration, integration != '') AS integration,
    maxIf(job_type, job_type != '') AS job_type,
    maxIf(error_message, error_message != '') AS error_message,
    max(event_time) AS last_event_time,
    count() AS events
FROM {db}.run_events AS e FINAL
GROUP BY run_id""",
)

DATASET_UPDATES = Table(
    name="dataset_updates",
    columns=(
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("event_time", TS, "Delta, ZSTD"),
        Column("run_id", "String"),
        Column("job_namespace", LC),
        Column("job_name", "String"),
        Column("row_count", "Nullable(Int64)"),
        Column("size_bytes", "Nullable(Int64)"),
        Column("file_count", "Nullable(Int64)"),
        Column("lifecycle_state", LC),
        Column("event_hash", "UInt64"),
    ),
    order_by=("dataset_namespace", "dataset_name", "event_time", "run_id"),
    version="event_hash",
    partition_by="toDate(event_time)",
    ttl_column="event_time",
    shard_key="cityHash64(dataset_namespace, dataset_name)",
)

EDGE_KEY = (
    Column("job_namespace", LC),
    Column("job_name", "String"),
    Column("dataset_namespace", LC),
    Column("dataset_name", "String"),
    Column("direction", "Enum8('input' = 1, 'output' = 2)"),
)
"""A lineage edge's identity: which job reads (input) or writes (output) which dataset."""

STATIC_APART = "if(source = 'run', toDate(event_time), toDate(0))"
"""``lineage_edges``' partition: the day of a run's edge, 1970-01-01 for static lineage."""

LINEAGE_EDGES = Table(
    name="lineage_edges",
    columns=(
        *EDGE_KEY,
        Column("run_id", "String"),  # '' for static lineage declared by a JobEvent
        Column("source", LC),  # run | job
        Column("event_time", TS, "Delta, ZSTD"),
    ),
    order_by=(
        "job_namespace",
        "job_name",
        "direction",
        "dataset_namespace",
        "dataset_name",
        "run_id",
    ),
    version="event_time",
    # a day per partition for runs' edges; static lineage, which does not expire, in one
    # partition of its own (so no day is kept alive by a declaration)
    partition_by=STATIC_APART,
    ttl_column="event_time",
    ttl_where="source = 'run'",  # static lineage is a declaration: it does not expire
    shard_key="cityHash64(job_namespace, job_name)",
    settings=(DROP_WHOLE_DAYS,),
)

DATASET_SCHEMAS = Table(
    name="dataset_schemas",
    columns=(
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("event_time", TS, "Delta, ZSTD"),
        Column("run_id", "String"),
        Column("schema_hash", "UInt64"),
        Column("field_names", "Array(String)"),
        Column("field_types", "Array(String)"),
        Column("event_hash", "UInt64"),
    ),
    order_by=("dataset_namespace", "dataset_name", "event_time", "schema_hash"),
    version="event_hash",
    partition_by="toDate(event_time)",
    ttl_column="event_time",
    settings=(DROP_WHOLE_DAYS,),
    shard_key="cityHash64(dataset_namespace, dataset_name)",
)

QUALITY_ASSERTIONS = Table(
    name="quality_assertions",
    columns=(
        Column("dataset_namespace", LC),
        Column("dataset_name", "String"),
        Column("event_time", TS, "Delta, ZSTD"),
        Column("run_id", "String"),
        Column("assertion", "String"),
        Column("column", "String"),
        Column("success", "UInt8"),
        Column("severity", LC),
        Column("event_hash", "UInt64"),
    ),
    order_by=("dataset_namespace", "dataset_name", "event_time", "assertion", "column"),
    version="event_hash",
    partition_by="toDate(event_time)",
    ttl_column="event_time",
    settings=(DROP_WHOLE_DAYS,),
    shard_key="cityHash64(dataset_namespace, dataset_name)",
)

TABLES = (
    LINEAGE_EVENTS,
    RUN_EVENTS,
    RUNS,
    DATASET_UPDATES,
    LINEAGE_EDGES,
    DATASET_SCHEMAS,
    QUALITY_ASSERTIONS,
)

DERIVED_TABLES = (
    RUN_EVENTS.name,
    DATASET_UPDATES.name,
    LINEAGE_EDGES.name,
    DATASET_SCHEMAS.name,
    QUALITY_ASSERTIONS.name,
)
"""The tables whose rows are derived from a ``lineage_events`` row alone."""

JOURNAL_WATERMARKS = Table(
    name="journal_watermarks",
    columns=(
        Column("stream", LC),
        Column("watermark_ns", "Int64"),
        Column("version", "UInt64"),
    ),
    order_by=("stream",),
    version="version",
    shard_key="cityHash64(stream)",
)
"""Per stream (``lineage``), the received time up to which every event's derived rows are
committed: a restart re-derives the events after it (api/journal.py)."""
