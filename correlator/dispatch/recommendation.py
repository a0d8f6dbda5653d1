"""A recommendation: what a scheduler should do with one workload now, and why.

``decision`` is the part a scheduler acts on (action, priority, caps, regime, the rules
and signals behind it, policy version). It decides change detection: the audit log
records a workload when its decision changes, and the API's ETag changes only when a
decision does; reason values and ``expires_at`` refresh every tick without counting as
a change.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

Threshold = float | bool | str | tuple[str, ...] | None


@dataclass(frozen=True)
class Reason:
    """One signal that moved the decision: its value against a rule's threshold."""

    signal: str
    subject: str
    value: float | bool | str | None
    threshold: Threshold
    rule: str
    op: str = ""

    def as_dict(self) -> dict[str, Any]:
        threshold = list(self.threshold) if isinstance(self.threshold, tuple) else self.threshold
        return {
            "signal": self.signal,
            "subject": self.subject,
            "value": self.value,
            "op": self.op,
            "threshold": threshold,
            "rule": self.rule,
        }


@dataclass(frozen=True)
class Recommendation:
    workload: str
    cls: str
    action: str  # boost | admit | throttle | defer | pause
    priority: int  # 0..100
    regime: str
    confidence: str  # high | medium | low
    issued_at: float  # when this decision was first issued (as_of, seconds)
    expires_at: float  # as_of of the latest tick + the policy's recommendation_ttl_s
    policy_version: str
    reasons: tuple[Reason, ...] = ()
    max_concurrency: int | None = None
    rate_per_s: float | None = None
    defer_until: float | None = None
    resume_when: str | None = None

    @cached_property
    def decision(self) -> tuple[Any, ...]:
        return (
            self.workload,
            self.cls,
            self.action,
            self.priority,
            self.max_concurrency,
            self.rate_per_s,
            self.defer_until,
            self.resume_when,
            self.regime,
            self.confidence,
            self.policy_version,
            tuple(sorted({(r.rule, r.signal, r.subject) for r in self.reasons})),
        )

    @cached_property
    def digest(self) -> str:
        """A short stable hash of :attr:`decision` (ETags are built from these)."""
        return hashlib.blake2b(repr(self.decision).encode(), digest_size=8).hexdigest()

    def concurrency(self, default: int) -> int:
        """What a scaler should run: the cap, 0 when held, else the policy default."""
        if self.action in {"defer", "pause"}:
            return 0
        return self.max_concurrency if self.max_concurrency is not None else default

    def with_reason(self, reason: Reason) -> Recommendation:
        return replace(self, reasons=(*self.reasons, reason))
