"""The two leniencies of the OpenLineage receiver (docs/lineage.md, "Leniency"): an
``eventTime`` without an offset is read as UTC, a missing ``schemaURL`` is accepted, and
both are counted in ``loadsense_lineage_lenient_total{reason}``; invalid events stay 400.

Naive times go through the real ``openlineage-python`` client (it sends ``eventTime`` as
given). The client always fills ``schemaURL``, so events without one are posted as raw
JSON, as the hand-written producers that omit it send them.
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import httpx
import pytest
from openlineage.client.event_v2 import InputDataset, Job, OutputDataset, Run, RunEvent, RunState

from loadsense.collectors.openlineage.validate import MISSING_SCHEMA_URL, NAIVE_EVENT_TIME
from loadsense.instants import naive_as_utc_ns
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.openlineage import BASE_TIME, TOKEN, ns, run_event, stored_rows
from tests.support.service import Service, running_service
from tests.test_openlineage_client import PRODUCER, make_client


@pytest.fixture(scope="module")
def svc(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings(ingest_tokens=(TOKEN,))) as service:
        yield service


@pytest.fixture
def tag() -> str:
    return f"lenient_{uuid.uuid4().hex[:12]}"


def lenient_count(svc: Service, reason: str) -> float:
    """The counter as ``/metrics`` exposes it (the exposition, not the registry object)."""
    with svc.client(TOKEN) as http:
        answer = http.get("/metrics")
    assert answer.status_code == 200
    text = answer.text
    line = f'loadsense_lineage_lenient_total{{reason="{reason}"}} '
    for row in text.splitlines():
        if row.startswith(line):
            return float(row[len(line) :])
    return 0.0


def naive(seconds: float) -> str:
    """``BASE_TIME + seconds`` in UTC, written without an offset (microseconds, as
    ``datetime.isoformat()`` writes them)."""
    return (
        (BASE_TIME + timedelta(seconds=seconds))
        .replace(tzinfo=None)
        .isoformat(timespec="microseconds")
    )


def post(svc: Service, body: Any, path: str = "/api/v1/lineage") -> httpx.Response:
    with svc.client(TOKEN) as http:
        return http.post(
            path, content=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
        )


def test_naive_event_time_from_the_client_is_read_as_utc_and_counted(
    svc: Service, storage: Storage, tag: str
) -> None:
    before = lenient_count(svc, NAIVE_EVENT_TIME)
    run_id = str(uuid.uuid4())
    client = make_client(svc.url)
    job = Job(namespace="scripts", name=tag)
    # START at BASE+0.25 s, COMPLETE at BASE+61.5 s, both written without an offset.
    for state, seconds in ((RunState.START, 0.25), (RunState.COMPLETE, 61.5)):
        client.emit(
            RunEvent(
                eventType=state,
                eventTime=naive(seconds),
                run=Run(runId=run_id),
                job=job,
                producer=PRODUCER,
                inputs=[InputDataset(namespace="file", name=f"{tag}.in")],
                outputs=[OutputDataset(namespace="file", name=f"{tag}.out")],
            )
        )
    rows = query(
        storage,
        "SELECT toString(event_type), toUnixTimestamp64Nano(event_time) FROM run_events FINAL "
        "WHERE job_name = {j:String} ORDER BY event_time",
        j=tag,
    )
    # Read as UTC: exactly BASE_NS + 0.25e9 and BASE_NS + 61.5e9 nanoseconds.
    assert rows == [("START", ns(0.25)), ("COMPLETE", ns(61.5))]
    update = query(
        storage,
        "SELECT toUnixTimestamp64Nano(event_time) FROM dataset_updates FINAL "
        "WHERE dataset_name = {d:String}",
        d=f"{tag}.out",
    )
    assert update == [(ns(61.5),)]
    assert lenient_count(svc, NAIVE_EVENT_TIME) == before + 2


def test_missing_schema_url_is_accepted_stored_empty_and_counted(
    svc: Service, storage: Storage, tag: str
) -> None:
    before = lenient_count(svc, MISSING_SCHEMA_URL)
    event = run_event(tag, seconds=5)
    del event["schemaURL"]
    assert post(svc, event).status_code == 201
    null = run_event(tag, "START", seconds=1, run_id=event["run"]["runId"], schemaURL=None)
    assert post(svc, null).status_code == 201
    stored = query(
        storage,
        "SELECT schema_url, toString(event_type) FROM lineage_events FINAL "
        "WHERE job_name = {j:String} ORDER BY event_time",
        j=tag,
    )
    assert stored == [("", "START"), ("", "COMPLETE")]
    assert lenient_count(svc, MISSING_SCHEMA_URL) == before + 2


def test_a_batch_counts_each_leniency_of_each_stored_event(
    svc: Service, storage: Storage, tag: str
) -> None:
    naive_before = lenient_count(svc, NAIVE_EVENT_TIME)
    missing_before = lenient_count(svc, MISSING_SCHEMA_URL)
    both = run_event(tag, seconds=1, eventTime=naive(1))
    del both["schemaURL"]
    only_naive = run_event(tag, seconds=2, eventTime=naive(2))
    strict = run_event(tag, seconds=3)
    # Refused (non-UUID runId): its naive time and missing schemaURL count nothing.
    refused = run_event(tag, seconds=4, eventTime=naive(4), run={"runId": "run-4"})
    del refused["schemaURL"]
    answer = post(svc, [both, only_naive, strict, refused], path="/api/v1/lineage/batch")
    assert answer.status_code == 200
    assert answer.json()["summary"]["successful"] == 3
    assert [f["index"] for f in answer.json()["failed_events"]] == [3]
    # Naive: events 0 and 1 (2); missing schemaURL: event 0 (1).
    assert lenient_count(svc, NAIVE_EVENT_TIME) == naive_before + 2
    assert lenient_count(svc, MISSING_SCHEMA_URL) == missing_before + 1
    assert stored_rows(storage, tag)["run_events"] == 3


@pytest.mark.parametrize(
    ("mutate", "field", "words"),
    [
        (lambda e: e["run"].pop("runId"), "run.runId", "run.runId is required"),
        (lambda e: e["run"].update(runId="42"), "run.runId", "not a UUID"),
        (lambda e: e["outputs"][0].pop("name"), "outputs[0].name", "is required"),
        (lambda e: e.update(eventTime="2024-02-30T12:00:00"), "eventTime", "invalid date"),
        (lambda e: e.update(eventTime="2024-05-01 12:00"), "eventTime", "not an RFC 3339"),
    ],
    ids=["no runId", "non-UUID runId", "output without name", "naive, no such day", "no seconds"],
)
def test_invalid_events_stay_400_and_count_no_leniency(
    svc: Service, storage: Storage, tag: str, mutate: Any, field: str, words: str
) -> None:
    before = lenient_count(svc, MISSING_SCHEMA_URL)
    event = run_event(tag, seconds=1)
    del event["schemaURL"]  # lenient on its own, but the event is invalid
    mutate(event)
    answer = post(svc, event)
    assert answer.status_code == 400
    assert answer.json()["field"] == field
    assert words in answer.json()["message"]
    assert not any(stored_rows(storage, tag).values())
    assert lenient_count(svc, MISSING_SCHEMA_URL) == before


def test_naive_parser_reads_only_the_offsetless_form() -> None:
    # 2024-05-01T12:00:00.5 UTC = 1714564800 s + 0.5 s.
    assert naive_as_utc_ns("2024-05-01T12:00:00.5") == 1_714_564_800_500_000_000
    assert naive_as_utc_ns("2024-05-01T12:00:00Z") is None
    assert naive_as_utc_ns("2024-05-01T12:00:00+02:00") is None
    assert naive_as_utc_ns("1714564800") is None
