"""The safety envelope: limits no policy rule can break, enforced after the rules.

Per workload, in this order:

1. missing or stale telemetry (``telemetry_age_s`` unknown or above
   ``telemetry_stale_s``) -> the neutral recommendation: ``admit`` at priority 50,
   ``confidence: low``; never a pause on data we do not have;
2. protected workloads are never deferred or paused (they are admitted instead);
3. freshness-critical ETL is never deferred or paused and never capped below
   ``min_concurrency``, unless an input it reads is unsafe (schema drift or failing
   assertions upstream): holding it then keeps bad data away from the models, which
   running narrow would not.

Across workloads, :func:`limit_changes` lets at most ``max_change_share`` of them (at
least one) change action per tick; the others keep their previous recommendation,
unless that previous recommendation would itself break 1-3 now (a forced change).
Properties are tested with hypothesis (tests/test_dispatch_envelope.py).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

from loadsense.correlator.dispatch.attributes import Attributes
from loadsense.correlator.dispatch.inputs import UpstreamHealth
from loadsense.correlator.dispatch.policy import PolicyOptions
from loadsense.correlator.dispatch.recommendation import Reason, Recommendation

NEUTRAL_PRIORITY = 50
HELD = frozenset({"defer", "pause"})
BUDGET_RULE = "envelope:max-change-share"


@dataclass(frozen=True)
class Guard:
    """What the envelope needs to know about one workload this tick."""

    protected: bool
    freshness_critical: bool
    telemetry_age_s: float | None
    unsafe_input: bool = False  # upstream schema drift or failing assertions

    @classmethod
    def of(
        cls, attrs: Attributes, telemetry_age_s: float | None, unsafe_input: bool = False
    ) -> Guard:
        return cls(attrs.protected, attrs.freshness_critical, telemetry_age_s, unsafe_input)


def unsafe_input(upstream: UpstreamHealth) -> bool:
    """Whether the data a workload reads changed shape or failed its checks."""
    return upstream.schema_drift > 0 or upstream.failing_assertions > 0


def telemetry_ok(guard: Guard, options: PolicyOptions) -> bool:
    age = guard.telemetry_age_s
    return age is not None and math.isfinite(age) and age <= options.telemetry_stale_s


def violation(rec: Recommendation, guard: Guard, options: PolicyOptions) -> str | None:
    """The first envelope limit ``rec`` breaks, or None."""
    if not telemetry_ok(guard, options):
        neutral = rec.action == "admit" and rec.confidence == "low" and rec.max_concurrency is None
        return None if neutral else "stale-telemetry"
    if guard.protected and rec.action in HELD:
        return "protected"
    if guard.freshness_critical and not guard.unsafe_input:
        if rec.action in HELD:
            return "min-concurrency"
        if rec.max_concurrency is not None and rec.max_concurrency < options.min_concurrency:
            return "min-concurrency"
    return None


def enforce(rec: Recommendation, guard: Guard, options: PolicyOptions) -> Recommendation:
    """``rec`` brought inside the envelope, with a reason naming the limit applied."""
    broken = violation(rec, guard, options)
    if broken is None:
        return rec
    rule = f"envelope:{broken}"
    if broken == "stale-telemetry":
        age = guard.telemetry_age_s
        return replace(
            rec,
            action="admit",
            priority=NEUTRAL_PRIORITY,
            confidence="low",
            max_concurrency=None,
            rate_per_s=None,
            defer_until=None,
            resume_when=None,
            reasons=(_stale_reason(rec.workload, age, options, rule),),
        )
    if broken == "protected":
        return replace(rec, action="admit", defer_until=None, resume_when=None).with_reason(
            Reason("protected", rec.workload, True, True, rule, "eq")
        )
    cap = max(options.min_concurrency, rec.max_concurrency or options.min_concurrency)
    return replace(
        rec,
        action="throttle" if rec.action in HELD else rec.action,
        max_concurrency=cap,
        defer_until=None,
        resume_when=None,
    ).with_reason(
        Reason("max_concurrency", rec.workload, cap, float(options.min_concurrency), rule, "ge")
    )


def _stale_reason(workload: str, age: float | None, options: PolicyOptions, rule: str) -> Reason:
    """A true comparison: the age above the limit, or the age unknown (``eq null``)."""
    if age is None or not math.isfinite(age):
        return Reason("telemetry_age_s", workload, None, None, rule, "eq")
    return Reason("telemetry_age_s", workload, age, options.telemetry_stale_s, rule, "gt")


def change_budget(workloads: int, options: PolicyOptions) -> int:
    return max(1, math.floor(options.max_change_share * workloads))


def limit_changes(
    proposed: Sequence[Recommendation],
    previous: Mapping[str, Recommendation],
    guards: Mapping[str, Guard],
    options: PolicyOptions,
) -> list[Recommendation]:
    """Hold back action changes beyond the budget; forced changes always pass.

    Discretionary changes are admitted by descending new priority (then name), so the
    most urgent move goes first and the rest follow on later ticks.
    """
    budget = change_budget(len(proposed), options)
    discretionary: list[Recommendation] = []
    for rec in proposed:
        prev = previous.get(rec.workload)
        if prev is None or prev.action == rec.action:
            continue
        if violation(prev, guards[rec.workload], options) is None:
            discretionary.append(rec)
    discretionary.sort(key=lambda r: (-r.priority, r.workload))
    held = {r.workload for r in discretionary[budget:]}
    if not held:
        return list(proposed)
    pending = len(discretionary)
    out: list[Recommendation] = []
    for rec in proposed:
        if rec.workload not in held:
            out.append(rec)
            continue
        prev = previous[rec.workload]
        out.append(
            replace(
                prev,
                regime=rec.regime,
                confidence=rec.confidence,
                expires_at=rec.expires_at,
                policy_version=rec.policy_version,
                reasons=(
                    *(r for r in prev.reasons if r.rule != BUDGET_RULE),
                    Reason(
                        "actions_changing",
                        "tick",
                        float(pending),
                        float(budget),
                        BUDGET_RULE,
                        "gt",
                    ),
                ),
            )
        )
    return out
