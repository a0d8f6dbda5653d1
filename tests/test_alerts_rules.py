"""Rule files: what loads, what is refused and with which message; the PromQL subset's
semantics on hand-made series; templates; ``loadsense rules check``; ``promtool check
rules`` on every shipped rule file."""

from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from loadsense.correlator.alerts import promql
from loadsense.correlator.alerts.rules import RuleError, load_text, parse_duration
from loadsense.correlator.alerts.state import RuleState
from loadsense.correlator.alerts.templates import (
    TemplateData,
    compile_template,
    go_float,
    humanize,
    humanize_duration,
    humanize_percentage,
)
from tests.support.prometheus import PROMTOOL, require
from tests.support.service import loadsense_command

ROOT = Path(__file__).resolve().parent.parent
SHIPPED = sorted((ROOT / "docs" / "rules").glob("*.yaml"))

SAMPLES: promql.Samples = {
    "loadsense_latency_slack": [
        ((("service", "a"),), -0.5),
        ((("service", "b"),), 0.25),
        ((("service", "c"),), -2.0),
    ],
    "loadsense_latency_requests": [((("service", "a"),), 10.0), ((("service", "b"),), 0.0)],
    "loadsense_host_service_info": [
        ((("host", "h1"), ("service", "a")), 1.0),
        ((("host", "h1"), ("service", "c")), 1.0),
        ((("host", "h2"), ("service", "b")), 1.0),
    ],
}


def run(expr: str) -> dict[tuple[tuple[str, str], ...], float]:
    return dict(promql.evaluate(promql.compile_expr(expr), SAMPLES))


def N(name: str, **labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted({"__name__": name, **labels}.items()))


def L(**labels: str) -> tuple[tuple[str, str], ...]:
    return tuple(sorted(labels.items()))


SLACK = "loadsense_latency_slack"


def test_selectors_and_matchers() -> None:
    assert run(SLACK + '{service="a"}') == {N(SLACK, service="a"): -0.5}
    assert run(SLACK + '{service!="a"}') == {
        N(SLACK, service="b"): 0.25,
        N(SLACK, service="c"): -2.0,
    }
    assert run(SLACK + '{service=~"a|c"}') == {
        N(SLACK, service="a"): -0.5,
        N(SLACK, service="c"): -2.0,
    }
    assert run(SLACK + '{service!~"a|c"}') == {N(SLACK, service="b"): 0.25}
    assert run(SLACK + '{service=~"a.*x"}') == {}  # anchored: "a" does not match "a.*x"
    assert run(SLACK + '{missing=""}') == run(SLACK)  # a missing label is ""


def test_comparisons_filter_or_return_bool() -> None:
    assert run(SLACK + " < 0") == {N(SLACK, service="a"): -0.5, N(SLACK, service="c"): -2.0}
    assert run("0 > " + SLACK) == run(SLACK + " < 0")
    # bool drops the metric name and keeps every series as 0/1
    assert run(SLACK + " < bool 0") == {
        L(service="a"): 1.0,
        L(service="b"): 0.0,
        L(service="c"): 1.0,
    }
    assert run(SLACK + " == -2") == {N(SLACK, service="c"): -2.0}
    assert run(SLACK + " != -2") == {N(SLACK, service="a"): -0.5, N(SLACK, service="b"): 0.25}
    assert run(SLACK + " >= 0.25") == {N(SLACK, service="b"): 0.25}
    assert run(SLACK + " <= -0.5") == {N(SLACK, service="a"): -0.5, N(SLACK, service="c"): -2.0}
    # vector to vector, one to one on the shared labels: a -0.5 < 10 yes, b 0.25 < 0 no
    assert run(SLACK + " < loadsense_latency_requests") == {N(SLACK, service="a"): -0.5}
    assert run(SLACK + " > on(service) loadsense_latency_requests") == {L(service="b"): 0.25}


def test_set_operators_with_on_and_ignoring() -> None:
    assert run(SLACK + " and loadsense_latency_requests > 0") == {N(SLACK, service="a"): -0.5}
    assert run(SLACK + " unless loadsense_latency_requests") == {N(SLACK, service="c"): -2.0}
    assert run(f'{SLACK}{{service="c"}} or loadsense_latency_requests') == {
        N(SLACK, service="c"): -2.0,
        N("loadsense_latency_requests", service="a"): 10.0,
        N("loadsense_latency_requests", service="b"): 0.0,
    }
    # on(): keep host/service pairs whose service has negative slack
    assert run(f"loadsense_host_service_info and on(service) ({SLACK} < 0)") == {
        N("loadsense_host_service_info", host="h1", service="a"): 1.0,
        N("loadsense_host_service_info", host="h1", service="c"): 1.0,
    }
    assert run(f"loadsense_host_service_info unless ignoring(host) ({SLACK} < 0)") == {
        N("loadsense_host_service_info", host="h2", service="b"): 1.0,
    }


def test_aggregations() -> None:
    info = "loadsense_host_service_info"
    assert run(f"sum by (host) ({info})") == {L(host="h1"): 2.0, L(host="h2"): 1.0}
    assert run(f"count({SLACK})") == {(): 3.0}
    assert run(f"min({SLACK})") == {(): -2.0}
    assert run(f"max({SLACK})") == {(): 0.25}
    assert run(f"avg({SLACK})") == {(): pytest.approx((-0.5 + 0.25 - 2.0) / 3)}
    assert run(f"count without (service) ({info})") == {L(host="h1"): 2.0, L(host="h2"): 1.0}


def test_absent() -> None:
    assert run(f'absent({SLACK}{{service="a"}})') == {}
    assert run(f'absent({SLACK}{{service="zz", team=~"x"}})') == {L(service="zz"): 1.0}
    assert run("absent(loadsense_queue_depth)") == {(): 1.0}


def test_alerts_refuse_duplicate_label_sets_after_dropping_the_name() -> None:
    # the rule's label overrides the one label that told the three series apart
    rule = load_text(
        "groups: [{name: g, rules: [{alert: A, expr: loadsense_latency_slack, "
        "labels: {service: same}}]}]",
        "f.yaml",
    )[0].rules[0]
    vector = promql.evaluate(rule.node, SAMPLES)
    with pytest.raises(promql.EvalError, match="same labelset after applying alert labels"):
        RuleState(rule).evaluate(vector, 0.0)


def _one_rule(expr: str, **extra: str) -> str:
    fields = "".join(f"\n        {k}: {v}" for k, v in extra.items())
    return f"""
groups:
  - name: grp
    rules:
      - alert: Bad
        expr: '{expr}'{fields}
"""


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        (_one_rule('loadsense_latency_slack{service=~"("}'), "bad regex"),
        (_one_rule("loadsense_no_such_metric > 0"), "unknown metric 'loadsense_no_such_metric'"),
        (
            _one_rule("rate(loadsense_latency_requests[5m]) > 0"),
            r"function rate\(\) is not supported by the built-in evaluator; "
            "it still works in Prometheus",
        ),
        (_one_rule("loadsense_latency_slack + 1 > 0"), "operator \\+ is not supported"),
        (_one_rule("topk(1, loadsense_latency_slack)"), "aggregation topk is not supported"),
        (_one_rule("loadsense_latency_slack offset 5m < 0"), "offset and @ modifiers is not"),
        (_one_rule("loadsense_latency_slack <"), "bad PromQL"),
        (_one_rule("1 > bool 0"), "not supported"),
        (_one_rule("loadsense_latency_slack < 0", **{"for": "5 minutes"}), "bad duration"),
        (_one_rule("loadsense_latency_slack < 0", keep_firing_for="-1m"), "bad duration"),
        (
            _one_rule("loadsense_latency_slack < 0", annotations="{s: '{{ $value | nope }}'}"),
            "bad template .*unknown function 'nope'",
        ),
        (
            _one_rule("loadsense_latency_slack < 0", annotations="{s: '{{ $value '}"),
            "bad template .*unbalanced",
        ),
        (_one_rule("loadsense_latency_slack < 0", labels="{'a-b': x}"), "invalid label name"),
        (_one_rule("loadsense_latency_slack < 0", severity="page"), "unknown rule keys"),
    ],
)
def test_invalid_rules_name_file_group_rule_and_reason(text: str, reason: str) -> None:
    with pytest.raises(RuleError, match=f"^f.yaml: group 'grp', rule 'Bad': .*{reason}"):
        load_text(text, "f.yaml")


def test_file_level_errors() -> None:
    with pytest.raises(RuleError, match=r"^f\.yaml: invalid YAML"):
        load_text("groups: [", "f.yaml")
    with pytest.raises(
        RuleError, match=r"^f\.yaml: top level must be a mapping with only 'groups'"
    ):
        load_text("rules: []", "f.yaml")
    with pytest.raises(RuleError, match=r"^f\.yaml: group 'g': group name repeated"):
        load_text("groups: [{name: g}, {name: g}]", "f.yaml")
    with pytest.raises(RuleError, match=r"^f\.yaml: group 'g', rule 'r': recording rules are not"):
        load_text("groups: [{name: g, rules: [{record: r, expr: x}]}]", "f.yaml")


def test_durations() -> None:
    assert parse_duration("1h30m") == 5400.0
    assert parse_duration("250ms") == 0.25
    assert parse_duration("0s") == parse_duration("0") == 0.0
    assert parse_duration("1d") == 86400.0
    for bad in ("", "5", "1.5m", "m", "5min", True):
        with pytest.raises(ValueError, match="bad duration"):
            parse_duration(bad)


def test_hostile_label_values_and_regexes_are_inert() -> None:
    hostile = [
        "'; DROP TABLE alert_states; --",
        '"}} {{ $labels.x }}',
        "a" * 50_000 + "!",
        "\u200b\u00a0ünï",
        '{{ printf "%s" }}',
    ]
    samples: promql.Samples = {
        "loadsense_latency_slack": [((("service", v),), -1.0) for v in hostile]
    }
    # a catastrophic-backtracking pattern for a backtracking engine is linear in RE2
    node = promql.compile_expr('loadsense_latency_slack{service=~"(a+)+$"}')
    started = time.monotonic()
    assert promql.evaluate(node, samples) == []
    assert time.monotonic() - started < 5
    # label values are data in templates: never evaluated as templates themselves
    rule = load_text(
        _one_rule(
            "loadsense_latency_slack < 0", annotations="{s: '{{ $labels.service }}'}"
        ).replace("Bad", "Hostile"),
        "f.yaml",
    )[0].rules[0]
    state = RuleState(rule)
    state.evaluate(promql.evaluate(rule.node, samples), 0.0)
    assert sorted(a.annotations["s"] for a in state.active()) == sorted(hostile)


def test_templates_follow_prometheus() -> None:
    # humanize: 1234567 -> 1.235M; 0.0012 -> 1.2m; humanizeDuration: 3725 s = 1h 2m 5s
    assert humanize(1234567) == "1.235M"
    assert humanize(0.0012) == "1.2m"
    assert humanize(0) == "0"
    assert humanize_duration(3725) == "1h 2m 5s"
    assert humanize_duration(90061) == "1d 1h 1m 1s"
    assert humanize_duration(42.5) == "42.5s"
    assert humanize_duration(0.25) == "250ms"
    assert humanize_percentage(0.0712) == "7.12%"
    # $value prints as Go prints a float64
    assert [go_float(v) for v in (1e6, 123456.0, 0.25, -3.0, 1e-5)] == [
        "1e+06",
        "123456",
        "0.25",
        "-3",
        "1e-05",
    ]
    render = compile_template(
        '{{ $labels.service }}: {{ $value | humanizePercentage }}, {{ printf "%.1f" $value }}'
        ' {{- " x" -}} {{ .Labels.missing }}|{{ humanize .Value }}'
    )
    assert render(TemplateData({"service": "s"}, 0.5)) == "s: 50%, 0.5 x|500m"


def test_promtool_accepts_every_shipped_rule_file() -> None:
    assert SHIPPED, "no rule files under docs/rules"
    done = subprocess.run(
        [require(PROMTOOL), "check", "rules", *map(str, SHIPPED)], capture_output=True, text=True
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert "SUCCESS: 8 rules found" in done.stdout


def test_every_default_rule_has_summary_and_runbook() -> None:
    (pack,) = [p for p in SHIPPED if p.name == "loadsense.rules.yaml"]
    groups = load_text(pack.read_text(), str(pack))
    rules = [r for g in groups for r in g.rules]
    assert len(rules) == 8
    for rule in rules:
        assert set(rule.annotations) >= {"summary", "runbook"}, rule.name


def test_rules_check_cli(tmp_path: Path) -> None:
    ok = subprocess.run(
        loadsense_command("rules", "check", *map(str, SHIPPED)), capture_output=True, text=True
    )
    assert ok.returncode == 0, ok.stderr
    assert "SUCCESS: 8 rules found in 3 groups" in ok.stdout
    bad = tmp_path / "bad.yaml"
    bad.write_text(_one_rule('loadsense_latency_slack{service=~"["} < 0'))
    done = subprocess.run(
        loadsense_command("rules", "check", str(SHIPPED[0]), str(bad)),
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert done.stderr.startswith(f"loadsense: error: {bad}: group 'grp', rule 'Bad': bad regex")
