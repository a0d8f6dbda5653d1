"""What the dispatch policy sees of one tick: workloads, the data they touch, and the
two regime pressures' raw inputs.

These frozen types are the policy's own contract. They are built from the correlator's
snapshot by :mod:`loadsense.correlator.dispatch.adapter`, and directly by tests and simulations,
so the policy can be exercised (scenario fixtures, hypothesis properties) without
storage. Times are seconds since the epoch in the correlator's clock; ``None`` means
"unknown", which the policy treats differently from zero.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class DatasetView:
    """A dataset a workload produces, as the signals describe it at ``as_of``."""

    name: str  # namespace/name
    freshness: float | None = None  # (0, 1]; None when the update interval is unknown
    deadline: float | None = None  # when freshness reaches 0.5 if no update lands
    criticality: float = 0.0  # downstream model traffic, normalised to [0, 1]
    exposure: float = 0.0  # worst stale-prediction exposure ratio of its consumers [0, 1]
    downstream_rps: float = 0.0  # requests/s of the model services that read it
    consumers: tuple[str, ...] = ()  # model services that read it (service.name)


@dataclass(frozen=True)
class ServiceView:
    """A model service sharing hosts with a workload."""

    name: str
    latency_slack: float | None = None  # (SLO - p99) / SLO; negative: SLO breached
    rps: float = 0.0  # requests/s now: latency.rps_recent, over the short rate window


@dataclass(frozen=True)
class UpstreamHealth:
    """Safety of the data a workload reads (its inputs and their producers)."""

    schema_drift: int = 0  # fields added, removed or retyped in the window
    failing_assertions: int = 0  # failing dataQualityAssertions on the latest update
    validation_confidence: float | None = None  # share of passing assertions
    subject: str = ""  # the input dataset the worst value belongs to


@dataclass(frozen=True)
class WorkloadInputs:
    """One workload (ETL job, queue, model service, training job) at ``as_of``."""

    name: str  # namespace/name for jobs, service.name for services, queue name
    kind: str = "job"  # job | queue | service | training
    namespace: str = ""
    service_name: str = ""
    queue: str = ""
    processing_type: str = ""  # jobType facet: BATCH | STREAMING
    job_type: str = ""  # jobType facet: QUERY, TASK, TRAINING, ...
    integration: str = ""
    produces: tuple[DatasetView, ...] = ()
    colocated: tuple[ServiceView, ...] = ()
    upstream: UpstreamHealth = field(default_factory=UpstreamHealth)
    queue_oldest_age_s: float | None = None
    dispatch_delay_s: float | None = None
    host_contention: float | None = None  # worst contention of the hosts it runs on
    retryable: bool = True
    recompute_cost_s: float | None = None  # median run duration
    failure_rate: float | None = None
    telemetry_age_s: float | None = None  # as_of - newest event about it; None: none seen


@dataclass(frozen=True)
class QueueLoad:
    """One queue's contribution to ETL load intensity."""

    name: str
    oldest_age_s: float | None
    age_limit_s: float | None = None  # configured limit; the policy default otherwise


@dataclass(frozen=True)
class RegimeInputs:
    """Raw inputs of the two pressures (see :mod:`loadsense.correlator.dispatch.regime`)."""

    queues: tuple[QueueLoad, ...] = ()
    dispatch_delays_s: tuple[float, ...] = ()  # recent ETL dispatch delays
    etl_host_contention: tuple[float, ...] = ()  # contention of hosts running ETL
    services: tuple[ServiceView, ...] = ()


@dataclass(frozen=True)
class DispatchInputs:
    """Everything one dispatch evaluation needs."""

    as_of: float
    workloads: tuple[WorkloadInputs, ...] = ()
    regime: RegimeInputs = field(default_factory=RegimeInputs)
