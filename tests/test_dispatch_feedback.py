"""The AIMD concurrency controller: bounds, release, and convergence on a synthetic plant."""

from __future__ import annotations

from statistics import fmean

import pytest
from hypothesis import given
from hypothesis import strategies as st

from loadsense.correlator.dispatch.engine import DispatchEngine
from loadsense.correlator.dispatch.feedback import ConcurrencyController, FeedbackOptions
from loadsense.correlator.dispatch.policy import PolicyError, parse_policy
from loadsense.correlator.snapshot import Snapshot
from tests.test_dispatch_scenarios import T0, facts, fresh, graph, host, latency, lineage, rec, tick


def test_first_breach_starts_from_the_rule_cap_and_halves() -> None:
    c = ConcurrencyController(FeedbackOptions(target_slack=0.1, max_concurrency=8))
    # No breach, no state: the rule decides.
    assert c.update("job", 0.3, None) is None
    assert c.update("job", 0.3, 4) == 4
    assert c.cap("job") is None
    # Breach (slack 0.05 < 0.1) under a rule cap of 4: floor(4 * 0.5) = 2, then 1, then 1.
    assert [c.update("job", 0.05, 4) for _ in range(3)] == [2, 1, 1]
    # Recovery: +1 per tick; reaching 8 releases the workload to the rules again.
    assert [c.update("job", 0.2, None) for _ in range(7)] == [2, 3, 4, 5, 6, 7, None]
    assert c.cap("job") is None


def test_unknown_slack_keeps_the_cap() -> None:
    c = ConcurrencyController()
    assert c.update("job", -0.5, 3) == 1
    assert c.update("job", None, None) == 1
    assert c.update("job", None, 3) == 1


def test_disabled_controller_passes_the_rule_through() -> None:
    c = ConcurrencyController(FeedbackOptions(enabled=False))
    assert c.update("job", -1.0, 3) == 3
    assert c.update("job", -1.0, None) is None


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"decrease": 1.0}, r"decrease must be in \(0, 1\)"),
        ({"increase": 0}, r"increase and feedback.min_concurrency must be >= 1"),
        ({"min_concurrency": 4, "max_concurrency": 4}, r"max_concurrency must be above"),
    ],
)
def test_options_are_validated(kwargs: dict[str, float], match: str) -> None:
    with pytest.raises(ValueError, match=match):
        FeedbackOptions(**kwargs)  # type: ignore[arg-type]


@given(
    st.lists(st.one_of(st.none(), st.floats(-5, 5)), max_size=200),
    st.integers(1, 16),
)
def test_the_cap_stays_within_its_bounds(series: list[float | None], rule_cap: int) -> None:
    o = FeedbackOptions(min_concurrency=1, max_concurrency=8)
    c = ConcurrencyController(o)
    for slack in series:
        cap = c.update("job", slack, rule_cap)
        state = c.cap("job")
        assert state is None or o.min_concurrency <= state < o.max_concurrency
        assert cap is None or cap >= o.min_concurrency


def test_convergence_on_a_synthetic_plant() -> None:
    # The plant: slack falls by 0.1 per running unit, slack(c) = 0.45 - 0.1 c, so the
    # target 0.1 holds up to c = 3.5. From a rule cap of 8 (slack -0.35) the controller
    # halves to 4 (slack 0.05, breach) and 2 (0.25), then climbs 3 (0.15), 4 (breach) -> 2:
    # the sawtooth 2, 3, 4 around the largest safe concurrency, never back to 8.
    c = ConcurrencyController(FeedbackOptions(target_slack=0.1, max_concurrency=8))
    running = 8
    caps: list[int] = []
    for _ in range(60):
        cap = c.update("job", 0.45 - 0.1 * running, 8)
        assert cap is not None
        running = cap
        caps.append(cap)
    assert caps[:4] == [4, 2, 3, 4]
    assert set(caps[2:]) == {2, 3, 4}
    slack = [0.45 - 0.1 * cap for cap in caps[2:]]
    # Two ticks in three meet the target; the mean slack is (0.25 + 0.15 + 0.05) / 3.
    assert fmean(slack) == pytest.approx(0.15)
    assert sum(s >= 0.1 for s in slack) / len(slack) == pytest.approx(2 / 3, abs=0.02)


def test_the_engine_releases_throttled_work_gradually() -> None:
    # A job next to `ranker`: at slack -0.2 the rule `etl-yields-to-serving` throttles it
    # to 1 (the controller's first breach: max(1, floor(1 * 0.5)) = 1, the rule's cap, so
    # the rule's reasons stand). Once the slack is back at 0.3 no rule matches, and the
    # controller lets it grow by one per tick, 2..7, and releases it at 8 (admit).
    job, orders = "etl/nightly_orders", "warehouse/orders"

    def snapshot(as_of: float, slack: float) -> Snapshot:
        return Snapshot(
            as_of=as_of,
            freshness=(fresh(orders, 1.0, as_of + 7200),),
            latency=(latency("ranker", slack, 120.0),),
            hosts=(host("shared-1", ("ranker",), (job,)),),
            lineage=(lineage(orders),),
            graph=graph({job: (orders,)}),
        )

    engine = DispatchEngine()
    seen = []
    for i, slack in enumerate([-0.2] + [0.3] * 8):
        as_of = T0 + 60 * i
        r = rec(
            tick(engine, snapshot(as_of, slack), facts(as_of, {job: "QUERY"}, ("ranker",))), job
        )
        seen.append((r.action, r.max_concurrency))
        if i == 1:
            why = {x.signal: (x.value, x.op, x.threshold, x.rule) for x in r.reasons}
            assert why == {
                "colocated_min_slack": (0.3, "ge", 0.1, "feedback:aimd"),
                "feedback_cap": (2, "eq", 2, "feedback:aimd"),
            }
    assert seen == [("throttle", 1)] + [("throttle", c) for c in range(2, 8)] + [
        ("admit", None),
        ("admit", None),
    ]


def test_feedback_options_in_the_policy_file() -> None:
    policy = parse_policy(
        "version: t\noptions:\n"
        "  feedback: {target_slack: 0.2, decrease: 0.25, max_concurrency: 4}\n",
        "p.yaml",
    )
    assert policy.options.feedback == FeedbackOptions(
        target_slack=0.2, decrease=0.25, max_concurrency=4
    )
    with pytest.raises(PolicyError, match=r"options\.feedback\.speed: unknown key"):
        parse_policy("version: t\noptions:\n  feedback: {speed: 2}\n", "p.yaml")
    with pytest.raises(PolicyError, match=r"options\.feedback: decrease must be in \(0, 1\)"):
        parse_policy("version: t\noptions:\n  feedback: {decrease: 2}\n", "p.yaml")
    with pytest.raises(PolicyError, match=r"options\.feedback\.enabled: expected true or false"):
        parse_policy("version: t\noptions:\n  feedback: {enabled: 1}\n", "p.yaml")
