"""Storage on the real embedded engine: round trip, migrations, cluster rendering."""

from __future__ import annotations

import re
import subprocess
import sys
import time
from pathlib import Path

import pytest

from loadsense.errors import ConfigError
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.migrations import (
    LATEST_VERSION,
    MIGRATIONS,
    SCHEMA_MIGRATIONS,
    applied_versions,
    apply_migrations,
    render_all,
    render_migration,
    target_for,
)
from loadsense.storage.schema.model import ATTRS, LC, TS, Column, Drop, Table, identifier, render
from tests.conftest import query


def _schema(storage: Storage) -> list[tuple[object, ...]]:
    return query(
        storage,
        "SELECT name, engine_full, create_table_query FROM system.tables "
        "WHERE database = {db:String} ORDER BY name",
        db=storage.database,
    )


def test_round_trip_through_a_rendered_table(storage: Storage) -> None:
    probe = Table(
        name="rt_probe",
        columns=(
            Column("host_name", LC),
            Column("time", TS, "Delta, ZSTD"),
            Column("attrs", ATTRS),
            Column("value", "Float64", "Gorilla, ZSTD"),
        ),
        order_by=("host_name", "time"),
        partition_by="toDate(time)",
        ttl_column="time",
    )
    for statement in render(probe, target_for(storage.database, 30, None)):
        storage.client.command(statement)
    now_ns = time.time_ns()
    storage.client.insert(
        "rt_probe",
        [["h1", "h1"], [now_ns, now_ns], [{"k": "v"}, {"k": "v"}], [0.25, 0.25]],
        column_names=["host_name", "time", "attrs", "value"],
        column_oriented=True,
    )
    rows = query(
        storage,
        "SELECT toUnixTimestamp64Nano(time), attrs['k'], value FROM rt_probe FINAL "
        "WHERE host_name = {h:String}",
        h="h1",
    )
    assert rows == [(now_ns, "v", 0.25)]  # the identical duplicate is replaced


def test_migrations_are_idempotent(storage: Storage) -> None:
    target = target_for(storage.database, 30, None)
    before = _schema(storage)
    assert apply_migrations(storage, target) == []  # already applied by the fixture
    assert apply_migrations(storage, target) == []
    assert _schema(storage) == before
    assert applied_versions(storage) == {m.version for m in MIGRATIONS}
    count = query(storage, "SELECT count() FROM schema_migrations FINAL")
    assert count == [(len(MIGRATIONS),)]


def test_every_table_uses_the_clickhouse_idioms(storage: Storage) -> None:
    engines = {str(r[0]): str(r[1]) for r in _schema(storage)}
    dropped = {o.name for m in MIGRATIONS for o in m.objects if isinstance(o, Drop)}
    tables = [
        o for m in MIGRATIONS for o in m.objects if isinstance(o, Table) and o.name not in dropped
    ]
    assert dropped == {"run_states", "run_states_mv"}  # replaced by run_hours (migration 10)
    assert {t.name for t in tables} <= set(engines) and not dropped & set(engines)
    for t in tables:
        engine = engines[t.name]
        assert "MergeTree" in engine
        if t.ttl_column:
            days = 30 if t.ttl_days is None else t.ttl_days  # bookkeeping: a fixed TTL
            assert "TTL" in engine and f"toIntervalDay({days})" in engine, t.name
    spans = engines["spans"]
    assert spans.startswith("ReplacingMergeTree") and "PARTITION BY toDate(start_time)" in spans
    ddl = {str(r[0]): str(r[2]) for r in _schema(storage)}
    assert "CODEC(Delta(8), ZSTD(1))" in ddl["spans"]
    assert "CODEC(Gorilla(8), ZSTD(1))" in ddl["metric_points"]
    assert "LowCardinality(String)" in ddl["spans"]


def test_cluster_rendering_swaps_engines_and_adds_distributed() -> None:
    statements = render_all(target_for("ls", 14, "prod"))
    tables = [o for m in MIGRATIONS for o in m.objects if isinstance(o, Table)]
    text = "\n".join(statements)
    for t in tables:
        local = f"CREATE TABLE IF NOT EXISTS `ls`.`{t.name}_local` ON CLUSTER `prod`"
        assert local in text, t.name
        assert (
            f"CREATE TABLE IF NOT EXISTS `ls`.`{t.name}` ON CLUSTER `prod` AS `ls`.`{t.name}_local`"
            in text
        )
        assert f"Distributed(`prod`, `ls`, `{t.name}_local`, {t.shard_key})" in text
        assert f"'/clickhouse/tables/{{shard}}/ls/{t.name}_local', '{{replica}}'" in text
    assert not re.search(r"ENGINE = (Replacing)?MergeTree", text), "non-replicated engine"
    # a replaced table goes on every node: its Distributed table and its local tables
    assert "DROP TABLE IF EXISTS `ls`.`run_states` ON CLUSTER `prod` SYNC" in text
    assert "DROP TABLE IF EXISTS `ls`.`run_states_local` ON CLUSTER `prod` SYNC" in text
    assert "DROP VIEW IF EXISTS `ls`.`run_states_mv` ON CLUSTER `prod`" in text
    assert "toIntervalDay(14)" in text
    assert all("ON CLUSTER `prod`" in s for s in statements)


def test_single_node_rendering_has_no_cluster_parts() -> None:
    text = "\n".join(render_all(target_for("ls", 30, None)))
    assert "ON CLUSTER" not in text and "Replicated" not in text and "Distributed" not in text


def test_identifiers_are_checked() -> None:
    assert identifier("abc_1") == "`abc_1`"
    for bad in ["a`b", "a b", "1abc", "a;drop", "", "a\u00a0b", "db.table"]:
        with pytest.raises(ConfigError):
            identifier(bad)


def test_latest_version_is_recorded(storage: Storage) -> None:
    assert LATEST_VERSION in applied_versions(storage)


@pytest.mark.slow
def test_schema_command_renders_cluster_ddl() -> None:
    out = subprocess.run(
        [
            sys.executable,
            "-m",
            "loadsense.api.cli",
            "schema",
            "--cluster",
            "main",
            "--database",
            "obs",
        ],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).parents[1],
    ).stdout
    assert "CREATE TABLE IF NOT EXISTS `obs`.`spans_local` ON CLUSTER `main`" in out
    assert "ENGINE = Distributed(`main`, `obs`, `spans_local`, cityHash64(trace_id))" in out


def test_deploy_cluster_schema_is_current() -> None:
    shipped = (Path(__file__).parents[1] / "deploy/clickhouse/cluster-schema.sql").read_text()
    rendered = "".join(
        s.rstrip() + ";\n\n" for s in render_all(target_for("loadsense", 30, "loadsense"))
    )
    assert shipped == rendered, "deploy/clickhouse/cluster-schema.sql is stale: make deploy-schema"


def test_migration_2_rolls_up_spans_stored_before_it_once(storage: Storage) -> None:
    """A database at version 1 with spans gets ``span_steps`` backfilled from them, and
    re-running the backfill (a half-applied migration) does not count twice."""
    older = open_storage(f"chdb://{storage.location}", "loadsense_v1")
    try:
        target = target_for("loadsense_v1", 30, None)
        for stmt in render(SCHEMA_MIGRATIONS, target):
            older.client.command(stmt)
        first = MIGRATIONS[0]
        for stmt in render_migration(first, target):
            older.client.command(stmt)
        older.client.command(
            "INSERT INTO schema_migrations (version, name, applied_at) VALUES (1, 'x', now64(3))"
        )
        base = int(time.time()) // 10 * 10 - 3600
        # 3 SERVER spans in one 10 s step (one an error), 1 CLIENT span in the next
        older.client.command(
            "INSERT INTO spans (service_name, kind, start_time, duration_ns, trace_id, span_id,"
            " status_code) SELECT 'svc', if(number < 3, 'SERVER', 'CLIENT'),"
            " fromUnixTimestamp64Nano(({b:Int64} + number * 4) * 1000000000, 'UTC'),"
            " (number + 1) * 1000000, toFixedString(reinterpretAsString(number), 16),"
            " toFixedString(reinterpretAsString(number), 8), if(number = 1, 2, 1)"
            " FROM numbers(4)",
            parameters={"b": base},
        )
        # migration 2 and every later one (3: alert transitions, 4: lineage state,
        # 8: published state, 9: run input arrivals, 10: run state by hour, 11: lineage
        # tables by day) are applied, in order
        later = [m.version for m in MIGRATIONS[1:]]
        assert apply_migrations(older, target) == later == [2, 3, 4, 5, 6, 8, 9, 10, 11]
        backfill = render_migration(MIGRATIONS[1], target)[-1]
        assert backfill.startswith("INSERT INTO")
        older.client.command(backfill)  # again: a no-op, the rollup already has rows
        rows = older.client.query(
            "SELECT toUnixTimestamp(step) - {b:Int64}, kind, sum(spans), sum(errors),"
            " quantilesExactInclusiveMerge(0.5, 0.95, 0.99)(durations)"
            " FROM span_steps GROUP BY step, kind ORDER BY step",
            parameters={"b": base},
        ).result_rows
        # spans at +0, +4, +8 s (1, 2, 3 ms) and +12 s (CLIENT, 4 ms; no durations kept)
        assert rows[0][:4] == (0, "SERVER", 3, 1)
        assert rows[0][4] == pytest.approx([2.0, 2.9, 2.98])  # ranks 1, 1.9, 1.98 over 1..3
        assert rows[1][:4] == (10, "CLIENT", 1, 0)
        projections = older.client.query(
            "SELECT name FROM system.projections WHERE database = 'loadsense_v1'"
            " AND table = 'spans'"
        ).result_rows
        assert projections == [("by_time",)]
    finally:
        older.client.command("DROP DATABASE IF EXISTS loadsense_v1")
