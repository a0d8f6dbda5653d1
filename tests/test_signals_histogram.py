"""Latency and exposure of services that export request-duration histograms but no
spans, with the bucket arithmetic written out (docs/signals.md#latency)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import httpx
import pytest

from loadsense.signals import latency
from loadsense.signals.config import SignalsConfig
from loadsense.signals.contract import Params
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.graph import LineageGraph
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000
AS_OF = T0 + 2000 * NS
# W = 900 s: (T0 + 1100, T0 + 2000]; the scan for cumulative baselines reaches T0 + 200.
HTTP_BOUNDS = [0.01, 0.025, 0.05, 0.1, 0.25]  # s: buckets (0,10] (10,25] (25,50] (50,100]
# (100,250] (250,+Inf) ms


def _attr(key: str, value: str) -> dict[str, Any]:
    return {"key": key, "value": {"stringValue": value}}


def histogram(
    url: str,
    service: str,
    metric: str,
    bounds: Sequence[float],
    points: Sequence[tuple[int, int, Sequence[int]]],
    *,
    cumulative: bool,
    attributes: dict[str, str] | None = None,
    count: int | None = None,
) -> None:
    """``(start_s, time_s, bucket_counts)`` points (seconds after T0) of one histogram
    series as OTLP/JSON through ``POST /v1/metrics``."""
    data = [
        {
            "attributes": [_attr(k, v) for k, v in (attributes or {}).items()],
            "startTimeUnixNano": str(T0 + start * NS),
            "timeUnixNano": str(T0 + at * NS),
            "count": str(sum(counts) if count is None else count),
            "bucketCounts": [str(c) for c in counts],
            "explicitBounds": list(bounds),
        }
        for start, at, counts in points
    ]
    body = {
        "resourceMetrics": [
            {
                "resource": {"attributes": [_attr("service.name", service)]},
                "scopeMetrics": [
                    {
                        "scope": {"name": "tests"},
                        "metrics": [
                            {
                                "name": metric,
                                "unit": "s",
                                "histogram": {
                                    "aggregationTemporality": 2 if cumulative else 1,
                                    "dataPoints": data,
                                },
                            }
                        ],
                    }
                ],
            }
        ]
    }
    r = httpx.post(f"{url}/v1/metrics", json=body, timeout=30)
    assert r.status_code == 200, r.text
    assert not r.json().get("partialSuccess"), r.text


@pytest.fixture(scope="module")
def world(storage: Storage, service: Service) -> dict[str, str]:
    feed, url = Feed(service.url), service.url
    ns = unique("hist")
    names = {s: f"{ns}-{s}" for s in ("cumulative", "delta", "first", "both", "rebound", "bare")}
    names["F"] = f"{ns}/features"
    http = "http.server.request.duration"
    # Cumulative, status 200, series started at 10 s (before the scan): its first point
    # (1000 s) is only a baseline. Then +40, +40, a restart at 1700 s (new start_time:
    # the increment is the new value, 4), +8; the point at 2100 s is after as_of.
    histogram(
        url,
        names["cumulative"],
        http,
        HTTP_BOUNDS,
        [
            (10, 1000, [5, 0, 0, 0, 0, 0]),
            (10, 1200, [25, 20, 0, 0, 0, 0]),  # +[20, 20, 0, 0, 0, 0] = 40
            (10, 1500, [25, 20, 40, 0, 0, 0]),  # +[0, 0, 40, 0, 0, 0] = 40
            (1700, 1800, [0, 0, 0, 4, 0, 0]),  # reset: +[0, 0, 0, 4, 0, 0] = 4
            (1700, 1900, [0, 0, 0, 10, 2, 0]),  # +[0, 0, 0, 6, 2, 0] = 8
            (1700, 2100, [0, 0, 0, 10, 2, 50]),  # after as_of
        ],
        cumulative=True,
        attributes={"http.response.status_code": "200"},
    )
    # Cumulative, status 503, started at 1250 s (inside the scan): its first point counts
    # from zero (5); then the count drops with the same start_time: a reset, +3.
    histogram(
        url,
        names["cumulative"],
        http,
        HTTP_BOUNDS,
        [(1250, 1300, [0, 0, 0, 0, 5, 0]), (1250, 1600, [0, 0, 0, 0, 3, 0])],
        cumulative=True,
        attributes={"http.response.status_code": "503"},
    )
    genai = "gen_ai.server.request.duration"
    bounds = [0.1, 0.5, 1.0]  # (0,100] (100,500] (500,1000] (1000,+Inf) ms
    histogram(url, names["delta"], genai, bounds, [(1000, 1050, [100, 0, 0, 0])], cumulative=False)
    histogram(url, names["delta"], genai, bounds, [(1340, 1400, [2, 4, 2, 0])], cumulative=False)
    histogram(
        url,
        names["delta"],
        genai,
        bounds,
        [(1640, 1700, [0, 2, 4, 6])],
        cumulative=False,
        attributes={"error.type": "timeout"},
    )
    histogram(url, names["first"], http, [0.2, 0.4], [(1390, 1400, [4, 0, 0])], cumulative=False)
    histogram(url, names["both"], http, [0.2], [(1390, 1400, [50, 0])], cumulative=False)
    # One cumulative series (started at 1000 s, inside the scan) whose bounds change: the
    # second point is a reset. [3, 0] over (0, 100] then [1, 4, 2] over (0, 100] (100, 200].
    histogram(url, names["rebound"], http, [0.1], [(1000, 1200, [3, 0])], cumulative=True)
    histogram(url, names["rebound"], http, [0.1, 0.2], [(1000, 1500, [1, 4, 2])], cumulative=True)
    # A histogram without buckets: a count only.
    histogram(url, names["bare"], http, [], [(1390, 1400, [])], cumulative=False, count=7)
    feed.spans(names["both"], [T0 + t * NS for t in (1400, 1500, 1600)], [10 * MS] * 3)
    # The cumulative service reads F, updated at 0, 400, 800 s: interval = grace = H = 400.
    for t in (0, 400, 800):
        feed.run(f"{ns}/build_f", T0 + t * NS, T0 + t * NS, outputs=[names["F"]])
    feed.job_event(f"serving/{names['cumulative']}", [names["F"]], T0)
    return names


def rows(storage: Storage, as_of_ns: int = AS_OF) -> dict[str, latency.LatencyRow]:
    params = Params(config=SignalsConfig(), graph=LineageGraph())
    return {r.subject: r for r in latency.compute(storage, as_of_ns, params)}


def test_cumulative_with_resets(storage: Storage, world: dict[str, str]) -> None:
    row = rows(storage)[world["cumulative"]]
    assert row.source == "histogram"
    # 200: [20, 20, 40, 10, 2, 0] = 92; 503: [0, 0, 0, 0, 8, 0] = 8.
    # Summed [20, 20, 40, 10, 10, 0], n = 100, running 20, 40, 80, 90, 100, 100.
    assert row.requests == 100
    assert row.rps == pytest.approx(100 / 900)
    assert row.error_rate == pytest.approx(8 / 100)
    # p50: rank 50 in (25, 50] (40 below, 40 inside): 25 + 25 * (50 - 40) / 40 = 31.25
    assert row.p50_ms == pytest.approx(31.25)
    # p95: rank 95 in (100, 250] (90 below, 10 inside): 100 + 150 * 5 / 10 = 175
    assert row.p95_ms == pytest.approx(175.0)
    # p99: rank 99: 100 + 150 * 9 / 10 = 235
    assert row.p99_ms == pytest.approx(235.0)
    assert row.latency_slack == pytest.approx((250 - 235) / 250)  # 0.06


def test_delta_and_the_inf_bucket(storage: Storage, world: dict[str, str]) -> None:
    row = rows(storage)[world["delta"]]
    assert row.source == "histogram"
    # The point at 1050 s is before W. [2, 4, 2, 0] + [0, 2, 4, 6] = [2, 6, 6, 6], n = 20,
    # running 2, 8, 14, 20; the 12 of the second point carry error.type.
    assert row.requests == 20
    assert row.rps == pytest.approx(20 / 900)
    assert row.error_rate == pytest.approx(12 / 20)
    # p50: rank 10 in (500, 1000] (8 below, 6 inside): 500 + 500 * 2 / 6 = 666.67
    assert row.p50_ms == pytest.approx(500 + 500 * 2 / 6)
    # p95 (rank 19) and p99 (rank 19.8) fall in (1000, +Inf): the last finite bound
    assert row.p95_ms == pytest.approx(1000.0)
    assert row.p99_ms == pytest.approx(1000.0)
    assert row.latency_slack == pytest.approx((250 - 1000) / 250)  # -3


def test_first_bucket_starts_at_zero(storage: Storage, world: dict[str, str]) -> None:
    row = rows(storage)[world["first"]]
    # [4, 0, 0] over (0, 200]: p50 rank 2 -> 200 * 2 / 4 = 100; p95 rank 3.8 -> 190;
    # p99 rank 3.96 -> 198.
    assert (row.p50_ms, row.p95_ms, row.p99_ms) == pytest.approx((100.0, 190.0, 198.0))


def test_changed_bounds_reset_and_the_dominant_layout(
    storage: Storage, world: dict[str, str]
) -> None:
    row = rows(storage)[world["rebound"]]
    assert row.requests == 3 + 7
    # Percentiles from the layout with most requests, [1, 4, 2] (n = 7, running 1, 5, 7):
    # p50 rank 3.5 in (100, 200]: 100 + 100 * (3.5 - 1) / 4 = 162.5; p95 rank 6.65: +Inf.
    assert row.p50_ms == pytest.approx(162.5)
    assert row.p95_ms == pytest.approx(200.0)


def test_no_buckets_counts_requests_without_percentiles(
    storage: Storage, world: dict[str, str]
) -> None:
    row = rows(storage)[world["bare"]]
    assert row.requests == 7 and row.rps == pytest.approx(7 / 900)
    assert row.error_rate == 0.0
    assert row.p50_ms is None and row.p99_ms is None and row.latency_slack is None


def test_spans_win_over_histograms(storage: Storage, world: dict[str, str]) -> None:
    row = rows(storage)[world["both"]]
    assert row.source == "spans"
    assert row.requests == 3  # the spans, not the histogram's 50
    assert row.p50_ms == pytest.approx(10.0)


def test_no_traffic_in_window(storage: Storage, world: dict[str, str]) -> None:
    # W = (4100, 5000]: no point there (the scan back to 3200 has none either).
    row = rows(storage, T0 + 5000 * NS)[world["cumulative"]]
    assert row.source == "histogram"
    assert row.requests == 0 and row.rps == 0.0
    assert row.p50_ms is None and row.p99_ms is None
    assert row.error_rate is None and row.latency_slack is None


def test_exposure_weights_each_interval_by_its_count(
    storage: Storage, world: dict[str, str]
) -> None:
    ev = evaluate_all(storage, AS_OF, SignalsConfig())
    row = {r.subject: r for r in ev.rows["exposure"]}[world["cumulative"]]
    assert row.requests == 100
    # Increments served at 1200 (40), 1300 (5), 1500 (40), 1600 (3), 1800 (4), 1900 (8);
    # F's last update before each is 800: age 400, 500, 700, 800, 1000, 1100 and
    # f = 2^(-max(0, age - 400) / 400) = 1, 2^-0.25, 2^-0.75, 0.5, 2^-1.5, 2^-1.75.
    # Below theta 0.5: 1800 and 1900 (0.5 itself is not stale): 4 + 8 = 12.
    assert row.stale_requests == 12
    assert row.exposure_ratio == pytest.approx(12 / 100)
    weighted = (
        40 * 0
        + 5 * (1 - 2**-0.25)
        + 40 * (1 - 2**-0.75)
        + 3 * (1 - 0.5)
        + 4 * (1 - 2**-1.5)
        + 8 * (1 - 2**-1.75)
    )
    assert row.weighted_exposure == pytest.approx(weighted)  # 22.17
    assert row.per_input[0].stale_requests == 12


def test_recent_rate_counts_only_the_short_window(storage: Storage, world: dict[str, str]) -> None:
    # R = 60 s. At 1900 s the short window (1840, 1900] holds the point at 1900 only:
    # +[0, 0, 0, 6, 2, 0] = 8 requests -> 8 / 60. At 2000 s (1940, 2000] holds none -> 0,
    # while the 15-minute rps still says 100 / 900.
    name = world["cumulative"]
    assert rows(storage, T0 + 1900 * NS)[name].rps_recent == pytest.approx(8 / 60)
    row = rows(storage)[name]
    assert (row.rps_recent, row.rps) == (0.0, pytest.approx(100 / 900))
