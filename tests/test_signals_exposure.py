"""Stale-prediction exposure, hand-computed request by request."""

from __future__ import annotations

import pytest

from loadsense.signals.config import SignalsConfig, parse_signals_config
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.exposure import ExposureRow
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000
AS_OF = T0 + 3000 * NS
# W = 900 s: the window is (T0 + 2100, T0 + 3000]; one request a minute at 2160..3000 s.
REQUESTS = [2160 + 60 * j for j in range(15)]


def f(age: float) -> float:
    """Freshness with grace 600 s and half-life 600 s."""
    return float(2 ** (-max(0.0, age - 600) / 600))


def exposure(storage: Storage, config: SignalsConfig | None = None) -> dict[str, ExposureRow]:
    ev = evaluate_all(storage, AS_OF, config or SignalsConfig())
    return {r.subject: r for r in ev.rows["exposure"]}


@pytest.fixture(scope="module")
def world(storage: Storage, service: Service) -> dict[str, str]:
    feed = Feed(service.url)
    ns = unique("fs")
    names = {
        "F": f"{ns}/features",  # updates 0, 600, 1200 then nothing
        "G": f"{ns}/late",  # updates 0, 600, 1200, 2700
        "H": f"{ns}/derived",  # rebuilt from F every 600 s (always fresh itself)
    }
    for t in (0, 600, 1200):
        feed.run(f"{ns}/build_f", T0 + t * NS, T0 + t * NS, outputs=[names["F"]])
    for t in (0, 600, 1200, 2700):
        feed.run(f"{ns}/build_g", T0 + t * NS, T0 + t * NS, outputs=[names["G"]])
    for t in (0, 600, 1200, 1800, 2400, 3000):
        at = T0 + (t + 1) * NS
        feed.run(f"{ns}/build_h", at, at, inputs=[names["F"]], outputs=[names["H"]])
    for role, inputs in {
        "only_f": [names["F"]],
        "only_g": [names["G"]],
        "both": [names["F"], names["G"]],
        "derived": [names["H"]],
        "strict": [names["F"]],
    }.items():
        service = f"{ns}-{role}"
        names[role] = service
        feed.job_event(f"serving/{service}", inputs, T0)
        feed.spans(service, [T0 + t * NS for t in REQUESTS], [5 * MS] * len(REQUESTS))
    names["undeclared"] = f"{ns}-undeclared"
    feed.spans(names["undeclared"], [T0 + t * NS for t in REQUESTS], [5 * MS] * len(REQUESTS))
    names["idle"] = f"{ns}-idle"
    feed.job_event(f"serving/{names['idle']}", [names["F"]], T0)
    feed.spans(names["idle"], [T0 + 100 * NS], [5 * MS])  # seen, but not in the window
    names["ns"] = ns
    return names


def test_stale_requests_ratio_and_weight(storage: Storage, world: dict[str, str]) -> None:
    row = exposure(storage)[world["only_f"]]
    # F last updated at 1200: age = t - 1200; stale when f < 0.5, i.e. age > 1200, t > 2400.
    # 2400 itself gives exactly 0.5 (not stale); 2460..3000 are 10 requests.
    assert row.requests == 15
    assert row.inputs == (world["F"],)
    assert row.stale_requests == 10
    assert row.exposure_ratio == pytest.approx(10 / 15)
    expected = sum(1 - f(t - 1200) for t in REQUESTS)
    assert row.weighted_exposure == pytest.approx(expected)


def test_asof_join_sees_the_update_that_landed_mid_window(
    storage: Storage, world: dict[str, str]
) -> None:
    row = exposure(storage)[world["only_g"]]
    # G's updates 0, 600, 1200, 2700: intervals 600, 600, 1500 -> median 600.
    # Before 2700 age = t - 1200; from 2700 on age = t - 2700 <= 300 -> fresh.
    # Stale: 2460, 2520, 2580, 2640.
    assert row.stale_requests == 4
    before = [t for t in REQUESTS if t < 2700]
    expected = sum(1 - f(t - 1200) for t in before)
    assert row.weighted_exposure == pytest.approx(expected)


def test_minimum_over_inputs_and_per_input_blame(storage: Storage, world: dict[str, str]) -> None:
    row = exposure(storage)[world["both"]]
    assert row.stale_requests == 10  # F is always the staler input
    blame = {p.dataset: p for p in row.per_input}
    assert blame[world["F"]].stale_requests == 10
    assert blame[world["G"]].stale_requests == 4
    assert blame[world["G"]].exposure_ratio == pytest.approx(4 / 15)
    assert row.weighted_exposure == pytest.approx(blame[world["F"]].weighted_exposure)


def test_upstream_staleness_reaches_the_service(storage: Storage, world: dict[str, str]) -> None:
    row = exposure(storage)[world["derived"]]
    # H itself is rebuilt every 600 s (fresh), but its latest run read F: F's staleness counts.
    assert row.stale_requests == 10
    assert row.weighted_exposure == pytest.approx(sum(1 - f(t - 1200) for t in REQUESTS))


def test_theta_per_service(storage: Storage, world: dict[str, str]) -> None:
    config = parse_signals_config({"services": {world["strict"]: {"theta": 0.7}}})
    row = exposure(storage, config)[world["strict"]]
    # f < 0.7  <=>  age - 600 > -600 * log2(0.7) = 308.75  <=>  t > 2108.75: all 15.
    assert row.theta == 0.7
    assert row.stale_requests == 15


def test_no_declared_inputs_is_null_and_no_traffic_is_null(
    storage: Storage, world: dict[str, str]
) -> None:
    rows = exposure(storage)
    undeclared = rows[world["undeclared"]]
    assert undeclared.requests == 15
    assert undeclared.inputs == ()
    assert undeclared.exposure_ratio is None and undeclared.stale_requests is None
    idle = rows[world["idle"]]
    assert idle.requests == 0
    assert idle.exposure_ratio is None
    assert idle.stale_requests == 0


def test_config_binding_declares_inputs(storage: Storage, world: dict[str, str]) -> None:
    config = parse_signals_config({"services": {world["undeclared"]: {"inputs": [world["F"]]}}})
    row = exposure(storage, config)[world["undeclared"]]
    assert row.inputs == (world["F"],)
    assert row.stale_requests == 10
