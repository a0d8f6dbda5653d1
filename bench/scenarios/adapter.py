"""The scheduler adapter: how a scheduler obeys Loadsense's recommendations.

This is the whole integration, and the example an Airflow, Kueue or Celery adapter
follows. Loadsense is layered on top of the cluster's own priority scheme, as a real
integration is (Airflow pools and priority weights, Kueue cluster queues): the base
placement protects serving capacity exactly as ``static-priority`` does (a shard starts
only where the host's CPU and IO demand, services at their current traffic included,
stays within capacity), and Loadsense decides everything else. Once per scheduling pass
the adapter reads ``GET /api/v1/recommendations`` (through
:class:`loadsense.api.client.LoadsenseClient`) and, per workload (the OpenLineage job
``namespace/name`` of the queued task):

* ``defer``: do not start it (running shards are left to finish);
* ``pause``: do not start it, and stop its running shards (the only decision that
  stops running work: a stopped shard queues again and its progress is lost);
* ``throttle`` / ``boost`` with ``max_concurrency``: start new shards only while fewer
  than that many run; running shards above the cap finish (throttling slows the
  workload down, it does not throw work away);
* ``boost`` / ``admit`` / ``throttle``: queue order is by the recommendation's
  ``priority``, highest first, then oldest first;
* no recommendation (a workload Loadsense has not seen yet) or an expired one: admit
  at the neutral priority 50.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from loadsense.api.client import Recommendation
from loadsense.bench.scenarios.policies import greedy, serving_first
from loadsense.bench.scenarios.sim import Scheduler, Shard, Simulation, TaskRun

NEUTRAL_PRIORITY = 50


class LoadsenseScheduler(Scheduler):
    name = "loadsense"

    def __init__(
        self, fetch: Callable[[], Sequence[Recommendation]], now: Callable[[], float]
    ) -> None:
        """``fetch`` returns the current recommendations; ``now`` the clock they expire on."""
        self._fetch = fetch
        self._now = now
        self.last: dict[str, Recommendation] = {}

    def _current(self) -> dict[str, Recommendation]:
        now = self._now()
        return {r.workload: r for r in self._fetch() if _epoch(r.expires_at) >= now}

    def preempt(self, sim: Simulation) -> list[Shard]:
        """Only ``pause`` stops running shards."""
        recs = self.last = self._current()
        return [
            s
            for s in sim.shards
            if s.run.workload in recs and recs[s.run.workload].action == "pause"
        ]

    def choose(self, sim: Simulation) -> list[tuple[TaskRun, str]]:
        recs = self.last

        def priority(run: TaskRun) -> int:
            rec = recs.get(run.workload)
            return NEUTRAL_PRIORITY if rec is None else rec.priority

        def cap(run: TaskRun) -> int | None:
            rec = recs.get(run.workload)
            return None if rec is None else rec.max_concurrency

        runnable = [
            r
            for r in sim.queue
            if r.pending > 0 and (r.workload not in recs or not recs[r.workload].held)
        ]
        order = sorted(runnable, key=lambda r: (-priority(r), r.queued_at, r.seq))
        return greedy(sim, order, serving_first(sim), cap)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
