"""Lineage-derived signals: depth, criticality, recompute cost, drift, validation."""

from __future__ import annotations

import dataclasses
import threading

import pytest

from loadsense.signals import evaluate
from loadsense.signals.config import SignalsConfig
from loadsense.signals.contract import Family, Params
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.lineage import LineageRow
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000
AS_OF = T0 + 800 * NS  # W = 900 s: (T0 - 100, T0 + 800]


@pytest.fixture(scope="module")
def world(storage: Storage, service: Service) -> dict[str, str]:
    feed = Feed(service.url)
    ns = unique("lake")
    n = {"raw": f"{ns}/raw", "clean": f"{ns}/clean", "features": f"{ns}/features"}
    feed.run(f"{ns}/ingest", T0, T0 + 5 * NS, outputs=[n["raw"]])
    feed.run(f"{ns}/clean", T0 + 10 * NS, T0 + 20 * NS, inputs=[n["raw"]], outputs=[n["clean"]])
    # features' producing job: COMPLETE runs of 10, 20 and 60 s and one failure.
    for start, end, state in (
        (30, 40, "COMPLETE"),
        (100, 120, "COMPLETE"),
        (200, 230, "FAIL"),
        (300, 360, "COMPLETE"),
    ):
        feed.run(
            f"{ns}/feat",
            T0 + start * NS,
            T0 + end * NS,
            state=state,
            inputs=[n["clean"]],
            outputs=[n["features"]],
        )
    n["s1"], n["s2"] = f"{ns}-ranker", f"{ns}-search"
    feed.job_event(f"serving/{n['s1']}", [n["features"]], T0)
    feed.job_event(f"serving/{n['s2']}", [n["clean"]], T0)
    feed.spans(n["s1"], [T0 + k * NS for k in range(90)], [MS] * 90)  # 90 / 900 s = 0.1 rps
    feed.spans(n["s2"], [T0 + k * NS for k in range(45)], [MS] * 45)  # 0.05 rps
    f = n["features"]
    feed.schema(f, T0 - 3000 * NS, {"id": "int"})
    feed.schema(f, T0 - 2000 * NS, {"id": "int", "x": "float"})  # +x: before W
    feed.schema(f, T0 + 100 * NS, {"id": "int", "x": "double", "y": "int"})  # x retyped, +y
    feed.schema(f, T0 + 150 * NS, {"id": "int", "x": "double", "y": "int"})  # same: no drift
    feed.schema(f, T0 + 200 * NS, {"id": "int", "y": "int"})  # -x
    feed.assertions(f, T0 + 100 * NS, [True, False])
    feed.assertions(f, T0 + 300 * NS, [True, True, True, False])  # the latest run's
    return n


def rows(storage: Storage) -> dict[str, LineageRow]:
    ev = evaluate_all(storage, AS_OF, SignalsConfig())
    return {r.subject: r for r in ev.rows["lineage"]}


def test_depth_and_downstream_criticality(storage: Storage, world: dict[str, str]) -> None:
    r = rows(storage)
    assert (r[world["raw"]].depth, r[world["clean"]].depth, r[world["features"]].depth) == (0, 1, 2)
    assert r[world["raw"]].downstream_services == tuple(sorted((world["s1"], world["s2"])))
    assert r[world["features"]].downstream_services == (world["s1"],)
    assert r[world["raw"]].criticality == pytest.approx(90 / 900 + 45 / 900)  # 0.15 rps
    assert r[world["features"]].criticality == pytest.approx(0.1)


def test_recompute_cost_and_failure_rate(storage: Storage, world: dict[str, str]) -> None:
    row = rows(storage)[world["features"]]
    assert row.producers == (f"{world['features'].split('/')[0]}/feat",)
    assert row.recompute_cost == pytest.approx(20.0)  # median(10, 20, 60)
    assert row.failure_rate == pytest.approx(1 / 4)
    assert row.runs == 4


def test_schema_drift_and_validation_confidence(storage: Storage, world: dict[str, str]) -> None:
    row = rows(storage)[world["features"]]
    # In W: x retyped + y added (2), nothing (0), x removed (1) = 3; +x happened before W.
    assert row.schema_drift == 3
    assert row.validation_confidence == pytest.approx(3 / 4)
    raw = rows(storage)[world["raw"]]
    assert raw.schema_drift == 0 and raw.validation_confidence is None


def test_lanes_give_the_rows_of_one_family_after_another(
    storage: Storage, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    side_by_side = evaluate_all(storage, AS_OF, SignalsConfig())
    monkeypatch.setattr(
        evaluate, "LANES", (("freshness", "latency", "exposure", "queues", "hosts", "lineage"),)
    )
    one_by_one = evaluate_all(storage, AS_OF, SignalsConfig())
    assert dict(one_by_one.rows) == dict(side_by_side.rows)
    assert world["features"] in {r.subject for r in one_by_one.rows["lineage"]}


@pytest.mark.parametrize("failing", ["freshness", "latency", "lineage"])
def test_a_failing_family_fails_the_evaluation_in_either_lane(
    storage: Storage, world: dict[str, str], monkeypatch: pytest.MonkeyPatch, failing: str
) -> None:
    def broken(*_: object) -> tuple[object, ...]:
        raise RuntimeError(f"{failing} broke")

    families = dict(evaluate.FAMILIES)
    families[failing] = dataclasses.replace(families[failing], compute=broken)
    monkeypatch.setattr(evaluate, "FAMILIES", families)
    # The lanes this call starts (services of other tests may be evaluating meanwhile,
    # with lanes of their own): threads created by this thread while it evaluates.
    caller, started = threading.current_thread(), []

    class Recorded(threading.Thread):
        def start(self) -> None:
            if threading.current_thread() is caller:
                started.append(self)
            super().start()

    monkeypatch.setattr(evaluate.threading, "Thread", Recorded)
    with pytest.raises(RuntimeError, match=f"{failing} broke"):
        evaluate_all(storage, AS_OF, SignalsConfig())  # raises, does not hang
    assert [t.name for t in started] == ["evaluate-lane-1"]
    assert not [t for t in started if t.is_alive()]


def test_a_family_sees_only_the_rows_it_needs(
    storage: Storage, world: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict[str, set[str]] = {}
    families = dict(evaluate.FAMILIES)
    for kind, family in families.items():

        def spy(s: Storage, at: int, params: Params, f: Family = family) -> tuple[object, ...]:
            seen[f.kind] = set(params.earlier)
            return f.compute(s, at, params)

        families[kind] = dataclasses.replace(family, compute=spy)
    monkeypatch.setattr(evaluate, "FAMILIES", families)
    evaluate_all(storage, AS_OF, SignalsConfig())
    assert seen == {
        "freshness": set(),
        "latency": set(),
        "queues": set(),
        "exposure": {"freshness", "latency"},
        "hosts": {"latency"},
        "lineage": {"freshness", "latency", "exposure", "queues"},
    }
