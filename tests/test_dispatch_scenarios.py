"""Scenario fixtures for the default policy: signals in (a correlator snapshot plus the
workload facts read from storage), recommendations out. One scenario per example
behaviour of docs/dispatch.md, with the arithmetic of every expected number."""

from __future__ import annotations

from dataclasses import replace
from types import MappingProxyType

import pytest

from loadsense.correlator.dispatch.adapter import WorkloadFacts, to_inputs
from loadsense.correlator.dispatch.engine import DispatchEngine, Evaluation
from loadsense.correlator.dispatch.policy import load_policy
from loadsense.correlator.dispatch.recommendation import Recommendation
from loadsense.correlator.snapshot import Snapshot
from loadsense.signals.activity import JobFacet
from loadsense.signals.exposure import ExposureRow
from loadsense.signals.freshness import FreshnessRow
from loadsense.signals.graph import LineageGraph
from loadsense.signals.hosts import HostRow
from loadsense.signals.latency import LatencyRow
from loadsense.signals.lineage import LineageRow
from loadsense.signals.queues import QueueRow

T0 = 1_790_000_000.0
POLICY = load_policy()


def fresh(subject: str, freshness: float, deadline: float) -> FreshnessRow:
    return FreshnessRow(
        subject=subject,
        last_update=deadline - 7200,
        updates=10,
        expected_interval=3600.0,
        interval_declared=False,
        age=None,
        grace=3600.0,
        half_life=3600.0,
        freshness=freshness,
        deadline=deadline,
        effective_freshness=freshness,
        depth=1,
        producer=None,
        last_run_id=None,
    )


def lineage(
    subject: str,
    services: tuple[str, ...] = (),
    rps: float = 0.0,
    drift: int = 0,
    confidence: float | None = None,
) -> LineageRow:
    return LineageRow(
        subject=subject,
        depth=1,
        producers=(),
        downstream_services=services,
        criticality=rps,
        recompute_cost=None,
        failure_rate=None,
        runs=5,
        schema_drift=drift,
        validation_confidence=confidence,
    )


def latency(service: str, slack: float, rps: float, rps_recent: float | None = None) -> LatencyRow:
    """Steady traffic unless ``rps_recent`` (the short-window rate) says otherwise."""
    return LatencyRow(
        subject=service,
        window_s=900.0,
        requests=int(rps * 900),
        rps=rps,
        p50_ms=50.0,
        p95_ms=100.0,
        p99_ms=250.0 * (1 - slack),
        error_rate=0.0,
        slo_ms=250.0,
        latency_slack=slack,
        rps_recent=rps if rps_recent is None else rps_recent,
    )


def exposure(service: str, ratio: float) -> ExposureRow:
    return ExposureRow(
        subject=service,
        window_s=900.0,
        theta=0.5,
        requests=1000,
        inputs=(),
        exposure_ratio=ratio,
        weighted_exposure=None,
        stale_requests=None,
    )


def host(name: str, services: tuple[str, ...], jobs: tuple[str, ...]) -> HostRow:
    return HostRow(name, 0.5, 0.5, 0.1, 0.5, "psi", services, jobs)


def graph(
    produces: dict[str, tuple[str, ...]],
    consumes: dict[str, tuple[str, ...]] | None = None,
    service_inputs: dict[str, tuple[str, ...]] | None = None,
) -> LineageGraph:
    return LineageGraph(
        produces=MappingProxyType(produces),
        consumes=MappingProxyType(consumes or {}),
        service_inputs=MappingProxyType(service_inputs or {}),
    )


def facts(as_of: float, jobs: dict[str, str], services: tuple[str, ...] = ()) -> WorkloadFacts:
    """Every job seen 30 s ago with ``jobType`` ``jobs[job]``; services heard 5 s ago."""
    return WorkloadFacts(
        facets=MappingProxyType({j: JobFacet("BATCH", t) for j, t in jobs.items()}),
        job_last_seen=MappingProxyType({j: as_of - 30 for j in jobs}),
        service_last_seen=MappingProxyType({s: as_of - 5 for s in services}),
        queue_last_seen=MappingProxyType({"orders-queue": as_of - 5}),
    )


def tick(engine: DispatchEngine, snap: Snapshot, wf: WorkloadFacts) -> Evaluation:
    return engine.evaluate(to_inputs(snap, wf), POLICY)


def rec(evaluation: Evaluation, workload: str) -> Recommendation:
    return next(r for r in evaluation.recommendations if r.workload == workload)


def reasons(r: Recommendation) -> dict[str, tuple[object, object, str, str]]:
    return {x.signal: (x.value, x.threshold, x.subject, x.rule) for x in r.reasons}


def test_feature_refresh_for_a_stale_busy_model_is_boosted_with_a_cap_in_serving_critical() -> None:
    job, ds = "feast/refresh_user_features", "feast/user_features"
    snap = Snapshot(
        as_of=T0,
        freshness=(fresh(ds, 0.3, T0 - 600),),
        exposure=(exposure("ranker", 0.4),),
        latency=(latency("ranker", -0.2, 120.0),),
        hosts=(host("gpu-1", ("ranker",), (job,)),),
        lineage=(lineage(ds, ("ranker",), 120.0),),
        graph=graph({job: (ds,)}, service_inputs={"ranker": (ds,)}),
    )
    ev = tick(DispatchEngine(), snap, facts(T0, {job: "FEATURE_REFRESH"}, ("ranker",)))
    # ML pressure: clamp(1 - (-0.2) / 0.5) * min(1, 120 / 1) = 1 -> high;
    # ETL pressure: the one ETL host's contention 0.5 < 0.85 -> serving-critical.
    assert (ev.regime.regime, ev.regime.pressures.ml, ev.regime.pressures.etl) == (
        "serving-critical",
        1.0,
        0.5,
    )
    r = rec(ev, job)
    assert (r.cls, r.action, r.priority, r.max_concurrency) == ("feature-refresh", "boost", 90, 2)
    assert r.regime == "serving-critical" and r.confidence == "high"
    why = reasons(r)
    assert why["feeds_stale_model"] == (0.4, 0.1, ds, "refresh-stale-model-inputs")
    assert why["downstream_rps"] == (120.0, 10.0, job, "refresh-stale-model-inputs")
    # The model service itself is online-inference, protected, admitted at base priority 20
    # (20 + 50*0 urgency + 20*0 staleness + 10*(1 - 1) recoverability).
    svc = rec(ev, "ranker")
    assert (svc.cls, svc.action, svc.priority) == ("online-inference", "admit", 20)


def test_regime_follows_the_short_rate_window_when_traffic_stops() -> None:
    # 120 req/s over the 15-minute window, breached slack -0.2, but no request in the
    # last minute: ML pressure clamp(1 - (-0.2) / 0.5) * min(1, 0 / 1) = 0 -> calm.
    # With one request per second now: 1 * min(1, 1 / 1) = 1 -> serving-critical.
    job, ds = "feast/refresh_user_features", "feast/user_features"

    def snap(at: float, recent: float) -> Snapshot:
        return Snapshot(
            as_of=at,
            freshness=(fresh(ds, 0.9, at + 3600),),
            exposure=(exposure("ranker", 0.0),),
            latency=(latency("ranker", -0.2, 120.0, rps_recent=recent),),
            hosts=(host("gpu-1", ("ranker",), (job,)),),
            lineage=(lineage(ds, ("ranker",), 120.0),),
            graph=graph({job: (ds,)}, service_inputs={"ranker": (ds,)}),
        )

    stopped = tick(
        DispatchEngine(), snap(T0, 0.0), facts(T0, {job: "FEATURE_REFRESH"}, ("ranker",))
    )
    assert (stopped.regime.regime, stopped.regime.pressures.ml) == ("calm", 0.0)
    busy = tick(DispatchEngine(), snap(T0, 1.0), facts(T0, {job: "FEATURE_REFRESH"}, ("ranker",)))
    assert (busy.regime.regime, busy.regime.pressures.ml) == ("serving-critical", 1.0)


def test_etl_next_to_a_service_missing_its_slo_is_throttled_unless_it_feeds_it() -> None:
    unrelated, feeder = "etl/nightly_orders", "etl/build_ranker_inputs"
    orders, inputs = "warehouse/orders", "warehouse/ranker_inputs"
    snap = Snapshot(
        as_of=T0,
        freshness=(fresh(orders, 1.0, T0 + 7200), fresh(inputs, 0.25, T0 + 1800)),
        exposure=(exposure("ranker", 0.4),),
        latency=(latency("ranker", -0.2, 120.0),),
        hosts=(host("shared-1", ("ranker",), (unrelated, feeder)),),
        lineage=(lineage(orders), lineage(inputs, ("ranker",), 120.0)),
        graph=graph({unrelated: (orders,), feeder: (inputs,)}),
    )
    wf = facts(T0, {unrelated: "QUERY", feeder: "QUERY"}, ("ranker",))
    ev = tick(DispatchEngine(), snap, wf)
    throttled = rec(ev, unrelated)
    assert (throttled.cls, throttled.action, throttled.max_concurrency) == (
        "etl-transform",
        "throttle",
        1,
    )
    assert reasons(throttled)["colocated_min_slack"] == (
        -0.2,
        0.0,
        "ranker",
        "etl-yields-to-serving",
    )
    boosted = rec(ev, feeder)
    assert (boosted.action, boosted.max_concurrency) == ("boost", 2)
    # urgency: pressure 1 - 1800/3600 = 0.5, weight 0.5 + 0.5 * 120/130 = 0.961538
    #   -> 0.480769; staleness cost max(0.4 exposure, (1 - 0.25) * 120/130 = 0.692308);
    # base = round(20 + 50*0.480769 + 20*0.692308 + 10*0) = round(57.88) = 58; +15 -> 73.
    assert boosted.priority == 73
    assert reasons(boosted)["causes_colocated_staleness"] == (
        True,
        True,
        "ranker",
        "etl-fixing-colocated-staleness",
    )


def _overload_snapshot(as_of: float, queue_age: float, slack: float) -> Snapshot:
    return Snapshot(
        as_of=as_of,
        queues=(QueueRow("orders-queue", "queue", depth=100.0, oldest_age=queue_age),),
        latency=(latency("ranker", slack, 120.0),),
    )


def test_exploratory_retraining_waits_out_an_overload_and_resumes_once_calm() -> None:
    job = "research/retrain_ranker_experiment"
    engine = DispatchEngine()
    # t0: queue aging 900/900 = 1 and ML pressure 1 -> overload.
    ev = tick(
        engine,
        _overload_snapshot(T0, 900.0, -0.2),
        facts(T0, {job: "EXPLORATORY_TRAINING"}, ("ranker",)),
    )
    assert ev.regime.regime == "overload"
    r = rec(ev, job)
    assert (r.cls, r.action, r.resume_when) == ("exploratory", "defer", "{regime: calm}")
    assert reasons(r)["regime"] == ("overload", "overload", "regime", "exploratory-waits-for-calm")
    # t0+120: the queue drained (ETL pressure 0 < exit 0.80) but serving is still critical:
    # the deferral lasts until calm, not merely until the overload ends.
    t1 = T0 + 120
    ev = tick(
        engine,
        _overload_snapshot(t1, 0.0, -0.2),
        facts(t1, {job: "EXPLORATORY_TRAINING"}, ("ranker",)),
    )
    assert ev.regime.regime == "serving-critical"
    assert rec(ev, job).action == "defer"
    # t0+240: slack 0.45 -> ML pressure 1 - 0.45/0.5 = 0.1 < 0.80 -> calm, and it resumes.
    t2 = T0 + 240
    ev = tick(
        engine,
        _overload_snapshot(t2, 0.0, 0.45),
        facts(t2, {job: "EXPLORATORY_TRAINING"}, ("ranker",)),
    )
    assert ev.regime.regime == "calm"
    assert rec(ev, job).action == "admit"
    assert [
        (c.recommendation.workload, c.previous_action)
        for c in ev.changes
        if c.recommendation.workload == job
    ] == [(job, "defer")]


@pytest.mark.parametrize(
    ("drift", "confidence", "signal", "value"),
    [(3, None, "upstream_schema_drift", 3.0), (0, 0.8, "upstream_failing_assertions", 1.0)],
)
def test_unsafe_upstream_holds_the_job_until_its_input_is_clean(
    drift: int, confidence: float | None, signal: str, value: float
) -> None:
    job, raw, out = "feast/refresh_item_features", "raw/items", "feast/item_features"
    engine = DispatchEngine()

    def snap(as_of: float, d: int, c: float | None) -> Snapshot:
        return Snapshot(
            as_of=as_of,
            freshness=(fresh(out, 1.0, as_of + 7200),),
            lineage=(lineage(raw, drift=d, confidence=c), lineage(out)),
            graph=graph({job: (out,)}, consumes={job: (raw,)}),
        )

    ev = tick(engine, snap(T0, drift, confidence), facts(T0, {job: "FEATURE_REFRESH"}))
    held = rec(ev, job)
    assert held.action == "defer"
    assert reasons(held)[signal] == (value, 0.0, raw, "unsafe-input")
    assert (
        held.resume_when == "{upstream_failing_assertions: {eq: 0}, upstream_schema_drift: {eq: 0}}"
    )
    t1 = T0 + 60
    ev = tick(
        engine,
        snap(t1, 0, 1.0 if confidence is not None else None),
        facts(t1, {job: "FEATURE_REFRESH"}),
    )
    assert rec(ev, job).action == "admit"


def test_a_job_that_has_not_run_lately_is_not_missing_telemetry() -> None:
    # Its lineage is an hour old and it touches no service: the rules decide (here the
    # overload deferral), not the stale-telemetry envelope.
    job = "research/retrain_ranker_experiment"
    wf = facts(T0, {job: "EXPLORATORY_TRAINING"})
    old = WorkloadFacts(facets=wf.facets, job_last_seen=MappingProxyType({job: T0 - 3600}))
    r = rec(tick(DispatchEngine(), _overload_snapshot(T0, 900.0, -0.2), old), job)
    assert (r.action, r.confidence) == ("defer", "high")


def test_the_stale_input_of_a_serving_model_gets_its_producer_boosted() -> None:
    # As a new user met it: the feature job last ran 2313 s ago, its output is stale and
    # feeds a model serving 20 req/s, all of it stale. The model's telemetry is current
    # (5 s), so the decision rests on live data: boost (refresh-stale-model-inputs).
    job, ds = "feast/refresh_user_features", "features/user"
    snap = Snapshot(
        as_of=T0,
        freshness=(fresh(ds, 0.2, T0 - 600),),
        exposure=(exposure("ranker", 1.0),),
        latency=(latency("ranker", 0.5, 20.0),),
        lineage=(lineage(ds, ("ranker",), 20.0),),
        graph=graph({job: (ds,)}),
    )
    wf = facts(T0, {job: "FEATURE_REFRESH"}, ("ranker",))
    old = replace(wf, job_last_seen=MappingProxyType({job: T0 - 2313}))
    r = rec(tick(DispatchEngine(), snap, old), job)
    assert (r.action, r.priority, r.confidence) == ("boost", 90, "high")
    assert reasons(r)["feeds_stale_model"] == (1.0, 0.1, ds, "refresh-stale-model-inputs")


def test_silent_services_give_a_neutral_low_confidence_recommendation() -> None:
    # The job shares a host with ranker, which has sent nothing within telemetry_stale_s:
    # what the decision depends on is missing. The reason is a true comparison: unknown.
    job = "etl/nightly_orders"
    snap = Snapshot(
        as_of=T0,
        latency=(latency("ranker", -0.2, 120.0),),
        hosts=(host("shared-1", ("ranker",), (job,)),),
        graph=graph({job: ("warehouse/orders",)}),
    )
    r = rec(tick(DispatchEngine(), snap, facts(T0, {job: "QUERY"})), job)
    assert (r.action, r.priority, r.confidence, r.max_concurrency) == ("admit", 50, "low", None)
    (why,) = r.reasons
    assert (why.signal, why.value, why.op, why.threshold, why.rule) == (
        "telemetry_age_s", None, "eq", None, "envelope:stale-telemetry",
    )  # fmt: skip


def test_a_replay_from_an_earlier_instant_starts_afresh() -> None:
    job = "research/retrain_ranker_experiment"
    engine = DispatchEngine()
    wf = facts(T0, {job: "EXPLORATORY_TRAINING"}, ("ranker",))
    assert rec(tick(engine, _overload_snapshot(T0, 900.0, -0.2), wf), job).action == "defer"
    # Back to an hour earlier, calm: no deferral, no previous decision carried over.
    earlier = T0 - 3600
    ev = tick(
        engine,
        _overload_snapshot(earlier, 0.0, 0.45),
        facts(earlier, {job: "EXPLORATORY_TRAINING"}, ("ranker",)),
    )
    assert rec(ev, job).action == "admit"
    assert {c.recommendation.workload: c.previous_action for c in ev.changes}[job] == ""
