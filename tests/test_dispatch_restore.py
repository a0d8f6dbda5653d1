"""After a restart, dispatch restores its previous decisions and the regime's ``since``.

A real ``serve --clock external`` process on a data dir of its own: the scenario
simulator drives it for ten steps, the process stops, a new one starts on the same data
dir and ticks once more.
"""

from __future__ import annotations

import httpx
import pytest

from loadsense.bench.scenarios.runner import simulate_with_loadsense, start_time
from loadsense.bench.scenarios.service import LiveService
from loadsense.bench.scenarios.spec import parse_scenario
from tests.support.service import service_process
from tests.test_scenarios_end_to_end import SHORT


def history(url: str) -> list[dict[str, object]]:
    got = httpx.get(f"{url}/api/v1/recommendations/history", params={"limit": 1000})
    entries: list[dict[str, object]] = got.json()["entries"]
    return entries


@pytest.mark.e2e
@pytest.mark.timeout(240)
def test_a_restart_keeps_previous_actions_and_the_regime_since(
    tmp_path: pytest.TempPathFactory,
) -> None:
    scenario = parse_scenario(SHORT, "short.yaml")
    t0 = start_time(scenario)
    data = tmp_path / "data"  # type: ignore[operator]
    with service_process(data, "--clock", "external") as svc:
        simulate_with_loadsense(scenario, seed=3, live=LiveService(svc.url, ""), t0=t0)
        before = history(svc.url)
        regime = httpx.get(f"{svc.url}/api/v1/regime").json()
        recs = httpx.get(f"{svc.url}/api/v1/recommendations").json()["recommendations"]
        svc.terminate()
    assert before and recs
    workloads = {r["workload"] for r in recs}
    with service_process(data, "--clock", "external") as svc:
        as_of = t0 + scenario.duration_s + 30
        assert httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": str(as_of)}).status_code == 200
        after = history(svc.url)
        regime_after = httpx.get(f"{svc.url}/api/v1/regime").json()
    new = after[: len(after) - len(before)]
    # Nothing known before the restart is logged again as if seen for the first time.
    assert not [e for e in new if e["workload"] in workloads and e["previous_action"] == ""]
    if regime_after["regime"] == regime["regime"]:
        assert regime_after["since"] == regime["since"]
