"""Dispatch end to end: OpenLineage events through the real receiver, a correlator tick
on the external clock, recommendations over HTTP and in /metrics."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from loadsense.api.client import LoadsenseClient
from loadsense.correlator.dispatch.policy import default_policy_text
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import Service, running_service
from tests.support.signals_feed import NS, T0, Feed, unique

pytestmark = pytest.mark.e2e  # producers to recommendations through a real service


@pytest.fixture(scope="module")
def external(storage: Storage, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Service]:
    # The session's database holds every test's workloads; lift the change budget so
    # other tests' workloads changing at the same tick cannot hold this test's back.
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    text = default_policy_text().replace("max_change_share: 0.25", "max_change_share: 1.0")
    assert "max_change_share: 1.0" in text
    policy.write_text(text)
    settings = Settings(clock="external", dispatch={"policy_file": str(policy)})
    with running_service(storage, settings) as svc:
        yield svc


def _tick(svc: Service, at_ns: int) -> None:
    r = httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": str(at_ns // NS)}, timeout=60)
    assert r.status_code == 200, r.text


def test_schema_drift_upstream_holds_the_job_then_it_resumes(external: Service) -> None:
    feed = Feed(external.url)
    ns = unique("e2e")
    raw, out, job = f"{ns}/raw", f"{ns}/features", f"{ns}/refresh"
    feed.run(job, T0, T0 + 60 * NS, inputs=[raw], outputs=[out])
    feed.schema(raw, T0 + 100 * NS, {"id": "int"})
    feed.schema(raw, T0 + 200 * NS, {"id": "string", "x": "int"})  # id retyped, x added
    _tick(external, T0 + 300 * NS)
    with LoadsenseClient(external.url) as client:
        rec = client.recommendation(job)
        assert (rec.cls, rec.action, rec.recommended_concurrency) == ("etl-transform", "defer", 0)
        drift = next(r for r in rec.reasons if r.signal == "upstream_schema_drift")
        assert (drift.subject, drift.value, drift.rule) == (raw, 2.0, "unsafe-input")
        # The job was last heard of 240 s before the tick (< 900 s): not neutral.
        assert rec.confidence != "low"
        families = {
            f.name: f
            for f in text_string_to_metric_families(httpx.get(f"{external.url}/metrics").text)
        }
        samples = [
            s
            for s in families["loadsense_recommended_concurrency"].samples
            if s.labels["workload"] == job
        ]
        assert [(s.labels["action"], s.value) for s in samples] == [("defer", 0.0)]
        # The snapshot's signals are gauges too: the drift the rule saw, per dataset.
        drifts = {
            s.labels["dataset"]: s.value for s in families["loadsense_lineage_schema_drift"].samples
        }
        assert drifts[raw] == 2.0
        # Dispatch reports on itself: it ran, over every workload of the snapshot.
        evaluations = families["loadsense_dispatch_evaluations"].samples[0]
        assert evaluations.name == "loadsense_dispatch_evaluations_total"
        assert evaluations.value >= 1
        assert families["loadsense_dispatch_workloads"].samples[0].value >= 1
        assert families["loadsense_dispatch_tick_seconds"].samples[0].value > 0
        # Another run, and a tick once the schema changes are older than the 15 min window.
        feed.run(job, T0 + 1100 * NS, T0 + 1150 * NS, inputs=[raw], outputs=[out])
        _tick(external, T0 + 1200 * NS)
        rec = client.recommendation(job)
        assert rec.action == "admit" and rec.confidence != "low"
        # Only this service's ticks: the session's wall-clock services evaluate the same
        # shared database and append their own (present-day) audit rows for this job.
        history = client.history(workload=job, start=T0 / NS, end=(T0 + 2000 * NS) / NS)
    assert [(h["action"], h["previous_action"]) for h in history] == [
        ("admit", "defer"),
        ("defer", ""),
    ]


def test_services_and_queues_are_workloads_heard_through_their_telemetry(
    external: Service,
) -> None:
    feed = Feed(external.url)
    service, queue = unique("ranker"), unique("orders")
    at = T0 + 5000 * NS
    # Ten 50 ms requests in the 10 s before the tick; one queue depth sample 10 s before.
    feed.spans(service, [at - k * NS for k in range(1, 11)], [50_000_000] * 10, host=unique("h"))
    feed.queue_samples(queue, "depth", [(at - 10 * NS, 5.0)])
    _tick(external, at)
    with LoadsenseClient(external.url) as client:
        svc = client.recommendation(service)
        q = client.recommendation(queue)
    # Heard from 1 s and 10 s before the tick: not the neutral low-confidence answer.
    assert (svc.cls, svc.action, svc.confidence) == ("online-inference", "admit", "high")
    assert (q.cls, q.action, q.confidence) == ("etl-transform", "admit", "high")
