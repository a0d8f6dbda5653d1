"""Ingest semantics over real HTTP: batches, leniency, arrival order and duplicates."""

from __future__ import annotations

import copy
import gzip
import hashlib
import json
import random
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import httpx
import pytest

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.openlineage import (
    TOKEN,
    iso,
    job_event,
    ns,
    run_event,
    stored_rows,
)
from tests.support.service import Service, poll_until, running_service


@pytest.fixture(scope="module")
def svc(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings(ingest_tokens=(TOKEN,))) as service:
        yield service


@pytest.fixture
def tag() -> str:
    return f"ing_{uuid.uuid4().hex[:12]}"


def post(svc: Service, body: Any, path: str = "/api/v1/lineage") -> httpx.Response:
    with svc.client(TOKEN) as client:
        return client.post(path, json=body)


def test_batch_stores_good_events_and_lists_bad_ones(
    svc: Service, storage: Storage, tag: str
) -> None:
    good = [run_event(tag, "START", 0), run_event(tag, "COMPLETE", 10)]
    no_run_id = run_event(tag, "START", 0)
    del no_run_id["run"]["runId"]
    late = run_event(tag, "COMPLETE", 0, eventTime="2001-01-01T00:00:00Z")
    batch = [good[0], no_run_id, good[1], "not an event", late]
    response = post(svc, batch, "/api/v1/lineage/batch")
    assert response.status_code == 200
    assert response.json() == {
        "status": "partial_success",
        "summary": {
            "received": 5,
            "successful": 2,
            "failed": 3,
            "retriable": 0,
            "non_retriable": 3,
        },
        "failed_events": [
            {"index": 1, "reason": "run.runId is required", "retriable": False},
            {"index": 3, "reason": "an event must be a JSON object, got str", "retriable": False},
            {
                "index": 4,
                "reason": "eventTime '2001-01-01T00:00:00Z' is older than the retention window "
                "(30 days): it would expire on arrival",
                "retriable": False,
            },
        ],
    }
    # The two good events are stored; nothing of the bad ones (2 good RunEvents = 2 rows).
    assert stored_rows(storage, tag)["run_events"] == 2
    assert query(
        storage,
        "SELECT count() FROM lineage_events WHERE job_name = {j:String}",
        j=tag,
    ) == [(2,)]


def test_batch_statuses(svc: Service, tag: str) -> None:
    ok = post(svc, [run_event(tag, "START", 0)], "/api/v1/lineage/batch").json()
    assert ok["status"] == "success"
    assert ok["failed_events"] == []
    bad = post(svc, [{"eventTime": "x"}], "/api/v1/lineage/batch").json()
    assert bad["status"] == "failure"
    assert bad["summary"] == {
        "received": 1,
        "successful": 0,
        "failed": 1,
        "retriable": 0,
        "non_retriable": 1,
    }
    empty = post(svc, [], "/api/v1/lineage/batch").json()
    assert empty == {
        "status": "success",
        "summary": {
            "received": 0,
            "successful": 0,
            "failed": 0,
            "retriable": 0,
            "non_retriable": 0,
        },
        "failed_events": [],
    }


def test_large_gzip_batch_is_stored_whole(svc: Service, storage: Storage, tag: str) -> None:
    """2,000 events (1,000 runs x START/COMPLETE), gzip, decoded off the event loop."""
    events = []
    for i in range(1000):
        run_id = str(uuid.uuid4())
        events.append(run_event(f"{tag}_{i % 7}", "START", i * 0.001, run_id=run_id))
        events.append(run_event(f"{tag}_{i % 7}", "COMPLETE", 60 + i * 0.001, run_id=run_id))
    body = gzip.compress(json.dumps(events).encode(), 3)
    with svc.client(TOKEN) as client:
        response = client.post(
            "/api/v1/lineage/batch",
            content=body,
            headers={"Content-Type": "application/json", "Content-Encoding": "gzip"},
        )
    assert response.status_code == 200
    assert response.json()["summary"]["successful"] == 2000
    counts = stored_rows(storage, tag)
    assert counts["run_events"] == 2000
    assert counts["dataset_updates"] == 1000  # one output per COMPLETE
    # 7 jobs x (1 input + 1 output) per run, 1000 runs: an edge per run and dataset
    assert counts["lineage_edges"] == 2000
    assert query(
        storage,
        "SELECT count(), countIf(state = 'COMPLETE') FROM runs WHERE job_name LIKE {p:String}",
        p=f"{tag}%",
    ) == [(1000, 1000)]


def test_lenient_with_known_sloppy_producers(svc: Service, storage: Storage, tag: str) -> None:
    parent_id = str(uuid.uuid4())
    event = run_event(tag, "start", 0)  # lower-case eventType
    event["schemaUrl"] = event.pop("schemaURL")
    event["run"]["facets"] = {
        "parentRun": {
            "run": {"runId": parent_id.upper()},
            "job": {"namespace": "af", "name": "dag"},
        },
        "nominalTime": None,
        "vendor_customFacet": {"_producer": "x", "whatever": [1, {"deep": True}]},
    }
    event["inputs"] = None
    event["job"]["facets"] = None
    assert post(svc, event).status_code == 201
    assert query(
        storage,
        "SELECT state, parent_run_id, parent_job_name, nominal_start_time FROM runs "
        "WHERE job_name = {j:String}",
        j=tag,
    ) == [("RUNNING", parent_id, "dag", None)]
    raw = query(
        storage, "SELECT raw, schema_url FROM lineage_events WHERE job_name = {j:String}", j=tag
    )
    stored = json.loads(str(raw[0][0]))
    assert stored == event  # unknown facets kept verbatim
    assert raw[0][1] == event["schemaUrl"]


def test_run_event_without_event_type_is_other(svc: Service, storage: Storage, tag: str) -> None:
    event = run_event(tag, "START", 0)
    del event["eventType"]
    assert post(svc, event).status_code == 201
    assert query(
        storage, "SELECT event_type FROM run_events WHERE job_name = {j:String}", j=tag
    ) == [("OTHER",)]


def test_nanosecond_event_times_are_kept(svc: Service, storage: Storage, tag: str) -> None:
    event = run_event(tag, "START", 0, eventTime=iso(0)[:-5] + ".123456789+02:00")
    assert post(svc, event).status_code == 201
    # the same wall-clock digits at +02:00 are two hours earlier in UTC
    expected = ns(0) - 2 * 3600 * 10**9 + 123_456_789
    assert query(
        storage,
        "SELECT toUnixTimestamp64Nano(event_time) FROM run_events WHERE job_name = {j:String}",
        j=tag,
    ) == [(expected,)]


def test_symlinks_resolve_to_the_table_identity(svc: Service, storage: Storage, tag: str) -> None:
    """Rule: the smallest TABLE-typed symlink identifier is the dataset; else itself."""
    event = run_event(tag, "COMPLETE", 0)
    event["outputs"][0]["facets"]["symlinks"] = {
        "identifiers": [
            {"namespace": "hive://ms", "name": f"z_{tag}", "type": "TABLE"},
            {"namespace": "s3://bucket", "name": f"loc_{tag}", "type": "LOCATION"},
            {"namespace": "hive://ms", "name": f"a_{tag}", "type": "table"},
        ]
    }
    event["inputs"][0]["facets"]["symlinks"] = {
        "identifiers": [{"namespace": "s3://bucket", "name": f"only_{tag}", "type": "LOCATION"}]
    }
    assert post(svc, event).status_code == 201
    run_id = event["run"]["runId"]
    assert query(
        storage,
        "SELECT direction, dataset_namespace, dataset_name FROM lineage_edges FINAL "
        "WHERE run_id = {r:String} ORDER BY direction",
        r=run_id,
    ) == [("input", "pg://db", f"{tag}.in"), ("output", "hive://ms", f"a_{tag}")]
    assert query(
        storage,
        "SELECT dataset_namespace, dataset_name FROM dataset_updates WHERE run_id = {r:String}",
        r=run_id,
    ) == [("hive://ms", f"a_{tag}")]
    assert query(
        storage, "SELECT dataset_name FROM dataset_schemas WHERE run_id = {r:String}", r=run_id
    ) == [(f"a_{tag}",)]


def _lifecycle(tag: str, run_id: str) -> list[dict[str, Any]]:
    """A run with START, RUNNING and COMPLETE, plus a static JobEvent and a dataset event."""
    start = run_event(tag, "START", 0, run_id=run_id)
    start["run"]["facets"]["nominalTime"] = {"nominalStartTime": iso(-60)}
    running = run_event(tag, "RUNNING", 30, run_id=run_id)
    complete = run_event(tag, "COMPLETE", 95, run_id=run_id)
    complete["outputs"][0]["facets"]["lifecycleStateChange"] = {"lifecycleStateChange": "CREATE"}
    complete["inputs"][0]["inputFacets"] = {
        "dataQualityAssertions": {"assertions": [{"assertion": "unique", "success": True}]}
    }
    return [start, running, complete, job_event(f"svc_{tag}", [f"{tag}.out"], 5)]


def _snapshot(storage: Storage, tag: str, run_id: str) -> dict[str, list[tuple[object, ...]]]:
    """Every normalised row of one lifecycle, the run id and arrival times left out."""
    q = {
        "runs": "SELECT * EXCEPT (run_id) FROM runs WHERE run_id = {r:String}",
        "run_events": "SELECT * EXCEPT (run_id, event_hash) FROM run_events FINAL "
        "WHERE run_id = {r:String} ORDER BY event_time",
        "lineage_events": "SELECT event_time, kind, event_type, job_name FROM lineage_events FINAL "
        "WHERE job_name IN ({t:String}, {s:String}) ORDER BY event_time",
        "dataset_updates": "SELECT * EXCEPT (run_id, event_hash) FROM dataset_updates FINAL "
        "WHERE run_id = {r:String}",
        "lineage_edges": "SELECT * EXCEPT (run_id) FROM lineage_edges FINAL "
        "WHERE job_name IN ({t:String}, {s:String}) ORDER BY job_name, direction",
        "dataset_schemas": "SELECT * EXCEPT (run_id, event_hash) FROM dataset_schemas FINAL "
        "WHERE run_id = {r:String} ORDER BY event_time, dataset_name",
        "quality_assertions": "SELECT * EXCEPT (run_id, event_hash) FROM quality_assertions "
        "FINAL WHERE run_id = {r:String}",
    }
    return {k: query(storage, sql, r=run_id, t=tag, s=f"svc_{tag}") for k, sql in q.items()}


def test_arrival_order_and_duplicates_do_not_change_results(svc: Service, storage: Storage) -> None:
    """One lifecycle sent in order; the same lifecycle (another tag) shuffled, every event
    twice, split over single and batch requests: identical normalised rows."""
    tag_a, tag_b = f"ord_{uuid.uuid4().hex[:8]}", f"ord_{uuid.uuid4().hex[:8]}"
    run_a, run_b = str(uuid.uuid4()), str(uuid.uuid4())
    for event in _lifecycle(tag_a, run_a):
        assert post(svc, event).status_code == 201

    events_b = _lifecycle(tag_b, run_b) * 2
    random.shuffle(events_b)
    for event in events_b[:4]:
        assert post(svc, event).status_code == 201
    assert post(svc, events_b[4:], "/api/v1/lineage/batch").json()["status"] == "success"

    a, b = _snapshot(storage, tag_a, run_a), _snapshot(storage, tag_b, run_b)
    rename = json.loads(json.dumps(b, default=str).replace(tag_b, tag_a))
    assert json.loads(json.dumps(a, default=str)) == rename
    assert a["runs"][0][2] == "COMPLETE"  # state, after job_namespace and job_name
    assert len(a["run_events"]) == 3
    assert len(a["dataset_updates"]) == 1
    assert len(a["lineage_edges"]) == 3  # run input, run output, static serving input


def test_conflicting_resend_is_decided_by_content_not_arrival(
    svc: Service, storage: Storage
) -> None:
    """Two different COMPLETE events with one identity: the larger raw-event hash wins,
    whichever arrives last."""
    tag = f"conf_{uuid.uuid4().hex[:8]}"
    run_id = str(uuid.uuid4())
    first = run_event(tag, "COMPLETE", 0, run_id=run_id)
    second = copy.deepcopy(first)
    second["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"] = 999
    texts = [json.dumps(first), json.dumps(second)]

    def h(text: str) -> int:
        return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=8).digest(), "little")

    winner = max(texts, key=h)
    for text in sorted(texts, key=h, reverse=True):  # the winner arrives first
        with svc.client(TOKEN) as client:
            r = client.post(
                "/api/v1/lineage", content=text, headers={"Content-Type": "application/json"}
            )
        assert r.status_code == 201
    expected_rows = json.loads(winner)["outputs"][0]["outputFacets"]["outputStatistics"]["rowCount"]
    assert query(
        storage, "SELECT row_count FROM dataset_updates FINAL WHERE run_id = {r:String}", r=run_id
    ) == [(expected_rows,)]
    assert query(
        storage, "SELECT raw FROM lineage_events FINAL WHERE run_id = {r:String}", r=run_id
    ) == [(winner,)]


def test_full_write_queue_answers_503_with_retry_after(storage: Storage) -> None:
    """A 1-row queue holding a request that waits 3 s for its flush refuses the next one."""
    settings = Settings(
        ingest_tokens=(TOKEN,),
        queue_max_rows=1,
        batch_max_delay_ms=3000,
        retry_after_s=3,
        clock="external",  # no correlator tick may write history into the one-row queue
    )
    tag_first, tag_second = f"bp_{uuid.uuid4().hex[:8]}", f"bp_{uuid.uuid4().hex[:8]}"
    with running_service(storage, settings) as service, ThreadPoolExecutor(1) as pool:
        first = pool.submit(post, service, run_event(tag_first, "START", 0))
        poll_until(lambda: service.ctx.writer.queued_rows > 0)
        single = post(service, run_event(tag_second, "START", 0))
        batch = post(service, [run_event(tag_second, "START", 0)], "/api/v1/lineage/batch")
        assert first.result(timeout=30).status_code == 201
    for refused in (single, batch):
        assert refused.status_code == 503
        assert refused.headers["Retry-After"] == "3"
        assert refused.json()["error"] == "backpressure"
    assert stored_rows(storage, tag_first)["run_events"] == 1
    assert not any(stored_rows(storage, tag_second).values())
