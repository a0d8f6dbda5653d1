"""Cumulative run outputs and streaming updates (docs/lineage.md#cumulative-run-outputs).

A COMPLETE updates every output its run declared in any event, whatever the arrival
order; a STREAMING run's RUNNING event that lists an output updates it. Driven through
the real ``openlineage-python`` client against a real port, then by a randomized
history (hypothesis) whose events arrive shuffled and split into inserts, and by the
upgrade of a database made before migration 5.
"""

from __future__ import annotations

import json
import logging
import random
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from openlineage.client.event_v2 import Job, OutputDataset, Run, RunEvent, RunState
from openlineage.client.facet_v2 import job_type_job, output_statistics_output_dataset

from loadsense.api.app import prepare_storage
from loadsense.collectors.openlineage.normalise import LineageRows
from loadsense.collectors.openlineage.validate import check
from loadsense.settings import Settings
from loadsense.signals.config import parse_signals_config
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.freshness import FreshnessRow
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.migrations import MIGRATIONS, apply_migrations, target_for
from tests.conftest import query
from tests.support.openlineage import BASE_NS, TOKEN, iso, ns
from tests.support.service import Service, running_service
from tests.test_openlineage_client import PRODUCER, make_client

NS = 1_000_000_000


@pytest.fixture(scope="module")
def svc(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings(ingest_tokens=(TOKEN,))) as service:
        yield service


@pytest.fixture
def tag() -> str:
    return f"cum_{uuid.uuid4().hex[:10]}"


def _job(tag: str, processing: str = "BATCH") -> Job:
    return Job(
        namespace="spark",
        name=f"{tag}.job",
        facets={
            "jobType": job_type_job.JobTypeJobFacet(
                processingType=processing, integration="SPARK", jobType="JOB"
            )
        },
    )


def _out(name: str, rows: int | None = None) -> OutputDataset:
    facets: dict[str, Any] = {}
    if rows is not None:
        facets["outputStatistics"] = (
            output_statistics_output_dataset.OutputStatisticsOutputDatasetFacet(rowCount=rows)
        )
    return OutputDataset(namespace="s3://lake", name=name, outputFacets=facets)


def _emit(
    svc: Service,
    job: Job,
    run_id: str,
    state: RunState,
    seconds: float,
    outputs: list[OutputDataset],
) -> None:
    make_client(svc.url).emit(
        RunEvent(
            eventType=state,
            eventTime=iso(seconds),
            run=Run(runId=run_id),
            job=job,
            producer=PRODUCER,
            outputs=outputs,
        )
    )


def _updates(storage: Storage, tag: str, final: bool = True) -> list[tuple[object, ...]]:
    return query(
        storage,
        "SELECT dataset_name, toUnixTimestamp64Nano(event_time), job_name, row_count "
        f"FROM dataset_updates {'FINAL' if final else ''} WHERE dataset_name LIKE {{p:String}} "
        "ORDER BY dataset_name, event_time",
        p=f"{tag}%",
    )


def test_outputs_listed_only_in_start_are_updated_by_a_bare_complete(
    svc: Service, storage: Storage, tag: str
) -> None:
    run_id, job = str(uuid.uuid4()), _job(tag)
    _emit(svc, job, run_id, RunState.START, 0, [_out(f"{tag}.a", rows=5), _out(f"{tag}.b")])
    _emit(svc, job, run_id, RunState.COMPLETE, 42.5, [])
    # each declared output once, at the COMPLETE's time; START's statistics are not an
    # update's (the run had not written them yet)
    assert _updates(storage, tag) == [
        (f"{tag}.a", ns(42.5), f"{tag}.job", None),
        (f"{tag}.b", ns(42.5), f"{tag}.job", None),
    ]


def test_a_complete_before_its_start_still_updates_the_start_outputs(
    svc: Service, storage: Storage, tag: str
) -> None:
    run_id, job = str(uuid.uuid4()), _job(tag)
    _emit(svc, job, run_id, RunState.COMPLETE, 60, [])
    assert _updates(storage, tag) == []  # nothing declared yet
    _emit(svc, job, run_id, RunState.START, 0, [_out(f"{tag}.a")])
    assert _updates(storage, tag) == [(f"{tag}.a", ns(60), f"{tag}.job", None)]


def test_an_output_declared_after_the_complete_counts_and_is_noted_late(
    svc: Service, storage: Storage, tag: str
) -> None:
    """An OTHER event sent after COMPLETE adds an output: it was updated at the
    COMPLETE's time, an hour ago, so a dataset summary built since is stale for it."""
    run_id, job = str(uuid.uuid4()), _job(tag)
    _emit(svc, job, run_id, RunState.START, 0, [_out(f"{tag}.a")])
    _emit(svc, job, run_id, RunState.COMPLETE, 30, [_out(f"{tag}.a", rows=7)])
    _emit(svc, job, run_id, RunState.OTHER, 31, [_out(f"{tag}.b")])
    assert _updates(storage, tag) == [
        (f"{tag}.a", ns(30), f"{tag}.job", 7),  # the COMPLETE's own row, with its statistics
        (f"{tag}.b", ns(30), f"{tag}.job", None),
    ]
    late = query(
        storage,
        "SELECT dataset_name, toUnixTimestamp64Nano(min(first_event)) FROM late_updates "
        "WHERE dataset_name LIKE {p:String} GROUP BY dataset_name ORDER BY dataset_name",
        p=f"{tag}%",
    )
    # BASE_TIME is an hour before now: both updates are older than LATE_S (900 s)
    assert late == [(f"{tag}.a", ns(30)), (f"{tag}.b", ns(30))]


def test_an_output_the_complete_lists_itself_gets_no_derived_copy(
    svc: Service, storage: Storage, tag: str
) -> None:
    run_id, job = str(uuid.uuid4()), _job(tag)
    _emit(svc, job, run_id, RunState.START, 0, [_out(f"{tag}.a")])
    _emit(svc, job, run_id, RunState.COMPLETE, 10, [_out(f"{tag}.a", rows=3)])
    # one stored row, not a row plus a statistics-free copy waiting for a merge
    assert _updates(storage, tag, final=False) == [(f"{tag}.a", ns(10), f"{tag}.job", 3)]


def test_failed_and_aborted_runs_update_nothing(svc: Service, storage: Storage, tag: str) -> None:
    for state in (RunState.FAIL, RunState.ABORT):
        run_id, job = str(uuid.uuid4()), _job(tag)
        _emit(svc, job, run_id, RunState.START, 0, [_out(f"{tag}.a")])
        _emit(svc, job, run_id, state, 20, [])
    assert _updates(storage, tag) == []


def test_streaming_running_events_update_their_outputs(
    svc: Service, storage: Storage, tag: str
) -> None:
    run_id, stream = str(uuid.uuid4()), _job(tag, "STREAMING")
    _emit(svc, stream, run_id, RunState.START, 0, [_out(f"{tag}.sink")])
    _emit(svc, stream, run_id, RunState.RUNNING, 60, [_out(f"{tag}.sink", rows=100)])
    _emit(svc, stream, run_id, RunState.RUNNING, 120, [_out(f"{tag}.sink", rows=250)])
    _emit(svc, stream, run_id, RunState.RUNNING, 150, [])  # lists no output: no update
    # a batch run's RUNNING event is progress, not an update
    batch_run = str(uuid.uuid4())
    _emit(svc, _job(tag), batch_run, RunState.RUNNING, 90, [_out(f"{tag}.table", rows=9)])
    assert _updates(storage, tag) == [
        (f"{tag}.sink", ns(60), f"{tag}.job", 100),
        (f"{tag}.sink", ns(120), f"{tag}.job", 250),
    ]


# --- order independence, on a database of its own -------------------------------------

SCHEMA_URL = "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent"
TYPES = ("START", "RUNNING", "OTHER", "COMPLETE", "FAIL")


@pytest.fixture(scope="module")
def own(storage: Storage) -> Iterator[Storage]:
    store = open_storage(f"chdb://{Path(storage.location)}", f"cum_{uuid.uuid4().hex[:8]}")
    prepare_storage(store, Settings())
    yield store
    store.client.command(f"DROP DATABASE IF EXISTS `{store.database}`")


def _event(run: int, run_id: str, kind: str, at_ns: int, outputs: list[str]) -> dict[str, Any]:
    return {
        "eventType": kind,
        "eventTime": f"{time.strftime('%Y-%m-%dT%H:%M:%S', time.gmtime(at_ns // NS))}Z",
        "run": {"runId": run_id},
        "job": {"namespace": "prop", "name": f"job_{run % 2}"},
        "outputs": [{"namespace": "prop", "name": d} for d in outputs],
        "producer": PRODUCER,
        "schemaURL": SCHEMA_URL,
    }


def _insert(storage: Storage, events: list[dict[str, Any]], rng: random.Random) -> None:
    """Through the normaliser, then one insert per table in a random table order."""
    rows = LineageRows()
    for event in events:
        rows.add(check(event, json.dumps(event), time.time_ns(), 10 * 86400 * NS), time.time_ns())
    batches = list(rows.batches())
    rng.shuffle(batches)
    for batch in batches:
        storage.client.insert(
            batch.table, list(batch.data), column_names=list(batch.columns), column_oriented=True
        )


RUN = st.lists(  # a run's events: (type, outputs it lists, by dataset number)
    st.tuples(st.sampled_from(TYPES), st.lists(st.integers(0, 3), max_size=2)),
    min_size=1,
    max_size=4,
)


@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(runs=st.lists(RUN, min_size=1, max_size=5), seed=st.integers(0, 2**32 - 1))
def test_updates_are_a_function_of_the_set_of_events(
    own: Storage, runs: list[list[tuple[str, list[int]]]], seed: int
) -> None:
    """Whatever the order and split into requests, the stored updates are: for every
    COMPLETE, each output declared in any event of its run, at the COMPLETE's time."""
    rng = random.Random(seed)
    prefix = f"e{uuid.uuid4().hex[:8]}_"
    events, expected = [], set()
    for r, run in enumerate(runs):
        run_id = str(uuid.uuid4())
        declared = {f"{prefix}{d}" for _, outs in run for d in outs}
        for k, (kind, outs) in enumerate(run):
            at = BASE_NS + (r * 100 + k) * NS
            events.append(_event(r, run_id, kind, at, [f"{prefix}{d}" for d in outs]))
            if kind == "COMPLETE":
                expected |= {(d, at, run_id) for d in declared}
    rng.shuffle(events)
    cuts = sorted(rng.sample(range(1, len(events)), min(2, len(events) - 1)))
    for lo, hi in zip([0, *cuts], [*cuts, len(events)], strict=True):
        _insert(own, events[lo:hi], rng)
    got = query(
        own,
        "SELECT dataset_name, toUnixTimestamp64Nano(event_time), run_id FROM dataset_updates "
        "FINAL WHERE startsWith(dataset_name, {p:String})",
        p=prefix,
    )
    assert set(got) == expected
    assert len(got) == len(expected)


def test_freshness_reads_the_cumulative_update(own: Storage) -> None:
    prefix = f"f{uuid.uuid4().hex[:8]}_"
    run_id = str(uuid.uuid4())
    start, end = BASE_NS, BASE_NS + 300 * NS
    events = [
        _event(0, run_id, "START", start, [f"{prefix}t"]),
        _event(0, run_id, "COMPLETE", end, []),
    ]
    _insert(own, events, random.Random(1))
    as_of = end + 60 * NS
    config = parse_signals_config({})
    for from_scratch in (True, False):
        rows = evaluate_all(own, as_of, config, from_scratch=from_scratch).rows["freshness"]
        (row,) = [r for r in rows if isinstance(r, FreshnessRow) and r.subject == f"prop/{prefix}t"]
        assert row.last_update == end / NS
        assert row.age == 60.0  # as_of - the COMPLETE's time
        assert row.producer == "prop/job_0" and row.last_run_id == run_id


# --- upgrade ---------------------------------------------------------------------------


def test_upgrade_derives_the_updates_of_runs_stored_before_migration_5(
    storage: Storage, caplog: pytest.LogCaptureFixture
) -> None:
    old = open_storage(f"chdb://{Path(storage.location)}", f"v4_{uuid.uuid4().hex[:8]}")
    target = target_for(old.database, 30, None)
    try:
        assert apply_migrations(old, target, until=4) == [1, 2, 3, 4]
        old.client.command("ALTER TABLE run_events DROP COLUMN outputs")  # as version 4 made it
        run_ids = [str(uuid.uuid4()) for _ in range(20)]
        rows: list[list[Any]] = []
        for k, run_id in enumerate(run_ids):
            start = BASE_NS + k * 60 * NS
            rows.append([run_id, "START", start, [f"up_{k % 3}"]])
            rows.append([run_id, "COMPLETE", start + 30 * NS, []])
        _insert_v4(old, rows)
        assert old.client.query("SELECT count() FROM dataset_updates").result_rows == [(0,)]
        with caplog.at_level(logging.INFO, logger="loadsense.storage.migrations"):
            applied = apply_migrations(old, target)
        assert applied == [m.version for m in MIGRATIONS if m.version > 4]
        assert "backfill run_outputs: slice 16/16 done" in caplog.text
        got = old.client.query(
            "SELECT dataset_name, toUnixTimestamp64Nano(event_time), run_id "
            "FROM dataset_updates FINAL"
        ).result_rows
        expected = {
            (f"up_{k % 3}", BASE_NS + k * 60 * NS + 30 * NS, run_id)
            for k, run_id in enumerate(run_ids)
        }
        assert set(got) == expected and len(got) == 20
        # new events after the upgrade take the engine path
        _insert(
            old, [_event(0, run_ids[0], "OTHER", BASE_NS + 3600 * NS, ["late"])], random.Random(2)
        )
        assert old.client.query(
            "SELECT toUnixTimestamp64Nano(event_time) FROM dataset_updates FINAL "
            "WHERE dataset_name = 'late'"
        ).result_rows == [(BASE_NS + 30 * NS,)]
    finally:
        old.client.command(f"DROP DATABASE IF EXISTS `{old.database}`")


def _insert_v4(storage: Storage, runs: list[list[Any]]) -> None:
    """Events as version 4 stored them: ``run_events`` without ``outputs``."""
    events = [_event(0, run_id, kind, at, outs) for run_id, kind, at, outs in runs]
    rows = LineageRows()
    for event in events:
        rows.add(check(event, json.dumps(event), time.time_ns(), 10 * 86400 * NS), time.time_ns())
    for batch in rows.batches():
        columns, data = list(batch.columns), list(batch.data)
        if batch.table == "run_events":
            keep = [i for i, c in enumerate(columns) if c != "outputs"]
            columns, data = [columns[i] for i in keep], [data[i] for i in keep]
        storage.client.insert(batch.table, data, column_names=columns, column_oriented=True)
