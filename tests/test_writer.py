"""The group-commit writer against the real engine: ack after commit, failures, bounds."""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from loadsense.errors import Backpressure, WriteFailed
from loadsense.selfmetrics import SelfMetrics
from loadsense.storage.client import Storage, open_connection
from loadsense.storage.migrations import MIGRATIONS
from loadsense.storage.schema.cumulative import COUPLED_INSERTS
from loadsense.storage.schema.model import MaterializedView, coupled_inserts
from loadsense.storage.writer import RowBatch, Writer, WriterLimits
from tests.conftest import query


@pytest.fixture
def table(storage: Storage) -> str:
    """A scratch table whose CHECK constraint lets a test make an insert fail for real."""
    name = f"w_{uuid.uuid4().hex[:8]}"
    storage.client.command(
        f"CREATE TABLE {name} (x UInt32, s String, CONSTRAINT small CHECK x < 1000) "
        "ENGINE = MergeTree ORDER BY x"
    )
    return name


def _batch(table: str, xs: list[int]) -> RowBatch:
    return RowBatch.of(table, {"x": xs, "s": [f"v{x}" for x in xs]}, nbytes=8 * len(xs))


def _count(storage: Storage, table: str) -> int:
    return int(query(storage, f"SELECT count() FROM {table}")[0][0])  # type: ignore[call-overload]


def test_write_returns_only_when_rows_are_queryable(storage: Storage, table: str) -> None:
    writer = Writer(storage, WriterLimits(batch_max_delay_s=0.05), SelfMetrics())
    try:
        writer.write_sync([_batch(table, [1, 2, 3])], timeout=30)
        assert _count(storage, table) == 3  # no polling: acknowledged means committed
    finally:
        writer.close()


def test_concurrent_requests_are_grouped_into_few_inserts(storage: Storage, table: str) -> None:
    metrics = SelfMetrics()
    writer = Writer(storage, WriterLimits(batch_max_delay_s=0.2), metrics)

    async def send_all() -> None:
        await asyncio.gather(*(writer.write([_batch(table, [i])]) for i in range(50)))

    try:
        asyncio.run(send_all())
    finally:
        writer.close()
    assert _count(storage, table) == 50
    inserts = metrics.registry.get_sample_value("loadsense_batch_rows_count", {"table": table})
    assert inserts is not None and inserts < 50  # group commit: 50 requests, fewer inserts
    accepted = metrics.registry.get_sample_value("loadsense_rows_accepted_total", {"table": table})
    assert accepted == 50


def test_failed_insert_acknowledges_nothing_and_spares_neighbours(
    storage: Storage, table: str
) -> None:
    metrics = SelfMetrics()
    writer = Writer(storage, WriterLimits(batch_max_delay_s=0.2), metrics)

    async def send() -> list[BaseException | None]:
        results = await asyncio.gather(
            writer.write([_batch(table, [5, 6])]),
            writer.write([_batch(table, [7, 5000])]),  # violates CHECK x < 1000
            return_exceptions=True,
        )
        return list(results)

    try:
        good, bad = asyncio.run(send())
    finally:
        writer.close()
    assert good is None
    assert isinstance(bad, WriteFailed) and bad.status == 503
    rows = query(storage, f"SELECT x FROM {table} ORDER BY x")
    assert rows == [(5,), (6,)]  # the failed request stored nothing, its neighbour all
    failures = metrics.registry.get_sample_value("loadsense_flush_failures_total", {"table": table})
    assert failures is not None and failures >= 1


def test_full_queue_refuses_with_retry_after_and_close_flushes(
    storage: Storage, table: str
) -> None:
    limits = WriterLimits(
        batch_max_rows=1_000_000, batch_max_delay_s=60, queue_max_rows=10, retry_after_s=3
    )
    writer = Writer(storage, limits, SelfMetrics())
    futures = writer.submit([_batch(table, list(range(8)))])  # held: 60 s delay, huge batch
    with pytest.raises(Backpressure) as info:
        writer.submit([_batch(table, [100, 101, 102])])  # 8 + 3 > 10
    assert info.value.retry_after == 3 and info.value.status == 503
    assert writer.queued_rows == 8
    assert _count(storage, table) == 0
    assert writer.close(timeout=30)  # shutdown flushes what was accepted
    assert all(f.result(timeout=1) is None for f in futures)
    assert _count(storage, table) == 8
    with pytest.raises(Backpressure, match="shutting down"):
        writer.submit([_batch(table, [1])])


def test_oversized_request_is_admitted_into_an_empty_queue(storage: Storage, table: str) -> None:
    writer = Writer(storage, WriterLimits(queue_max_rows=2, batch_max_delay_s=0.01), SelfMetrics())
    try:
        writer.write_sync([_batch(table, [1, 2, 3, 4])], timeout=30)
    finally:
        writer.close()
    assert _count(storage, table) == 4


class _GatedClient:
    """The real client, except that each insert first waits for the test to open a gate:
    the only way to hold an insert in flight for as long as a test needs."""

    def __init__(self, client: Any) -> None:
        self._client = client
        self.gate = threading.Event()
        self.entered = threading.Event()
        self.rows_before: list[int] = []  # the table's rows as each insert began

    def _held(self, table: str) -> None:
        self.entered.set()
        assert self.gate.wait(30)
        self.rows_before.append(
            int(self._client.query(f"SELECT count() FROM {table}").result_rows[0][0])
        )

    def insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self._held(table)
        return self._client.insert(table, *args, **kwargs)

    def raw_insert(self, table: str, *args: Any, **kwargs: Any) -> Any:
        self._held(table)
        return self._client.raw_insert(table, *args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._client, name)


def test_rows_arriving_during_an_insert_join_the_next_one(storage: Storage, table: str) -> None:
    """Leader/follower group commit: no linger by default; the first request is inserted on
    its own, the nine that arrive while that insert is in flight share the next insert."""
    assert WriterLimits().batch_max_delay_s == 0
    gated = _GatedClient(storage.client)
    writer = Writer(  # as a server: the writer inserts through the one (gated) client
        Storage(gated, storage.database, False, storage.location),
        WriterLimits(),
        SelfMetrics(),
    )
    try:
        first = writer.submit([_batch(table, [0])])
        assert gated.entered.wait(30)  # the insert started without waiting for company
        followers = [f for i in range(1, 10) for f in writer.submit([_batch(table, [i])])]
        gated.gate.set()
        assert all(f.result(timeout=30) is None for f in first + followers)
    finally:
        writer.close()
    assert gated.rows_before == [0, 1]  # two inserts: the first request's, then the rest
    assert _count(storage, table) == 10


def _scratch(storage: Storage, checks: str = "") -> str:
    name = f"w_{uuid.uuid4().hex[:8]}"
    storage.client.command(
        f"CREATE TABLE {name} (x UInt32, s String{checks}) ENGINE = MergeTree ORDER BY x"
    )
    return name


def test_concurrent_inserts_through_the_pool_land_exactly_once(storage: Storage) -> None:
    """4 tables x 8 threads x 25 requests of 4 rows: every table gets 8 * 25 * 4 = 800
    distinct rows, each once, while up to 3 tables are inserted at a time."""
    tables = [_scratch(storage) for _ in range(4)]
    writer = Writer(storage, WriterLimits(insert_connections=3), SelfMetrics())

    def send(thread: int) -> None:
        for r in range(25):
            xs = [(thread * 25 + r) * 4 + k for k in range(4)]
            writer.write_sync([_batch(t, xs) for t in tables], timeout=60)

    try:
        with ThreadPoolExecutor(8) as pool:
            list(pool.map(send, range(8)))
    finally:
        assert writer.close(timeout=60)
    for t in tables:
        assert query(storage, f"SELECT count(), uniqExact(x), min(x), max(x) FROM {t}") == [
            (800, 800, 0, 799)
        ]


def _wait_running(storage: Storage, kind: str) -> None:
    """Poll, through a connection of its own, until a ``kind`` statement is running."""
    probe = open_connection(storage)
    try:
        deadline = time.monotonic() + 30
        sql = (
            "SELECT count() FROM system.processes "
            f"WHERE query_kind = '{kind}' AND query NOT LIKE '%system.processes%'"
        )
        while probe.query(sql).result_rows[0][0] == 0:
            assert time.monotonic() < deadline, f"no {kind} statement started"
            time.sleep(0.01)
    finally:
        probe.close()


def test_a_lone_insert_does_not_wait_behind_a_long_query(storage: Storage, table: str) -> None:
    """The correlator's client runs a 3 s query; an insert submitted while it runs is
    committed before the query returns, because the writer has connections of its own."""
    writer = Writer(storage, WriterLimits(), SelfMetrics())
    finished: list[str] = []
    long_query = threading.Thread(
        target=lambda: (storage.client.query("SELECT sleep(3)"), finished.append("query"))
    )
    try:
        long_query.start()
        _wait_running(storage, "Select")
        writer.write_sync([_batch(table, [1, 2])], timeout=30)
        finished.append("insert")
        long_query.join(30)
    finally:
        writer.close()
    assert finished == ["insert", "query"]
    assert _count(storage, table) == 2


@pytest.mark.parametrize(("connections", "order"), [(1, ["slow", "quick"]), (2, ["quick", "slow"])])
def test_insert_connections_bound_the_tables_written_at_once(
    storage: Storage, connections: int, order: list[str]
) -> None:
    """An insert into ``slow`` takes 2 s (its CHECK sleeps). With one connection an insert
    into another table waits for it (tables take turns); with two it goes beside it."""
    slow = _scratch(storage, ", CONSTRAINT slow CHECK sleep(2) = 0")
    quick = _scratch(storage)
    writer = Writer(storage, WriterLimits(insert_connections=connections), SelfMetrics())
    finished: list[str] = []
    try:
        (held,) = writer.submit([_batch(slow, [1])])
        held.add_done_callback(lambda _: finished.append("slow"))
        _wait_running(storage, "Insert")
        (other,) = writer.submit([_batch(quick, [2])])
        other.add_done_callback(lambda _: finished.append("quick"))
        assert held.result(30) is None and other.result(30) is None
    finally:
        writer.close()
    assert finished == order
    assert _count(storage, slow) == 1 and _count(storage, quick) == 1


def test_coupled_tables_take_turns_on_any_number_of_connections(storage: Storage) -> None:
    """As in the test above with two connections, but the two tables are coupled: the
    insert into ``quick`` waits for the 2 s insert into ``slow``, though a connection is
    free; a third, uncoupled table goes beside it."""
    slow = _scratch(storage, ", CONSTRAINT slow CHECK sleep(2) = 0")
    quick, free = _scratch(storage), _scratch(storage)
    writer = Writer(
        storage, WriterLimits(insert_connections=3), SelfMetrics(), [frozenset({slow, quick})]
    )
    finished: list[str] = []
    try:
        (held,) = writer.submit([_batch(slow, [1])])
        held.add_done_callback(lambda _: finished.append("slow"))
        _wait_running(storage, "Insert")
        others = writer.submit([_batch(quick, [2]), _batch(free, [3])])
        for name, future in zip(("quick", "free"), others, strict=True):
            future.add_done_callback(lambda _, name=name: finished.append(name))
        assert all(f.result(30) is None for f in (held, *others))
    finally:
        writer.close()
    assert finished == ["free", "slow", "quick"]


def test_the_cumulative_views_couple_run_events_with_lineage_edges() -> None:
    """Of every view in the schema, the two that join another table (cumulative run
    outputs) couple ``run_events`` with ``lineage_edges`` through ``run_outputs``."""
    views = [
        obj
        for migration in MIGRATIONS
        for obj in migration.objects
        if isinstance(obj, MaterializedView)
    ]
    assert coupled_inserts(views) == COUPLED_INSERTS
    assert (frozenset({"run_events", "run_outputs", "lineage_edges"}),) == COUPLED_INSERTS


def test_a_batch_spanning_more_days_than_the_engine_limit_is_stored(storage: Storage) -> None:
    # The engine refuses an insert block touching over 100 partitions by default: one
    # batch of a history replay (150 days, one row each) in a table partitioned by day.
    name = f"w_{uuid.uuid4().hex[:8]}"
    storage.client.command(
        f"CREATE TABLE {name} (t Date, x UInt32) ENGINE = MergeTree PARTITION BY t ORDER BY x"
    )
    days = list(range(20_000, 20_150))
    writer = Writer(storage, WriterLimits(batch_max_delay_s=0.05), SelfMetrics())
    try:
        batch = RowBatch.of(name, {"t": days, "x": days}, nbytes=6 * len(days))
        writer.write_sync([batch], timeout=30)
    finally:
        writer.close()
    assert query(storage, f"SELECT count(), uniqExact(t) FROM {name}") == [(150, 150)]


def test_row_batch_rejects_ragged_columns() -> None:
    with pytest.raises(ValueError, match="differ in length"):
        RowBatch.of("t", {"a": [1, 2], "b": [1]}, nbytes=0)


def test_a_complete_and_its_declared_output_inserted_at_once_derive_the_update(
    storage: Storage,
) -> None:
    """Each round sends a run's bare COMPLETE (``run_events``) and the output it declared
    elsewhere (``lineage_edges``) in one submit, as the lineage journal queues a request's
    derived rows. ``complete_outputs_mv`` and ``declared_outputs_mv`` each see only what
    was committed before their insert began, so were the two inserts to overlap neither
    would derive the update; the writer runs them one after the other, so every one of
    the 20 runs gets exactly its one derived update."""
    tag = f"cpl_{uuid.uuid4().hex[:8]}"
    at = datetime.now(UTC).replace(microsecond=0)
    writer = Writer(storage, WriterLimits(insert_connections=5), SelfMetrics())
    try:
        for k in range(20):
            run_id = str(uuid.uuid4())
            complete = RowBatch.of(
                "run_events",
                {
                    "run_id": [run_id],
                    "event_type": ["COMPLETE"],
                    "event_time": [at + timedelta(seconds=k)],
                    "job_namespace": ["ns"],
                    "job_name": [f"{tag}.job"],
                    "event_hash": [k + 1],
                },
                nbytes=64,
            )
            declared = RowBatch.of(
                "lineage_edges",
                {
                    "job_namespace": ["ns"],
                    "job_name": [f"{tag}.job"],
                    "dataset_namespace": ["ns"],
                    "dataset_name": [f"{tag}.out{k}"],
                    "direction": ["output"],
                    "run_id": [run_id],
                    "source": ["run"],
                    "event_time": [at],
                },
                nbytes=64,
            )
            for future in writer.submit([complete, declared]):
                assert future.result(30) is None
    finally:
        assert writer.close(timeout=60)
    rows = query(
        storage,
        "SELECT dataset_name, toUnixTimestamp(event_time) - toUnixTimestamp({at:DateTime}) "
        "FROM dataset_updates WHERE dataset_name LIKE {p:String} ORDER BY event_time",
        at=at.replace(tzinfo=None),
        p=f"{tag}.%",
    )
    assert rows == [(f"{tag}.out{k}", k) for k in range(20)]
