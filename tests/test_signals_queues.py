"""Queue aging and ETL run timing with the arithmetic written out."""

from __future__ import annotations

import uuid

import pytest

from loadsense.signals import queues
from loadsense.signals.config import SignalsConfig, parse_signals_config
from loadsense.signals.contract import Params
from loadsense.signals.graph import LineageGraph
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique


def evaluate(
    storage: Storage, as_of_ns: int, config: SignalsConfig | None = None
) -> dict[str, queues.QueueRow]:
    params = Params(config=config or SignalsConfig(), graph=LineageGraph())
    return {r.subject: r for r in queues.compute(storage, as_of_ns, params)}


def test_growth_littles_law_counter_reset_and_breach(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    q = unique("orders")
    depth = [(T0 + t * NS, 100 + 0.5 * t) for t in (0, 60, 120, 180, 240)]  # 100 .. 220
    feed.queue_samples(q, "depth", depth)
    feed.queue_samples(q, "depth", depth)  # a retried export changes nothing
    # dequeued: 1000, 1060, 1120, then the consumer restarts (new start time): 30, 90.
    starts = [T0 - 3600 * NS] * 3 + [T0 + 170 * NS] * 2
    dequeued = [
        (T0 + t * NS, v) for t, v in ((0, 1000), (60, 1060), (120, 1120), (180, 30), (240, 90))
    ]
    feed.queue_samples(q, "dequeued", dequeued, start_ns=starts)
    config = parse_signals_config({"queues": {q: {"depth_limit": 400, "age_limit_s": 300}}})
    row = evaluate(storage, T0 + 240 * NS, config)[q]
    assert row.type == "queue"
    assert row.depth == 220.0
    assert row.growth == pytest.approx(0.5)  # exact line: 60 items per 120 s
    # increases 60 + 60 + 30 (restart: the new value) + 60 = 210 over 240 s
    assert row.dequeue_rate == pytest.approx(210 / 240)
    assert row.oldest_age_estimated
    assert row.oldest_age == pytest.approx(220 / (210 / 240))  # Little's law: 251.43 s
    # depth breach: (400 - 220) / 0.5 = 360 s; an estimated age has no slope to project.
    assert row.time_to_breach == pytest.approx(360.0)


def test_reset_by_value_drop_and_reported_age(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    q = unique("jobs")
    # A drop without a new start time is a reset too: 30 + 10 + 30 = 70 over 30 s.
    feed.queue_samples(
        q, "dequeued", [(T0 + t * NS, v) for t, v in ((0, 50), (10, 80), (20, 10), (30, 40))]
    )
    feed.queue_samples(q, "depth", [(T0 + t * NS, 5.0) for t in (0, 30, 60)])
    feed.queue_samples(q, "oldest_age", [(T0 + t * NS, 10.0 + t) for t in (0, 30, 60)])
    config = parse_signals_config({"queues": {"jobs-*": {"depth_limit": 10, "age_limit_s": 100}}})
    row = evaluate(storage, T0 + 60 * NS, config)[q]
    assert row.dequeue_rate == pytest.approx(70 / 30)
    assert row.oldest_age == 70.0 and not row.oldest_age_estimated
    assert row.growth == 0.0
    # depth flat (no depth breach); age grows 1 s/s: (100 - 70) / 1 = 30 s
    assert row.time_to_breach == pytest.approx(30.0)
    # Already over the limit: 0.
    config = parse_signals_config({"queues": {"jobs-*": {"depth_limit": 5}}})
    assert evaluate(storage, T0 + 60 * NS, config)[q].time_to_breach == 0.0


def test_delta_counter(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    q = unique("delta")
    # Delta points 10, 20, 30 covering (0, 10], (10, 20], (20, 30]: 60 items over 30 s.
    points = [(T0 + t * NS, v) for t, v in ((10, 10.0), (20, 20.0), (30, 30.0))]
    starts = [T0 + t * NS for t in (0, 10, 20)]
    feed.queue_samples(q, "dequeued", points, start_ns=starts, delta=True)
    feed.queue_samples(q, "depth", [(T0 + 30 * NS, 12.0)])
    row = evaluate(storage, T0 + 30 * NS)[q]
    assert row.dequeue_rate == pytest.approx(60 / 30)
    assert row.oldest_age == pytest.approx(12 / 2)  # Little's law


def test_window_without_samples_has_no_row(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    q = unique("idle")
    feed.queue_samples(q, "depth", [(T0, 3.0)])
    assert q not in evaluate(storage, T0 + 901 * NS)  # W = 900 s
    # The window is (as_of - 900, as_of]: at as_of = T0 + 900 the sample is just outside.
    assert q not in evaluate(storage, T0 + 900 * NS)
    assert evaluate(storage, T0 + 899 * NS)[q].growth is None  # one sample: no slope


def test_job_dispatch_delay_durations_and_failures(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    job = f"{unique('etl')}/nightly"
    for nominal, start, end, state in (
        (0, 30, 130, "COMPLETE"),  # 100 s
        (600, 620, 820, "COMPLETE"),  # 200 s
        (1200, 1205, 1505, "FAIL"),
        (1800, 1900, 2200, "COMPLETE"),  # 300 s
    ):
        feed.run(
            job, T0 + start * NS, T0 + end * NS, state=state, nominal_start_ns=T0 + nominal * NS
        )
    row = evaluate(storage, T0 + 2300 * NS)[job]
    assert row.type == "job"
    assert row.runs == 4
    assert row.failure_rate == pytest.approx(1 / 4)
    # COMPLETE durations 100, 200, 300: ranks 2q -> 1.0, 1.9, 1.98
    assert row.duration_p50 == pytest.approx(200.0)
    assert row.duration_p95 == pytest.approx(200 + 0.9 * 100)
    assert row.duration_p99 == pytest.approx(200 + 0.98 * 100)
    assert row.dispatch_delay == pytest.approx(1900 - 1800)  # the latest started run
    # As of 2000 s the last run has started but not finished: 3 finished, delay still 100.
    early = evaluate(storage, T0 + 2000 * NS)[job]
    assert early.runs == 3 and early.dispatch_delay == pytest.approx(100.0)


def test_terminal_events_at_the_same_instant_resolve_by_type_name(
    storage: Storage, service: Service
) -> None:
    feed = Feed(service.url)
    job = f"{unique('etl')}/twice"
    # one run reported COMPLETE and FAIL at the same instant (two producers disagreeing),
    # another COMPLETE then ABORT at the same instant: FAIL > COMPLETE > ABORT by name
    for run_id, states in (
        (str(uuid.uuid4()), ("COMPLETE", "FAIL")),
        (str(uuid.uuid4()), ("ABORT", "COMPLETE")),
    ):
        for state in states:
            feed.run(job, T0, T0 + 100 * NS, state=state, run_id=run_id)
    row = evaluate(storage, T0 + 200 * NS)[job]
    assert row.runs == 2
    assert row.failure_rate == pytest.approx(1 / 2)  # the first run failed, the second completed
    assert row.duration_p50 == pytest.approx(100.0)  # only the COMPLETE run is timed
