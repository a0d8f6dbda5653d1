"""A present-day world in which every default rule but the ``absent()`` one has a
reason to fire, fed through the real receivers (``signals_feed.Feed``).

Around ``now`` (epoch ns), for a fresh prefix ``ns``:

- ``<ns>/features`` updated at now-3000, now-2400, now-1800 s (declared interval and
  half-life 600 s: at ``now`` its age is 1800 s, freshness 2^(-(1800-600)/600) = 0.25);
  its schema changes once (id int -> string) and 1 of 2 quality assertions fails;
- ``<ns>-ranker`` declares it as input and serves 20 requests of 1 s from now-570 s on,
  on host ``<ns>-host``: p99 1000 ms against the 250 ms SLO (slack -3), and every
  request after the input dropped below 0.5 (age 1200 s at now-600) is stale;
- ``<ns>-host`` reports CPU pressure (PSI "some") of 0.95;
- queue ``<ns>-queue`` reports an oldest item of 530 s against an age limit of 300 s.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tests.support.signals_feed import NS, Feed, unique


@dataclass(frozen=True)
class AlertWorld:
    ns: str
    dataset: str
    service: str
    host: str
    queue: str
    now_ns: int

    @property
    def signals(self) -> dict[str, Any]:
        """The ``signals`` settings this world is evaluated with."""
        return {
            "datasets": {f"{self.ns}/*": {"expected_interval_s": 600, "half_life_s": 600}},
            "queues": {self.queue: {"age_limit_s": 300}},
        }


def build_world(url: str, now_ns: int) -> AlertWorld:
    feed = Feed(url)
    ns = unique("aw")
    w = AlertWorld(ns, f"{ns}/features", f"{ns}-ranker", f"{ns}-host", f"{ns}-queue", now_ns)
    for t in (3000, 2400, 1800):
        at = now_ns - t * NS
        feed.run(f"{ns}/refresh", at - 60 * NS, at, outputs=[w.dataset])
    feed.job_event(f"serving/{w.service}", [w.dataset], now_ns - 3600 * NS)
    starts = [now_ns - (570 - 25 * k) * NS for k in range(20)]
    feed.spans(w.service, starts, [NS] * len(starts), host=w.host)
    feed.schema(w.dataset, now_ns - 500 * NS, {"id": "int"})
    feed.schema(w.dataset, now_ns - 400 * NS, {"id": "string"})
    feed.assertions(w.dataset, now_ns - 300 * NS, [True, False])
    feed.host_sample(w.host, "cpu", "some", now_ns - 5 * NS, 0.95)
    feed.queue_samples(
        w.queue, "oldest_age", [(now_ns - 60 * NS, 500.0), (now_ns - 30 * NS, 530.0)]
    )
    return w
