"""Per-workload attributes the policy derives, and the facts rules are written against.

* ``urgency`` in [0, 1]: for each produced dataset, time pressure
  ``clamp(1 - (deadline - as_of) / horizon)`` (1 at or past the deadline) weighted by
  ``0.5 + 0.5 * max(criticality, exposure)``; the workload's urgency is the maximum.
* ``staleness_cost`` in [0, 1]: max over datasets of ``max(exposure, (1 - freshness) *
  criticality)``: what serving loses while the output stays stale.
* ``slo_risk`` in [0, 1]: max over co-located services of ``clamp(1 - slack / 0.5)``.
* ``recoverability`` in (0, 1]: ``(1 if retryable else 0.3) / (1 + recompute_cost / 1 h)``.
* ``protected``: a policy ``classes:`` override, else membership of ``protected_classes``.
Formulas and a worked example: docs/dispatch.md.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from loadsense.correlator.dispatch.classes import ETL_CLASSES, infer_class
from loadsense.correlator.dispatch.conditions import Fact
from loadsense.correlator.dispatch.inputs import WorkloadInputs
from loadsense.correlator.dispatch.policy import Policy
from loadsense.correlator.dispatch.regime import RegimeState

SLACK_REFERENCE = 0.5


@dataclass(frozen=True)
class Attributes:
    cls: str
    urgency: float
    staleness_cost: float
    slo_risk: float
    recoverability: float
    protected: bool
    freshness_critical: bool
    facts: Mapping[str, Fact]


def _clamp(value: float) -> float:
    return min(1.0, max(0.0, value))


def classify(workload: WorkloadInputs, policy: Policy) -> tuple[str, bool]:
    """The workload's class and protected flag after policy overrides."""
    cls = infer_class(workload.kind, workload.job_type, workload.processing_type)
    protected: bool | None = None
    for override in policy.classes:
        if override.matches(
            workload.namespace, workload.name, workload.service_name, workload.queue
        ):
            cls = override.cls or cls
            protected = override.protected
            break
    if protected is None:
        protected = cls in policy.options.protected_classes
    return cls, protected


def derive(
    workload: WorkloadInputs, policy: Policy, regime: RegimeState, as_of: float
) -> Attributes:
    """Attributes and facts of ``workload`` at ``as_of``."""
    options = policy.options
    cls, protected = classify(workload, policy)
    urgency, urgency_subject = 0.0, ""
    cost, cost_subject = 0.0, ""
    min_fresh: float | None = None
    fresh_subject = ""
    stale_model, stale_subject = 0.0, ""
    downstream_rps = 0.0
    for ds in workload.produces:
        weight = 0.5 + 0.5 * _clamp(max(ds.criticality, ds.exposure))
        if ds.deadline is not None:
            pressure = _clamp(1.0 - (ds.deadline - as_of) / options.urgency_horizon_s)
            if pressure * weight > urgency:
                urgency, urgency_subject = pressure * weight, ds.name
        stale = 0.0 if ds.freshness is None else (1.0 - ds.freshness) * _clamp(ds.criticality)
        if max(ds.exposure, stale) > cost:
            cost, cost_subject = _clamp(max(ds.exposure, stale)), ds.name
        if ds.freshness is not None and (min_fresh is None or ds.freshness < min_fresh):
            min_fresh, fresh_subject = ds.freshness, ds.name
        if ds.exposure > stale_model:
            stale_model, stale_subject = ds.exposure, ds.name
        downstream_rps += ds.downstream_rps
    risk, risk_subject = 0.0, ""
    min_slack: float | None = None
    slack_subject = ""
    for svc in workload.colocated:
        if svc.latency_slack is None:
            continue
        if min_slack is None or svc.latency_slack < min_slack:
            min_slack, slack_subject = svc.latency_slack, svc.name
        svc_risk = _clamp(1.0 - svc.latency_slack / SLACK_REFERENCE)
        if svc_risk > risk:
            risk, risk_subject = svc_risk, svc.name
    causes, causes_subject = _causes_staleness(workload, options.stale_theta)
    cost_hours = (workload.recompute_cost_s or 0.0) / 3600.0
    recoverability = (1.0 if workload.retryable else 0.3) / (1.0 + cost_hours)
    critical = cls in ETL_CLASSES and urgency >= options.freshness_critical_urgency
    up = workload.upstream
    name = workload.name
    facts: dict[str, Fact] = {
        "class": Fact(cls, name),
        "regime": Fact(regime.regime, "regime"),
        "kind": Fact(workload.kind, name),
        "name": Fact(name, name),
        "namespace": Fact(workload.namespace, name),
        "service_name": Fact(workload.service_name, name),
        "queue": Fact(workload.queue, name),
        "urgency": Fact(round(urgency, 6), urgency_subject or name),
        "staleness_cost": Fact(round(cost, 6), cost_subject or name),
        "slo_risk": Fact(round(risk, 6), risk_subject or name),
        "recoverability": Fact(round(recoverability, 6), name),
        "protected": Fact(protected, name),
        "freshness_critical": Fact(critical, urgency_subject or name),
        "min_output_freshness": Fact(min_fresh, fresh_subject or name),
        "feeds_stale_model": Fact(stale_model, stale_subject or name),
        "downstream_rps": Fact(downstream_rps, name),
        "colocated_min_slack": Fact(min_slack, slack_subject),
        "causes_colocated_staleness": Fact(causes, causes_subject or name),
        "upstream_schema_drift": Fact(float(up.schema_drift), up.subject or name),
        "upstream_failing_assertions": Fact(float(up.failing_assertions), up.subject or name),
        "upstream_validation_confidence": Fact(up.validation_confidence, up.subject or name),
        "queue_oldest_age_s": Fact(workload.queue_oldest_age_s, workload.queue or name),
        "dispatch_delay_s": Fact(workload.dispatch_delay_s, name),
        "host_contention": Fact(workload.host_contention, name),
        "telemetry_age_s": Fact(workload.telemetry_age_s, name),
        "etl_pressure": Fact(regime.pressures.etl, regime.pressures.etl_subject or "regime"),
        "ml_pressure": Fact(regime.pressures.ml, regime.pressures.ml_subject or "regime"),
    }
    return Attributes(
        cls=cls,
        urgency=urgency,
        staleness_cost=cost,
        slo_risk=risk,
        recoverability=recoverability,
        protected=protected,
        freshness_critical=critical,
        facts=facts,
    )


def _causes_staleness(workload: WorkloadInputs, theta: float) -> tuple[bool, str]:
    """True when a co-located service with negative slack reads a stale output of ours.

    Throttling such a workload would prolong the very staleness the service suffers,
    so the default policy exempts it (docs/dispatch.md, "unless it is the cause").
    """
    struggling = {
        s.name for s in workload.colocated if s.latency_slack is not None and s.latency_slack < 0
    }
    for ds in workload.produces:
        stale = (ds.freshness is not None and ds.freshness < theta) or ds.exposure > 0
        if stale:
            for consumer in ds.consumers:
                if consumer in struggling:
                    return True, consumer
    return False, ""
