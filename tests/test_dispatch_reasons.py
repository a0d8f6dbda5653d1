"""Every reason a recommendation gives is a comparison that holds (docs/dispatch.md).

Random worlds (slack, freshness, exposure, traffic, drift, validation, queue age, who
was heard when) go through the default policy for a few ticks; each reason's
``value op threshold`` is evaluated here, independently of the engine.
"""

from __future__ import annotations

import fnmatch
from dataclasses import replace
from types import MappingProxyType

from hypothesis import given, settings
from hypothesis import strategies as st

from loadsense.correlator.dispatch.engine import DispatchEngine
from loadsense.correlator.dispatch.recommendation import Reason
from loadsense.correlator.snapshot import Snapshot
from loadsense.signals.queues import QueueRow
from tests.test_dispatch_scenarios import (
    T0,
    exposure,
    facts,
    fresh,
    graph,
    host,
    latency,
    lineage,
    tick,
)  # fmt: skip


def holds(r: Reason) -> bool:
    v, t, op = r.value, r.threshold, r.op
    if op in ("in", "not_in"):
        assert isinstance(t, tuple)
        return (v in t) == (op == "in")
    if op == "glob":
        return isinstance(v, str) and isinstance(t, str) and fnmatch.fnmatchcase(v, t)
    if op == "eq":
        return v == t
    if op == "ne":
        return v != t
    if v is None or t is None or isinstance(v, str) or isinstance(t, str | tuple):
        return False
    a, b = float(v), float(t)
    return {"lt": a < b, "le": a <= b, "gt": a > b, "ge": a >= b}[op]


slack = st.floats(-1.0, 0.9)
share = st.floats(0.0, 1.0)


@settings(max_examples=60, deadline=None)
@given(
    slacks=st.lists(slack, min_size=3, max_size=3),
    freshness=share,
    ratio=share,
    rps=st.floats(0.0, 200.0),
    drift=st.integers(0, 3),
    confidence=st.one_of(st.none(), share),
    queue_age=st.floats(0.0, 3000.0),
    job_seen=st.one_of(st.none(), st.floats(0.0, 7200.0)),
    service_heard=st.booleans(),
    kinds=st.tuples(
        *(st.sampled_from(["QUERY", "FEATURE", "SCORING", "TRAINING", "EXPLORE"]),) * 3
    ),
)
def test_every_reason_is_a_true_comparison(
    slacks: list[float],
    freshness: float,
    ratio: float,
    rps: float,
    drift: int,
    confidence: float | None,
    queue_age: float,
    job_seen: float | None,
    service_heard: bool,
    kinds: tuple[str, str, str],
) -> None:
    jobs = ("etl/a", "etl/b", "lab/c")
    raw, feat, other = "raw/events", "features/user", "warehouse/x"
    engine = DispatchEngine()
    for i, s in enumerate(slacks):
        as_of = T0 + 60 * i
        snap = Snapshot(
            as_of=as_of,
            freshness=(fresh(feat, freshness, as_of + 900), fresh(other, 1.0, as_of + 7200)),
            exposure=(exposure("ranker", ratio),),
            latency=(latency("ranker", s, rps),),
            hosts=(host("h1", ("ranker",), jobs[:2]),),
            lineage=(
                lineage(raw, ("ranker",), rps, drift, confidence),
                lineage(feat, ("ranker",), rps),
                lineage(other),
            ),
            queues=(QueueRow("q", "queue", depth=10.0, oldest_age=queue_age),),
            graph=graph(
                {jobs[0]: (raw,), jobs[1]: (feat,), jobs[2]: (other,)},
                consumes={jobs[1]: (raw,), jobs[2]: (raw,)},
            ),
        )
        wf = facts(as_of, dict(zip(jobs, kinds, strict=True)), ("ranker",) if service_heard else ())
        seen = {} if job_seen is None else {j: as_of - job_seen for j in jobs}
        wf = replace(wf, job_last_seen=MappingProxyType(seen))
        for rec in tick(engine, snap, wf).recommendations:
            for reason in rec.reasons:
                assert holds(reason), f"{rec.workload}: {reason}"
