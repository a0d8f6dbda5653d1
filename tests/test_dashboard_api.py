"""The routes the dashboard and a newcomer's browser need: ``/``, the locally served API
docs, ``GET /api/v1/diagnostics`` (services without ``host.name``) and its count in
``/readyz``, the dataset timeline, the regime's pressure history; and the README's
producer settings equal to the ones the service prints."""

from __future__ import annotations

import re
import time
from pathlib import Path

import httpx
import pytest

from loadsense.onboarding import producer_settings
from loadsense.settings import Settings
from loadsense.signals.diagnostics import missing_host_name
from loadsense.storage.client import Storage
from tests.support.dashboard_world import seed, spans, tick
from tests.support.service import Service, running_service
from tests.support.signals_feed import NS, unique

README = Path(__file__).parents[1] / "README.md"


def test_landing_page_links_dashboard_docs_health_and_shows_producer_settings(
    service: Service,
) -> None:
    r = httpx.get(f"{service.url}/")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
    assert 'href="http://127.0.0.1:8501"' in r.text  # dashboard_url's default
    assert 'href="docs"' in r.text and 'href="readyz"' in r.text
    assert f"OTEL_EXPORTER_OTLP_ENDPOINT={service.url}" in r.text
    assert "OTEL_RESOURCE_ATTRIBUTES=host.name=" in r.text


@pytest.mark.parametrize("path", ["/docs", "/redoc"])
def test_api_docs_load_their_assets_from_this_service(service: Service, path: str) -> None:
    page = httpx.get(f"{service.url}{path}").text
    sources = re.findall(r'(?:src|href)="([^"]+)"', page)
    assert sources and all(s.startswith("/docs/assets/") for s in sources), sources
    for source in sources:
        asset = httpx.get(f"{service.url}{source}")
        assert asset.status_code == 200 and len(asset.content) > 500, source
    assert "cdn" not in page.lower() and "googleapis" not in page


def test_readme_gives_the_sdk_settings_the_service_prints() -> None:
    sdk = producer_settings("http://127.0.0.1:4318")[0]
    readme = README.read_text()
    for line in sdk.text.splitlines():
        if not line.startswith("#"):
            assert line in readme, line


def test_diagnostics_lists_services_without_host_name(service: Service) -> None:
    tagged, hostless = unique("with-host"), unique("hostless")
    starts = [(time.time_ns() // NS - 10) * NS]
    spans(service.url, tagged, unique("node"), starts, 1_000_000)
    spans(service.url, hostless, "", starts, 1_000_000)
    doc = httpx.get(f"{service.url}/api/v1/diagnostics").json()
    found = {m["service"]: m for m in doc["missing_host_name"]}
    assert hostless in found and tagged not in found
    assert (found[hostless]["resources_without_host"], found[hostless]["resources_with_host"]) == (
        1,
        0,
    )
    assert "OTEL_RESOURCE_ATTRIBUTES=host.name=" in doc["fix"]
    ready = httpx.get(f"{service.url}/readyz").json()
    assert ready["services_without_host_name"] == len(doc["missing_host_name"])
    # A receipt older than the window is not listed.
    assert hostless not in {
        m["service"]
        for m in httpx.get(f"{service.url}/api/v1/diagnostics", params={"window_s": 0.001}).json()[
            "missing_host_name"
        ]
    }


def test_diagnostics_query_binds_hostile_service_names(service: Service, storage: Storage) -> None:
    name = "x' OR 1=1 --\\u2028" + unique("q")
    spans(service.url, name, "", [(time.time_ns() // NS - 10) * NS], 1_000_000)
    rows = missing_host_name(storage, time.time_ns())
    assert name in {r.service for r in rows}


def test_diagnostics_and_timeline_need_a_read_token(storage: Storage) -> None:
    settings = Settings(read_tokens=("r",), ingest_tokens=("i",))
    with running_service(storage, settings) as svc:
        for path in ("/api/v1/diagnostics", "/api/v1/datasets/timeline?dataset=a/b"):
            assert httpx.get(f"{svc.url}{path}").status_code == 401
            ok = httpx.get(f"{svc.url}{path}", headers={"Authorization": "Bearer r"})
            assert ok.status_code == 200, ok.text


@pytest.mark.parametrize(
    ("params", "message"),
    [
        ({}, "dataset"),
        ({"dataset": "a/b", "from": "yesterday"}, "from"),
        # The one instant parser of every route (loadsense/instants.py): no exponents,
        # no NaN, nothing past 2200.
        ({"dataset": "a/b", "from": "5e12"}, "from: expected epoch seconds"),
        ({"dataset": "a/b", "to": "nan"}, "to: expected epoch seconds"),
        ({"dataset": "a/b", "to": "7258118400"}, "to:"),
        ({"dataset": "a/b", "limit": "0"}, "limit"),
    ],
)
def test_timeline_bad_input_is_400_naming_it(
    service: Service, params: dict[str, str], message: str
) -> None:
    r = httpx.get(f"{service.url}/api/v1/datasets/timeline", params=params)
    assert r.status_code == 400 and message in r.text, r.text


def test_timeline_from_after_to_is_empty_not_an_error(service: Service) -> None:
    params = {"dataset": "a/b", "from": "200", "to": "100"}
    doc = httpx.get(f"{service.url}/api/v1/datasets/timeline", params=params).json()
    assert (doc["updates"], doc["schemas"], doc["quality"]) == ([], [], [])


def test_timeline_and_regime_history_of_a_seeded_world(storage: Storage) -> None:
    with running_service(storage, Settings(clock="external")) as svc:
        now = (time.time_ns() // NS) * NS
        world = seed(svc.url, unique("api"), now)
        tick(svc.url, now - 10 * NS)
        tick(svc.url, now)
        r = httpx.get(
            f"{svc.url}/api/v1/datasets/timeline",
            params={
                "dataset": world.features,
                "from": str(now // NS - 6 * 3600),
                "to": str(now // NS),
            },
        )
        doc = r.json()
        # Three hourly runs 3, 4 and 5 h back, each writing the features at its end.
        assert [u["job"] for u in doc["updates"]] == [world.job] * 3
        ats = [u["at"] for u in doc["updates"]]
        assert ats == sorted(ats, reverse=True)  # newest first
        assert ats[0] == pytest.approx((now - 3 * 3600 * NS + 60 * NS) / NS)
        assert sorted((q["assertion"], q["success"]) for q in doc["quality"]) == [
            ("check_0", True),
            ("check_1", False),
        ]
        raw = httpx.get(
            f"{svc.url}/api/v1/datasets/timeline",
            params={"dataset": world.raw, "from": str(now // NS - 6 * 3600), "to": str(now // NS)},
        ).json()
        assert [s["fields"] for s in raw["schemas"]] == [
            [["order_id", "string"], ["total", "double"]],
            [["order_id", "int"]],
        ]
        history = httpx.get(
            f"{svc.url}/api/v1/signals/regime/history",
            params={"name": "pressures", "from": str(now // NS - 10), "to": str(now // NS)},
        ).json()
        by_field = {s["field"]: [t for t, _ in s["points"]] for s in history["series"]}
        assert set(by_field) == {"etl", "ml"}
        # Both of this service's ticks are there (other services may add their own).
        assert {float(now // NS - 10), float(now // NS)} <= set(by_field["etl"])


def test_the_dashboard_reads_the_settings_loadsense_documents() -> None:
    from loadsense import settings
    from loadsense.dashboard import access

    assert access.API_ENV == settings.LOADSENSE_DASHBOARD_API
    assert access.TOKEN_ENV == settings.LOADSENSE_DASHBOARD_TOKEN
    assert access.REFRESH_ENV == settings.LOADSENSE_DASHBOARD_REFRESH_S
    defaults = settings.Settings()
    assert (
        defaults.dashboard_api,
        defaults.dashboard_refresh_s,
    ) == (access.DEFAULT_API, access.DEFAULT_REFRESH_S)


def test_producer_settings_route_fills_in_the_address_it_was_reached_at(service: Service) -> None:
    doc = httpx.get(f"{service.url}/api/v1/producer-settings").json()
    assert doc["url"] == service.url
    assert [s["text"] for s in doc["sections"]] == [s.text for s in producer_settings(service.url)]


def test_with_tokens_docs_need_a_read_token_and_the_landing_page_does_not(
    storage: Storage,
) -> None:
    settings = Settings(read_tokens=("r",), ingest_tokens=("i",))
    with running_service(storage, settings) as svc:
        read = {"Authorization": "Bearer r"}
        assert httpx.get(f"{svc.url}/docs").status_code == 401
        assert httpx.get(f"{svc.url}/docs", headers=read).status_code == 200
        assert httpx.get(f"{svc.url}/").status_code == 200
        assert httpx.get(f"{svc.url}/api/v1/producer-settings").status_code == 200
        assert httpx.get(f"{svc.url}/docs/assets/swagger-ui.css").status_code == 200
