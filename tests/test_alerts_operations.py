"""Operating alerting: hot reload keeps the last good rules, a broken rule file stops
``serve`` from starting, routes need the read token and refuse bad parameters, and a
receiver's queue is bounded with its drops counted."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx
import pytest

from loadsense.correlator.alerts.notify.alertmanager import AlertmanagerNotifier
from loadsense.correlator.alerts.notify.contract import Notification
from loadsense.correlator.alerts.notify.queue import SendQueue
from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.service import free_port, loadsense_command, poll_until, running_service

GOOD = """
groups:
  - name: ops
    rules:
      - alert: {name}
        expr: loadsense_latency_slack < -1000
"""


def _names(url: str, token: str | None = None) -> list[str]:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = httpx.get(f"{url}/api/v1/rules", headers=headers).json()
    return [r["name"] for g in body["data"]["groups"] for r in g["rules"]]


def _bump(path: Path) -> None:
    st = path.stat()
    os.utime(path, (st.st_atime, st.st_mtime + 10))


def test_hot_reload_keeps_the_last_good_rules(storage: Storage, tmp_path: Path) -> None:
    rules = tmp_path / "ops.yaml"
    rules.write_text(GOOD.format(name="First"))
    settings = Settings(clock="external", alerts={"rule_files": [str(tmp_path / "*.yaml")]})
    with running_service(storage, settings) as svc:
        tick = lambda: httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": "1800000000"})  # noqa: E731
        assert _names(svc.url) == ["First"]
        rules.write_text(GOOD.format(name="Second"))
        _bump(rules)
        assert tick().status_code == 200
        assert _names(svc.url) == ["Second"]
        rules.write_text("groups: [{name: ops, rules: [{alert: Third, expr: 'rate(x[5m])'}]}]")
        _bump(rules)
        assert tick().status_code == 200
        assert _names(svc.url) == ["Second"]  # refused, the last good rules stay
        metrics = httpx.get(f"{svc.url}/metrics").text
        assert "loadsense_alerts_reload_failures_total 1.0" in metrics


def test_serve_refuses_a_broken_rule_file(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("groups: [{name: g, rules: [{alert: A, expr: 'loadsense_freshness >'}]}]")
    config = tmp_path / "loadsense.yaml"
    config.write_text(f"alerts:\n  rule_files: ['{bad}']\n")
    done = subprocess.run(
        loadsense_command(
            "serve", "--config", str(config), "--data-dir", str(tmp_path / "d"), "--port", "0"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 1
    assert f"loadsense: error: {bad}: group 'g', rule 'A': bad PromQL" in done.stderr


def test_routes_need_the_read_token_and_name_bad_parameters(storage: Storage) -> None:
    settings = Settings(ingest_tokens=("in",), read_tokens=("rd",), clock="external")
    with running_service(storage, settings) as svc:
        for path in ("/api/v1/rules", "/api/v1/alerts", "/api/v1/alerts/history"):
            assert httpx.get(f"{svc.url}{path}").status_code == 401, path
            ok = httpx.get(f"{svc.url}{path}", headers={"Authorization": "Bearer rd"})
            assert ok.status_code == 200, path
        auth = {"Authorization": "Bearer rd"}
        r = httpx.get(f"{svc.url}/api/v1/alerts/history", params={"from": "soon"}, headers=auth)
        assert r.status_code == 400 and "from" in r.json()["message"]
        r = httpx.get(
            f"{svc.url}/api/v1/alerts/history",
            params={"from": "1800000100", "to": "1800000000"},
            headers=auth,
        )
        # `to` before `from` is an empty range, as on the recommendation history
        assert (r.status_code, r.json()) == (200, {"transitions": []})
        r = httpx.get(f"{svc.url}/api/v1/alerts/history", params={"limit": 0}, headers=auth)
        # request validation answers in the house format: 400 naming the parameter
        assert r.status_code == 400
        assert r.json()["message"].startswith("limit")


def _note(k: int) -> Notification:
    return Notification({"alertname": f"A{k}"}, {}, 0.0, None, "", f"{k:016x}", False)


def test_a_full_queue_drops_the_oldest_and_a_dead_receiver_runs_out_of_attempts() -> None:
    # a real Alertmanager client towards a port nobody listens on
    notifier = AlertmanagerNotifier(f"http://127.0.0.1:{free_port()}", timeout_s=1.0)
    queue = SendQueue(notifier, capacity=3, max_attempts=2, batch_size=10, backoff_s=0.01)
    try:
        queue.put([_note(k) for k in range(5)])  # 5 into 3 places: 2 dropped at once
        # the sender took at most 3; each batch gets 2 posts, then is dropped too
        poll_until(lambda: queue.dropped == 5, timeout=20)
        assert queue.sent == 0
        assert queue.failed_posts >= 2
    finally:
        queue.close()


@pytest.mark.parametrize("bad", [{"rule_files": 3}, {"alertmanagers": [{"url": "ftp://x"}]}])
def test_bad_alerts_settings_are_refused(storage: Storage, bad: dict[str, object]) -> None:
    from loadsense.correlator.alerts.config import parse_alerts_config
    from loadsense.errors import ConfigError

    with pytest.raises(ConfigError, match=r"^alerts\.(rule_files|alertmanagers\[0\]\.url): "):
        parse_alerts_config(bad)
