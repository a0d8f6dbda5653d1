"""``loadsense demo``: a compressed scenario played on the wall clock against a live service."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import httpx
import pytest
import yaml

from loadsense.bench.scenarios.demo import compress
from loadsense.bench.scenarios.spec import load_scenario, shipped_scenarios
from tests.support.service import loadsense_command, poll_until, service_process
from tests.test_scenarios_end_to_end import SHORT


def test_compress_divides_every_duration() -> None:
    s = load_scenario(shipped_scenarios()[4])  # traffic-surge
    c = compress(s, 20)
    assert (c.duration_s, c.step_s) == (7200 / 20, 120 / 20)
    assert c.services[0].surges[0].start_s == 3000 / 20
    assert c.services[0].service_ms == s.services[0].service_ms  # latency is not compressed
    assert c.dags[0].tasks[1].work_s == 600 / 20
    assert c.datasets[0].interval_s == 3600 / 20
    assert c.dags[0].offset_s == 2400 / 20 and c.dags[0].deadline_s == 2400 / 20


@pytest.mark.e2e
@pytest.mark.timeout(180)
def test_demo_plays_on_the_wall_clock_through_the_cli(tmp_path: Path) -> None:
    scenario_file = tmp_path / "short.yaml"
    scenario_file.write_text(yaml.safe_dump(SHORT))
    with service_process(tmp_path / "data", "--clock", "wall") as svc:
        started = time.time()
        demo = subprocess.run(
            loadsense_command(
                "demo", "--api", svc.url, "--scenario", str(scenario_file),
                "--speed", "100", "--loops", "1",
            ),
            capture_output=True, text=True, timeout=120,
        )  # fmt: skip
        assert demo.returncode == 0, demo.stderr
        # 1200 simulated seconds at speed 100: about 12 s of wall time.
        assert time.time() - started >= 1200 / 100 - 1.2
        assert "demo: short (loop 1)" in demo.stdout

        def rows(kind: str) -> list[dict[str, object]]:
            return list(httpx.get(f"{svc.url}/api/v1/signals/{kind}").json()["rows"])

        # The service ticks on its own clock: the refreshes' updates carry wall times.
        fresh = poll_until(
            lambda: [r for r in rows("freshness") if r["subject"] == "features/profile"],
            timeout=30,
        )
        last = fresh[0]["last_update"]
        assert isinstance(last, float) and started - 5 <= last <= time.time()
        latency = poll_until(
            lambda: [r for r in rows("latency") if r["subject"] == "ranker" and r["requests"]],
            timeout=30,
        )
        assert latency[0]["source"] == "histogram"


@pytest.mark.slow
def test_demo_refuses_a_bad_speed_and_an_unknown_scenario() -> None:
    bad = subprocess.run(
        loadsense_command("demo", "--api", "http://127.0.0.1:9", "--speed", "0"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert bad.returncode == 2 and "--speed must be > 0" in bad.stderr
    missing = subprocess.run(
        loadsense_command("demo", "--api", "http://127.0.0.1:9", "--scenario", "nope"),
        capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert missing.returncode == 1 and "nope: cannot read" in missing.stderr
