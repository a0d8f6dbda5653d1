"""The lineage journal (api/journal.py): a request is acknowledged once its events are
committed, the derived rows follow, a reader that settles sees them, and a kill -9
between the two loses nothing (a real ``loadsense serve`` process)."""

from __future__ import annotations

import signal
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import running_service, service_process, stored_counts


def run_event(job: str, event_type: str = "COMPLETE") -> dict[str, Any]:
    return {
        "eventType": event_type,
        "eventTime": datetime.now(UTC).isoformat(),
        "producer": "https://example.com/journal-test",
        "schemaURL": "https://openlineage.io/spec/2-0-2/OpenLineage.json#/$defs/RunEvent",
        "run": {"runId": str(uuid.uuid4())},
        "job": {"namespace": "journal", "name": job},
        "inputs": [{"namespace": "journal", "name": f"{job}.in"}],
        "outputs": [{"namespace": "journal", "name": f"{job}.out"}],
    }


DERIVED = ("run_events", "dataset_updates", "lineage_edges")
"""A COMPLETE with one input and one output: one run event, one update, two edges."""


def _counts(storage: Storage, job: str) -> list[int]:
    """Rows of ``job`` per table, read straight from storage (no settling)."""
    return [
        int(
            storage.client.query(
                f"SELECT count() FROM {t} FINAL WHERE job_name = {{j:String}}",
                parameters={"j": job},
            ).result_rows[0][0]
        )
        for t in ("lineage_events", *DERIVED)
    ]


def test_the_ack_waits_for_the_event_and_settle_for_the_rest(storage: Storage) -> None:
    settings = Settings(derived_delay_ms=60_000, clock="external")
    job = f"early-{uuid.uuid4().hex[:8]}"
    with running_service(storage, settings) as svc:
        with svc.client() as http:
            assert http.post("/api/v1/lineage", json=run_event(job)).status_code == 201
        # Committed: the event. Lingering 60 s: its derived rows.
        assert _counts(storage, job) == [1, 0, 0, 0]
        assert svc.ctx.journal.owed == 1
        assert svc.ctx.journal.settle(30)
        assert _counts(storage, job) == [1, 1, 1, 2]
        assert svc.ctx.journal.owed == 0


def test_a_tick_sees_every_event_acknowledged_before_it(storage: Storage) -> None:
    settings = Settings(derived_delay_ms=60_000, clock="external")
    job = f"tick-{uuid.uuid4().hex[:8]}"
    with running_service(storage, settings) as svc:
        with svc.client() as http:
            assert http.post("/api/v1/lineage", json=run_event(job)).status_code == 201
            tick = http.post("/api/v1/tick", params={"as_of": str(int(time.time()) + 2)})
            assert tick.status_code == 200, tick.text
            rows = http.get("/api/v1/signals/freshness", params={"name": f"journal/{job}.out"})
        assert rows.status_code == 200
        (row,) = rows.json()["rows"]
        assert row["last_update"] is not None


def _stored(data_dir: Path) -> list[int]:
    return stored_counts(data_dir, ("lineage_events", *DERIVED))


def test_kill_9_after_the_ack_loses_nothing(tmp_path: Path) -> None:
    """Derived rows held back for 10 minutes, then SIGKILL: the next start rebuilds them
    from the committed events; a clean stop after that leaves nothing to rebuild."""
    held = {"LOADSENSE_DERIVED_DELAY_MS": "600000", "LOADSENSE_CLOCK": "external"}
    with service_process(tmp_path, env=held) as svc:
        for i in range(20):
            r = httpx.post(f"{svc.url}/api/v1/lineage", json=run_event(f"k{i}"), timeout=30)
            assert r.status_code == 201
        svc.process.kill()
        svc.process.communicate(timeout=30)
    assert _stored(tmp_path)[0] == 20  # the events were committed before each 201
    with service_process(tmp_path, env={"LOADSENSE_CLOCK": "external"}) as svc:
        code, out = svc.terminate(signal.SIGTERM)
    assert code in (0, -15), out
    assert "re-deriving the rows of 20 lineage events" in out
    assert _stored(tmp_path) == [20, 20, 20, 40]
    with service_process(tmp_path, env={"LOADSENSE_CLOCK": "external"}) as svc:
        code, out = svc.terminate(signal.SIGTERM)
    assert "re-deriving" not in out, out
