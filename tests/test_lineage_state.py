"""The lineage state tables give the same signal rows as reading every stored event.

A randomized history (hypothesis) of runs, duplicates, shuffled arrival and late events
that land before a summary's boundary goes through the real normaliser into a database
of its own; at several instants every freshness, job and graph row from the state tables
(``signals/summaries.py``, ``storage/schema/history.py``) must equal the row from scratch.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import asdict, replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from loadsense.api.app import prepare_storage
from loadsense.collectors.openlineage.normalise import LineageRows
from loadsense.collectors.openlineage.validate import check
from loadsense.settings import Settings
from loadsense.signals import summaries
from loadsense.signals.config import parse_signals_config
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.run_inputs import RunInputsMemo
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.migrations import MIGRATIONS, apply_migrations, target_for
from loadsense.storage.schema.model import (
    DROP_WHOLE_DAYS,
    Repartition,
    Table,
    Target,
    render,
    repartition_steps,
)

NS = 1_000_000_000
DAY = 86_400 * NS
BASE = (time.time_ns() // DAY - 2) * DAY + 20 * 3600 * NS
"""20:00 UTC two days ago: histories cross midnight (two ``run_hours`` partitions), inside
the retention TTL."""
PRODUCER = "https://github.com/OpenLineage/OpenLineage/tree/1.0.0/client/python"
SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/definitions/RunEvent"
CONFIG = parse_signals_config({"run_window_s": 4 * 3600})
"""A 4-hour run window inside an 8-hour history: runs straddle its start."""


@pytest.fixture(scope="module")
def own(storage: Storage) -> Iterator[Storage]:
    """A database of its own in the session's chDB (each example starts empty)."""
    store = open_storage(f"chdb://{Path(storage.location)}", f"state_{uuid.uuid4().hex[:8]}")
    prepare_storage(store, Settings())
    yield store
    store.client.command(f"DROP DATABASE IF EXISTS `{store.database}`")


def _truncate(storage: Storage) -> None:
    for migration in MIGRATIONS:
        for obj in migration.objects:
            if isinstance(obj, Table) and migration.version in (1, 4, 5, 9, 10):
                storage.client.command(f"TRUNCATE TABLE IF EXISTS `{obj.name}`")


def _iso(at_ns: int) -> str:
    return datetime.fromtimestamp(at_ns // 1000 / 1e6, UTC).isoformat().replace("+00:00", "Z")


def _event(
    run_id: str,
    event_type: str,
    at_ns: int,
    job: str,
    inputs: list[str],
    outputs: list[str],
    nominal_ns: int | None,
) -> dict[str, Any]:
    facets: dict[str, Any] = {}
    if nominal_ns is not None:
        facets["nominalTime"] = {
            "_producer": PRODUCER,
            "_schemaURL": "https://openlineage.io/spec/facets/1-0-1/NominalTimeRunFacet.json",
            "nominalStartTime": _iso(nominal_ns),
        }
    return {
        "eventType": event_type,
        "eventTime": _iso(at_ns),
        "run": {"runId": run_id, "facets": facets},
        "job": {"namespace": "prop", "name": job},
        "inputs": [{"namespace": "prop", "name": d} for d in inputs],
        "outputs": [{"namespace": "prop", "name": d} for d in outputs],
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


def _insert(storage: Storage, events: list[dict[str, Any]]) -> None:
    """Through the normaliser the receiver uses, then one insert per table."""
    rows = LineageRows()
    for event in events:
        raw = json.dumps(event)
        checked = check(event, raw, time.time_ns(), 10 * DAY)
        rows.add(checked, time.time_ns())
    for batch in rows.batches():
        storage.client.insert(
            batch.table, list(batch.data), column_names=list(batch.columns), column_oriented=True
        )


RUN = st.tuples(
    st.integers(0, 2),  # job
    st.integers(0, 8 * 3600),  # start, seconds after BASE
    st.integers(1, 5400),  # duration
    st.sampled_from(["COMPLETE", "COMPLETE", "FAIL", "ABORT", None]),  # None: still running
    st.booleans(),  # has a START event
    st.one_of(st.none(), st.integers(0, 600)),  # nominal start, seconds before start
    st.lists(st.integers(0, 5), min_size=0, max_size=2),  # inputs
    st.lists(st.integers(0, 5), min_size=1, max_size=2),  # outputs
)


def _history(runs: list[tuple[Any, ...]]) -> list[dict[str, Any]]:
    events = []
    for job, start, duration, end_type, has_start, nominal, inputs, outputs in runs:
        run_id = str(uuid.uuid4())
        t0 = BASE + start * NS
        ins = [f"ds_{i}" for i in inputs]
        outs = [f"ds_{o}" for o in outputs]
        nominal_ns = None if nominal is None else t0 - nominal * NS
        if has_start:
            events.append(_event(run_id, "START", t0, f"job_{job}", ins, outs, nominal_ns))
        if end_type is not None:
            t1 = t0 + duration * NS
            events.append(_event(run_id, end_type, t1, f"job_{job}", ins, outs, nominal_ns))
        elif not has_start:
            events.append(_event(run_id, "RUNNING", t0, f"job_{job}", ins, outs, nominal_ns))
    return events


def _rows(
    storage: Storage, as_of_ns: int, from_scratch: bool, memo: RunInputsMemo | None = None
) -> dict[str, Any]:
    ev = evaluate_all(storage, as_of_ns, CONFIG, from_scratch=from_scratch, memo=memo)
    return {
        "freshness": [asdict(r) for r in ev.rows["freshness"] if r.subject.startswith("prop/")],
        "jobs": [asdict(r) for r in ev.rows["queues"] if r.type == "job"],
        "produces": dict(ev.graph.produces),
        "consumes": dict(ev.graph.consumes),
    }


def _settle_clock(storage: Storage) -> None:
    """Until the engine's millisecond clock is past the last insert (a build that starts
    in the same millisecond as an insert cannot tell whether it saw it)."""
    last = storage.client.query("SELECT max(last_insert) FROM late_updates").result_rows[0][0]
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        now = storage.client.query("SELECT now64(3)").result_rows[0][0]
        if last is None or now > last:
            return
    raise TimeoutError("engine clock did not move")


def _assert_same(storage: Storage, as_of_ns: int, memo: RunInputsMemo | None = None) -> None:
    """State (and, with ``memo``, state with the correlator's memo kept from earlier
    calls) equal to from scratch."""
    scratch = _rows(storage, as_of_ns, True)
    paths = [_rows(storage, as_of_ns, False)]
    if memo is not None:
        paths.append(_rows(storage, as_of_ns, False, memo))
    for state in paths:
        for kind in scratch:
            if isinstance(scratch[kind], list):
                for a, b in zip(state[kind], scratch[kind], strict=False):
                    assert a == b, (kind, as_of_ns)
            assert state[kind] == scratch[kind], (kind, as_of_ns)


@settings(
    max_examples=12,
    deadline=None,
    phases=(Phase.explicit, Phase.reuse, Phase.generate),  # shrinking a history is slow
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    runs=st.lists(RUN, min_size=1, max_size=25),
    late=st.lists(RUN, min_size=0, max_size=6),
    duplicates=st.integers(0, 5),
    seed=st.integers(0, 2**32 - 1),
    slice_rows=st.sampled_from([2, 7, summaries.SLICE_ROWS]),  # first summary in slices
)
def test_state_equals_from_scratch(
    own: Storage,
    monkeypatch: pytest.MonkeyPatch,
    runs: list[tuple[Any, ...]],
    late: list[tuple[Any, ...]],
    duplicates: int,
    seed: int,
    slice_rows: int,
) -> None:
    monkeypatch.setattr(summaries, "MARGIN_S", 0)  # nothing runs concurrently here
    _truncate(own)
    rng = random.Random(seed)
    events = _history(runs)
    events += [rng.choice(events) for _ in range(duplicates)]  # retried deliveries
    rng.shuffle(events)  # any arrival order
    for k in range(0, len(events), 7):
        _insert(own, events[k : k + 7])
    _settle_clock(own)

    first = BASE + 6 * 3600 * NS
    assert summaries.advance(own, first, slice_rows=slice_rows) is not None
    found = summaries.current(own, first)
    assert found is not None and found.dirty == ()  # the state path is the one tested
    memo = RunInputsMemo(margin_s=0)  # kept across the instants, as the correlator does
    _assert_same(own, first, memo)
    _assert_same(own, BASE + 9 * 3600 * NS, memo)  # every event before as_of
    # both ends of the window inside an hour, runs straddling each (events after as_of)
    _assert_same(own, BASE + (7 * 3600 + 1800 + 13) * NS, memo)

    # late events, many of them before the summary's boundary (closed periods), and
    # inputs declared after a run ended (metadata is cumulative)
    late_events = _history(late)
    for event in rng.sample(events, min(3, len(events))):
        more = [f"ds_{rng.randrange(6)}"]
        at = int(datetime.fromisoformat(event["eventTime"]).timestamp() * 1e6) * 1000
        name, run_id = event["job"]["name"], event["run"]["runId"]
        late_events.append(_event(run_id, "OTHER", at + NS, name, more, [], None))
    rng.shuffle(late_events)
    _insert(own, late_events)
    later = first + 20 * 60 * NS
    _assert_same(own, later, memo)
    _settle_clock(own)
    summaries.advance(own, later)  # rebuilt from scratch when late events landed
    assert summaries.current(own, later) is not None
    _assert_same(own, later, memo)
    _assert_same(own, BASE + 10 * 3600 * NS, memo)


def _summary_updates(storage: Storage) -> dict[tuple[int, str], int]:
    rows = storage.client.query(
        "SELECT boundary_ns, dataset_name, updates FROM dataset_summaries"
    ).result_rows
    return {(int(b), str(name)): int(n) for b, name, n in rows}


def _plant_leftover(storage: Storage, boundary_ns: int, name: str) -> None:
    """An unmarked summary row at ``boundary_ns`` (a build that stopped before its mark)."""
    storage.client.command(
        "INSERT INTO dataset_summaries (boundary_ns, dataset_namespace, dataset_name, "
        "last_ns, last_key, last_run, producer, updates, recent) "
        f"VALUES ({boundary_ns}, 'prop', '{name}', 0, 0, '', '', 100, [])"
    )


def test_first_summary_is_built_in_slices_with_the_rows_of_one_statement(
    own: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "MARGIN_S", 0)
    _truncate(own)
    # ds_0 updated every hour for 8 hours from BASE (20:00 UTC), ds_1 every 2 hours:
    # 6 updates before midnight (hours 0-3: 4 + 2) and 6 after (hours 4-7: 4 + 2)
    events = [
        _event(str(uuid.uuid4()), "COMPLETE", BASE + h * 3600 * NS, "job_0", [], [ds], None)
        for h in range(8)
        for ds in (["ds_0", "ds_1"] if h % 2 == 0 else ["ds_0"])
    ]
    _insert(own, events)
    _settle_clock(own)
    as_of = BASE + 9 * 3600 * NS
    boundary = BASE + (9 * 3600 - 1200) * NS  # LAG_S before, on a 5-minute step
    midnight = BASE + 4 * 3600 * NS
    # 4 updates a slice: each day of 6 is cut in two; the second day's cuts (noon and
    # midnight tomorrow) are past the boundary
    assert summaries.slices(own, boundary, 4) == [midnight - 12 * 3600 * NS, midnight, boundary]
    assert summaries.slices(own, boundary, 1000) == [boundary]

    # an unmarked leftover at the boundary is dropped, not counted again
    _plant_leftover(own, boundary, "ds_0")
    built = summaries.advance(own, as_of, slice_rows=4)
    assert built is not None and built.boundary_ns == boundary
    # only the marked summary is left: the intermediate ones were dropped
    assert _summary_updates(own) == {(boundary, "ds_0"): 8, (boundary, "ds_1"): 4}
    _assert_same(own, as_of)

    # the next step's leftover is dropped too
    following = boundary + 300 * NS
    _plant_leftover(own, following, "ds_1")
    assert summaries.advance(own, as_of + 300 * NS) is not None
    got = _summary_updates(own)
    assert got[(following, "ds_0")] == 8 and got[(following, "ds_1")] == 4
    _assert_same(own, as_of + 300 * NS)


def test_late_update_leaves_its_dataset_dirty(
    own: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(summaries, "MARGIN_S", 0)
    _truncate(own)
    run = str(uuid.uuid4())
    _insert(own, [_event(run, "COMPLETE", BASE, "job_0", [], ["ds_0", "ds_1"], None)])
    _settle_clock(own)
    as_of = BASE + 3600 * NS
    built = summaries.advance(own, as_of)
    # the boundary trails as_of by LAG_S (20 min), in 5-minute steps
    assert built is not None and built.boundary_ns == BASE + 2400 * NS
    assert summaries.current(own, as_of) == built
    assert summaries.advance(own, as_of) is None  # one build per boundary
    # an update 5 minutes after BASE lands before the boundary (BASE + 40 min)
    late = str(uuid.uuid4())
    _insert(own, [_event(late, "COMPLETE", BASE + 300 * NS, "job_0", [], ["ds_0"], None)])
    found = summaries.current(own, as_of)
    assert found is not None and found.dirty == (("prop", "ds_0"),)
    rows = {r["subject"]: r for r in _rows(own, as_of, False)["freshness"]}
    assert rows["prop/ds_0"]["updates"] == 2  # its updates read from scratch meanwhile
    assert rows["prop/ds_0"]["last_run_id"] == late
    assert rows["prop/ds_1"]["updates"] == 1
    _settle_clock(own)
    rebuilt = summaries.advance(own, as_of + 300 * NS)
    assert rebuilt is not None
    assert summaries.current(own, as_of + 300 * NS) == rebuilt  # nothing dirty any more
    rows = {r["subject"]: r for r in _rows(own, as_of, False)["freshness"]}
    assert rows["prop/ds_0"]["updates"] == 2


def test_upgrade_backfills_state_from_previous_schema(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A database made by migrations 1-3 holding lineage gets its state at migration 4."""
    old = open_storage(f"chdb://{Path(storage.location)}", f"v3_{uuid.uuid4().hex[:8]}")
    target = target_for(old.database, 30, None)
    try:
        assert apply_migrations(old, target, until=3) == [1, 2, 3]
        rng = random.Random(7)
        runs = [
            (
                k % 3,
                rng.randrange(8 * 3600),
                rng.randrange(1, 3600),
                "COMPLETE",
                True,
                60,
                [k % 6],
                [(k + 1) % 6],
            )
            for k in range(30)
        ]
        _insert(old, _history(runs))
        with caplog.at_level(logging.INFO, logger="loadsense.storage.migrations"):
            assert apply_migrations(old, target) == [m.version for m in MIGRATIONS[3:]]
        assert "backfill run_states: slice 16/16 done" in caplog.text
        assert "backfill run_inputs: slice 1/16 done" in caplog.text
        assert "backfill run_hours: slice 16/16 done" in caplog.text  # migration 10
        (states,) = old.client.query("SELECT uniqExact(run_key) FROM run_hours").result_rows[0]
        assert states == 30
        as_of = BASE + 9 * 3600 * NS
        _assert_same(old, as_of)
        # every slice is recorded: running the migrations again redoes nothing
        caplog.clear()
        assert apply_migrations(old, target) == []
        assert "backfill" not in caplog.text
    finally:
        old.client.command(f"DROP DATABASE IF EXISTS `{old.database}`")


def test_migration_10_moves_run_state_to_hours(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A database at version 9 (run state per day) holding lineage gets ``run_hours``
    from its run events, the job rows unchanged, and the daily table is dropped."""
    old = open_storage(f"chdb://{Path(storage.location)}", f"v9_{uuid.uuid4().hex[:8]}")
    target = target_for(old.database, 30, None)
    try:
        apply_migrations(old, target, until=9)
        # 12 runs, one every 40 minutes from BASE, each 50 minutes long: 9 cross an hour
        runs = [(k % 2, 2400 * k, 3000, "COMPLETE", True, 60, [], [k % 3]) for k in range(12)]
        _insert(old, _history(runs))
        as_of = BASE + 9 * 3600 * NS
        before = _rows(old, as_of, True)["jobs"]  # the definition: every run event
        with caplog.at_level(logging.INFO, logger="loadsense.storage.migrations"):
            assert apply_migrations(old, target, until=10) == [10]
        assert "backfill run_hours: slice 16/16 done" in caplog.text
        tables = {
            str(r[0])
            for r in old.client.query(
                "SELECT name FROM system.tables WHERE database = {db:String}",
                parameters={"db": old.database},
            ).result_rows
        }
        assert "run_hours" in tables and not tables & {"run_states", "run_states_mv"}
        (hours, runs_seen) = old.client.query(
            "SELECT count(), uniqExact(run_key) FROM run_hours FINAL"
        ).result_rows[0]
        # a run of 50 minutes starting 40k minutes after 20:00 spans 2 hours unless it
        # starts in the first 10 minutes of one: starts at minute 0, 40, 20, 0, 40, 20...
        # (k * 40 mod 60), so the runs starting on the hour (k = 0, 3, 6, 9) fit in one
        assert runs_seen == 12 and hours == 12 * 2 - 4
        assert _rows(old, as_of, False)["jobs"] == before and len(before) == 2
        _assert_same(old, as_of)
    finally:
        old.client.command(f"DROP DATABASE IF EXISTS `{old.database}`")


def _before_days(storage: Storage, target: Target) -> dict[str, Repartition]:
    """Lay the tables migration 11 partitions out as earlier versions made them
    (unpartitioned, no whole-day drop), with their views: a database at version 10."""
    (by_day,) = [m for m in MIGRATIONS if m.version == 11]
    moved = {o.table.name: o for o in by_day.objects if isinstance(o, Repartition)}
    assert set(moved) == {
        "lineage_edges",
        "run_inputs",
        "run_outputs",
        "input_arrivals",
        "dataset_schemas",
        "quality_assertions",
    }
    views = {v.name: v for o in moved.values() for v in o.views}
    for name in views:
        storage.client.command(f"DROP VIEW `{name}`")
    for o in moved.values():
        before = replace(
            o.table,
            partition_by=None,
            settings=tuple(s for s in o.table.settings if s != DROP_WHOLE_DAYS),
        )
        storage.client.command(f"DROP TABLE `{o.table.name}` SYNC")
        for stmt in render(before, target):
            storage.client.command(stmt)
    for view in views.values():
        for stmt in render(view, target):
            storage.client.command(stmt)
    return moved


def _contents(storage: Storage, tables: list[str]) -> dict[str, list[Any]]:
    """Each table's rows, duplicates folded (a plain MergeTree has none to fold)."""
    final = {t: "" if t == "input_arrivals" else "FINAL" for t in tables}
    return {
        t: storage.client.query(f"SELECT * FROM `{t}` {final[t]} ORDER BY ALL").result_rows
        for t in tables
    }


def test_migration_11_partitions_lineage_tables_by_day(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    """A version-10 database holding lineage gets its six unpartitioned tables rewritten
    by day with every row kept and every signal row unchanged; its views keep feeding
    them; a rewrite interrupted after the swap resumes."""
    old = open_storage(f"chdb://{Path(storage.location)}", f"v10_{uuid.uuid4().hex[:8]}")
    target = target_for(old.database, 30, None)
    try:
        apply_migrations(old, target, until=10)
        moved = _before_days(old, target)
        # 16 runs over two days (BASE is 20:00), inputs and outputs; every third run
        # declares its output only in START and sends a bare COMPLETE
        runs = [
            (k % 3, 5400 * k, 3000, "COMPLETE", True, 60, [k % 4], [4 + k % 2]) for k in range(16)
        ]
        events = _history(runs)
        for k, event in enumerate(events):
            if event["eventType"] == "COMPLETE" and k % 3 == 0:
                event["outputs"] = []
        _insert(old, events)
        days = old.client.query(
            "SELECT uniqExact(toDate(event_time)) FROM lineage_edges"
        ).result_rows[0][0]
        assert days == 2  # 16 runs 90 minutes apart from 20:00 reach the next day
        as_of = BASE + 30 * 3600 * NS
        before_rows = _rows(old, as_of, False)
        before = _contents(old, list(moved))
        assert all(before[t] for t in ("lineage_edges", "run_inputs", "run_outputs"))
        # lineage_edges as if a first run had stopped after its swap
        steps = repartition_steps(moved["lineage_edges"], target)
        for stmt in (*steps.drop_views, *steps.create, *steps.copies, *steps.swap):
            old.client.command(stmt)
        with caplog.at_level(logging.INFO, logger="loadsense.storage.migrations"):
            assert apply_migrations(old, target) == [11]
        assert "backfill run_inputs_by_day: slice 2/2 done" in caplog.text
        assert "backfill lineage_edges_by_day" not in caplog.text  # done before the stop
        keys = dict(
            old.client.query(
                "SELECT name, partition_key FROM system.tables WHERE database = {db:String}",
                parameters={"db": old.database},
            ).result_rows
        )
        assert {t: keys[t] for t in moved} == {t: o.table.partition_by for t, o in moved.items()}
        assert not {f"{t}_by_day" for t in moved} & set(keys)  # the old rows are gone
        assert _contents(old, list(moved)) == before
        (parts,) = old.client.query(
            "SELECT uniqExact(partition) FROM system.parts WHERE database = {db:String} "
            "AND table = 'lineage_edges' AND active",
            parameters={"db": old.database},
        ).result_rows[0]
        assert parts == 2
        assert _rows(old, as_of, False) == before_rows
        _assert_same(old, as_of)
        # the views were recreated: a new run reaches the state tables
        fresh = [(1, 31 * 3600, 600, "COMPLETE", True, None, [0], [7])]
        _insert(old, _history(fresh))
        later = BASE + 32 * 3600 * NS
        _assert_same(old, later)
        assert "prop/ds_7" in {r["subject"] for r in _rows(old, later, False)["freshness"]}
        (inputs,) = old.client.query(
            "SELECT count() FROM run_inputs WHERE dataset_name = 'ds_0' AND "
            "toDate(last_time) = toDate(fromUnixTimestamp64Nano({t:Int64}, 'UTC'))",
            parameters={"t": BASE + 31 * 3600 * NS + 600 * NS},
        ).result_rows[0]
        assert inputs >= 1
        caplog.clear()
        assert apply_migrations(old, target) == []
        assert "backfill" not in caplog.text
    finally:
        old.client.command(f"DROP DATABASE IF EXISTS `{old.database}`")


def test_retention_drops_whole_days_and_keeps_static_lineage(storage: Storage) -> None:
    """Run edges past retention go with their day; a static declaration as old stays."""
    db = open_storage(f"chdb://{Path(storage.location)}", f"ttl_{uuid.uuid4().hex[:8]}")
    try:
        apply_migrations(db, target_for(db.database, 30, None), progress=False)
        today = time.time_ns() // DAY * DAY
        # (source, run, days ago): two run edges 40 and 35 days old, one today, a static
        # declaration 40 days old
        edges = [("run", "r1", 40), ("run", "r2", 35), ("run", "r3", 0), ("job", "", 40)]
        for source, run, ago in edges:
            db.client.command(
                "INSERT INTO lineage_edges (job_namespace, job_name, dataset_namespace, "
                "dataset_name, direction, run_id, source, event_time) VALUES ('prop', 'j', "
                "'prop', 'd', 'output', {r:String}, {s:String}, "
                "fromUnixTimestamp64Nano({t:Int64}, 'UTC'))",
                parameters={"r": run, "s": source, "t": today - ago * DAY + 3600 * NS},
            )
        db.client.command("OPTIMIZE TABLE lineage_edges FINAL")
        kept = db.client.query(
            "SELECT source, run_id FROM lineage_edges ORDER BY run_id"
        ).result_rows
        assert kept == [("job", ""), ("run", "r3")]
        (partitions,) = db.client.query(
            "SELECT groupArray(partition) FROM (SELECT DISTINCT partition FROM system.parts "
            "WHERE database = {db:String} AND table = 'lineage_edges' AND active AND rows > 0 "
            "ORDER BY partition)",
            parameters={"db": db.database},
        ).result_rows[0]
        assert partitions[0] == "1970-01-01" and len(partitions) == 2
    finally:
        db.client.command(f"DROP DATABASE IF EXISTS `{db.database}`")


def test_interrupted_backfill_resumes_after_the_last_slice(storage: Storage) -> None:
    old = open_storage(f"chdb://{Path(storage.location)}", f"v3_{uuid.uuid4().hex[:8]}")
    target = target_for(old.database, 30, None)
    try:
        apply_migrations(old, target, until=3)
        runs = [(0, 60 * k, 30, "COMPLETE", True, None, [], [k % 4]) for k in range(40)]
        _insert(old, _history(runs))
        # as if slices 0-7 of run_states had been inserted before a crash
        for k in range(8):
            old.client.command(
                "INSERT INTO backfill_progress VALUES (4, 'run_states', {k:UInt32}, now64(3))",
                parameters={"k": k},
            )
        apply_migrations(old, target, until=9)  # run_states is replaced at 10
        got = old.client.query(
            "SELECT countIf(cityHash64(run_id) % 16 < 8), countIf(cityHash64(run_id) % 16 >= 8) "
            "FROM (SELECT run_key, any(run_id) AS run_id FROM run_states GROUP BY run_key)"
        ).result_rows[0]
        expected = old.client.query(
            "SELECT countIf(cityHash64(run_id) % 16 >= 8) FROM "
            "(SELECT DISTINCT run_id FROM run_events)"
        ).result_rows[0][0]
        assert got == (0, expected)  # the recorded slices were skipped, the rest inserted
    finally:
        old.client.command(f"DROP DATABASE IF EXISTS `{old.database}`")
