"""Freshness: hand-computed expected values (arithmetic in the tests)."""

from __future__ import annotations

import uuid

import pytest

from loadsense.signals import freshness
from loadsense.signals.config import SignalsConfig, parse_signals_config
from loadsense.signals.contract import Params
from loadsense.signals.graph import load_graph
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique


def evaluate(
    storage: Storage, as_of_ns: int, config: SignalsConfig | None = None
) -> dict[str, freshness.FreshnessRow]:
    params = Params(config=config or SignalsConfig(), graph=load_graph(storage, as_of_ns))
    return {r.subject: r for r in freshness.compute(storage, as_of_ns, params)}


def test_inferred_interval_and_decay(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    ns = unique("wh")
    a = f"{ns}/a"
    for k in range(4):  # updates at T0, +600, +1200, +1800 s
        feed.run(f"{ns}/job_a", T0 + k * 600 * NS - 60 * NS, T0 + k * 600 * NS, outputs=[a])
    as_of = T0 + 2700 * NS
    row = evaluate(storage, as_of)[a]
    assert row.updates == 4
    assert row.last_update == (T0 + 1800 * NS) / NS
    assert row.expected_interval == 600.0  # median(600, 600, 600)
    assert row.age == 900.0  # 2700 - 1800
    assert row.freshness == pytest.approx(2 ** (-(900 - 600) / 600))  # 0.7071...
    assert row.deadline == (T0 + 1800 * NS) / NS + 600 + 600


def test_median_of_even_count_and_last_20_only(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    a = f"{unique('wh')}/a"
    # Updates at 0, 100, 400, 1000, 1100 s: intervals 100, 300, 600, 100.
    # Sorted 100, 100, 300, 600 -> median (100 + 300) / 2 = 200.
    for t in (0, 100, 400, 1000, 1100):
        feed.run("etl/job", T0 + t * NS - NS, T0 + t * NS, outputs=[a])
    row = evaluate(storage, T0 + 1100 * NS)[a]
    assert row.expected_interval == 200.0
    assert row.freshness == 1.0  # age 0 <= grace 200

    b = f"{unique('wh')}/b"
    # 25 updates: 5 intervals of 1000 s, then 20 of 10 s. Only the last 20 count: 10 s.
    times = [k * 1000 for k in range(6)] + [5000 + k * 10 for k in range(1, 21)]
    for t in times:
        feed.run("etl/job", T0 + t * NS - NS, T0 + t * NS, outputs=[b])
    assert evaluate(storage, T0 + 5200 * NS)[b].expected_interval == 10.0


def test_single_update_has_unknown_interval(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    a = f"{unique('wh')}/a"
    feed.run("etl/job", T0, T0 + 10 * NS, outputs=[a])
    feed.run("etl/job", T0 + 100 * NS, T0 + 110 * NS, outputs=[a])  # two updates: 1 interval
    row = evaluate(storage, T0 + 500 * NS)[a]
    assert row.updates == 2
    assert row.last_update == (T0 + 110 * NS) / NS
    assert row.age == 390.0
    assert row.expected_interval is None
    assert row.freshness is None and row.deadline is None and row.effective_freshness is None


def test_no_update_and_dataset_known_only_as_input(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    ns = unique("wh")
    src, out = f"{ns}/source", f"{ns}/out"
    for k in range(3):
        feed.run(f"{ns}/job", T0 + k * 60 * NS, T0 + (k * 60 + 5) * NS, inputs=[src], outputs=[out])
    rows = evaluate(storage, T0 + 125 * NS)
    assert rows[src].last_update is None and rows[src].freshness is None
    # The source is unknown, so effective freshness is the output's own: age 0 -> 1.
    assert rows[out].freshness == 1.0
    assert rows[out].effective_freshness == 1.0
    assert rows[out].depth == 1
    # Before the first update, the output has no row of its own data.
    assert (
        evaluate(storage, T0 - NS).get(out) is None or evaluate(storage, T0 - NS)[out].updates == 0
    )


def test_duplicates_out_of_order_and_future_updates(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    a = f"{unique('wh')}/a"
    runs = [(t, f"00000000-0000-0000-0000-00000000000{i}") for i, t in enumerate((0, 300, 600))]
    for t, run_id in reversed(runs):  # out of order
        feed.run("etl/job", T0 + t * NS - NS, T0 + t * NS, outputs=[a], run_id=run_id)
    for t, run_id in runs:  # delivered twice
        feed.run("etl/job", T0 + t * NS - NS, T0 + t * NS, outputs=[a], run_id=run_id)
    # An update stamped after as_of (a clock-skewed producer) is ignored until as_of reaches it.
    feed.run("etl/job", T0 + 5000 * NS, T0 + 5000 * NS, outputs=[a])
    row = evaluate(storage, T0 + 1200 * NS)[a]
    assert row.updates == 3
    assert row.expected_interval == 300.0
    # age 600, grace 300, H 300: 2^(-300/300) = 0.5
    assert row.freshness == 0.5
    assert row.deadline == (T0 + 600 * NS) / NS + 300 + 300


def test_updates_at_the_same_instant_pick_one_run_whatever_the_arrival_order(
    storage: Storage, service: Service
) -> None:
    feed = Feed(service.url)
    ns = unique("wh")
    ids = {d: (str(uuid.uuid4()), str(uuid.uuid4())) for d in (f"{ns}/first", f"{ns}/second")}
    # documented tie rule: the run whose id has the greater cityHash64 (the engine's hash)
    hashes = dict(
        storage.client.query(
            "SELECT arrayJoin({ids:Array(String)}) AS id, cityHash64(id)",
            parameters={"ids": [i for pair in ids.values() for i in pair]},
        ).result_rows
    )
    winners = {}
    for k, (out, pair) in enumerate(ids.items()):
        order = sorted(pair, key=lambda i: hashes[i], reverse=k == 1)  # winner last, then first
        winners[out] = order[-1] if k == 0 else order[0]
        for run_id in order:  # same end instant; each run with its own job and input
            feed.run(
                f"{ns}/job_{run_id[:8]}",
                T0 - NS,
                T0,
                inputs=[f"{ns}/in_{run_id[:8]}"],
                outputs=[out],
                run_id=run_id,
            )
    rows = evaluate(storage, T0 + NS)
    for out, winner in winners.items():
        assert winner == max(ids[out], key=lambda i: hashes[i])
        assert rows[out].updates == 1  # one distinct instant
        assert rows[out].last_run_id == winner
        assert rows[out].producer == f"{ns}/job_{winner[:8]}"
        assert rows[out].inputs == (f"{ns}/in_{winner[:8]}",)


def test_declared_interval_and_half_life_by_glob(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    ns = unique("wh")
    a, b = f"{ns}/daily_a", f"{ns}/other"
    feed.run("etl/job", T0, T0 + 10 * NS, outputs=[a, b])
    config = parse_signals_config(
        {
            "datasets": {
                f"{ns}/daily_*": {"expected_interval_s": 3600, "half_life_s": 1800},
                f"{ns}/*": {"expected_interval_s": 60},
            }
        }
    )
    rows = evaluate(storage, T0 + 10 * NS + 7200 * NS, config)
    # a: first rule. age 7200, grace 3600, H 1800: 2^(-3600/1800) = 0.25
    assert rows[a].interval_declared and rows[a].expected_interval == 3600.0
    assert rows[a].half_life == 1800.0
    assert rows[a].freshness == 0.25
    # b: second rule, H defaults to the interval. 2^(-(7200 - 60)/60) = 2^-119
    assert rows[b].expected_interval == 60.0 and rows[b].half_life == 60.0
    assert rows[b].freshness == pytest.approx(2.0**-119)


def test_effective_freshness_propagates_through_latest_run_inputs(
    storage: Storage, service: Service
) -> None:
    feed = Feed(service.url)
    ns = unique("wh")
    raw, clean, feat = f"{ns}/raw", f"{ns}/clean", f"{ns}/features"
    # raw: updates at 0, 600, 1200 (interval 600), then stops.
    for t in (0, 600, 1200):
        feed.run(f"{ns}/ingest", T0 + t * NS, T0 + t * NS, outputs=[raw])
    # clean and features keep running every 600 s from raw / clean.
    for t in (0, 600, 1200, 1800, 2400, 3000):
        feed.run(
            f"{ns}/clean", T0 + (t + 10) * NS, T0 + (t + 20) * NS, inputs=[raw], outputs=[clean]
        )
        feed.run(
            f"{ns}/feat", T0 + (t + 30) * NS, T0 + (t + 40) * NS, inputs=[clean], outputs=[feat]
        )
    rows = evaluate(storage, T0 + 3040 * NS)
    # raw: age 3040 - 1200 = 1840, grace 600, H 600: 2^(-1240/600)
    raw_f = 2 ** (-(1840 - 600) / 600)
    assert rows[raw].freshness == pytest.approx(raw_f)
    assert rows[raw].depth == 0
    # clean: own age 3040 - 3020 = 20 <= 600 -> 1; effective min(1, raw) = raw
    assert rows[clean].freshness == 1.0
    assert rows[clean].effective_freshness == pytest.approx(raw_f)
    assert rows[clean].depth == 1
    assert rows[feat].effective_freshness == pytest.approx(raw_f)
    assert rows[feat].depth == 2
    assert rows[feat].inputs == (clean,)


def test_freshness_decays_exactly_across_a_simulated_hour(
    storage: Storage, service: Service
) -> None:
    feed = Feed(service.url)
    a = f"{unique('wh')}/a"
    for t in (0, 300, 600):  # interval 300 s, H 300 s
        feed.run("etl/job", T0 + t * NS, T0 + t * NS, outputs=[a])
    for minute in range(0, 61, 5):
        as_of_s = 600 + minute * 60
        row = evaluate(storage, T0 + as_of_s * NS)[a]
        age = as_of_s - 600
        expected = 2 ** (-max(0, age - 300) / 300)
        assert row.freshness == pytest.approx(expected, rel=1e-12), minute
    # Half-life checkpoints: one H late (age 600) -> 0.5, two (age 900) -> 0.25.
    assert evaluate(storage, T0 + 1200 * NS)[a].freshness == 0.5
    assert evaluate(storage, T0 + 1500 * NS)[a].freshness == 0.25
