"""Scenario files: the shipped ones load, and bad ones are refused naming file and field."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadsense.bench.scenarios.spec import (
    ScenarioError,
    load_scenario,
    parse_scenario,
    shipped_scenarios,
)
from loadsense.errors import LoadsenseError

NAMES = ["bursty-refresh", "io-pressure", "retraining", "schema-drift", "traffic-surge"]


def test_the_five_scenarios_ship_and_load() -> None:
    files = shipped_scenarios()
    assert [f.stem for f in files] == NAMES
    for f in files:
        scenario = load_scenario(f)
        assert scenario.name == f.stem
        assert scenario.duration_s % scenario.step_s == 0


def base() -> dict[str, Any]:
    raw = yaml.safe_load((Path(shipped_scenarios()[1])).read_text())
    assert isinstance(raw, dict)
    return raw


def refused(raw: dict[str, Any], match: str) -> None:
    with pytest.raises(ScenarioError, match=match):
        parse_scenario(raw, "my.yaml")


def test_errors_name_the_file_and_the_field() -> None:
    raw = base()
    raw["dags"][0]["tasks"][1]["cpu"] = "lots"
    refused(raw, r"^my\.yaml: dags\[0\]\.tasks\[1\]\.cpu: must be a number > 0, got 'lots'$")


@pytest.mark.parametrize(
    ("change", "match"),
    [
        (lambda r: r.update(speed=1), r"\(top\): unknown key 'speed'"),
        (lambda r: r["hosts"][0].update(slots=0), r"hosts\[0\]\.slots: must be an integer >= 1"),
        (lambda r: r["hosts"][0].update(slots=True), r"hosts\[0\]\.slots: must be an integer"),
        (lambda r: r["services"][0].update(host="node-z"), r"services\[0\]\.host: unknown host"),
        (
            lambda r: r["services"][0].update(inputs=["nope/x"]),
            r"services\[0\]\.inputs: unknown dataset 'nope/x'",
        ),
        (
            lambda r: r["services"][0].update(surges=[{"start_s": 10, "end_s": 5, "factor": 2}]),
            r"services\[0\]\.surges\[0\]\.end_s: must be after start_s \(10\), got 5",
        ),
        (
            lambda r: r["services"][0].update(cpu_share=1.5),
            r"cpu_share: must be a share in \[0, 1\]",
        ),
        (
            lambda r: r["dags"][0]["tasks"][0].update(kind="cleanup"),
            r"tasks\[0\]\.kind: unknown value 'cleanup' \(known: etl-transform,",
        ),
        (
            lambda r: r["dags"][0]["tasks"][0].update(needs=["refresh"]),
            r"dags\[0\]\.tasks: tasks form a cycle",
        ),
        (
            lambda r: r["dags"][0]["tasks"][1].update(needs=["ghost"]),
            r"dags\[0\]\.tasks\[1\]\.needs: unknown task 'ghost'",
        ),
        (
            lambda r: r["dags"][0]["tasks"][0].update(cpu=64),
            r"dags\[0\]\.tasks\[0\]: fits on none of its hosts",
        ),
        (
            lambda r: r["dags"][1]["tasks"][0].update(outputs=["raw/events"]),
            r"dataset 'raw/events' already written by 'user_profile\.extract'",
        ),
        (lambda r: r["hosts"].append(dict(r["hosts"][0])), r"hosts\[2\]\.name: duplicate name"),
        (lambda r: r.update(duration_s=30), r"duration_s: must be at least step_s \(120\)"),
        (lambda r: r.update(dags=[]), r"dags: must be a non-empty list"),
        (
            lambda r: r.update(events=[{"at_s": 1, "kind": "outage", "dataset": "raw/events"}]),
            r"events\[0\]\.kind: unknown value 'outage'",
        ),
    ],
)
def test_bad_fields_are_refused(change: Any, match: str) -> None:
    raw = copy.deepcopy(base())
    change(raw)
    refused(raw, match)


def test_unreadable_and_non_yaml_files(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match=r"^missing\.yaml: cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"^bad\.yaml: not valid YAML"):
        load_scenario(bad)
    listed = tmp_path / "list.yaml"
    listed.write_text("- 1\n")
    with pytest.raises(ScenarioError, match=r"^list\.yaml: \(top\): must be a mapping, got list"):
        load_scenario(listed)


def test_scenario_errors_are_loadsense_config_errors() -> None:
    assert issubclass(ScenarioError, LoadsenseError)
    assert ScenarioError("x").code == "scenario"
