"""Server-side search, sort and paging (api/routes/paging.py) through real HTTP:
``GET /api/v1/datasets`` (the Datasets page's table) and the same parameters on
``GET /api/v1/signals/{kind}``, against five datasets fed through the OpenLineage
receiver and one tick on the external clock.

The world, at the tick T (ages in seconds; three updates 600 s apart give an inferred
interval of 600 s, used as grace and half-life, so freshness = 2^(-max(0, age - 600) /
600); one update leaves the interval, hence freshness, unknown):

| dataset | updates | age  | freshness                 |
| alpha   | 3       | 600  | 2^0 = 1.0                 |
| bravo   | 3       | 1200 | 2^(-600/600) = 0.5        |
| charlie | 3       | 1800 | 2^(-1200/600) = 0.25      |
| delta   | 1       | 300  | unknown                   |
| echo    | 1       | 2400 | unknown                   |
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from loadsense.api.client import literal_glob
from loadsense.globs import compile_glob
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.dashboard_world import tick
from tests.support.service import Service, running_service
from tests.support.signals_feed import NS, Feed, unique

AGES = {"alpha": 600, "bravo": 1200, "charlie": 1800, "delta": 300, "echo": 2400}
UPDATES = {"alpha": 3, "bravo": 3, "charlie": 3, "delta": 1, "echo": 1}


@pytest.fixture(scope="module")
def world(storage: Storage) -> Iterator[tuple[Service, str]]:
    with running_service(storage, Settings(clock="external")) as svc:
        tag = unique("tbl")
        now = (time.time_ns() // NS) * NS
        feed = Feed(svc.url)
        for name, age in AGES.items():
            for k in range(UPDATES[name]):
                end = now - (age + 600 * k) * NS
                feed.run(f"{tag}/make_{name}", end - 30 * NS, end, outputs=[f"{tag}/{name}"])
        tick(svc.url, now)
        yield svc, tag


def _table(svc: Service, tag: str, **params: Any) -> dict[str, Any]:
    r = httpx.get(f"{svc.url}/api/v1/datasets", params={"name": f"{tag}/*", **params})
    assert r.status_code == 200, r.text
    doc: dict[str, Any] = r.json()
    return doc


def _names(doc: dict[str, Any], tag: str) -> list[str]:
    return [r["subject"].removeprefix(f"{tag}/") for r in doc["rows"]]


def test_freshness_sorts_with_unknowns_last_in_either_order(world: tuple[Service, str]) -> None:
    svc, tag = world
    up = _table(svc, tag, sort="freshness", order="asc")
    assert _names(up, tag) == ["charlie", "bravo", "alpha", "delta", "echo"]
    assert [r["freshness"] for r in up["rows"]] == [0.25, 0.5, 1.0, None, None]
    down = _table(svc, tag, sort="freshness", order="desc")
    # unknowns stay last, in subject order, when the order turns
    assert _names(down, tag) == ["alpha", "bravo", "charlie", "delta", "echo"]
    assert up["total"] == down["total"] == 5


def test_pages_are_exact_slices_with_the_total_before_the_slice(
    world: tuple[Service, str],
) -> None:
    svc, tag = world
    by_age = _table(svc, tag, sort="age", order="desc")
    assert _names(by_age, tag) == ["echo", "charlie", "bravo", "alpha", "delta"]
    assert [r["age"] for r in by_age["rows"]] == [2400, 1800, 1200, 600, 300]
    page = _table(svc, tag, sort="age", order="desc", limit=2, offset=1)
    assert _names(page, tag) == ["charlie", "bravo"]
    assert (page["total"], page["offset"]) == (5, 1)
    assert page["datasets"] >= 5  # every dataset of the snapshot (other tests add theirs)
    last = _table(svc, tag, sort="age", order="desc", limit=2, offset=4)
    assert _names(last, tag) == ["delta"]
    assert _table(svc, tag, sort="age", limit=2, offset=5)["rows"] == []


def test_search_is_a_case_insensitive_substring_of_the_name(world: tuple[Service, str]) -> None:
    svc, tag = world
    found = _table(svc, tag, search="HA", sort="subject")
    assert _names(found, tag) == ["alpha", "charlie"]
    assert found["total"] == 2
    assert _table(svc, tag, search="zulu")["total"] == 0
    # an order alone orders by name
    assert _names(_table(svc, tag, order="desc"), tag) == [
        "echo",
        "delta",
        "charlie",
        "bravo",
        "alpha",
    ]


def test_rows_carry_the_freshness_row_and_its_lineage_criticality(
    world: tuple[Service, str],
) -> None:
    svc, tag = world
    (row,) = _table(svc, tag, name=literal_glob(f"{tag}/bravo"))["rows"]
    # three updates 600 s apart, the last 1200 s before the tick
    assert (row["updates"], row["expected_interval"], row["grace"], row["half_life"]) == (
        3,
        600,
        600,
        600,
    )
    assert row["deadline"] == row["last_update"] + 600 + 600
    assert row["producer"] == f"{tag}/make_bravo"
    lineage = httpx.get(
        f"{svc.url}/api/v1/signals/lineage", params={"name": f"{tag}/bravo"}
    ).json()["rows"]
    assert row["criticality"] == lineage[0]["criticality"]
    assert row["downstream_services"] == lineage[0]["downstream_services"]


def test_signal_routes_take_the_same_parameters(world: tuple[Service, str]) -> None:
    svc, tag = world
    url = f"{svc.url}/api/v1/signals/freshness"
    doc = httpx.get(
        url, params={"name": f"{tag}/*", "sort": "age", "order": "desc", "limit": 2}
    ).json()
    assert [r["subject"] for r in doc["rows"]] == [f"{tag}/echo", f"{tag}/charlie"]
    assert doc["total"] == 5
    # the whole answer (served from the per-snapshot cache) is every row, total included
    whole = httpx.get(url).json()
    assert whole["total"] == len(whole["rows"]) >= 5
    mine = [r for r in whole["rows"] if r["subject"].startswith(f"{tag}/")]
    filtered = httpx.get(url, params={"name": f"{tag}/*"}).json()["rows"]
    assert mine == filtered
    assert httpx.get(url).content == httpx.get(url).content


def test_literal_glob_matches_only_its_name() -> None:
    for name in ("ns/a*b", "ns/[x]?", "ns/[!a]", "ns/plain"):
        glob = compile_glob(literal_glob(name))
        assert glob.match(name)
        assert not glob.match(name + "x")
        assert not glob.match("ns/ab")


@pytest.mark.parametrize(
    ("path", "params", "message"),
    [
        ("datasets", {"sort": "bogus"}, "sort: unknown key 'bogus' (known: subject, "),
        ("datasets", {"sort": "age", "order": "up"}, "order: expected 'asc' or 'desc'"),
        ("datasets", {"limit": "501"}, "limit:"),
        ("datasets", {"limit": "0"}, "limit:"),
        ("datasets", {"offset": "-1"}, "offset:"),
        ("datasets", {"offset": "1000001"}, "offset:"),
        ("datasets", {"search": "x" * 513}, "search:"),
        ("datasets", {"name": "x" * 513}, "name:"),
        # a row field that is not a number is not a sort key
        ("signals/freshness", {"sort": "producer"}, "sort: unknown key 'producer'"),
        ("signals/queues", {"sort": "oldest_age", "limit": "501"}, "limit:"),
    ],
)
def test_bad_parameters_are_400_naming_them(
    world: tuple[Service, str], path: str, params: dict[str, str], message: str
) -> None:
    svc, _ = world
    r = httpx.get(f"{svc.url}/api/v1/{path}", params=params)
    assert r.status_code == 400, r.text
    assert message in r.json()["message"], r.text


def test_the_table_needs_a_read_token(storage: Storage) -> None:
    settings = Settings(read_tokens=("r",), ingest_tokens=("i",))
    with running_service(storage, settings) as svc:
        assert httpx.get(f"{svc.url}/api/v1/datasets").status_code == 401
        ok = httpx.get(f"{svc.url}/api/v1/datasets", headers={"Authorization": "Bearer r"})
        assert ok.status_code == 200, ok.text
