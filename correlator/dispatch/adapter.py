"""From the correlator's :class:`~loadsense.correlator.snapshot.Snapshot` to the policy's inputs.

Workloads are the ETL and training jobs of the lineage graph (``namespace/name``), the
model services with latency rows (``service.name``) and the queues (queue name).
Two things the snapshot does not carry come from the workload-activity signals
(``signals/activity.py``), as of the same instant: each job's ``jobType`` facet
(processingType, jobType, integration) and when Loadsense last heard from each
workload's telemetry stream (see :func:`load_workload_facts`). Everything else is
derived from the snapshot rows:

* a dataset's ``criticality`` is its downstream request rate ``c`` normalised as
  ``c / (c + 10)`` (10 req/s -> 0.5); its ``exposure`` the worst ``exposure_ratio`` of
  the model services downstream of it;
* co-located services are those seen on the hosts a job was seen on;
* upstream health is the worst of the job's direct inputs: schema drift summed, the
  lowest validation confidence, and one failing assertion counted per input whose
  validation confidence is below 1 (the snapshot carries the share, not the count);
* ``telemetry_age_s`` is the age of the telemetry a workload's decision depends on
  (docs/dispatch.md#telemetry-age): for a service, since its newest span or metric
  point; for a queue, since its newest sample; for a job that shares hosts with
  services or whose outputs feed services, the age of the freshest of those services'
  telemetry; for any other job 0 while its namespace has sent any lineage in the
  lookback, else unknown. A job that has not run lately is what freshness is about,
  never "missing telemetry": its producer must still be boosted when a model waits.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType

from loadsense.correlator.dispatch.inputs import (
    DatasetView,
    DispatchInputs,
    QueueLoad,
    RegimeInputs,
    ServiceView,
    UpstreamHealth,
    WorkloadInputs,
)
from loadsense.correlator.snapshot import Snapshot
from loadsense.signals.activity import (
    JobFacet,
    job_activity,
    queues_last_seen,
    services_last_seen,
)
from loadsense.storage.client import Storage

CRITICALITY_HALF_RPS = 10.0
LOOKBACK_S = 7 * 24 * 3600.0


@dataclass(frozen=True)
class WorkloadFacts:
    """What dispatch reads from storage besides the snapshot (as of the same instant)."""

    facets: Mapping[str, JobFacet] = field(default_factory=lambda: MappingProxyType({}))
    job_last_seen: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    namespace_last_seen: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    service_last_seen: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))
    queue_last_seen: Mapping[str, float] = field(default_factory=lambda: MappingProxyType({}))


def load_workload_facts(storage: Storage, as_of_ns: int, service_window_s: float) -> WorkloadFacts:
    """Job facets and last-heard times at or before ``as_of_ns`` (bound parameters only).

    Jobs look back :data:`LOOKBACK_S`; services and queues ``service_window_s`` (the
    policy's ``telemetry_stale_s``: their telemetry is continuous, and anything older
    counts as missing anyway).
    """
    facets: dict[str, JobFacet] = {}
    job_seen: dict[str, float] = {}
    ns_seen: dict[str, float] = {}
    for job in job_activity(storage, as_of_ns, LOOKBACK_S):
        name = f"{job.namespace}/{job.name}"
        facets[name] = job.facet
        job_seen[name] = job.last_seen
        ns_seen[job.namespace] = max(ns_seen.get(job.namespace, 0.0), job.last_seen)
    services = services_last_seen(storage, as_of_ns, service_window_s)
    queues = queues_last_seen(storage, as_of_ns, service_window_s)
    return WorkloadFacts(
        MappingProxyType(facets),
        MappingProxyType(job_seen),
        MappingProxyType(ns_seen),
        MappingProxyType(services),
        MappingProxyType(queues),
    )


def _criticality(rps: float) -> float:
    return rps / (rps + CRITICALITY_HALF_RPS) if rps > 0 else 0.0


def _age(as_of: float, seen: float | None) -> float | None:
    return None if seen is None else max(0.0, as_of - seen)


def to_inputs(snapshot: Snapshot, facts: WorkloadFacts) -> DispatchInputs:
    """The policy's view of ``snapshot`` (module docstring for the derivations)."""
    as_of = snapshot.as_of
    graph = snapshot.graph
    fresh = snapshot.by_subject("freshness")
    lineage = snapshot.by_subject("lineage")
    latency = snapshot.by_subject("latency")
    exposure = snapshot.by_subject("exposure")
    hosts = snapshot.by_subject("hosts")
    hosts_of = snapshot.hosts_of
    members = snapshot.host_members
    service_views = {
        name: ServiceView(name, row.latency_slack, row.rps_recent) for name, row in latency.items()
    }
    queue_rows = [r for r in snapshot.queues if r.type == "queue"]
    job_rows = {r.subject: r for r in snapshot.queues if r.type == "job"}

    def dataset_view(name: str) -> DatasetView:
        f, lin = fresh.get(name), lineage.get(name)
        consumers: tuple[str, ...] = tuple(lin.downstream_services) if lin else ()
        ratios = [
            exposure[s].exposure_ratio
            for s in consumers
            if s in exposure and exposure[s].exposure_ratio is not None
        ]
        rps = float(lin.criticality) if lin else 0.0
        return DatasetView(
            name=name,
            freshness=f.freshness if f else None,
            deadline=f.deadline if f else None,
            criticality=_criticality(rps),
            exposure=max(ratios, default=0.0),
            downstream_rps=rps,
            consumers=consumers,
        )

    def colocated(member: str) -> tuple[ServiceView, ...]:
        names = {
            m for h in hosts_of.get(member, ()) for m in members.get(h, ()) if m in service_views
        }
        names.discard(member)
        return tuple(service_views[n] for n in sorted(names))

    def contention(member: str) -> float | None:
        values = [
            hosts[h].contention for h in hosts_of.get(member, ()) if hosts[h].contention is not None
        ]
        return max(values) if values else None

    def upstream(job: str) -> UpstreamHealth:
        drift, failing, worst, subject = 0, 0, None, ""
        for name in graph.consumes.get(job, ()):
            lin = lineage.get(name)
            if lin is None:
                continue
            drift += lin.schema_drift
            conf = lin.validation_confidence
            if conf is not None and conf < 1.0:
                failing += 1
            if lin.schema_drift > 0 or (conf is not None and conf < 1.0):
                subject = subject or name
            if conf is not None and (worst is None or conf < worst):
                worst = conf
        return UpstreamHealth(drift, failing, worst, subject)

    def job_telemetry_age(
        job: str, namespace: str, produced: tuple[DatasetView, ...], near: tuple[ServiceView, ...]
    ) -> float | None:
        touched = {v.name for v in near} | {c for d in produced for c in d.consumers}
        if touched:
            ages = [_age(as_of, facts.service_last_seen.get(name)) for name in touched]
            return min((a for a in ages if a is not None), default=None)
        heard = facts.job_last_seen.get(job) or facts.namespace_last_seen.get(namespace)
        return None if heard is None else 0.0

    service_names = set(latency) | set(graph.service_inputs)
    workloads: list[WorkloadInputs] = []
    jobs = set(graph.produces) | set(graph.consumes) | set(job_rows) | set(facts.facets)
    for job in sorted(jobs):
        namespace, _, short = job.partition("/")
        if short in service_names and job not in graph.produces and job not in facts.facets:
            continue  # the static-lineage declaration of a model service's inputs
        facet = facts.facets.get(job, JobFacet())
        produced = tuple(dataset_view(d) for d in graph.produces.get(job, ()))
        costs = [lineage[d].recompute_cost for d in graph.produces.get(job, ()) if d in lineage]
        rates = [lineage[d].failure_rate for d in graph.produces.get(job, ()) if d in lineage]
        near = colocated(job)
        qrow = job_rows.get(job)
        workloads.append(
            WorkloadInputs(
                name=job,
                kind="training" if "TRAIN" in facet.job_type.upper() else "job",
                namespace=namespace,
                processing_type=facet.processing_type,
                job_type=facet.job_type,
                integration=facet.integration,
                produces=produced,
                colocated=near,
                upstream=upstream(job),
                dispatch_delay_s=qrow.dispatch_delay if qrow else None,
                host_contention=contention(job),
                recompute_cost_s=max((c for c in costs if c is not None), default=None),
                failure_rate=max((r for r in rates if r is not None), default=None),
                telemetry_age_s=job_telemetry_age(job, namespace, produced, near),
            )
        )
    for name in sorted(service_names):
        workloads.append(
            WorkloadInputs(
                name=name,
                kind="service",
                service_name=name,
                colocated=colocated(name),
                host_contention=contention(name),
                telemetry_age_s=_age(as_of, facts.service_last_seen.get(name)),
            )
        )
    for row in queue_rows:
        if row.subject in service_names:
            continue
        workloads.append(
            WorkloadInputs(
                name=row.subject,
                kind="queue",
                queue=row.subject,
                queue_oldest_age_s=row.oldest_age,
                telemetry_age_s=_age(as_of, facts.queue_last_seen.get(row.subject)),
            )
        )
    etl_hosts = [h.contention for h in snapshot.hosts if h.jobs and h.contention is not None]
    regime = RegimeInputs(
        queues=tuple(QueueLoad(r.subject, r.oldest_age, r.age_limit_s) for r in queue_rows),
        dispatch_delays_s=tuple(
            r.dispatch_delay for r in job_rows.values() if r.dispatch_delay is not None
        ),
        etl_host_contention=tuple(etl_hosts),
        services=tuple(service_views[n] for n in sorted(service_views)),
    )
    return DispatchInputs(as_of=as_of, workloads=tuple(workloads), regime=regime)
