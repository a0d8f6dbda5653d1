"""One dispatch evaluation per correlator tick: regime, rules, envelope, change tracking.

The engine is the only stateful part of dispatch: it remembers the regime latches,
the active deferrals (``defer ... until``) and the previous tick's recommendations
(for the change budget and the audit log). It is driven by ``as_of`` only, so a
replay or simulation in simulated time gives the same answers as live evaluation.
One engine per correlator; :meth:`DispatchEngine.evaluate` is not re-entrant.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace

from loadsense.correlator.dispatch.attributes import Attributes, derive
from loadsense.correlator.dispatch.conditions import Comparison
from loadsense.correlator.dispatch.envelope import Guard, enforce, limit_changes, unsafe_input
from loadsense.correlator.dispatch.feedback import ConcurrencyController, FeedbackOptions
from loadsense.correlator.dispatch.inputs import DispatchInputs, WorkloadInputs
from loadsense.correlator.dispatch.policy import Policy, Rule
from loadsense.correlator.dispatch.recommendation import Reason, Recommendation
from loadsense.correlator.dispatch.regime import RegimeState, RegimeTracker, pressures
from loadsense.correlator.steps import yield_to_evaluation

logger = logging.getLogger(__name__)

_YIELD_EVERY = 256
"""Workloads decided between two :func:`yield_to_evaluation` calls (~20 ms of work)."""

DEFAULT_RULE = "default"
DEFAULT_BOOST = 20
FEEDBACK_RULE = "feedback:aimd"


@dataclass(frozen=True)
class Deferral:
    """A workload held by a ``defer`` rule; it lasts past the rule until ``until`` says."""

    rule: Rule
    last_held: float  # as_of of the latest tick at which the rule held
    reasons: tuple[Reason, ...]


@dataclass(frozen=True)
class Change:
    recommendation: Recommendation
    previous_action: str  # '' for a workload seen for the first time


@dataclass(frozen=True)
class Restored:
    """State read back from the audit log after a restart (restore.py)."""

    latest: float  # issued_at of the newest logged row
    previous: dict[str, Recommendation]
    regime: RegimeState | None


@dataclass(frozen=True)
class Evaluation:
    as_of: float
    regime: RegimeState
    policy_version: str
    recommendations: tuple[Recommendation, ...]  # sorted by workload
    changes: tuple[Change, ...]


def base_priority(attrs: Attributes) -> int:
    """``20 + 50 urgency + 20 staleness_cost + 10 (1 - recoverability)``, within 0..100."""
    raw = 20 + 50 * attrs.urgency + 20 * attrs.staleness_cost + 10 * (1 - attrs.recoverability)
    return max(0, min(100, round(raw)))


def _reasons(rule: Rule, held: tuple[Comparison, ...], attrs: Attributes) -> tuple[Reason, ...]:
    out = []
    for comparison in held:
        fact = attrs.facts[comparison.fact]
        out.append(
            Reason(
                comparison.fact,
                fact.subject,
                fact.value,
                comparison.threshold,
                rule.name,
                comparison.op,
            )
        )
    return tuple(out)


def _confidence(workload: WorkloadInputs) -> str:
    unknown = any(d.freshness is None for d in workload.produces) or any(
        s.latency_slack is None for s in workload.colocated
    )
    return "medium" if unknown else "high"


class DispatchEngine:
    def __init__(self) -> None:
        self.tracker = RegimeTracker()
        self.previous: dict[str, Recommendation] = {}
        self.deferrals: dict[str, Deferral] = {}
        self.feedback = ConcurrencyController()
        self._policy_version = ""
        self.last_as_of: float | None = None
        self.restored: Restored | None = None

    def evaluate(self, inputs: DispatchInputs, policy: Policy) -> Evaluation:
        as_of = inputs.as_of
        options = policy.options
        # Restored state waits for the first tick that sees workloads (not an empty start).
        restored = self.restored if inputs.workloads else None
        if restored is not None:
            self.restored = None
            names = {w.name for w in inputs.workloads}
            known = {k: v for k, v in restored.previous.items() if k in names}
            if known and as_of >= restored.latest:
                self.previous, self.last_as_of = known, restored.latest
                if restored.regime is not None:
                    self.tracker.state = restored.regime
        if self.last_as_of is not None and as_of < self.last_as_of:
            # The clock went backwards (a replay from an earlier instant): start afresh.
            self.previous, self.deferrals = {}, {}
            self.feedback = ConcurrencyController(options.feedback)
        self.last_as_of = as_of
        if policy.version != self._policy_version:
            names = {r.name for r in policy.rules}
            self.deferrals = {k: d for k, d in self.deferrals.items() if d.rule.name in names}
            self._policy_version = policy.version
        state = self.tracker.update(as_of, pressures(inputs.regime, options.regime), options.regime)
        proposed: list[Recommendation] = []
        guards: dict[str, Guard] = {}
        seen: set[str] = set()
        for i, workload in enumerate(sorted(inputs.workloads, key=lambda w: w.name)):
            if i % _YIELD_EVERY == 0:
                yield_to_evaluation()
            if workload.name in seen:
                continue
            seen.add(workload.name)
            attrs = derive(workload, policy, state, as_of)
            unsafe = unsafe_input(workload.upstream)
            guard = Guard.of(attrs, workload.telemetry_age_s, unsafe)
            guards[workload.name] = guard
            rec = self._decide(workload, attrs, policy, state, as_of)
            rec = self._correct(workload, attrs, rec, options.feedback)
            proposed.append(enforce(rec, guard, options))
        self.deferrals = {k: d for k, d in self.deferrals.items() if k in seen}
        self.feedback.forget(seen)
        limited = limit_changes(proposed, self.previous, guards, options)
        final: list[Recommendation] = []
        changes: list[Change] = []
        for rec in limited:
            prev = self.previous.get(rec.workload)
            if prev is not None and prev.decision == rec.decision:
                rec = replace(rec, issued_at=prev.issued_at)
            else:
                changes.append(Change(rec, prev.action if prev else ""))
            final.append(rec)
        self.previous = {r.workload: r for r in final}
        return Evaluation(as_of, state, policy.version, tuple(final), tuple(changes))

    def _decide(
        self,
        workload: WorkloadInputs,
        attrs: Attributes,
        policy: Policy,
        state: RegimeState,
        as_of: float,
    ) -> Recommendation:
        base = base_priority(attrs)
        rec = Recommendation(
            workload=workload.name,
            cls=attrs.cls,
            action="admit",
            priority=base,
            regime=state.regime,
            confidence=_confidence(workload),
            issued_at=as_of,
            expires_at=as_of + policy.options.recommendation_ttl_s,
            policy_version=policy.version,
            reasons=(
                Reason(
                    "urgency",
                    attrs.facts["urgency"].subject,
                    attrs.urgency,
                    0.0,
                    DEFAULT_RULE,
                    "ge",
                ),
            ),
        )
        matched: tuple[Rule, tuple[Reason, ...]] | None = None
        for rule in policy.rules:
            held = rule.when.evaluate(attrs.facts)
            if held is not None:
                matched = (rule, _reasons(rule, held, attrs))
                break
        deferral = self.deferrals.get(workload.name)
        if matched is not None and matched[0].action == "defer":
            deferral = Deferral(matched[0], as_of, matched[1])
            self.deferrals[workload.name] = deferral
        elif deferral is not None and self._ended(deferral, attrs, as_of):
            del self.deferrals[workload.name]
            deferral = None
        if deferral is not None:
            return self._apply(rec, deferral.rule, deferral.reasons, base, deferral)
        if matched is None:
            return rec
        return self._apply(rec, matched[0], matched[1], base, None)

    def _correct(
        self,
        workload: WorkloadInputs,
        attrs: Attributes,
        rec: Recommendation,
        options: FeedbackOptions,
    ) -> Recommendation:
        """Let the AIMD controller set the cap of admitted or throttled jobs (feedback.py).

        Its reasons are true comparisons: the co-located slack against the target (below
        it the cap shrinks, at or above it grows), and the cap it holds.
        """
        if workload.kind in ("service", "queue") or rec.action not in ("admit", "throttle"):
            return rec
        self.feedback.options = options
        fact = attrs.facts["colocated_min_slack"]
        slack = fact.value if isinstance(fact.value, int | float) else None
        rule_cap = rec.max_concurrency if rec.action == "throttle" else None
        cap = self.feedback.update(workload.name, slack, rule_cap)
        if cap is None or cap == rule_cap:
            return rec  # the rule's own cap and reasons stand
        reasons = [Reason("feedback_cap", workload.name, cap, cap, FEEDBACK_RULE, "eq")]
        if slack is not None:
            op = "lt" if slack < options.target_slack else "ge"
            reasons.insert(
                0,
                Reason(
                    "colocated_min_slack", fact.subject, slack, options.target_slack,
                    FEEDBACK_RULE, op,
                ),
            )  # fmt: skip
        kept = rec.reasons if rec.action == "throttle" else ()
        return replace(rec, action="throttle", max_concurrency=cap, reasons=(*kept, *reasons))

    @staticmethod
    def _ended(deferral: Deferral, attrs: Attributes, as_of: float) -> bool:
        until = deferral.rule.until
        if until is None:
            return True  # a plain defer lasts while its rule holds
        if until.after_s is not None and as_of >= deferral.last_held + until.after_s:
            return True
        return until.condition is not None and until.condition.evaluate(attrs.facts) is not None

    @staticmethod
    def _apply(
        rec: Recommendation,
        rule: Rule,
        reasons: tuple[Reason, ...],
        base: int,
        deferral: Deferral | None,
    ) -> Recommendation:
        delta = rule.priority_delta or (DEFAULT_BOOST if rule.action == "boost" else 0)
        priority = rule.priority if rule.priority is not None else base + delta
        if rule.action == "boost":
            priority = max(priority, base)
        until = rule.until
        defer_until = None
        if deferral is not None and until is not None and until.after_s is not None:
            defer_until = deferral.last_held + until.after_s
        return replace(
            rec,
            action=rule.action,
            priority=max(0, min(100, priority)),
            max_concurrency=rule.max_concurrency,
            rate_per_s=rule.rate_per_s,
            defer_until=defer_until,
            resume_when=(until.text or None) if until is not None else None,
            reasons=reasons,
        )
