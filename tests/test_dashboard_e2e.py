"""End to end: ``loadsense up`` on free ports, a world sent through the real receivers,
and every dashboard page opened in headless Chromium (Debian's, driven by Playwright):
the regime map and the lineage graph render and the seeded names are on screen.
Screenshots land in tests/artifacts/ (git-ignored)."""

from __future__ import annotations

import shutil
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from tests.support.dashboard_world import seed
from tests.support.service import poll_until
from tests.support.signals_feed import NS, unique
from tests.test_cli_up import up

pytestmark = pytest.mark.e2e

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking"]
ARTIFACTS = Path(__file__).parent / "artifacts"


@pytest.mark.skipif(shutil.which("chromium") is None, reason="make test installs chromium")
def test_every_page_renders_in_a_browser(tmp_path: Path) -> None:
    from playwright.sync_api import expect, sync_playwright

    ARTIFACTS.mkdir(exist_ok=True)
    with up(tmp_path) as u:
        world = seed(u.api, unique("e2e"), (time.time_ns() // NS) * NS)
        # The wall-clock correlator ticks every 5 s: wait until it has seen the world.
        poll_until(
            lambda: httpx.get(
                f"{u.api}/api/v1/signals/latency", params={"name": world.service}
            ).json()["rows"],
            timeout=60,
            interval=0.5,
        )
        poll_until(
            lambda: httpx.get(
                f"{u.api}/api/v1/signals/freshness", params={"name": world.features}
            ).json()["rows"],
            timeout=60,
            interval=0.5,
        )
        pages = {
            "overview": ("", [world.job, "Regime: "]),
            "datasets": (
                f"datasets?dataset={quote(world.features, safe='')}",
                [world.features, world.job],
            ),
            "models": (f"models?service={quote(world.service)}", [world.service, world.features]),
            "queues": (f"queues?queue={quote(world.queue)}", [world.queue]),
            "hosts": ("hosts", [world.host, world.hostless]),
            "recommendations": ("recommendations", [world.scorer, "defer"]),
            "alerts": ("alerts", ["Alerts"]),
        }
        with sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            page = browser.new_page(viewport={"width": 1440, "height": 1000})
            for name, (path, expected) in pages.items():
                page.goto(f"{u.dashboard}/{path}")
                main = page.locator('[data-testid="stMain"]')
                # Table cells are drawn on a canvas; their text is in the grid's DOM.
                for text in expected:
                    expect(main).to_contain_text(text, timeout=60_000)
                if name == "overview":  # the regime map: a Vega-Lite chart drawn
                    expect(page.locator(".vega-embed canvas, .vega-embed svg").first).to_be_visible(
                        timeout=60_000
                    )
                if name == "datasets":  # the lineage graph: Graphviz's SVG with the job node
                    graph = page.locator('[data-testid="stGraphVizChart"] svg')
                    expect(graph).to_be_visible(timeout=60_000)
                    expect(graph.locator("text", has_text=world.job)).to_be_visible()
                if name == "recommendations":  # open the held job's reasons
                    page.get_by_text(f"{world.scorer}: defer").click()
                    expect(main).to_contain_text(f"upstream_schema_drift of {world.raw}")
                page.wait_for_timeout(1500)  # let charts finish their transitions
                page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)
            browser.close()
