"""Tables and views as data, rendered to DDL for one server or for a cluster.

Describing the schema as data (instead of DDL strings) lets one definition render
both a single-node schema (``ReplacingMergeTree``) and a cluster schema
(``ON CLUSTER``, ``ReplicatedReplacingMergeTree`` local tables behind ``Distributed``
tables with the same name), so application queries never change between the two.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, replace

from loadsense.errors import ConfigError

_IDENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")

TS = "DateTime64(9, 'UTC')"
"""Nanosecond UTC timestamp used for every event time."""

TS_MS = "DateTime64(3, 'UTC')"
"""Millisecond UTC timestamp for correlator output (signals, recommendations, alerts)."""

LC = "LowCardinality(String)"
ATTRS = "Map(LowCardinality(String), String)"


def identifier(name: str) -> str:
    """Quote a database, cluster or table name after checking it is a plain identifier."""
    if not _IDENT.match(name):
        raise ConfigError(f"invalid identifier {name!r}: use letters, digits and underscore")
    return f"`{name}`"


@dataclass(frozen=True)
class Column:
    name: str
    type: str
    codec: str | None = None
    materialized: str | None = None

    def render(self) -> str:
        parts = [identifier(self.name), self.type]
        if self.materialized:
            parts.append(f"MATERIALIZED {self.materialized}")
        if self.codec:
            parts.append(f"CODEC({self.codec})")
        return " ".join(parts)


@dataclass(frozen=True)
class Table:
    """A MergeTree-family table.

    ``engine`` is ``MergeTree``, ``ReplacingMergeTree`` or ``AggregatingMergeTree``;
    ``version`` is the ReplacingMergeTree version column (latest wins), if any.
    ``ttl_column`` enables the retention TTL; ``ttl_where`` limits deletion to matching
    rows; ``ttl_days`` fixes the TTL whatever the retention (bookkeeping read only for
    a short while). ``shard_key`` routes rows on a cluster: it must be a function of the
    dedup identity so that duplicates meet on one shard and are replaced there. ``settings``
    are table settings (``name = value``).
    """

    name: str
    columns: tuple[Column, ...]
    order_by: tuple[str, ...]
    engine: str = "ReplacingMergeTree"
    version: str | None = None
    partition_by: str | None = None
    ttl_column: str | None = None
    ttl_where: str | None = None
    ttl_days: int | None = None
    shard_key: str = "rand()"
    settings: tuple[str, ...] = ()  # ``name = value`` table settings

    @property
    def insert_columns(self) -> tuple[str, ...]:
        """The columns an insert supplies, in table order (all but ``MATERIALIZED`` ones):
        the receivers build their rows in exactly this shape."""
        return tuple(c.name for c in self.columns if c.materialized is None)


@dataclass(frozen=True)
class View:
    """A plain view; ``select`` refers to tables by unqualified name plus ``{db}``."""

    name: str
    select: str


@dataclass(frozen=True)
class MaterializedView:
    """An insert trigger: every block inserted into ``source`` is transformed by
    ``select`` (which reads ``{source}``) and inserted into ``target``. On a cluster it
    is defined on every node between the local tables, so rows never cross shards;
    ``routed`` views insert through the target's Distributed table instead, so rows land
    on the shard of the target's own key. ``joined`` names a table ``select`` reads as
    ``{joined}`` (the node's local table on a cluster)."""

    name: str
    source: str
    target: str
    select: str
    joined: str = ""
    routed: bool = False


def coupled_inserts(views: Sequence[MaterializedView]) -> tuple[frozenset[str], ...]:
    """Groups of tables whose inserts must not overlap. A view that joins a table reads
    only what was committed before its insert began, so of two concurrent inserts, one
    into its source and one feeding the table it joins, neither view sees the other's
    rows (each derives nothing). A table feeds another when a view chain leads there."""

    def feeders(table: str) -> set[str]:
        found = {table}
        for view in views:
            if view.target == table and view.source not in found:
                found |= feeders(view.source)
        return found

    groups: list[set[str]] = []
    for view in views:
        if not view.joined:
            continue
        group = feeders(view.source) | feeders(view.joined)
        for other in [g for g in groups if g & group]:
            groups.remove(other)
            group |= other
        groups.append(group)
    return tuple(sorted((frozenset(g) for g in groups), key=sorted))


@dataclass(frozen=True)
class TableChange:
    """``ALTER TABLE`` clauses applied to an existing table, each idempotent
    (``ADD ... IF NOT EXISTS``, ``MODIFY SETTING``)."""

    table: str
    clauses: tuple[str, ...]
    columns: bool = False  # column changes: on a cluster also applied to the Distributed table


@dataclass(frozen=True)
class Backfill:
    """A one-off ``INSERT INTO {target} SELECT ...`` that derives rows a new table would
    have received had it existed before; skipped when the target already holds rows, so
    re-running a half-applied migration does not count twice. Single node only: on a
    cluster run it per shard (docs/storage.md).

    With ``source`` set, ``select`` reads ``{source}`` and the backfill runs in
    ``slices`` statements, each over the source rows whose ``cityHash64(slice_key)`` falls
    in its slice; the target must be an idempotent state (min/max), so a slice inserted
    twice changes nothing, and migrations record each slice done (resumable, with
    progress: storage/migrations.py)."""

    target: str
    select: str
    source: str | None = None
    slice_key: str = ""
    slices: int = 1


@dataclass(frozen=True)
class Drop:
    """A table or view a later migration replaces (``DROP ... IF EXISTS``; on a cluster
    a table's Distributed table and its local tables)."""

    name: str
    view: bool = False


@dataclass(frozen=True)
class Repartition:
    """Rewrite a table stored before it was partitioned by day as its current definition
    ``table``: the ``views`` reading or writing it are dropped, its rows copied into
    ``{name}_by_day`` in ``slices`` statements (``cityHash64(slice_key)``), the two
    swapped (``EXCHANGE TABLES``), the old rows dropped and the views recreated. A table
    already partitioned is left as it is (storage/migrations.py decides from
    ``system.tables``). Single node only, as backfills: on a cluster the copy runs per
    shard (docs/storage.md)."""

    table: Table
    views: tuple[MaterializedView, ...]
    slice_key: str
    slices: int = 8

    @property
    def staging(self) -> str:
        return f"{self.table.name}_by_day"


@dataclass(frozen=True)
class RepartitionSteps:
    """:class:`Repartition` as statements, in the order they run."""

    drop_views: list[str]
    create: list[str]
    copies: list[str]
    swap: list[str]
    drop_old: list[str]
    create_views: list[str]


SchemaObject = Table | View | MaterializedView | TableChange | Backfill | Drop | Repartition

DROP_WHOLE_DAYS = "ttl_only_drop_parts = 1"
"""With a table partitioned by day, retention drops a day's parts once all their rows
expired instead of rewriting every part holding an expired row (on an unpartitioned
table: the whole table, at every start and every ``merge_with_ttl_timeout``)."""


@dataclass(frozen=True)
class ExporterTables:
    """Where the exporter writes (settings ``otel_database``, ``otel_traces_table``,
    ``otel_metrics_table``)."""

    database: str = "otel"
    traces: str = "otel_traces"
    metrics: str = "otel_metrics"

    def table(self, name: str) -> str:
        return f"{identifier(self.database)}.{identifier(name)}"

    @property
    def traces_table(self) -> str:
        return self.table(self.traces)

    def metrics_table(self, kind: str) -> str:
        """``kind``: gauge, sum, histogram, exponential_histogram or summary."""
        return self.table(f"{self.metrics}_{kind}")


@dataclass(frozen=True)
class Target:
    """Where DDL is rendered for: a database, optionally on a cluster, with a retention;
    ``exporter`` set: telemetry is read from the OpenTelemetry Collector ClickHouse
    exporter's tables there (storage/schema/otel.py)."""

    database: str
    retention_days: int = 30
    cluster: str | None = None
    exporter: ExporterTables | None = None


def _engine(table: Table, target: Target, local_name: str) -> str:
    args = [table.version] if table.version else []
    if target.cluster is None:
        return f"{table.engine}({', '.join(args)})"
    path = f"'/clickhouse/tables/{{shard}}/{target.database}/{local_name}'"
    replica = "'{replica}'"
    return f"Replicated{table.engine}({', '.join([path, replica, *args])})"


def render_table(table: Table, target: Target) -> list[str]:
    """``CREATE TABLE`` statement(s) for ``table`` on ``target``."""
    db = identifier(target.database)
    on_cluster = f" ON CLUSTER {identifier(target.cluster)}" if target.cluster else ""
    local_name = f"{table.name}_local" if target.cluster else table.name
    cols = ",\n".join(f"    {c.render()}" for c in table.columns)
    lines = [
        f"CREATE TABLE IF NOT EXISTS {db}.{identifier(local_name)}{on_cluster}",
        f"(\n{cols}\n)",
        f"ENGINE = {_engine(table, target, local_name)}",
    ]
    if table.partition_by:
        lines.append(f"PARTITION BY {table.partition_by}")
    lines.append(f"ORDER BY ({', '.join(table.order_by)})")
    ttl = ttl_clause(table, target.retention_days)
    if ttl:
        lines.append(f"TTL {ttl}")
    if table.settings:
        lines.append(f"SETTINGS {', '.join(table.settings)}")
    statements = ["\n".join(lines)]
    if target.cluster:
        statements.append(
            f"CREATE TABLE IF NOT EXISTS {db}.{identifier(table.name)}{on_cluster}"
            f" AS {db}.{identifier(local_name)}\n"
            f"ENGINE = Distributed({identifier(target.cluster)}, {db},"
            f" {identifier(local_name)}, {table.shard_key})"
        )
    return statements


def ttl_clause(table: Table, retention_days: int) -> str | None:
    """The TTL expression for ``table`` at ``retention_days``, or None without TTL."""
    if not table.ttl_column:
        return None
    days = int(retention_days if table.ttl_days is None else table.ttl_days)
    clause = f"toDateTime({table.ttl_column}) + toIntervalDay({days})"
    if table.ttl_where:
        clause += f" WHERE {table.ttl_where}"
    return clause


def render_view(view: View, target: Target) -> list[str]:
    db = identifier(target.database)
    on_cluster = f" ON CLUSTER {identifier(target.cluster)}" if target.cluster else ""
    select = view.select.format(db=db)
    return [f"CREATE VIEW IF NOT EXISTS {db}.{identifier(view.name)}{on_cluster} AS\n{select}"]


def _local(name: str, target: Target) -> str:
    return identifier(f"{name}_local" if target.cluster else name)


def render_materialized_view(view: MaterializedView, target: Target) -> list[str]:
    db = identifier(target.database)
    on_cluster = f" ON CLUSTER {identifier(target.cluster)}" if target.cluster else ""
    select = view.select.format(
        source=f"{db}.{_local(view.source, target)}",
        joined=f"{db}.{_local(view.joined, target)}" if view.joined else "",
    )
    into = identifier(view.target) if view.routed else _local(view.target, target)
    return [
        f"CREATE MATERIALIZED VIEW IF NOT EXISTS {db}.{identifier(view.name)}{on_cluster}"
        f" TO {db}.{into} AS\n{select}"
    ]


def render_change(change: TableChange, target: Target) -> list[str]:
    db = identifier(target.database)
    on_cluster = f" ON CLUSTER {identifier(target.cluster)}" if target.cluster else ""
    names = [_local(change.table, target)]
    if target.cluster and change.columns:
        names.append(identifier(change.table))
    return [
        f"ALTER TABLE {db}.{name}{on_cluster} {clause}"
        for name in names
        for clause in change.clauses
    ]


def render_backfill(backfill: Backfill, target: Target) -> list[str]:
    if target.cluster:
        return []
    db = identifier(target.database)
    into = f"{db}.{identifier(backfill.target)}"
    if backfill.source is not None:
        source = f"{db}.{identifier(backfill.source)}"
        n = int(backfill.slices)
        return [
            f"INSERT INTO {into}\n"
            + backfill.select.format(
                source=f"(SELECT * FROM {source}"
                f" WHERE cityHash64({backfill.slice_key}) % {n} = {k})"
            )
            for k in range(n)
        ]
    select = backfill.select.format(db=db)
    return [
        f"INSERT INTO {into}\nSELECT * FROM (\n{select}\n) WHERE (SELECT count() FROM {into}) = 0"
    ]


def render_drop(drop: Drop, target: Target) -> list[str]:
    db = identifier(target.database)
    on_cluster = f" ON CLUSTER {identifier(target.cluster)}" if target.cluster else ""
    if drop.view:
        return [f"DROP VIEW IF EXISTS {db}.{identifier(drop.name)}{on_cluster}"]
    names = [identifier(drop.name)]
    if target.cluster:
        names.append(_local(drop.name, target))
    return [f"DROP TABLE IF EXISTS {db}.{name}{on_cluster} SYNC" for name in names]


def repartition_steps(obj: Repartition, target: Target) -> RepartitionSteps:
    db = identifier(target.database)
    table, staging = identifier(obj.table.name), identifier(obj.staging)
    columns = ", ".join(identifier(c) for c in obj.table.insert_columns)
    n = int(obj.slices)
    return RepartitionSteps(
        drop_views=[s for v in obj.views for s in render_drop(Drop(v.name, view=True), target)],
        create=render_table(replace(obj.table, name=obj.staging), target),
        copies=[
            f"INSERT INTO {db}.{staging} ({columns})\n"
            f"SELECT {columns} FROM {db}.{table}"
            f" WHERE cityHash64({obj.slice_key}) % {n} = {k}\n"
            "SETTINGS max_partitions_per_insert_block = 0"
            for k in range(n)
        ],
        swap=[f"EXCHANGE TABLES {db}.{table} AND {db}.{staging}"],
        drop_old=render_drop(Drop(obj.staging), target),
        create_views=[s for v in obj.views for s in render_materialized_view(v, target)],
    )


def render_repartition(obj: Repartition, target: Target) -> list[str]:
    if target.cluster:
        return []
    steps = repartition_steps(obj, target)
    return [
        *steps.drop_views,
        *steps.create,
        *steps.copies,
        *steps.swap,
        *steps.drop_old,
        *steps.create_views,
    ]


def render(obj: SchemaObject, target: Target) -> list[str]:
    if isinstance(obj, Repartition):
        return render_repartition(obj, target)
    if isinstance(obj, Drop):
        return render_drop(obj, target)
    if isinstance(obj, Table):
        return render_table(obj, target)
    if isinstance(obj, MaterializedView):
        return render_materialized_view(obj, target)
    if isinstance(obj, TableChange):
        return render_change(obj, target)
    if isinstance(obj, Backfill):
        return render_backfill(obj, target)
    return render_view(obj, target)
