"""The shipped rule pack is evaluated unless configured otherwise, so a new service (and
``make run``) shows rules and alerts: ``alerts_default_rules`` (on by default) loads
:data:`DEFAULT_RULE_PACK` when ``alerts.rule_files`` names none."""

from __future__ import annotations

from pathlib import Path

import httpx

from loadsense.correlator.alerts.config import DEFAULT_RULE_PACK, parse_alerts_config
from loadsense.correlator.alerts.rules import load_files
from loadsense.settings import Settings, load_settings
from loadsense.storage.client import Storage
from tests.support.service import running_service

DOCS_PACK = Path(__file__).parents[1] / "docs" / "rules" / "loadsense.rules.yaml"


def _rule_names(url: str) -> list[str]:
    body = httpx.get(f"{url}/api/v1/rules").json()
    return [r["name"] for g in body["data"]["groups"] for r in g["rules"]]


def test_the_packaged_pack_is_the_documented_one() -> None:
    assert DEFAULT_RULE_PACK.read_bytes() == DOCS_PACK.read_bytes()


def test_a_default_service_evaluates_the_pack(storage: Storage) -> None:
    pack = [r.name for g in load_files([str(DEFAULT_RULE_PACK)]).groups for r in g.rules]
    assert len(pack) > 5
    with running_service(storage, Settings(clock="external")) as svc:
        assert _rule_names(svc.url) == pack


def test_configured_rule_files_replace_the_pack(storage: Storage, tmp_path: Path) -> None:
    mine = tmp_path / "mine.yaml"
    mine.write_text(
        "groups: [{name: g, rules: [{alert: Mine, expr: 'loadsense_latency_slack < -9'}]}]"
    )
    settings = Settings(clock="external", alerts={"rule_files": [str(mine)]})
    with running_service(storage, settings) as svc:
        assert _rule_names(svc.url) == ["Mine"]


def test_the_setting_turns_the_pack_off(storage: Storage) -> None:
    settings = load_settings(env={"LOADSENSE_ALERTS_DEFAULT_RULES": "false"})
    assert settings.alerts_default_rules is False
    assert parse_alerts_config(settings.alerts, settings.alerts_default_rules).rule_files == ()
    with running_service(storage, settings.with_overrides(clock="external")) as svc:
        assert _rule_names(svc.url) == []
