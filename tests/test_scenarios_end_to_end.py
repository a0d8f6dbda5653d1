"""One short scenario end to end: simulator -> real producers -> real service -> scheduler.

The service is ``loadsense serve --clock external`` in its own process and data dir
(as the benchmark runs it); producers are openlineage-python and the OpenTelemetry SDK's
OTLP exporter; the scheduler reads recommendations through ``api/client.py``. The checks
compare what Loadsense reports with what the simulator sent.
"""

from __future__ import annotations

import math

import httpx
import pytest

from loadsense.api.client import LoadsenseClient
from loadsense.bench.scenarios.runner import simulate_with_loadsense, start_time
from loadsense.bench.scenarios.service import live_service
from loadsense.bench.scenarios.spec import parse_scenario

SHORT = {
    "name": "short",
    "duration_s": 1200,
    "step_s": 120,
    "hosts": [{"name": "node-a", "cpu": 8, "io": 1.0, "slots": 4}],
    "services": [
        {
            "name": "ranker", "host": "node-a", "replicas": 2, "service_ms": 10,
            "cpu_share": 1.0, "cpu_per_replica": 1.0, "slo_ms": 100, "rps": 40,
            "noise": 0.0, "inputs": ["features/profile"],
        }
    ],
    "datasets": [
        {"name": "features/profile", "interval_s": 600, "half_life_s": 300, "initial_age_s": 300}
    ],
    "dags": [
        {
            "name": "profile", "every_s": 600, "deadline_s": 600,
            "tasks": [
                {"name": "refresh", "kind": "feature-refresh", "work_s": 240, "width": 2,
                 "jitter": 0.0, "cpu": 3, "hosts": ["node-a"], "outputs": ["features/profile"]}
            ],
        },
        {
            "name": "backfill", "every_s": 86400, "offset_s": 120, "deadline_s": 3600,
            "tasks": [
                {"name": "load", "kind": "etl-transform", "work_s": 900, "width": 3,
                 "jitter": 0.0, "cpu": 3, "hosts": ["node-a"], "inputs": ["features/profile"]}
            ],
        },
    ],
}  # fmt: skip


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_short_scenario_through_a_real_service() -> None:
    scenario = parse_scenario(SHORT, "short.yaml")
    t0 = start_time(scenario)
    with live_service(scenario) as live:
        sim, truth = simulate_with_loadsense(scenario, seed=11, live=live, t0=t0)
        as_of = t0 + scenario.duration_s
        http = httpx.Client(base_url=live.url, headers={"Authorization": f"Bearer {live.token}"})
        latency = http.get("/api/v1/signals/latency").json()
        freshness = http.get("/api/v1/signals/freshness").json()
        exposure = http.get("/api/v1/signals/exposure").json()
        with LoadsenseClient(live.url, token=live.token) as client:
            recs = {r.workload: r for r in client.recommendations()}
        unauthenticated = httpx.post(f"{live.url}/api/v1/tick", params={"as_of": str(as_of)})

    assert latency["as_of"] == pytest.approx(as_of)
    # Requests: histogram points stamped at each step's end; W = 900 s ending at 1200 holds
    # the ends 360..1200 (8 steps of 40 req/s * 120 s = 4800 requests each).
    (row,) = [r for r in latency["rows"] if r["subject"] == "ranker"]
    assert row["source"] == "histogram"
    assert row["requests"] == 8 * 4800
    assert row["rps"] == pytest.approx(8 * 4800 / 900)
    # The refresh runs at 0 and 600 completed; the latest update is the second one's.
    (fresh,) = [r for r in freshness["rows"] if r["subject"] == "features/profile"]
    last = max(r.finished_at for r in sim.completed_runs if r.task.name == "refresh")
    assert fresh["last_update"] == pytest.approx(t0 + last)
    # The static JobEvent declared the ranker's input.
    (exp,) = [r for r in exposure["rows"] if r["subject"] == "ranker"]
    assert [p["dataset"] for p in exp["per_input"]] == ["features/profile"]
    # The jobType facet set each job's class; the service is online inference.
    assert recs["etl/profile.refresh"].cls == "feature-refresh"
    assert recs["etl/backfill.load"].cls == "etl-transform"
    assert recs["ranker"].cls == "online-inference"
    # The ground truth is the simulator's: 10 steps, 2 minutes each.
    assert len(truth.times) == 10
    assert truth.requests == 10 * 4800
    assert math.isclose(sum(truth.exposure) * 4800, truth.stale_requests)
    assert unauthenticated.status_code == 401
