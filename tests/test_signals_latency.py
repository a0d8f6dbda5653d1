"""Serving latency: percentiles, error rate, slack and rps with the arithmetic written out."""

from __future__ import annotations

import pytest

from loadsense.signals import latency
from loadsense.signals.config import SignalsConfig, parse_signals_config
from loadsense.signals.contract import Params
from loadsense.signals.graph import LineageGraph
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000


def evaluate(
    storage: Storage, as_of_ns: int, config: SignalsConfig | None = None
) -> dict[str, latency.LatencyRow]:
    params = Params(config=config or SignalsConfig(), graph=LineageGraph())
    return {r.subject: r for r in latency.compute(storage, as_of_ns, params)}


def test_percentiles_errors_slack_and_rps(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    svc, strict = unique("ranker"), unique("strict")
    starts = [T0 + k * NS for k in range(1, 101)]  # one request per second, 1..100 s
    durations = [k * MS for k in range(1, 101)]  # 1..100 ms
    errors = [k % 20 == 0 for k in range(1, 101)]  # 5 errors
    ids = feed.spans(svc, starts, durations, errors=errors)
    feed.spans(svc, starts, durations, errors=errors, ids=ids)  # an exporter retry
    feed.spans(strict, starts, durations)
    feed.spans(svc, [T0 + 50 * NS], [10_000 * MS], kind="CLIENT")  # not a served request
    config = parse_signals_config({"services": {"strict-*": {"slo_ms": 50}}})
    rows = evaluate(storage, T0 + 100 * NS, config)
    row = rows[svc]
    assert row.requests == 100  # the retry is not counted twice
    # rank (n - 1) * q over 1..100 ms: 49.5 -> 50.5, 94.05 -> 95.05, 98.01 -> 99.01
    assert row.p50_ms == pytest.approx(50.5)
    assert row.p95_ms == pytest.approx(95.05)
    assert row.p99_ms == pytest.approx(99.01)
    assert row.error_rate == pytest.approx(5 / 100)
    assert row.rps == pytest.approx(100 / 900)
    assert row.slo_ms == 250.0
    assert row.latency_slack == pytest.approx((250 - 99.01) / 250)  # 0.60396
    assert rows[strict].slo_ms == 50.0
    assert rows[strict].latency_slack == pytest.approx((50 - 99.01) / 50)  # -0.9802


def test_window_bounds_and_no_traffic(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    svc = unique("ranker")
    # W = 60 s ending at T0 + 100 s is (T0 + 40, T0 + 100]: 40 excluded, 41..100 included.
    feed.spans(svc, [T0 + k * NS for k in range(1, 101)], [k * MS for k in range(1, 101)])
    config = parse_signals_config({"window_s": 60})
    row = evaluate(storage, T0 + 100 * NS, config)[svc]
    assert row.requests == 60
    assert row.rps == 1.0
    # 41..100 ms, rank 59 * 0.5 = 29.5 -> 41 + 29.5 = 70.5
    assert row.p50_ms == pytest.approx(70.5)
    idle = evaluate(storage, T0 + 1000 * NS, config)[svc]
    assert idle.requests == 0 and idle.rps == 0.0
    assert idle.p99_ms is None and idle.error_rate is None and idle.latency_slack is None
