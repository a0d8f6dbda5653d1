"""The correlator: external-clock ticks over HTTP, history, failure isolation, the API."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from loadsense.correlator.loop import Correlator
from loadsense.correlator.snapshot import Snapshot
from loadsense.selfmetrics import SelfMetrics
from loadsense.settings import Settings
from loadsense.signals.config import SignalsConfig
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.service import Service, poll_until, running_service
from tests.support.signals_feed import NS, T0, Feed, unique


@pytest.fixture(scope="module")
def external(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings().with_overrides(clock="external")) as svc:
        yield svc


def test_external_tick_publishes_snapshot_and_history(storage: Storage, external: Service) -> None:
    feed = Feed(external.url)
    ns = unique("wh")
    a = f"{ns}/a"
    for t in (0, 300, 600):  # interval 300 s
        feed.run(f"{ns}/job", T0 + t * NS, T0 + t * NS, outputs=[a])
    with external.client() as http:
        # As of 1200 s: age 600, grace 300, H 300 -> 2^(-300/300) = 0.5
        r = http.post("/api/v1/tick", params={"as_of": str((T0 + 1200 * NS) // NS)})
        assert r.status_code == 200, r.text
        body = r.json()
        assert body["as_of"] == (T0 + 1200 * NS) / NS
        assert body["rows"]["freshness"] >= 1
        got = http.get("/api/v1/signals/freshness", params={"name": f"{ns}/*"}).json()
        assert got["as_of"] == (T0 + 1200 * NS) / NS
        assert [row["subject"] for row in got["rows"]] == [a]
        assert got["rows"][0]["freshness"] == 0.5
        assert got["rows"][0]["deadline"] == (T0 + 600 * NS) / NS + 300 + 300
        # A second tick at 1500 s (two half-lives late): 0.25; history has both points.
        http.post("/api/v1/tick", params={"as_of": str((T0 + 1500 * NS) // NS)})
        hist = http.get(
            "/api/v1/signals/freshness/history",
            params={"name": a, "from": str(T0 // NS), "to": str((T0 + 2000 * NS) // NS)},
        ).json()
    series = {s["field"]: s["points"] for s in hist["series"]}
    assert series["freshness"] == [[(T0 + 1200 * NS) / NS, 0.5], [(T0 + 1500 * NS) / NS, 0.25]]
    assert series["age"] == [[(T0 + 1200 * NS) / NS, 600.0], [(T0 + 1500 * NS) / NS, 900.0]]


def test_tick_on_the_wall_clock_is_a_conflict(service: Service) -> None:
    with service.client() as http:
        r = http.post("/api/v1/tick", params={"as_of": "1750000000"})
    assert r.status_code == 409
    assert "--clock external" in r.json()["message"]


def test_bad_instants_and_unknown_kinds(external: Service) -> None:
    with external.client() as http:
        r = http.post("/api/v1/tick", params={"as_of": "yesterday"})
        assert r.status_code == 400
        assert r.json()["field"] == "as_of"
        assert http.post("/api/v1/evaluate", params={"as_of": "-5"}).status_code == 400
        missing = http.post("/api/v1/tick")  # as_of is required
        assert missing.status_code == 400
        assert missing.json() == {
            "error": "invalid",
            "message": "as_of: Field required",
            "field": "as_of",
        }
        r = http.get("/api/v1/signals/nope")
        assert r.status_code == 404 and "freshness" in r.json()["message"]
        assert http.get("/api/v1/signals/nope/history").status_code == 404


def test_evaluate_a_past_instant_without_storing(storage: Storage, external: Service) -> None:
    feed = Feed(external.url)
    a = f"{unique('wh')}/a"
    for t in (0, 60, 120):
        feed.run("etl/job", T0 + t * NS, T0 + t * NS, outputs=[a])
    at = "2000-01-01T00:00:00Z"
    before = query(storage, "SELECT count() FROM signal_points WHERE as_of = '2000-01-01'")
    with external.client() as http:
        # RFC 3339 with a fraction: exactly T0 + 240.5 s. age 120.5, grace 60, H 60.
        stamp = f"{(T0 + 240 * NS) // NS}.5"
        r = http.post("/api/v1/evaluate", params={"as_of": stamp})
        assert r.status_code == 200, r.text
        body = r.json()
        assert set(body) >= {"freshness", "exposure", "queues", "latency", "hosts", "lineage"}
        row = next(x for x in body["freshness"] if x["subject"] == a)
        assert row["freshness"] == pytest.approx(2 ** (-(120.5 - 60) / 60))
        assert http.post("/api/v1/evaluate", params={"as_of": at}).status_code == 200
    after = query(storage, "SELECT count() FROM signal_points WHERE as_of = '2000-01-01'")
    assert before == after == [(0,)]


def test_lineage_graph_around_a_node(storage: Storage, external: Service) -> None:
    feed = Feed(external.url)
    ns = unique("g")
    raw, out = f"{ns}/raw", f"{ns}/out"
    feed.run(f"{ns}/build", T0, T0 + NS, inputs=[raw], outputs=[out])
    feed.job_event(f"serving/{ns}-svc", [out], T0)
    with external.client() as http:
        http.post("/api/v1/tick", params={"as_of": str((T0 + 10 * NS) // NS)})
        g = http.get("/api/v1/lineage/graph", params={"node": out, "depth": 1}).json()
        job_node = {"node": f"job:serving/{ns}-svc", "depth": 1}
        via_job = http.get("/api/v1/lineage/graph", params=job_node).json()
        assert http.get("/api/v1/lineage/graph", params={"node": "nothing"}).status_code == 404
    # One hop from the output: its writer and the service, one node although a JobEvent
    # named like the service (job serving/<svc>) declared its input; not the writer's input.
    assert {n["id"] for n in g["nodes"]} == {
        f"dataset:{out}",
        f"job:{ns}/build",
        f"service:{ns}-svc",
    }
    assert {(e["source"], e["target"], e["relation"]) for e in g["edges"]} == {
        (f"job:{ns}/build", f"dataset:{out}", "writes"),
        (f"dataset:{out}", f"service:{ns}-svc", "reads"),
    }
    # The declaring job's id finds the same node.
    assert {n["id"] for n in via_job["nodes"]} == {f"dataset:{out}", f"service:{ns}-svc"}


def test_openapi_documents_every_signal_route(external: Service) -> None:
    with external.client() as http:
        spec = http.get("/openapi.json").json()
    paths = spec["paths"]
    for kind in ("freshness", "exposure", "queues", "latency", "hosts", "lineage"):
        assert f"/api/v1/signals/{kind}" in paths
    for path in ("/api/v1/signals/{kind}/history", "/api/v1/lineage/graph"):
        assert path in paths
    assert "/api/v1/tick" in paths and "/api/v1/evaluate" in paths
    assert "FreshnessRow" in spec["components"]["schemas"]


class _Recorder:
    def __init__(self) -> None:
        self.seen: list[float] = []

    def on_tick(self, snapshot: Snapshot) -> None:
        self.seen.append(snapshot.as_of)


class _Broken:
    def on_tick(self, snapshot: Snapshot) -> None:
        raise RuntimeError("step failed")


def test_a_failing_tick_does_not_kill_the_loop(storage: Storage) -> None:
    calls = {"n": 0}
    lock = threading.Lock()

    def flaky_history(snap: Snapshot) -> None:
        with lock:
            calls["n"] += 1
            if calls["n"] == 1:
                raise RuntimeError("history write failed")

    metrics = SelfMetrics()
    correlator = Correlator(
        storage, SignalsConfig(), metrics, interval_s=0.05, history=flaky_history
    )
    recorder = _Recorder()
    correlator.add_step(_Broken())  # a failing step is isolated
    correlator.add_step(recorder)
    correlator.start()
    try:
        poll_until(lambda: correlator.ticks >= 2, timeout=60)
    finally:
        correlator.stop()
    assert correlator.failures == 1
    assert metrics.registry.get_sample_value("loadsense_correlator_tick_failures_total") == 1
    assert len(recorder.seen) == correlator.ticks  # the recorder ran after the broken step
    assert correlator.snapshot.as_of == recorder.seen[-1]


def test_external_clock_has_no_timer(external: Service) -> None:
    correlator: Correlator = external.ctx.correlator
    assert correlator.external_clock
    ticks = correlator.ticks
    with external.client() as http:
        http.post("/api/v1/tick", params={"as_of": str(T0 // NS)})
    assert correlator.ticks == ticks + 1


@pytest.mark.filterwarnings("ignore::pytest.PytestUnhandledThreadExceptionWarning")
def test_a_component_failing_to_start_stops_the_ones_already_started(
    storage: Storage, tmp_path: Path
) -> None:
    """An invalid policy file fails dispatch's start-up after the correlator started:
    the app must not leave the correlator thread ticking against closed resources."""
    bad_policy = tmp_path / "policy.yaml"
    bad_policy.write_text("rules: [{name: x, when: {urgency: {gte: 'high'}}, then: boost}]\n")
    settings = Settings().with_overrides(dispatch={"policy_file": str(bad_policy)})
    before = {t.ident for t in threading.enumerate() if t.name == "correlator"}
    with pytest.raises(RuntimeError, match="failed to start"), running_service(storage, settings):
        pass
    poll_until(
        lambda: (
            not any(t.name == "correlator" and t.ident not in before for t in threading.enumerate())
        )
    )


def _fresh_row(svc: Service, name: str) -> list[Any]:
    with svc.client() as http:
        rows: list[Any] = http.get("/api/v1/signals/freshness", params={"name": name}).json()[
            "rows"
        ]
    return rows


def test_lineage_ticks_early_and_steady_events_are_rate_limited(storage: Storage) -> None:
    """With a 60 s interval, committed COMPLETE events reach the signals in about one
    tick (the nudge), and early ticks are spaced by the rest period."""
    settings = Settings(tick_interval_s=60, tick_min_gap_s=0.5)
    with running_service(storage, settings) as svc:
        correlator = svc.ctx.correlator
        poll_until(lambda: correlator.ticks >= 1, timeout=30)
        before = correlator.ticks
        feed = Feed(svc.url)
        names = [f"{unique('early')}/table_{k}" for k in range(5)]
        now = time.time_ns()
        started = time.monotonic()
        for name in names:  # five events in a row: early ticks, not one per event
            feed.run(f"{name}_job", now, now, outputs=[name])
        poll_until(lambda: all(_fresh_row(svc, n) for n in names), timeout=30)
        elapsed = time.monotonic() - started
        assert elapsed < 30  # well before the 60 s tick
        # early ticks start at least min_gap_s after the previous one ended
        assert 1 <= correlator.ticks - before <= elapsed / 0.5 + 1


def test_no_early_tick_when_disabled(storage: Storage) -> None:
    settings = Settings(tick_interval_s=60, tick_on_lineage=False)
    with running_service(storage, settings) as svc:
        correlator = svc.ctx.correlator
        poll_until(lambda: correlator.ticks >= 1, timeout=30)
        before = correlator.ticks
        now = time.time_ns()
        name = f"{unique('late')}/table"
        Feed(svc.url).run(f"{name}_job", now, now, outputs=[name])
        time.sleep(1.5)  # a nudge would have ticked by now (absence needs a wait)
        assert correlator.ticks == before and not _fresh_row(svc, name)
