"""The write path over real HTTP: ack after commit, 5xx on a failed insert, 503 when full,
and SIGTERM flushing everything acknowledged (a real ``loadsense serve`` process)."""

from __future__ import annotations

import threading
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.service import (
    Service,
    poll_until,
    running_service,
    service_process,
    stored_counts,
)


def run_event(job: str, event_type: str = "COMPLETE", run_id: str | None = None) -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": "https://example.com/write-path-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": run_id or str(uuid.uuid4())},
        "job": {"namespace": "wp", "name": job},
        "inputs": [],
        "outputs": [{"namespace": "wp", "name": f"{job}.out"}],
    }


def _raw_count(storage: Storage, job: str) -> int:
    rows = query(
        storage, "SELECT count() FROM lineage_events FINAL WHERE job_name = {j:String}", j=job
    )
    return int(rows[0][0])  # type: ignore[call-overload]


def test_acknowledged_means_queryable(service: Service, storage: Storage) -> None:
    job = f"ack-{uuid.uuid4().hex[:8]}"
    with service.client() as http:
        assert http.post("/api/v1/lineage", json=run_event(job)).status_code == 201
    # No polling: the 201 is sent only after the insert committed.
    assert _raw_count(storage, job) == 1
    updates = query(
        storage,
        "SELECT count() FROM dataset_updates FINAL WHERE dataset_name = {d:String}",
        d=f"{job}.out",
    )
    assert updates == [(1,)]
    tables = ("lineage_events", "run_events", "dataset_updates", "lineage_edges")
    per_table = [
        query(storage, f"SELECT count() FROM {t} FINAL WHERE job_name = {{j:String}}", j=job)
        for t in tables
    ]
    assert per_table == [[(1,)]] * ROWS_PER_EVENT


def test_failed_event_insert_is_a_5xx_and_the_retry_stores_exactly_once(
    service: Service, storage: Storage
) -> None:
    job = f"fail-{uuid.uuid4().hex[:8]}"
    event = run_event(job)
    storage.client.command("RENAME TABLE lineage_events TO lineage_events_away")
    try:
        with service.client() as http:
            r = http.post("/api/v1/lineage", json=event)
        assert r.status_code == 503
        assert r.json()["error"] == "write_failed"
        assert "nothing was acknowledged" in r.json()["message"]
    finally:
        storage.client.command("RENAME TABLE lineage_events_away TO lineage_events")
    with service.client() as http:  # the client retries, as OpenLineage transports do
        assert http.post("/api/v1/lineage", json=event).status_code == 201
    assert _raw_count(storage, job) == 1
    runs = query(storage, "SELECT state FROM runs WHERE job_name = {j:String}", j=job)
    assert runs == [("COMPLETE",)]


def test_failed_derived_insert_is_retried_until_it_commits(
    service: Service, storage: Storage
) -> None:
    """The event is committed, so the request is acknowledged; its derived rows are owed
    and retried (with backoff) until their table takes them."""
    job = f"owed-{uuid.uuid4().hex[:8]}"
    storage.client.command("RENAME TABLE run_events TO run_events_away")
    try:
        with service.client() as http:
            assert http.post("/api/v1/lineage", json=run_event(job)).status_code == 201
        raw = "SELECT count() FROM lineage_events FINAL WHERE job_name = {j:String}"
        assert storage.client.query(raw, parameters={"j": job}).result_rows == [(1,)]
        poll_until(lambda: service.ctx.metrics.flush_failures.labels("run_events")._value.get())
        assert service.ctx.journal.owed >= 1
        assert not service.ctx.journal.settle(0.2)  # still owed while the table is away
    finally:
        storage.client.command("RENAME TABLE run_events_away TO run_events")
    assert service.ctx.journal.settle(30)
    runs = query(storage, "SELECT state FROM runs WHERE job_name = {j:String}", j=job)
    assert runs == [("COMPLETE",)]
    per_table = [
        query(storage, f"SELECT count() FROM {t} FINAL WHERE job_name = {{j:String}}", j=job)
        for t in ("run_events", "dataset_updates", "lineage_edges")
    ]
    assert per_table == [[(1,)]] * 3


def test_full_queue_answers_503_with_retry_after(storage: Storage) -> None:
    settings = Settings(
        queue_max_rows=1,
        batch_max_delay_ms=2_000,
        batch_max_rows=1_000_000,
        retry_after_s=7,
        clock="external",  # no correlator tick may write history into the one-row queue
    )
    job = f"full-{uuid.uuid4().hex[:8]}"
    with running_service(storage, settings) as svc:
        first: dict[str, int] = {}

        def send_first() -> None:
            with svc.client() as http:
                first["status"] = http.post("/api/v1/lineage", json=run_event(job)).status_code

        thread = threading.Thread(target=send_first)
        thread.start()
        poll_until(lambda: svc.ctx.writer.queued_rows > 0)  # held for up to 2 s
        with svc.client() as http:
            r = http.post("/api/v1/lineage", json=run_event(job + "-second"))
        thread.join(timeout=30)
    assert r.status_code == 503
    assert r.headers["retry-after"] == "7"
    assert r.json()["error"] == "backpressure"
    assert first["status"] == 201
    assert _raw_count(storage, job) == 1
    assert _raw_count(storage, job + "-second") == 0


ROWS_PER_EVENT = 4


@pytest.mark.slow
def test_sigterm_flushes_everything_acknowledged(tmp_path: Path) -> None:
    env = {"LOADSENSE_BATCH_MAX_DELAY_MS": "60000", "LOADSENSE_BATCH_MAX_ROWS": "1000000"}
    statuses: list[int] = []
    with service_process(tmp_path, env=env) as svc:

        def send(i: int) -> None:
            r = httpx.post(f"{svc.url}/api/v1/lineage", json=run_event(f"term-{i}"), timeout=60)
            statuses.append(r.status_code)

        threads = [threading.Thread(target=send, args=(i,)) for i in range(20)]
        for t in threads:
            t.start()

        def queued() -> float:
            text = httpx.get(f"{svc.url}/metrics").text
            line = next(x for x in text.splitlines() if x.startswith("loadsense_write_queue_rows"))
            return float(line.split()[-1])

        # Every request's event is in the queue (held by the 60 s batch delay), none
        # answered yet; its derived rows are queued once the event is committed.
        poll_until(lambda: queued() >= 20, timeout=30)
        assert statuses == []
        code, out = svc.terminate()
        for t in threads:
            t.join(timeout=30)
    assert code in (0, -15), out
    assert statuses == [201] * 20, out  # acknowledged during the graceful shutdown
    # the events and, derived after their acknowledgement, the run events
    assert stored_counts(tmp_path, ("lineage_events", "run_events")) == [20, 20]
