"""Closing the loop: the concurrency of throttled work follows the measured latency slack.

The rules say *whether* work next to a struggling service is throttled; this controller
says *how deep*. Per workload it keeps a cap and updates it once per tick from the
lowest latency slack of the services it shares hosts with (AIMD, as TCP does with its
window):

* slack below ``target_slack`` (a breach): ``cap = max(min_concurrency,
  floor(cap * decrease))``; the first breach of a workload a rule throttles starts from
  the rule's ``max_concurrency`` (at most ``max_concurrency``);
* slack at or above the target: ``cap = cap + increase``; once the cap reaches
  ``max_concurrency`` the workload is released (no cap, the rules decide again);
* slack unknown: the cap stays (missing telemetry never moves it).

So a throttle is as deep as the service needs and no deeper, and released work comes
back gradually instead of all at once (which would breach the SLO again).
Options live in the policy file under ``options.feedback`` (docs/dispatch.md).
"""

from __future__ import annotations

import math
from dataclasses import dataclass


@dataclass(frozen=True)
class FeedbackOptions:
    enabled: bool = True
    target_slack: float = 0.1
    increase: int = 1
    decrease: float = 0.5
    min_concurrency: int = 1
    max_concurrency: int = 8

    def __post_init__(self) -> None:
        if not 0 < self.decrease < 1:
            raise ValueError("feedback.decrease must be in (0, 1)")
        if self.increase < 1 or self.min_concurrency < 1:
            raise ValueError("feedback.increase and feedback.min_concurrency must be >= 1")
        if self.max_concurrency <= self.min_concurrency:
            raise ValueError("feedback.max_concurrency must be above min_concurrency")


class ConcurrencyController:
    """AIMD caps per workload; :meth:`update` once per tick per workload."""

    def __init__(self, options: FeedbackOptions | None = None) -> None:
        self.options = options or FeedbackOptions()
        self._caps: dict[str, int] = {}

    def cap(self, workload: str) -> int | None:
        return self._caps.get(workload)

    def update(self, workload: str, slack: float | None, rule_cap: int | None) -> int | None:
        """The cap for ``workload`` this tick, or None when none applies.

        ``slack`` is the lowest latency slack next to the workload (None: unknown);
        ``rule_cap`` the ``max_concurrency`` of the rule that throttles it this tick
        (None: no rule throttles it).
        """
        o = self.options
        cap = self._caps.get(workload)
        if not o.enabled:
            return rule_cap
        if cap is None:
            if rule_cap is None or slack is None or slack >= o.target_slack:
                return rule_cap
            cap = min(rule_cap, o.max_concurrency)
        if slack is None:
            pass
        elif slack < o.target_slack:
            cap = max(o.min_concurrency, math.floor(cap * o.decrease))
        else:
            cap += o.increase
            if cap >= o.max_concurrency:
                del self._caps[workload]
                return rule_cap
        self._caps[workload] = cap
        return cap

    def forget(self, keep: set[str]) -> None:
        """Drop the state of workloads that no longer exist."""
        for name in set(self._caps) - keep:
            del self._caps[name]
