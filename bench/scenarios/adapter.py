"""The scheduler adapter: how a scheduler obeys Loadsense's recommendations.

This is the whole integration, and the example an Airflow, Kueue or Celery adapter
follows. Once per scheduling pass it reads ``GET /api/v1/recommendations`` (through
:class:`loadsense.api.client.LoadsenseClient`) and, per workload (the OpenLineage job
``namespace/name`` of the queued task):

* ``defer``: do not start it (running shards are left to finish);
* ``pause``: do not start it, and stop its running shards;
* ``throttle`` / ``boost`` with ``max_concurrency``: at most that many of its shards
  run at once; running shards above the cap are stopped, newest first (as Kueue
  evicts a workload: a stopped shard queues again and its progress is lost);
* ``boost`` / ``admit`` / ``throttle``: queue order is by the recommendation's
  ``priority``, highest first, then oldest first;
* no recommendation (a workload Loadsense has not seen yet) or an expired one: admit
  at the neutral priority 50.

Besides the recommendations the adapter applies only the host's slot limit, as a plain
FIFO scheduler would: every other decision is Loadsense's.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from datetime import datetime

from loadsense.api.client import Recommendation
from loadsense.bench.scenarios.policies import greedy
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
        recs = self.last = self._current()
        stop: list[Shard] = []
        by_workload: dict[str, list[Shard]] = {}
        for shard in sim.shards:
            by_workload.setdefault(shard.run.workload, []).append(shard)
        for workload, shards in sorted(by_workload.items()):
            rec = recs.get(workload)
            if rec is None:
                continue
            keep = 0 if rec.action == "pause" else rec.max_concurrency
            if keep is not None and len(shards) > keep:
                stop.extend(shards[keep:])
        return stop

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
        return greedy(sim, order, lambda run, host, cpu, io: True, cap)


def _epoch(moment: datetime) -> float:
    return moment.timestamp()
