"""The ``signals:`` config section: validation names the section and key; globs."""

from __future__ import annotations

import subprocess
from pathlib import Path
from types import MappingProxyType

import httpx
import pytest

from loadsense.bench.harness import loadsense_command
from loadsense.errors import ConfigError
from loadsense.signals.config import Rule, SignalsConfig, glob_regex, parse_signals_config
from loadsense.signals.sql import json_param
from loadsense.storage.client import Storage
from tests.support.service import service_process

ROOT = Path(__file__).parents[1]


def test_defaults() -> None:
    cfg = parse_signals_config({})
    assert cfg == SignalsConfig()
    assert (cfg.window_s, cfg.theta, cfg.slo_ms) == (900.0, 0.5, 250.0)
    assert cfg.knees["cpu"] == (0.6, 0.95)


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ({"windw_s": 1}, r"f.yaml: signals.windw_s: unknown key 'windw_s' \(known: .*window_s"),
        (
            {"datasets": {"a/*": {"expected_intervall_s": 60}}},
            r"signals.datasets.a/\*: unknown key 'expected_intervall_s'",
        ),
        ({"services": {"x": {"theta": 1.5}}}, r"signals.services.x.theta: expected a number in"),
        ({"services": {"x": {"inputs": "ns/a"}}}, r"signals.services.x.inputs: expected a list"),
        (
            {"queues": {"q": {"depth_limit": -1}}},
            r"signals.queues.q.depth_limit: expected a numb",
        ),
        ({"knees": {"gpu": [0.1, 0.2]}}, r"signals.knees.gpu: unknown resource"),
        ({"knees": {"cpu": [0.9, 0.2]}}, r"signals.knees.cpu: expected \[low, high\]"),
        (
            {"hosts": {"h": {"knees": {"cpu": [0.1]}}}},
            r"signals.hosts.h.knees.cpu: expected",
        ),
        ({"window_s": True}, r"signals.window_s: expected a number > 0"),
        ({"datasets": ["a"]}, r"signals.datasets: expected a mapping of glob"),
    ],
)
def test_invalid_sections_name_the_key(raw: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        parse_signals_config(raw, "f.yaml")


def test_first_matching_rule_wins_per_key() -> None:
    cfg = parse_signals_config(
        {
            "datasets": {
                "wh/daily_*": {"half_life_s": 60},
                "wh/*": {"expected_interval_s": 3600, "half_life_s": 600},
            },
            "knees": {"cpu": [0.5, 0.9]},
            "hosts": {"gpu-?": {"knees": {"memory": [0.1, 0.2]}}},
        }
    )
    assert cfg.lookup("datasets", "half_life_s", "wh/daily_x") == 60.0
    assert cfg.lookup("datasets", "expected_interval_s", "wh/daily_x") == 3600.0
    assert cfg.lookup("datasets", "half_life_s", "other/x", 7) == 7
    assert cfg.knees_for("gpu-1") == {"cpu": (0.5, 0.9), "memory": (0.1, 0.2), "io": (0.5, 0.9)}
    assert cfg.knees_for("gpu-10")["memory"] == (0.8, 0.98)  # '?' is one character


@pytest.mark.parametrize(
    ("glob", "name", "matches"),
    [
        ("a/*", "a/b/c", True),
        ("a.b", "aXb", False),  # regex metacharacters are literal
        ("s3://bucket/(x)", "s3://bucket/(x)", True),
        ("*", "", True),
        ("x?", "x", False),
        ("tab\tname", "tab\tname", True),
        ("gpu-[0-9]", "gpu-7", True),  # classes, as in every other name filter
        ("gpu-[!0-9]", "gpu-7", False),
    ],
)
def test_glob_rules_match_as_every_name_filter_does(
    storage: Storage, glob: str, name: str, matches: bool
) -> None:
    rule = Rule(glob, MappingProxyType({}))
    assert rule.matches(name) is matches
    # The same glob as the engine runs it (signal SQL binds the regex).
    engine = storage.client.query(
        "SELECT match({n:String}, {re:String})", parameters={"n": name, "re": glob_regex(glob)}
    ).result_rows[0][0]
    assert bool(engine) is matches


@pytest.mark.slow
def test_serve_rejects_an_unknown_signals_key(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("signals:\n  queues:\n    'orders*': {depth_limt: 5}\n")
    result = subprocess.run(
        loadsense_command("serve", "--config", str(cfg), "--data-dir", str(tmp_path)),
        capture_output=True,
        text=True,
        timeout=60,
        cwd=ROOT,
    )
    assert result.returncode == 1
    assert "signals.queues.orders*: unknown key 'depth_limt'" in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "db").exists()  # refused before touching storage


@pytest.mark.slow
def test_serve_with_external_clock_ticks_only_on_request(tmp_path: Path) -> None:
    with service_process(tmp_path, "--clock", "external") as svc:
        before = httpx.get(f"{svc.url}/api/v1/signals/latency").json()
        assert before["as_of"] == 0.0 and before["rows"] == []  # no timer ran
        r = httpx.post(f"{svc.url}/api/v1/tick", params={"as_of": "1750000000"}, timeout=60)
        assert r.status_code == 200, r.text
        after = httpx.get(f"{svc.url}/api/v1/signals/latency").json()
        assert after["as_of"] == 1750000000.0


def test_json_parameters_survive_adversarial_strings(storage: Storage) -> None:
    """Array parameters bound as escaped JSON come back exactly (quotes, backslashes,
    backticks, control characters, Unicode, SQL-looking text)."""
    values = [
        "plain",
        "it's",
        'say "hi"',
        "back\\slash",
        "tick`tock",
        "tab\there",
        "new\nline",
        "\\'; DROP TABLE spans; --",
        "caf\u00e9 \u2603 \U0001f600",
        "{not_a:Param}",
        "",
    ]
    rows = storage.client.query(
        "SELECT JSONExtract({v:String}, 'Array(String)')", parameters={"v": json_param(values)}
    ).result_rows
    assert rows == [(values,)]
