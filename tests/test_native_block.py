"""Native blocks from the compiled codec store exactly what the Python encoder stores."""

from __future__ import annotations

import time
import uuid

from loadsense.collectors.openlineage.receiver import LineageReceiver
from loadsense.collectors.otlp.receiver import MetricsReceiver, TracesReceiver
from loadsense.storage import native_block
from loadsense.storage.client import Storage
from loadsense.storage.writer import INSERT_SETTINGS, RowBatch
from tests.conftest import query
from tests.support.otlp import PROTOBUF, metrics_request, trace_request, unique


def _column_types(storage: Storage, table: str) -> dict[str, str]:
    rows = storage.client.query(f"DESCRIBE TABLE {table}").result_rows
    return {str(r[0]): str(r[1]) for r in rows}


def _both_ways(storage: Storage, batch: RowBatch) -> tuple[list[tuple[object, ...]], ...]:
    """``batch`` inserted through the compiled codec and through clickhouse-connect's
    Python encoder into two scratch copies of its table; both tables' rows, sorted."""
    types = _column_types(storage, batch.table)
    names = [f"{batch.table}_{kind}_{uuid.uuid4().hex[:6]}" for kind in ("native", "python")]
    for name in names:
        storage.client.command(
            f"CREATE TABLE {name} AS {batch.table} ENGINE = MergeTree ORDER BY tuple()"
        )
    type_names = [types[c] for c in batch.columns]
    block = native_block.encode(batch.columns, type_names, batch.data, batch.rows)
    assert block is not None
    storage.client.raw_insert(
        names[0], list(batch.columns), block, settings=INSERT_SETTINGS, fmt="Native"
    )
    storage.client.insert(
        names[1],
        batch.data,
        column_names=list(batch.columns),
        column_type_names=type_names,
        column_oriented=True,
    )
    order = ", ".join(f"toString({c})" for c in batch.columns)
    return tuple(query(storage, f"SELECT * FROM {n} ORDER BY {order}") for n in names)


def _batches() -> list[RowBatch]:
    now = time.time_ns()
    traces = trace_request(unique("native"), spans=20).SerializeToString()
    metrics = metrics_request(unique("native"), [1.5, 2.0, 7.25]).SerializeToString()
    event = (
        b'{"eventType": "COMPLETE", "eventTime": "2026-01-01T00:00:00Z", '
        b'"run": {"runId": "0190c3a4-1c2b-7d3e-8f40-5a6b7c8d9e0f"}, '
        b'"job": {"namespace": "etl", "name": "daily"}, '
        b'"inputs": [{"namespace": "pg", "name": "raw.orders"}], '
        b'"outputs": [{"namespace": "pg", "name": "mart.orders"}], '
        b'"producer": "https://example.com/producer", '
        b'"schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json"}'
    )
    decoded = [
        TracesReceiver().decode(traces, PROTOBUF, now),
        MetricsReceiver().decode(metrics, PROTOBUF, now),
        LineageReceiver().decode(event, "application/json", now),
    ]
    return [b for d in decoded for b in d.batches]


def test_every_table_stores_the_same_rows_through_either_encoder(storage: Storage) -> None:
    assert native_block.available()  # clickhouse-connect-core is a dependency
    batches = _batches()
    tables = {b.table for b in batches}
    assert {"spans", "resources", "metric_points", "lineage_events", "run_events"} <= tables
    for batch in batches:
        native, python = _both_ways(storage, batch)
        assert len(native) == batch.rows
        assert native == python, batch.table
