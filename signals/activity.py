"""Workload activity: each job's declared type, and when each workload was last heard.

Dispatch needs two facts that no signal row carries (docs/signals.md#workload-activity):

* a job's type, from the OpenLineage ``jobType`` facet: per job, the greatest non-empty
  ``processingType``, ``jobType`` and ``integration`` among its run events in the window
  (a job reports the same values every run, so this is "the value it reports");
* last heard: the newest event time at or before ``as_of`` of a job's run events, of a
  service's spans or metric points, of a queue's samples. Dispatch turns these into
  ``telemetry_age_s`` (as_of minus last heard; docs/dispatch.md, safety envelope).

Each function reads the window ``[as_of - lookback_s, as_of]`` (both ends inclusive)
with every value a bound parameter, and never the wall clock.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.signals.contract import NS_PER_S
from loadsense.storage.client import Storage
from loadsense.storage.schema.telemetry import SPAN_STEP_S


@dataclass(frozen=True)
class JobFacet:
    processing_type: str = ""
    job_type: str = ""
    integration: str = ""


@dataclass(frozen=True)
class JobActivity:
    """One job (``namespace/name``): its declared type and its newest run event."""

    namespace: str
    name: str
    facet: JobFacet
    last_seen: float
    """Epoch seconds."""


_JOBS_SQL = """
SELECT job_namespace, job_name,
       maxIf(processing_type, processing_type != ''),
       maxIf(job_type, job_type != ''),
       maxIf(integration, integration != ''),
       toUnixTimestamp64Nano(max(event_time))
FROM run_events
WHERE event_time <= fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')
  AND event_time >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')
GROUP BY job_namespace, job_name
"""

_SERVICES_SQL = """
SELECT service_name, toUnixTimestamp64Nano(max(t)) FROM (
    -- the span_steps rollup: the step holding as_of may report as_of itself
    SELECT service_name, least(last_start, fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')) AS t
    FROM span_steps
    WHERE step >= toStartOfInterval(fromUnixTimestamp64Nano({since:Int64}, 'UTC'),
                                    INTERVAL @step@ SECOND)
      AND step <= fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')
      AND last_start >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')
      AND first_start <= fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')
    UNION ALL
    SELECT service_name, time AS t FROM metric_points
    WHERE time <= fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')
      AND time >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')
) WHERE service_name != '' GROUP BY service_name
""".replace("@step@", str(SPAN_STEP_S))

_QUEUES_SQL = """
SELECT queue_name, toUnixTimestamp64Nano(max(time)) FROM queue_samples
WHERE time <= fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')
  AND time >= fromUnixTimestamp64Nano({since:Int64}, 'UTC')
GROUP BY queue_name
"""


def _window(as_of_ns: int, lookback_s: float) -> dict[str, int]:
    return {"as_of": as_of_ns, "since": as_of_ns - int(lookback_s * NS_PER_S)}


def job_activity(storage: Storage, as_of_ns: int, lookback_s: float) -> tuple[JobActivity, ...]:
    """Every job with a run event in ``[as_of - lookback_s, as_of]``: its type and when it
    was last heard."""
    rows = storage.client.query(_JOBS_SQL, parameters=_window(as_of_ns, lookback_s))
    return tuple(
        JobActivity(
            namespace=str(ns),
            name=str(name),
            facet=JobFacet(str(ptype), str(jtype), str(integration)),
            last_seen=last_ns / NS_PER_S,
        )
        for ns, name, ptype, jtype, integration, last_ns in rows.result_rows
    )


def services_last_seen(storage: Storage, as_of_ns: int, lookback_s: float) -> dict[str, float]:
    """``service.name`` -> epoch seconds of its newest span start (from the ``span_steps``
    rollup, capped at ``as_of``) or metric point in ``[as_of - lookback_s, as_of]``."""
    rows = storage.client.query(_SERVICES_SQL, parameters=_window(as_of_ns, lookback_s))
    return {str(s): t / NS_PER_S for s, t in rows.result_rows}


def queues_last_seen(storage: Storage, as_of_ns: int, lookback_s: float) -> dict[str, float]:
    """Queue name -> epoch seconds of its newest sample in ``[as_of - lookback_s, as_of]``."""
    rows = storage.client.query(_QUEUES_SQL, parameters=_window(as_of_ns, lookback_s))
    return {str(q): t / NS_PER_S for q, t in rows.result_rows}
