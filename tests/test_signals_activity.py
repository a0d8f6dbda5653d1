"""Workload activity (signals/activity.py): job types and last-heard times, from rows the
real receivers stored (openlineage-python for lineage, OTLP/JSON for telemetry).

As of A = T0 + 200 s; everything after A must be invisible.
"""

from __future__ import annotations

import uuid

import pytest
from openlineage.client.event_v2 import Job, Run, RunEvent, RunState
from openlineage.client.facet_v2 import job_type_job

from loadsense.signals.activity import (
    JobFacet,
    job_activity,
    queues_last_seen,
    services_last_seen,
)
from loadsense.storage.client import Storage
from tests.support.service import Service, settle_running
from tests.support.signals_feed import NS, PRODUCER, T0, Feed, iso, unique

A = T0 + 200 * NS
MS = 1_000_000


def _emit(feed: Feed, namespace: str, name: str, at_ns: int, job_type: str | None) -> None:
    facets = {}
    if job_type is not None:
        facets["jobType"] = job_type_job.JobTypeJobFacet(
            processingType="BATCH", integration="AIRFLOW", jobType=job_type
        )
    feed._client().emit(
        RunEvent(
            eventType=RunState.COMPLETE,
            eventTime=iso(at_ns),
            run=Run(runId=str(uuid.uuid4())),
            job=Job(namespace=namespace, name=name, facets=facets),
            producer=PRODUCER,
        )
    )
    settle_running()  # the test reads storage right after


@pytest.fixture(scope="module")
def world(service: Service) -> dict[str, str]:
    feed = Feed(service.url)
    names = {
        "ns": unique("act"),
        "svc": unique("act-svc"),
        "old_svc": unique("act-old"),
        "queue": unique("act-q"),
    }
    ns = names["ns"]
    # etl: typed at T0 + 10 s, untyped at T0 + 150 s, typed again after A (invisible).
    _emit(feed, ns, "etl", T0 + 10 * NS, "TASK")
    _emit(feed, ns, "etl", T0 + 150 * NS, None)
    _emit(feed, ns, "etl", T0 + 300 * NS, "QUERY")
    _emit(feed, ns, "late", T0 + 250 * NS, "TASK")  # only after A: not a job yet
    # Spans start at +50 and +155 s, one at +205 s (in A's step, after A: invisible).
    feed.spans(names["svc"], [T0 + 50 * NS, T0 + 155 * NS, T0 + 205 * NS], [5 * MS] * 3)
    feed.spans(names["old_svc"], [T0 + 20 * NS], [5 * MS])
    feed.queue_samples(names["queue"], "depth", [(T0 + 20 * NS, 3), (T0 + 180 * NS, 4)])
    feed.queue_samples(names["queue"], "depth", [(T0 + 250 * NS, 5)])
    return names


def test_a_job_reports_its_type_and_newest_run_event_up_to_as_of(
    storage: Storage, world: dict[str, str]
) -> None:
    jobs = {j.name: j for j in job_activity(storage, A, 3600.0) if j.namespace == world["ns"]}
    assert set(jobs) == {"etl"}
    # The typed event's values win over the empty ones; the +300 s "QUERY" is after A.
    assert jobs["etl"].facet == JobFacet("BATCH", "TASK", "AIRFLOW")
    assert jobs["etl"].last_seen == (T0 + 150 * NS) / NS
    # A lookback of 100 s starts at T0 + 100 s: the typed event falls out of it.
    recent = [j for j in job_activity(storage, A, 100.0) if j.namespace == world["ns"]]
    assert [j.facet for j in recent] == [JobFacet()]


def test_services_and_queues_last_heard_within_the_lookback(
    storage: Storage, world: dict[str, str]
) -> None:
    services = services_last_seen(storage, A, 100.0)
    # Newest span start at or before A is +155 s; the +205 s span shares A's 10 s step
    # but started after A. The old service's only span (+20 s) is before A - 100 s.
    assert services[world["svc"]] == (T0 + 155 * NS) / NS
    assert world["old_svc"] not in services
    # Queue metrics arrive from a "queue-exporter" service: its metric points count too
    # (the shared exporter name may carry newer points from other tests, never after A).
    assert (T0 + 180 * NS) / NS <= services["queue-exporter"] <= A / NS
    queues = queues_last_seen(storage, A, 100.0)
    assert queues[world["queue"]] == (T0 + 180 * NS) / NS
    assert world["queue"] not in queues_last_seen(storage, A, 10.0)  # window [A-10 s, A]
