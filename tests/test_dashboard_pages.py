"""Every dashboard page in Streamlit's AppTest against a real service on a real port,
seeded through the real receivers (tests/support/dashboard_world.py) and ticked on the
external clock; plus what a page says when the API is down or wants a token."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from streamlit.testing.v1 import AppTest

import loadsense.dashboard
from loadsense.correlator.dispatch.policy import default_policy_text
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.dashboard_world import World, seed, tick
from tests.support.service import Service, free_port, running_service, service_process
from tests.support.signals_feed import NS, Feed, unique

APP = str(Path(loadsense.dashboard.__file__).parent / "app.py")


@pytest.fixture(scope="module")
def world_service(
    storage: Storage, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[Service, World]]:
    policy = tmp_path_factory.mktemp("policy") / "policy.yaml"
    policy.write_text(
        default_policy_text().replace("max_change_share: 0.25", "max_change_share: 1.0")
    )
    settings = Settings(clock="external", dispatch={"policy_file": str(policy)})
    with running_service(storage, settings) as svc:
        now = (time.time_ns() // NS) * NS
        world = seed(svc.url, unique("dash"), now)
        for back in (40, 20, 0):  # three ticks: a trail on the regime map
            tick(svc.url, now - back * NS)
        yield svc, world


def app(url: str, monkeypatch: pytest.MonkeyPatch, token: str = "") -> AppTest:
    monkeypatch.setenv("LOADSENSE_DASHBOARD_API", url)
    monkeypatch.setenv("LOADSENSE_DASHBOARD_TOKEN", token)
    return AppTest.from_file(APP, default_timeout=60)


def open_page(at: AppTest, page: str) -> AppTest:
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    assert not at.exception, [e.value for e in at.exception]
    return at


def text(at: AppTest) -> str:
    """Everything a page wrote as text, tables included."""
    parts: list[Any] = [m.value for m in at.markdown] + [s.value for s in at.subheader]
    parts += [c.value for c in at.caption] + [m.label + str(m.value) for m in at.metric]
    parts += [d.value.to_csv() for d in at.dataframe]
    parts += [x.value for x in (*at.info, *at.warning, *at.error, *at.success)]
    return "\n".join(str(p) for p in parts)


def charts(at: AppTest, kind: str) -> int:
    """How many elements of ``kind`` (vega_lite_chart, graphviz_chart) the page drew."""

    def walk(node: Any) -> int:
        own = 1 if getattr(node, "type", "") == kind else 0
        return own + sum(walk(child) for child in getattr(node, "children", {}).values())

    return walk(at.main)


def test_overview_shows_the_regime_map_with_its_trail_and_the_headlines(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, _world = world_service
    at = open_page(app(svc.url, monkeypatch), "overview")
    shown = text(at)
    assert "Regime: " in shown and "A pressure counts as high from" in shown
    trail = re.search(r"Trail: (\d+) ticks", shown)
    assert trail and int(trail.group(1)) >= 3  # this module's three ticks (others may add)
    assert charts(at, "vega_lite_chart") == 1  # the regime map
    labels = [m.label for m in at.metric]
    assert labels == [
        "Stale-prediction exposure",
        "Worst latency slack",
        "Oldest queue item",
        "Most contended host",
    ]
    # The default rule pack runs: the firing alerts table lists what the service fires.
    api_alerts = httpx.get(f"{svc.url}/api/v1/alerts").json()["data"]["alerts"]
    firing = sorted(a["labels"]["alertname"] for a in api_alerts if a["state"] == "firing")
    frames = {tuple(d.value.columns): d.value for d in at.dataframe}
    if firing:
        assert sorted(frames[("alert", "summary", "since", "value")]["alert"]) == firing
    else:
        assert "No alert is firing." in shown
    # The latest decision changes (the session's database holds other tests' too): at
    # most 10, newest first, each "previous -> action".
    changes = frames[("at", "workload", "change", "why")]
    assert 1 <= len(changes) <= 10
    assert list(changes["at"]) == sorted(changes["at"], reverse=True)
    actions = "(boost|admit|throttle|defer|pause)"
    assert all(re.fullmatch(f"(new|{actions}) → {actions}", c) for c in changes["change"])


def test_datasets_page_searches_pages_and_draws_the_selected_dataset(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, world = world_service
    at = open_page(app(svc.url, monkeypatch), "datasets")
    at.sidebar.radio[0].set_value("Last 6 h").run()  # the shared time range
    at.text_input(key="dataset_search").input(world.tag).run()
    assert not at.exception
    table = at.dataframe[0].value
    assert sorted(table["dataset"]) == sorted([world.features, world.raw, f"{world.tag}/scores"])
    assert "3 of " in text(at)
    at.selectbox(key="dataset_pick").select(world.features).run()
    shown = text(at)
    # Three hourly runs; the latest ended 60 s after starting 3 h before the tick:
    # age 10800 - 60 = 10740 s = 2.98 h, shown as 3.0 h.
    assert "3 updates" in shown and f"last by `{world.job}`" in shown
    assert "age 3.0 h" in shown
    # The timeline lists the failing assertion; the lineage graph is drawn.
    timeline = at.dataframe[1].value
    assert set(timeline["what"]) == {"update", "quality pass", "quality FAIL"}
    assert charts(at, "graphviz_chart") == 1
    assert charts(at, "vega_lite_chart") == 2  # freshness history, event timeline


def test_a_new_search_or_sort_starts_on_the_first_page(
    storage: Storage, monkeypatch: pytest.MonkeyPatch
) -> None:
    # 51 outputs of one run: two pages of 50.
    tag = unique("pages")
    names = [f"{tag}/t{i:02d}" for i in range(51)]
    with running_service(storage, Settings(clock="external")) as svc:
        now = (time.time_ns() // NS) * NS
        Feed(svc.url).run(f"{tag}/load", now - 120 * NS, now - 60 * NS, outputs=names)
        tick(svc.url, now)
        at = open_page(app(svc.url, monkeypatch), "datasets")
        at.text_input(key="dataset_search").input(tag).run()
        at.selectbox(key="dataset_sort").select("name").run()
        assert at.number_input(key="dataset_page").label == "Page (of 2)"
        at.number_input(key="dataset_page").set_value(2).run()
        assert list(at.dataframe[0].value["dataset"]) == [names[50]]  # the 51st by name
        # Another order of the same two pages starts on the first, with 50 rows.
        at.selectbox(key="dataset_sort").select("age (oldest first)").run()
        assert at.number_input(key="dataset_page").value == 1
        assert len(at.dataframe[0].value) == 50
        at.number_input(key="dataset_page").set_value(2).run()
        at.text_input(key="dataset_search").input(f"{tag}/t").run()  # a new search: page 1
        assert not at.exception
        assert at.number_input(key="dataset_page").value == 1


def test_models_page_blames_the_stale_input(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, world = world_service
    at = open_page(app(svc.url, monkeypatch), "models")
    at.selectbox(key="model_pick").select(world.service).run()
    shown = text(at)
    # 20 SERVER spans of 300 ms against the default 250 ms SLO: slack (250-300)/250 = -0.2.
    assert "p99 **300 ms** against an SLO of 250 ms" in shown and "slack -0.2" in shown
    blame = at.dataframe[1].value
    assert list(blame["input dataset"]) == [world.features]
    assert blame["stale requests"].iloc[0] > 0


def test_queues_page_shows_depth_and_age(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, world = world_service
    at = open_page(app(svc.url, monkeypatch), "queues")
    at.selectbox(key="queue_pick").select(world.queue).run()
    shown = text(at)
    # Latest depth 75 and oldest age 95 s; depth went 40 -> 75 over 25 s: 35 / 25 = 1.4/s.
    assert "depth **75 items**" in shown and "oldest **95 s**" in shown
    assert "growth 1.4 items/s" in shown


def test_hosts_page_shows_contention_and_services_without_host_name(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, world = world_service
    at = open_page(app(svc.url, monkeypatch), "hosts")
    hosts = at.dataframe[0].value.set_index("host")
    assert hosts.loc[world.host, "contention"] == pytest.approx(0.42)  # PSI some avg10
    assert world.service in hosts.loc[world.host, "services"]
    missing = at.dataframe[1].value
    assert world.hostless in set(missing["service"])
    assert world.service not in set(missing["service"])
    assert "without host.name" in at.warning[0].value


def test_recommendations_page_expands_reasons_and_filters_the_audit(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, world = world_service
    at = open_page(app(svc.url, monkeypatch), "recommendations")
    current = at.dataframe[0].value.set_index("workload")
    assert current.loc[world.service, "class"] == "online-inference"
    # The scorer read the raw table right after its schema changed: held, and why.
    assert current.loc[world.scorer, "action"] == "defer"
    why = next(e for e in at.expander if e.label.startswith(f"{world.scorer}: defer"))
    assert any(f"upstream_schema_drift of {world.raw} = 2" in m.value for m in why.markdown)
    at.selectbox(key="audit_workload").select(world.service).run()
    audit = at.dataframe[1].value
    assert set(audit["workload"]) == {world.service}
    at.multiselect(key="audit_actions").select("pause").run()
    assert "No decision changes" in text(at)


def test_alerts_page_reads_the_real_alert_routes(
    world_service: tuple[Service, World], monkeypatch: pytest.MonkeyPatch
) -> None:
    svc, _ = world_service
    at = open_page(app(svc.url, monkeypatch), "alerts")
    assert not at.error, [e.value for e in at.error]
    rules = httpx.get(f"{svc.url}/api/v1/rules").json()["data"]["groups"]
    count = sum(len(g["rules"]) for g in rules)
    assert count > 5  # the default rule pack, loaded with no rule file configured
    assert f"**{count} rules**" in text(at)


@pytest.mark.parametrize("page", ["overview", "datasets", "models", "hosts"])
def test_api_down_names_the_url_and_never_shows_a_traceback(
    monkeypatch: pytest.MonkeyPatch, page: str
) -> None:
    url = f"http://127.0.0.1:{free_port()}"  # nothing listens there
    at = open_page(app(url, monkeypatch), page)
    errors = [e.value for e in at.error]
    assert errors and all(f"cannot reach {url}/api/v1/" in e for e in errors), errors


def test_missing_read_token_is_named(storage: Storage, monkeypatch: pytest.MonkeyPatch) -> None:
    settings = Settings(read_tokens=("r3ad",), ingest_tokens=("1ngest",))
    with running_service(storage, settings) as svc:
        at = open_page(app(svc.url, monkeypatch), "overview")
        errors = [e.value for e in at.error]
        assert errors and all("answered 401: the read token is missing" in e for e in errors)
        assert "--token <read token>" in errors[0]
        wrong = open_page(app(svc.url, monkeypatch, token="nope"), "overview")
        assert all("token given to the dashboard was refused" in e.value for e in wrong.error)
        right = open_page(app(svc.url, monkeypatch, token="r3ad"), "overview")
        assert not right.error


@pytest.mark.slow  # a service process of its own: an empty database
def test_an_empty_service_shows_the_onboarding_panel(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with service_process(tmp_path / "empty") as svc:
        at = open_page(app(svc.url, monkeypatch), "overview")
        code = "\n".join(c.value for c in at.code)
        assert f"OTEL_EXPORTER_OTLP_ENDPOINT={svc.url}" in code
        assert "OTEL_RESOURCE_ATTRIBUTES=host.name=" in code
        assert f"OPENLINEAGE_URL={svc.url}" in code
        assert f"loadsense agent --endpoint {svc.url}" in code
