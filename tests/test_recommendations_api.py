"""The dispatch API over real HTTP: ETag and long poll, filters, KEDA, Prometheus text
(parsed by prometheus_client's parser), the audit history and the regime; the typed
client is used throughout. Services run on the external clock, so recommendations
change only when a test feeds the dispatch step."""

from __future__ import annotations

import os
import threading
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadsense.api.client import LoadsenseAPIError, LoadsenseClient
from loadsense.correlator.dispatch.inputs import (
    DatasetView,
    DispatchInputs,
    RegimeInputs,
    ServiceView,
    UpstreamHealth,
    WorkloadInputs,
)
from loadsense.correlator.dispatch.service import DispatchStep
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import Service, poll_until, running_service

# Recent: the audit log has a retention TTL, so simulated times far in the past vanish.
T0 = float(int(time.time()) // 60 * 60)


@pytest.fixture(scope="module")
def svc(storage: Storage) -> Iterator[Service]:
    with running_service(storage, Settings(clock="external")) as service:
        yield service


def step_of(service: Service) -> DispatchStep:
    step = service.ctx.dispatch
    assert isinstance(step, DispatchStep)
    return step


class World:
    """Unique workload names per test, and inputs that put them in known states."""

    def __init__(self) -> None:
        tag = uuid.uuid4().hex[:8]
        self.etl = f"etl-{tag}/orders"
        self.drifted = f"feast-{tag}/refresh_items"
        self.service = f"ranker-{tag}"

    def inputs(self, as_of: float, drift: int = 1, slack: float = 0.3) -> DispatchInputs:
        ranker = ServiceView(self.service, latency_slack=slack, rps=50.0)
        return DispatchInputs(
            as_of=as_of,
            workloads=(
                WorkloadInputs(
                    name=self.etl,
                    job_type="QUERY",
                    colocated=(ranker,),
                    produces=(
                        DatasetView(f"{self.etl}_out", freshness=1.0, deadline=as_of + 7200),
                    ),
                    telemetry_age_s=10.0,
                ),
                WorkloadInputs(
                    name=self.drifted,
                    job_type="FEATURE_REFRESH",
                    upstream=UpstreamHealth(schema_drift=drift, subject="raw/items"),
                    telemetry_age_s=10.0,
                ),
                WorkloadInputs(
                    name=self.service,
                    kind="service",
                    service_name=self.service,
                    telemetry_age_s=1.0,
                ),
            ),
            regime=RegimeInputs(services=(ranker,)),
        )


def test_etag_answers_304_until_a_decision_changes(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0))
    with svc.client() as http:
        first = http.get("/api/v1/recommendations")
        assert first.status_code == 200
        tag = first.headers["etag"]
        assert tag.startswith('W/"')
        assert (
            http.get("/api/v1/recommendations", headers={"If-None-Match": tag}).status_code == 304
        )
        # Another tick with the same decisions: expires_at moves, the ETag does not.
        step.run(world.inputs(T0 + 5))
        same = http.get("/api/v1/recommendations", headers={"If-None-Match": tag})
        assert same.status_code == 304 and same.headers["etag"] == tag
        # The drift clears: the held feature refresh is admitted -> a new ETag and body.
        step.run(world.inputs(T0 + 10, drift=0))
        changed = http.get("/api/v1/recommendations", headers={"If-None-Match": tag})
        assert changed.status_code == 200 and changed.headers["etag"] != tag
        actions = {r["workload"]: r["action"] for r in changed.json()["recommendations"]}
        assert actions[world.drifted] == "admit"


def test_long_poll_returns_as_soon_as_something_changes(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0))
    with LoadsenseClient(svc.url) as client:
        before = {r.workload: r for r in client.recommendations(workload=f"{world.drifted}*")}
        assert before[world.drifted].action == "defer"
        result: dict[str, object] = {}

        def poll() -> None:
            result["recs"] = client.wait_for_change(timeout=30, workload=f"{world.drifted}*")

        waiter = threading.Thread(target=poll)
        waiter.start()
        poll_until(lambda: step.store.waiting > 0)
        # A change to another workload wakes the poll, which sees its view unchanged and
        # goes back to waiting; the drift clearing is what answers it.
        step.run(world.inputs(T0 + 5, slack=-0.5))
        step.run(world.inputs(T0 + 10, slack=-0.5, drift=0))
        waiter.join(timeout=30)
        assert not waiter.is_alive()
        recs = result["recs"]
        assert isinstance(recs, list)
        assert [(r.workload, r.action) for r in recs] == [(world.drifted, "admit")]


def test_long_poll_times_out_with_304_or_the_current_list(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0))
    with svc.client() as http:
        first = http.get("/api/v1/recommendations", params={"workload": world.etl})
        tag = first.headers["etag"]
        timed_out = http.get(
            "/api/v1/recommendations",
            params={"workload": world.etl, "wait": "0.3"},
            headers={"If-None-Match": tag},
        )
        assert timed_out.status_code == 304 and timed_out.headers["etag"] == tag
        no_tag = http.get("/api/v1/recommendations", params={"workload": world.etl, "wait": "0.3"})
        assert no_tag.status_code == 200 and no_tag.json() == first.json()


def test_filters_single_workload_and_errors(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0, slack=-0.5))
    with LoadsenseClient(svc.url) as client:
        throttled = client.recommendations(action="throttle", workload="etl-*")
        assert world.etl in {r.workload for r in throttled}
        etl = client.recommendation(world.etl)
        # slack -0.5 < 0 next to a service the job does not feed: etl-yields-to-serving.
        assert (etl.cls, etl.action, etl.max_concurrency, etl.recommended_concurrency) == (
            "etl-transform",
            "throttle",
            1,
            1,
        )
        reason = next(r for r in etl.reasons if r.signal == "colocated_min_slack")
        assert (reason.value, reason.op, reason.threshold, reason.subject, reason.rule) == (
            -0.5,
            "lt",
            0.0,
            world.service,
            "etl-yields-to-serving",
        )
        assert client.concurrency(world.etl) == 1
        only_services = client.recommendations(cls="online-inference", workload=world.service)
        assert [(r.workload, r.action) for r in only_services] == [(world.service, "admit")]
        with pytest.raises(LoadsenseAPIError, match="unknown class 'batch'") as bad:
            client.recommendations(cls="batch")
        assert bad.value.status == 400
        with pytest.raises(LoadsenseAPIError) as missing:
            client.recommendation(f"{world.etl}-nope")
        assert (missing.value.status, missing.value.code) == (404, "not_found")


def test_keda_metrics_api_value(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0, slack=-0.5))
    with svc.client() as http:
        throttled = http.get(f"/api/v1/keda/{world.etl}")
        held = http.get(f"/api/v1/keda/{world.drifted}")
        admitted = http.get(f"/api/v1/keda/{world.service}")
        assert http.get(f"/api/v1/keda/{world.etl}-nope").status_code == 404
    # KEDA's metrics-api scaler reads valueLocation "value" from this JSON document:
    # throttled to 1; deferred -> 0; admitted without a cap -> default_concurrency 4.
    assert [r.json() for r in (throttled, held, admitted)] == [
        {"value": 1},
        {"value": 0},
        {"value": 4},
    ]
    assert throttled.headers["content-type"] == "application/json"


def test_prometheus_exposition_parses_and_carries_every_recommendation(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0, slack=-0.5))
    text = httpx.get(f"{svc.url}/metrics").text
    families = {f.name: f for f in text_string_to_metric_families(text)}
    concurrency = {
        s.labels["workload"]: s.value for s in families["loadsense_recommended_concurrency"].samples
    }
    priority = {s.labels["workload"]: s for s in families["loadsense_priority"].samples}
    assert (concurrency[world.etl], concurrency[world.drifted], concurrency[world.service]) == (
        1.0,
        0.0,
        4.0,
    )
    assert priority[world.etl].labels == {
        "workload": world.etl,
        "class": "etl-transform",
        "action": "throttle",
    }
    # ML pressure: (1 - (-0.5)/0.5) clamped to 1, times min(1, 50 rps / 1) = 1.
    pressures = {
        s.labels["pressure"]: s.value for s in families["loadsense_regime_pressure"].samples
    }
    assert pressures == {"etl": 0.0, "ml": 1.0}
    regimes = {s.labels["regime"]: s.value for s in families["loadsense_regime"].samples}
    assert sum(regimes.values()) == 1.0


def test_history_records_changes_with_reasons(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0))
    step.run(world.inputs(T0 + 5))  # no change: nothing appended
    step.run(world.inputs(T0 + 10, drift=0))
    with LoadsenseClient(svc.url) as client:
        entries = client.history(workload=world.drifted)
    assert [(e["action"], e["previous_action"]) for e in entries] == [
        ("admit", "defer"),
        ("defer", ""),
    ]
    expected = datetime.fromtimestamp(T0 + 10, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert entries[0]["issued_at"] == expected
    held = entries[1]["reasons"]
    assert held[-1] == {
        "signal": "upstream_schema_drift",
        "subject": "raw/items",
        "value": 1.0,
        "op": "gt",
        "threshold": 0.0,
        "rule": "unsafe-input",
    }
    with svc.client() as http:
        bad = http.get("/api/v1/recommendations/history", params={"from": "-5"})
    assert bad.status_code == 400 and bad.json()["field"] == "from"


def test_regime_reports_pressures_bounds_and_policy(svc: Service) -> None:
    world, step = World(), step_of(svc)
    step.run(world.inputs(T0 + 1000, slack=-0.5))
    with LoadsenseClient(svc.url) as client:
        regime = client.regime()
    assert (regime.etl_pressure, regime.ml_pressure) == (0.0, 1.0)
    assert regime.policy_version.startswith("default-1@")
    with svc.client() as http:
        doc = http.get("/api/v1/regime").json()
    assert doc["bounds"] == {"enter": 0.85, "exit": 0.8, "min_dwell_s": 60.0}
    assert doc["pressures"]["ml_driver"] == world.service


def test_reads_need_a_token_when_auth_is_on(storage: Storage) -> None:
    settings = Settings(clock="external", read_tokens=("r-token",), ingest_tokens=("i-token",))
    with running_service(storage, settings) as secured:
        for path in ("/api/v1/recommendations", "/api/v1/regime", "/api/v1/keda/x"):
            assert httpx.get(f"{secured.url}{path}").status_code == 401
        with LoadsenseClient(secured.url, token="r-token") as client:
            assert client.recommendations() == []


def test_policy_hot_reload_through_the_service(storage: Storage, tmp_path: Path) -> None:
    path = tmp_path / "policy.yaml"
    path.write_text("version: ops-1\nrules:\n  - {name: hold-all, action: pause}\n")
    settings = Settings(clock="external", dispatch={"policy_file": str(path)})
    world = World()
    with running_service(storage, settings) as svc, LoadsenseClient(svc.url) as client:
        step = step_of(svc)
        step.run(world.inputs(T0))
        assert client.recommendation(world.etl).action == "pause"
        first = client.regime().policy_version
        assert first.startswith("ops-1@")
        # An invalid edit: logged, reported, and the last good policy stays in force.
        path.write_text("version: ops-2\nrules:\n  - {name: hold-all, action: nap}\n")
        os.utime(path, ns=(time.time_ns() + 10**9, time.time_ns() + 10**9))
        step.run(world.inputs(T0 + 5))
        doc = httpx.get(f"{svc.url}/api/v1/regime").json()
        assert doc["policy"]["version"] == first
        assert "rules[0] 'hold-all'.action: expected one of" in doc["policy"]["error"]
        assert client.recommendation(world.etl).policy_version == first
        # A valid edit applies from the next tick. Two jobs leave pause but the change
        # budget is max(1, floor(0.25 * 3)) = 1: equal priorities (20), so by name, etl-* first.
        path.write_text("version: ops-3\nrules: []\n")
        os.utime(path, ns=(time.time_ns() + 2 * 10**9, time.time_ns() + 2 * 10**9))
        step.run(world.inputs(T0 + 10))
        rec = client.recommendation(world.etl)
        assert rec.policy_version.startswith("ops-3@") and rec.action == "admit"
        assert httpx.get(f"{svc.url}/api/v1/regime").json()["policy"]["error"] is None


def test_client_quotes_workload_names(svc: Service) -> None:
    name = f"odd ns-{uuid.uuid4().hex[:6]}/a?b#c%20é"
    step_of(svc).run(
        DispatchInputs(as_of=T0, workloads=(WorkloadInputs(name=name, telemetry_age_s=1.0),))
    )
    with LoadsenseClient(svc.url) as client:
        assert client.recommendation(name).workload == name
        assert client.concurrency(name) == 4  # admitted, no cap: default_concurrency
