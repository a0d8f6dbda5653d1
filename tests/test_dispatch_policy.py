"""Policy files: validation errors name file, rule and field; hot reload keeps the last
good policy; class inference and overrides; the dispatch config section."""

from __future__ import annotations

import logging
import os
from pathlib import Path

import pytest

from loadsense.correlator.dispatch.attributes import classify
from loadsense.correlator.dispatch.check import main as check_main
from loadsense.correlator.dispatch.classes import infer_class
from loadsense.correlator.dispatch.config import parse_dispatch_config
from loadsense.correlator.dispatch.inputs import WorkloadInputs
from loadsense.correlator.dispatch.policy import PolicyError, load_policy, parse_policy
from loadsense.correlator.dispatch.reload import PolicySource
from loadsense.errors import ConfigError

GOOD = """
version: v1
rules:
  - name: hold-drift
    when: {upstream_schema_drift: {gt: 0}}
    action: defer
"""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "rules:\n  - name: r1\n    when: {urgency: {gte: 1}}\n    action: boost\n",
            r"p\.yaml: rules\[0\] 'r1'\.when\.urgency\.gte: unknown operator 'gte'",
        ),
        (
            "rules:\n  - name: r1\n    when: {urgncy: {ge: 1}}\n    action: boost\n",
            r"p\.yaml: rules\[0\] 'r1'\.when\.urgncy: unknown fact 'urgncy'",
        ),
        (
            "rules:\n  - name: r1\n    action: slow-down\n",
            r"p\.yaml: rules\[0\] 'r1'\.action: expected one of boost, admit, throttle",
        ),
        (
            "rules:\n  - name: r1\n    action: throttle\n",
            r"p\.yaml: rules\[0\] 'r1': throttle needs max_concurrency or rate_per_s",
        ),
        (
            "rules:\n  - name: r1\n    when: {class: batch}\n    action: admit\n",
            r"rules\[0\] 'r1'\.when\.class\.eq: unknown class 'batch'",
        ),
        (
            "rules:\n  - name: r1\n    when: {regime: {in: [calm, busy]}}\n    action: admit\n",
            r"rules\[0\] 'r1'\.when\.regime\.in: unknown regime 'busy'",
        ),
        (
            "rules:\n  - {name: a, action: admit}\n  - {name: a, action: boost}\n",
            r"rules\[1\] 'a'\.name: duplicate rule name",
        ),
        (
            "rules:\n  - name: r1\n    action: defer\n    until: {condition: {urgency: x}}\n",
            r"rules\[0\] 'r1'\.until\.condition\.urgency\.eq: expected a number, got 'x'",
        ),
        (
            "rules:\n  - name: r1\n    action: pause\n    max_concurrency: 2\n",
            r"rules\[0\] 'r1': pause takes no max_concurrency",
        ),
        (
            "options: {regime: {enter: 0.7, exit: 0.8}}\n",
            r"options\.regime: need 0 < exit <= enter",
        ),
        ("options: {max_change_share: 0}\n", r"options\.max_change_share: must be in \(0, 1\]"),
        ("options: {min_concurency: 1}\n", r"options\.min_concurency: unknown key"),
        ("classes:\n  - {match: {name: 'a*'}, class: nope}\n", r"classes\[0\]\.class: unknown"),
        ("rules: [\n", r"p\.yaml: invalid YAML"),
    ],
)
def test_invalid_policies_name_file_rule_and_field(text: str, message: str) -> None:
    with pytest.raises(PolicyError, match=message):
        parse_policy(text, "p.yaml")


def test_default_policy_is_valid_and_versioned() -> None:
    policy = load_policy()
    assert policy.version.startswith("default-1@")
    assert [r.name for r in policy.rules][:3] == [
        "unsafe-input",
        "refresh-stale-model-inputs",
        "exploratory-waits-for-calm",
    ]
    assert (policy.options.regime.enter, policy.options.regime.exit) == (0.85, 0.80)


def _rewrite(path: Path, text: str) -> None:
    # A distinct mtime even on coarse file systems: the stamp includes size and mtime_ns.
    before = path.stat().st_mtime_ns if path.exists() else 0
    path.write_text(text)
    os.utime(path, ns=(before + 1_000_000_000, before + 1_000_000_000))


def test_hot_reload_applies_valid_files_and_keeps_the_last_good_one(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "policy.yaml"
    _rewrite(path, GOOD)
    source = PolicySource(path)
    first = source.policy.version
    assert first.startswith("v1@") and source.refresh().version == first
    _rewrite(path, GOOD.replace("action: defer", "action: warp"))
    with caplog.at_level(logging.ERROR, logger="loadsense.correlator.dispatch.reload"):
        assert source.refresh().version == first
    assert "policy not reloaded" in caplog.text and "'hold-drift'.action" in caplog.text
    assert source.error is not None and str(path) in source.error
    _rewrite(path, GOOD.replace("v1", "v2"))
    assert source.refresh().version.startswith("v2@")
    assert source.error is None and source.reloads == 1


def test_an_invalid_policy_file_at_start_up_is_an_error(tmp_path: Path) -> None:
    path = tmp_path / "bad.yaml"
    path.write_text("rules: 3\n")
    with pytest.raises(PolicyError, match=r"bad\.yaml: rules: expected a list"):
        PolicySource(path)
    with pytest.raises(PolicyError, match="cannot read policy file"):
        PolicySource(tmp_path / "missing.yaml")


@pytest.mark.parametrize(
    ("kind", "job_type", "processing", "expected"),
    [
        ("service", "", "", "online-inference"),
        ("job", "QUERY", "BATCH", "etl-transform"),
        ("job", "FEATURE_REFRESH", "BATCH", "feature-refresh"),
        ("job", "BATCH_SCORING", "BATCH", "batch-scoring"),
        ("job", "MODEL_TRAINING", "BATCH", "retraining"),
        ("job", "EXPLORATORY_TRAINING", "BATCH", "exploratory"),
        ("job", "DATA_QUALITY", "BATCH", "validation"),
        ("training", "JOB", "", "retraining"),
    ],
)
def test_class_inference_from_the_job_type_facet(
    kind: str, job_type: str, processing: str, expected: str
) -> None:
    assert infer_class(kind, job_type, processing) == expected


def test_policy_overrides_class_and_protection_first_match_wins() -> None:
    policy = parse_policy(
        """
classes:
  - match: {namespace: feast, name: "feast/refresh_*"}
    class: feature-refresh
    protected: true
  - match: {name: "feast/*"}
    class: exploratory
  - match: {service_name: "shadow-*"}
    protected: false
""",
        "p.yaml",
    )
    job = WorkloadInputs(name="feast/refresh_users", namespace="feast", job_type="QUERY")
    other = WorkloadInputs(name="feast/adhoc", namespace="feast", job_type="QUERY")
    shadow = WorkloadInputs(name="shadow-ranker", kind="service", service_name="shadow-ranker")
    main = WorkloadInputs(name="ranker", kind="service", service_name="ranker")
    assert classify(job, policy) == ("feature-refresh", True)
    assert classify(other, policy) == ("exploratory", False)
    assert classify(shadow, policy) == ("online-inference", False)
    assert classify(main, policy) == ("online-inference", True)  # protected_classes


def test_dispatch_config_section_is_validated() -> None:
    config = parse_dispatch_config({"policy_file": "/etc/p.yaml", "max_wait_s": 30})
    assert (config.policy_file, config.audit, config.max_wait_s) == ("/etc/p.yaml", True, 30.0)
    with pytest.raises(ConfigError, match=r"dispatch: unknown key 'polcy_file'"):
        parse_dispatch_config({"polcy_file": "x"})
    with pytest.raises(ConfigError, match=r"dispatch\.max_wait_s"):
        parse_dispatch_config({"max_wait_s": 0})


def test_policy_check_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    good, bad = tmp_path / "good.yaml", tmp_path / "bad.yaml"
    good.write_text(GOOD)
    bad.write_text(GOOD.replace("action: defer", "action: warp"))
    assert check_main([str(good)]) == 0
    assert capsys.readouterr().out.startswith(f"ok: {good}: v1@")
    assert check_main([str(good), str(bad)]) == 1
    err = capsys.readouterr().err
    assert err.startswith(f"invalid: {bad}: rules[0] 'hold-drift'.action: expected one of")
    assert check_main([]) == 0  # the shipped default
