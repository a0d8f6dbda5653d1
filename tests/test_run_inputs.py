"""The correlator's memo of runs' inputs: the same inputs as a fresh lookup, re-reading
only the runs that are new to it or gained input edges since it last looked. (Signal
rows through the memo equal the definition on randomized histories with inputs declared
after a run's end: tests/test_lineage_state.py.)"""

from __future__ import annotations

import time

from loadsense.correlator.loop import Correlator
from loadsense.selfmetrics import SelfMetrics
from loadsense.signals import run_inputs, summaries
from loadsense.signals.config import SignalsConfig
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.run_inputs import RunInputsMemo
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique


def test_memo_rereads_only_runs_that_changed(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    ns = unique("ri")
    a, b, c = f"{ns}/a", f"{ns}/b", f"{ns}/c"
    # START at T0 and COMPLETE at T0 + 60 s both list the inputs: each edge's latest
    # declaration is T0 + 60 s
    first = feed.run(f"{ns}/job1", T0, T0 + 60 * NS, inputs=[a], outputs=[f"{ns}/out1"])
    second = feed.run(f"{ns}/job2", T0, T0 + 60 * NS, inputs=[b], outputs=[f"{ns}/out2"])
    as_of = T0 + 3600 * NS
    # no margin: the test's inserts all commit before the next look
    memo = RunInputsMemo(margin_s=0)
    assert memo.lookup(storage, [first, second], as_of) == {first: [a], second: [b]}
    assert memo.fetched == 2

    assert memo.lookup(storage, [first, second], as_of) == {first: [a], second: [b]}
    assert memo.fetched == 2  # nothing arrived: nothing read again

    # metadata after the COMPLETE (run metadata is cumulative): the first run gains c
    feed.event(f"{ns}/job1", first, T0 + 120 * NS, inputs=[c])
    got = memo.lookup(storage, [first, second], as_of)
    assert got == {first: [a, c], second: [b]}
    assert got == run_inputs.lookup(storage, [first, second], as_of)
    assert memo.fetched == 3  # only the run that gained an edge

    # an instant before c was declared (T0 + 120 s) and after a was (T0 + 60 s)
    assert memo.lookup(storage, [first], T0 + 90 * NS) == {first: [a]}
    # the memo keeps the runs of its latest lookup only: the second is read again
    assert memo.lookup(storage, [first, second], as_of) == {first: [a, c], second: [b]}
    assert memo.fetched == 4

    memo.forget()
    assert memo.lookup(storage, [first], as_of) == {first: [a, c]}
    assert memo.fetched == 5
    assert memo.lookup(storage, ["no-such-run"], as_of) == {"no-such-run": []}


def test_edges_inside_the_margin_are_read_again(storage: Storage, service: Service) -> None:
    """Arrivals just before the last look may have committed after it: read again."""
    feed = Feed(service.url)
    ns = unique("rim")
    run = feed.run(f"{ns}/job", T0, T0 + 60 * NS, inputs=[f"{ns}/a"], outputs=[f"{ns}/out"])
    memo = RunInputsMemo()  # the default margin: a minute
    for looks in (1, 2, 3):
        assert memo.lookup(storage, [run], T0 + 3600 * NS) == {run: [f"{ns}/a"]}
        assert memo.fetched == looks


def test_warm_reads_ahead_what_the_first_evaluation_needs(
    storage: Storage, service: Service
) -> None:
    """``serve`` warms the correlator before its first tick: that evaluation then reads
    no run's inputs, and its rows are the same as a fresh lookup's."""
    feed = Feed(service.url)
    ns = unique("riw")
    now = time.time_ns()
    at = now - 300 * NS
    feed.run(f"{ns}/job", at, at + NS, inputs=[f"{ns}/src"], outputs=[f"{ns}/out"])
    assert summaries.current(storage, now) is not None  # built by the session's service
    correlator = Correlator(storage, SignalsConfig(), SelfMetrics(), external_clock=True)
    memo = correlator._run_inputs
    assert correlator.warm(now) >= 0 and memo.fetched > 0
    read_ahead = memo.fetched
    memo._margin_ms = 0  # nothing is inserted meanwhile
    snap = correlator.evaluate(now)
    assert memo.fetched == read_ahead
    rows = {r.subject: r for r in snap.freshness}
    assert rows[f"{ns}/out"].inputs == (f"{ns}/src",)
    fresh = evaluate_all(storage, now, SignalsConfig())
    assert snap.freshness == fresh.rows["freshness"]
