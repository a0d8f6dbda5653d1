"""Numbered, idempotent schema migrations, recorded in ``schema_migrations``.

Each migration is a list of schema objects rendered for the target (one server or a
cluster). Statements are ``IF NOT EXISTS``, so re-running a half-applied migration is
safe; a version is recorded only after all its statements succeed.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from loadsense.storage.schema import cumulative, history, lineage, published, state, telemetry
from loadsense.storage.schema.model import (
    TS_MS,
    Backfill,
    Column,
    Drop,
    ExporterTables,
    MaterializedView,
    Repartition,
    SchemaObject,
    Table,
    Target,
    identifier,
    render,
    repartition_steps,
    ttl_clause,
)
from loadsense.storage.schema.otel import for_source

logger = logging.getLogger(__name__)

SCHEMA_MIGRATIONS = Table(
    name="schema_migrations",
    columns=(
        Column("version", "UInt32"),
        Column("name", "String"),
        Column("applied_at", TS_MS),
    ),
    order_by=("version",),
    shard_key="version",
)

BACKFILL_PROGRESS = Table(
    name="backfill_progress",
    columns=(
        Column("version", "UInt32"),
        Column("target", "String"),
        Column("slice", "UInt32"),
        Column("done_at", TS_MS),
    ),
    order_by=("version", "target", "slice"),
    shard_key="version",
)
"""The slices of a sliced backfill already inserted: an interrupted migration resumes
after the last one done."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    objects: tuple[SchemaObject, ...]


MIGRATIONS: tuple[Migration, ...] = (
    Migration(1, "initial schema", (*lineage.TABLES, *telemetry.TABLES, *state.TABLES)),
    Migration(2, "span steps rollup and time-ordered span projection", telemetry.SPAN_ROLLUP),
    Migration(3, "alert transitions", (state.ALERT_TRANSITIONS,)),
    Migration(4, "lineage state tables", (*history.STATE, *history.BACKFILLS)),
    Migration(5, "cumulative run outputs", cumulative.OBJECTS),
    Migration(6, "lineage journal watermark", (lineage.JOURNAL_WATERMARKS,)),
    Migration(8, "state published by the correlator", (published.PUBLISHED_STATE,)),
    Migration(
        9,
        "run input arrivals",
        (history.RUN_INPUTS_BLOCKS, history.INPUT_ARRIVALS, history.INPUT_ARRIVALS_MV),
    ),
    Migration(10, "run states by hour", history.BY_HOUR),
)


def _views_of(table: str, migrations: tuple[Migration, ...]) -> tuple[MaterializedView, ...]:
    """The materialized views reading or writing ``table`` (source, target or joined)
    that ``migrations`` create and do not drop later."""
    dropped = {o.name for m in migrations for o in m.objects if isinstance(o, Drop)}
    return tuple(
        o
        for m in migrations
        for o in m.objects
        if isinstance(o, MaterializedView)
        and o.name not in dropped
        and table in (o.source, o.target, o.joined)
    )


_BY_DAY = (
    (lineage.LINEAGE_EDGES, "job_name, run_id", 4),
    (history.RUN_INPUTS, "run_id", 2),
    (cumulative.RUN_OUTPUTS, "run_id", 2),
    (history.INPUT_ARRIVALS, "run_id", 1),
    (lineage.DATASET_SCHEMAS, "dataset_name", 1),
    (lineage.QUALITY_ASSERTIONS, "dataset_name", 1),
)
"""Tables stored unpartitioned before migration 11, whose retention rewrote them whole;
each slice reads the whole old table (the rows of a hash slice are in every granule), so
few: 4M edges copied in 16/8/8 slices took 49.6 s, in one statement per table 21.2 s."""

MIGRATIONS = (
    *MIGRATIONS,
    Migration(
        11,
        "lineage tables by day",
        tuple(
            Repartition(table, _views_of(table.name, MIGRATIONS), key, slices)
            for table, key, slices in _BY_DAY
        ),
    ),
)

LATEST_VERSION = max(m.version for m in MIGRATIONS)


def objects_for(migration: Migration, target: Target) -> list[SchemaObject]:
    """The migration's objects for the target's telemetry source (storage/schema/otel.py:
    with ``otel-clickhouse`` the telemetry tables are views over the exporter's)."""
    chosen = (for_source(obj, target) for obj in migration.objects)
    return [obj for obj in chosen if obj is not None]


def render_migration(migration: Migration, target: Target) -> list[str]:
    return [stmt for obj in objects_for(migration, target) for stmt in render(obj, target)]


def render_all(target: Target) -> list[str]:
    """Every statement of every migration, in order (``loadsense schema``)."""
    statements = render(SCHEMA_MIGRATIONS, target) + render(BACKFILL_PROGRESS, target)
    for migration in MIGRATIONS:
        statements.extend(render_migration(migration, target))
    return statements


def applied_versions(storage: Storage) -> set[int]:
    rows = storage.client.query("SELECT version FROM schema_migrations FINAL").result_rows
    return {int(r[0]) for r in rows}


def apply_migrations(
    storage: Storage, target: Target, until: int | None = None, progress: bool = True
) -> list[int]:
    """Apply what is missing (up to version ``until``); return the versions applied now
    (empty when up to date). Sliced backfills log their progress and skip the slices an
    interrupted run already inserted."""
    for stmt in (*render(SCHEMA_MIGRATIONS, target), *render(BACKFILL_PROGRESS, target)):
        storage.client.command(stmt)
    done = applied_versions(storage)
    applied: list[int] = []
    for migration in MIGRATIONS:
        if migration.version in done or (until is not None and migration.version > until):
            continue
        logger.info("applying migration %d: %s", migration.version, migration.name)
        for obj in objects_for(migration, target):
            if isinstance(obj, Backfill) and obj.source is not None:
                _sliced_backfill(storage, target, migration.version, obj, progress)
                continue
            if isinstance(obj, Repartition):
                _repartition(storage, target, migration.version, obj, progress)
                continue
            for stmt in render(obj, target):
                storage.client.command(stmt)
        storage.client.command(
            "INSERT INTO schema_migrations (version, name, applied_at) "
            "VALUES ({v:UInt32}, {n:String}, now64(3))",
            parameters={"v": migration.version, "n": migration.name},
        )
        applied.append(migration.version)
    return applied


def _sliced_backfill(
    storage: Storage, target: Target, version: int, backfill: Backfill, progress: bool
) -> None:
    _run_slices(storage, version, backfill.target, render(backfill, target), progress)


def _run_slices(
    storage: Storage, version: int, label: str, statements: list[str], progress: bool
) -> None:
    """Run ``statements`` in order, each recorded in ``backfill_progress`` under
    ``label`` once done, skipping those an interrupted run recorded."""
    rows = storage.client.query(
        "SELECT slice FROM backfill_progress FINAL "
        "WHERE version = {v:UInt32} AND target = {t:String}",
        parameters={"v": version, "t": label},
    ).result_rows
    finished = {int(r[0]) for r in rows}
    for k, stmt in enumerate(statements):
        if k in finished:
            continue
        started = time.perf_counter()
        storage.client.command(stmt)
        storage.client.command(
            "INSERT INTO backfill_progress (version, target, slice, done_at) "
            "VALUES ({v:UInt32}, {t:String}, {k:UInt32}, now64(3))",
            parameters={"v": version, "t": label, "k": k},
        )
        if progress:
            logger.info(
                "backfill %s: slice %d/%d done (%.1f s)",
                label,
                k + 1,
                len(statements),
                time.perf_counter() - started,
            )


def _repartition(
    storage: Storage, target: Target, version: int, obj: Repartition, progress: bool
) -> None:
    """Rewrite ``obj.table`` partitioned by day, unless it already is (a database
    created at this version, or an interrupted run that swapped already); every step is
    idempotent or recorded, so an interrupted rewrite resumes. On a cluster nothing: as
    for backfills, the copy runs per shard (docs/storage.md)."""
    if target.cluster:
        return
    steps = repartition_steps(obj, target)
    if not _partition_key(storage, target, obj.table.name):
        for stmt in (*steps.drop_views, *steps.create):
            storage.client.command(stmt)
        _run_slices(storage, version, obj.staging, steps.copies, progress)
        for stmt in steps.swap:
            storage.client.command(stmt)
    for stmt in (*steps.drop_old, *steps.create_views):
        storage.client.command(stmt)


def _partition_key(storage: Storage, target: Target, table: str) -> str:
    rows = storage.client.query(
        "SELECT partition_key FROM system.tables "
        "WHERE database = {db:String} AND name = {t:String}",
        parameters={"db": target.database, "t": table},
    ).result_rows
    return str(rows[0][0]) if rows else ""


def schema_version(storage: Storage) -> int:
    """The highest applied version (0: none, or the bookkeeping table does not exist)."""
    rows = storage.client.query(
        "SELECT count() FROM system.tables WHERE database = currentDatabase() "
        "AND name = 'schema_migrations'"
    ).result_rows
    if not rows or not int(rows[0][0]):
        return 0
    return max(applied_versions(storage), default=0)


def schema_is_current(storage: Storage) -> bool:
    return LATEST_VERSION in applied_versions(storage)


def exporter_of(settings: Settings) -> ExporterTables | None:
    """The exporter's tables when telemetry is read from them (``otel-clickhouse``)."""
    if settings.telemetry_source != "otel-clickhouse":
        return None
    return ExporterTables(
        settings.otel_database, settings.otel_traces_table, settings.otel_metrics_table
    )


def target_for(
    database: str,
    retention_days: int,
    cluster: str | None,
    exporter: ExporterTables | None = None,
) -> Target:
    return Target(
        database=database,
        retention_days=retention_days,
        cluster=cluster or None,
        exporter=exporter,
    )


def ensure_retention(storage: Storage, target: Target) -> list[str]:
    """Bring table TTLs in line with the configured retention; return the tables changed.

    Uses ``materialize_ttl_after_modify = 0`` so start-up never rewrites old parts;
    rows past the new TTL go at the next merge.
    """
    changed: list[str] = []
    tables = [
        o
        for m in MIGRATIONS
        for o in objects_for(m, target)
        if isinstance(o, Table) and o.ttl_column and o.ttl_days is None
    ]
    rows = storage.client.query(
        "SELECT name, engine_full FROM system.tables WHERE database = {db:String}",
        parameters={"db": target.database},
    ).result_rows
    engines = {str(name): str(engine) for name, engine in rows}
    for table in tables:
        name = f"{table.name}_local" if target.cluster else table.name
        wanted = f"toIntervalDay({int(target.retention_days)})"
        if name in engines and wanted not in engines[name]:
            on_cluster = f" ON CLUSTER {identifier(target.cluster)}" if target.cluster else ""
            storage.client.command(
                f"ALTER TABLE {identifier(target.database)}.{identifier(name)}{on_cluster} "
                f"MODIFY TTL {ttl_clause(table, target.retention_days)}",
                settings={"materialize_ttl_after_modify": 0},
            )
            changed.append(table.name)
    return changed
