"""Feed a running service over HTTP as producers would, and drive its external clock.

For tests that need recommendations to exist without reaching into the service's
internals: OpenLineage RunEvents (the benchmark's generator, spec-shaped JSON) posted to
``/api/v1/lineage/batch``, then ``POST /api/v1/tick``.
"""

from __future__ import annotations

import json
import random
import time

import httpx

from loadsense.bench import payloads


def feed_runs(
    url: str, namespace: str, seed: int, runs: int = 10, headers: dict[str, str] | None = None
) -> set[str]:
    """Post ``runs`` completed runs of jobs in ``namespace``; returns their workload names."""
    events = payloads.run_events(random.Random(seed), runs, time.time_ns())
    for event in events:
        event["job"]["namespace"] = namespace
    response = httpx.post(
        f"{url}/api/v1/lineage/batch",
        content=json.dumps(events),
        headers={**(headers or {}), "Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 200, response.text
    return {f"{namespace}/{e['job']['name']}" for e in events}


def tick(url: str, as_of: float | None = None, headers: dict[str, str] | None = None) -> None:
    """One correlator tick at ``as_of`` (now by default) on a service with the external clock."""
    at = str(int(time.time() if as_of is None else as_of))
    response = httpx.post(
        f"{url}/api/v1/tick", params={"as_of": at}, headers=headers or {}, timeout=60
    )
    assert response.status_code == 200, response.text
