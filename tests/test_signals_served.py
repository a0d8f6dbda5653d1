"""Served requests: the ``span_steps`` rollup plus raw partial steps equals reading every
span; late spans and retried export requests; who was seen on a host at the window's
edges."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import httpx
import pytest

from loadsense.collectors.retry_dedup import RetryDedup
from loadsense.signals import hosts, served
from loadsense.signals.config import parse_signals_config
from loadsense.signals.contract import Params
from loadsense.signals.graph import LineageGraph
from loadsense.storage.client import Storage
from tests.conftest import query
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000
HALF = NS // 2


def serve_at(storage: Storage, as_of_ns: int, resolution_s: float) -> served.Served:
    config = parse_signals_config({"window_s": 60, "exposure_resolution_s": resolution_s})
    return served.served(storage, as_of_ns, Params(config, LineageGraph()))


@pytest.fixture(scope="module")
def ranker(service: Service) -> str:
    """One request at T0 + k + 0.5 s lasting k + 1 ms, k = 0..99 (T0 is a whole hour)."""
    name = unique("ranker")
    starts = [T0 + k * NS + HALF for k in range(100)]
    Feed(service.url).spans(name, starts, [(k + 1) * MS for k in range(100)])
    return name


def test_rollup_and_raw_spans_agree_on_an_unaligned_window(storage: Storage, ranker: str) -> None:
    as_of = T0 + 77 * NS + 300_000_000  # W = 60 s: (T0 + 17.3 s, T0 + 77.3 s]
    # Spans at 17.5 .. 76.5 s: k = 17..76, 60 requests of 18..77 ms.
    # 10 s resolution reads the rollup for the whole steps [20, 70) s and raw spans for
    # (17.3, 20) and [70, 77.3]; 5 s is not a multiple of the 10 s step: raw spans only.
    rolled = serve_at(storage, as_of, 10)[ranker]
    raw = serve_at(storage, as_of, 5)[ranker]
    for row in (rolled, raw):
        assert row.requests == 60 and row.errors == 0
        # rank (n - 1) * q over 18..77 ms: 29.5 -> 47.5, 56.05 -> 74.05, 58.41 -> 76.41
        assert row.p50_ms == pytest.approx(47.5)
        assert row.p95_ms == pytest.approx(74.05)
        assert row.p99_ms == pytest.approx(76.41)
    # steps of 10 s from 10 s: [10, 20) holds 17.5-19.5, [70, 80) holds 70.5-76.5
    assert rolled.per_step == (3, 10, 10, 10, 10, 10, 7)
    # steps of 5 s from 15 s: 3 at the start, 5 in each of the 11 whole ones, 75.5 and 76.5
    assert raw.per_step == (3, *[5] * 11, 2)


def test_window_on_step_boundaries_excludes_the_opening_instant(
    storage: Storage, service: Service
) -> None:
    name = unique("edge")
    Feed(service.url).spans(name, [T0 + k * NS for k in (20, 21, 79, 80, 81)], [MS] * 5)
    # (T0 + 20, T0 + 80]: the span at 20 s opens the step [20, 30) but is outside W.
    row = serve_at(storage, T0 + 80 * NS, 10)[name]
    assert row.requests == 3  # 21, 79, 80
    # 7 steps of 10 s from 20 s: 21 s in [20, 30), 79 s in [70, 80), 80 s opens [80, 90)
    assert row.per_step == (1, 0, 0, 0, 0, 1, 1)


def test_late_spans_add_to_their_step(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    name = unique("late")
    feed.spans(name, [T0 + k * NS + HALF for k in range(30, 40)], [10 * MS] * 10)
    as_of = T0 + 60 * NS
    assert serve_at(storage, as_of, 10)[name].requests == 10
    feed.spans(name, [T0 + 31 * NS], [1000 * MS], errors=[True])  # arrives after the tick
    row = serve_at(storage, as_of, 10)[name]
    assert row.requests == 11 and row.errors == 1
    # 10 x 10 ms and one 1000 ms: rank 10 * 0.5 = 5 -> 10 ms; rank 9.9 -> 10 + 0.9 * 990
    assert row.p50_ms == pytest.approx(10.0)
    assert row.p99_ms == pytest.approx(10 + 0.9 * 990)


def _traces_body(name: str, k0: int, n: int) -> bytes:
    spans = [
        {
            "traceId": f"{k0 + k + 1:032x}",
            "spanId": f"{k0 + k + 1:016x}",
            "name": "predict",
            "kind": 2,
            "startTimeUnixNano": str(T0 + (k0 + k) * NS),
            "endTimeUnixNano": str(T0 + (k0 + k) * NS + MS),
        }
        for k in range(n)
    ]
    resource = {"attributes": [{"key": "service.name", "value": {"stringValue": name}}]}
    body = {"resourceSpans": [{"resource": resource, "scopeSpans": [{"spans": spans}]}]}
    return json.dumps(body).encode()


def test_concurrent_identical_exports_are_stored_once(storage: Storage, service: Service) -> None:
    name = unique("retried")
    body = _traces_body(name, 100, 25)
    other = _traces_body(name, 200, 5)

    async def send_all() -> list[int]:
        async with httpx.AsyncClient(base_url=service.url, timeout=30) as http:
            headers = {"Content-Type": "application/json"}
            sends = [http.post("/v1/traces", content=body, headers=headers) for _ in range(6)]
            sends.append(http.post("/v1/traces", content=other, headers=headers))
            return [r.status_code for r in await asyncio.gather(*sends)]

    assert asyncio.run(send_all()) == [200] * 7
    stored = query(storage, "SELECT count() FROM spans WHERE service_name = {s:String}", s=name)
    rolled = query(
        storage, "SELECT sum(spans) FROM span_steps WHERE service_name = {s:String}", s=name
    )
    assert stored == [(30,)] and rolled == [(30,)]  # 25 once + 5
    metrics = httpx.get(f"{service.url}/metrics").text
    assert 'loadsense_retried_requests_total{table="spans"}' in metrics


def test_retry_dedup_forgets_after_the_window_and_never_remembers_failures() -> None:
    now = [0.0]
    guard: RetryDedup[str] = RetryDedup(window_s=10, max_entries=2, clock=lambda: now[0])
    calls: list[str] = []

    async def commit(tag: str) -> str:
        calls.append(tag)
        return tag

    async def failing() -> str:
        calls.append("fail")
        raise RuntimeError("insert failed")

    async def scenario() -> list[Any]:
        out: list[Any] = [await guard.once(b"a", lambda: commit("a1"))]
        out.append(await guard.once(b"a", lambda: commit("a2")))  # a retry: a1 again
        with pytest.raises(RuntimeError):
            await guard.once(b"b", failing)
        out.append(await guard.once(b"b", lambda: commit("b1")))  # the failure was not kept
        now[0] = 10.0  # a's entry expires at 0 + 10
        out.append(await guard.once(b"a", lambda: commit("a3")))
        await guard.once(b"c", lambda: commit("c1"))  # a3, b1, c1: b1 is oldest -> dropped
        out.append(len(guard))
        return out

    assert asyncio.run(scenario()) == [("a1", False), ("a1", True), ("b1", False), ("a3", False), 2]
    assert calls == ["a1", "fail", "b1", "a3", "c1"]


def test_host_members_at_the_window_edges(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    host = unique("node")
    before, inside, after = unique("before"), unique("inside"), unique("after")
    # W = 60 s ending at T0 + 95 s: (35, 95]. 34 s and 96 s share steps with 35 and 95.
    feed.spans(before, [T0 + 35 * NS], [MS], host=host)
    feed.spans(inside, [T0 + 35 * NS + 1], [MS], host=host)
    feed.spans(after, [T0 + 95 * NS + 1], [MS], host=host)
    config = parse_signals_config({"window_s": 60})
    rows = {
        r.subject: r for r in hosts.compute(storage, T0 + 95 * NS, Params(config, LineageGraph()))
    }
    assert rows[host].services == (inside,)
