"""Roles in one process: an ``ingest,api`` app without the correlator serves exactly what
a correlator app published through the shared storage.

Both apps run on real ports over the test process's one embedded chDB, in a database of
their own (two processes cannot share embedded storage; a ClickHouse server is what
several replicas share in production, docs/scale-out.md).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from loadsense.settings import Settings
from loadsense.signals.contract import KINDS
from loadsense.storage.client import Storage, open_storage
from loadsense.storage.migrations import LATEST_VERSION
from tests.support.feed import feed_runs, tick
from tests.support.service import Service, poll_until, running_service

INGEST, READ = "roles-ingest", "roles-read"
WRITER = {"Authorization": f"Bearer {INGEST}"}
TOKENS = {"ingest_tokens": (INGEST,), "read_tokens": (READ,)}


@pytest.fixture(scope="module")
def shared(storage: Storage) -> Iterator[Storage]:
    """A database no migration has touched yet, in the session's chDB."""
    yield open_storage(f"chdb://{storage.location}", f"roles_{uuid.uuid4().hex[:8]}")


@pytest.fixture(scope="module")
def replica(shared: Storage) -> Iterator[Service]:
    settings = Settings(roles=("ingest", "api"), **TOKENS)  # type: ignore[arg-type]
    with running_service(shared, settings) as svc:
        yield svc


def test_a_replica_waits_for_the_schema_and_names_both_versions(replica: Service) -> None:
    with replica.client() as http:
        ready = http.get("/readyz")
    assert ready.status_code == 503
    body = ready.json()
    assert (body["schema_needed"], body["schema_found"]) == (LATEST_VERSION, 0)
    assert body["schema"] == (
        f"waiting for schema version {LATEST_VERSION} (found 0): migrations run in the "
        "correlator role"
    )


@pytest.fixture(scope="module")
def correlator(shared: Storage, replica: Service) -> Iterator[Service]:
    settings = Settings(roles=("api", "correlator"), clock="external", **TOKENS)  # type: ignore[arg-type]
    with running_service(shared, settings) as svc:
        yield svc


def _ready(svc: Service) -> bool:
    with svc.client() as http:
        return http.get("/readyz").status_code == 200


def test_the_correlator_migrates_and_the_replica_becomes_ready(
    correlator: Service, replica: Service
) -> None:
    assert _ready(correlator)
    poll_until(lambda: _ready(replica), timeout=10)
    with replica.client() as http:
        assert http.get("/readyz").json()["schema_version"] == LATEST_VERSION


def test_each_role_serves_only_its_routes(correlator: Service, replica: Service) -> None:
    with replica.client(INGEST) as http:
        refused = http.post("/api/v1/tick", params={"as_of": "2030-01-01T00:00:00Z"})
    assert refused.status_code == 404  # the tick is the correlator's route
    with correlator.client(INGEST) as http:
        lineage = http.post("/api/v1/lineage/batch", json=[])
        otlp = http.post("/v1/traces", content=b"", headers={"Content-Type": "x"})
    assert (lineage.status_code, otlp.status_code) == (404, 404)  # no ingest role here
    with correlator.client() as http:
        assert http.get("/healthz").status_code == 200
    assert lineage.json()["message"] == (
        "POST /api/v1/lineage/batch is served by the ingest role; this process runs "
        "api,correlator (serve --roles)"
    )


def _reads(svc: Service, workload: str) -> dict[str, tuple[int, str, bytes]]:
    paths = [f"/api/v1/signals/{kind}" for kind in KINDS] + [
        "/api/v1/recommendations",
        "/api/v1/recommendations?class=etl-transform",
        f"/api/v1/recommendations/{workload}",
        f"/api/v1/keda/{workload}",
        "/api/v1/regime",
        "/api/v1/rules",
        "/api/v1/alerts",
    ]
    out = {}
    with svc.client(READ) as http:
        for path in paths:
            r = http.get(path)
            out[path] = (r.status_code, r.headers.get("etag", ""), r.content)
    return out


def test_the_replica_serves_what_the_correlator_published(
    correlator: Service, replica: Service
) -> None:
    workloads = feed_runs(replica.url, f"roles-{uuid.uuid4().hex[:6]}", 7, headers=WRITER)
    with replica.client(READ) as http:
        assert http.get("/api/v1/recommendations").status_code == 503  # nothing published
    tick(correlator.url, headers=WRITER)
    workload = sorted(workloads)[0]
    want = _reads(correlator, workload)
    assert {p: s for p, (s, _, _) in want.items() if s != 200} == {}, want
    assert workload.encode() in want["/api/v1/recommendations"][2]
    got = poll_until(lambda: (r := _reads(replica, workload)) == want and r, timeout=10)
    assert got["/api/v1/recommendations"][1].startswith("W/")  # the same ETag, not none


def test_the_replica_follows_the_next_publication(correlator: Service, replica: Service) -> None:
    with replica.client(READ) as http:
        before = http.get("/api/v1/signals/freshness").json()["as_of"]
    tick(correlator.url, as_of=before + 30, headers=WRITER)

    def moved() -> bool:
        with replica.client(READ) as http:
            return bool(http.get("/api/v1/signals/freshness").json()["as_of"] == before + 30)

    poll_until(moved, timeout=10)


def test_a_replica_evaluates_but_does_not_tick(correlator: Service, replica: Service) -> None:
    at = {"as_of": "2030-01-01T00:00:00Z"}
    with replica.client(READ) as http:
        evaluated = http.post("/api/v1/evaluate", params=at)
    with correlator.client(READ) as http:
        reference = http.post("/api/v1/evaluate", params=at)
    assert evaluated.status_code == reference.status_code == 200
    drop = {"seconds"}
    assert {k: v for k, v in evaluated.json().items() if k not in drop} == {
        k: v for k, v in reference.json().items() if k not in drop
    }
