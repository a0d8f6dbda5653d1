"""The condition language of policy rules: facts about a workload compared to thresholds.

A condition is a mapping; every key must hold (all-of). A key is a fact name with an
operator mapping (``urgency: {ge: 0.7}``) or a bare value meaning ``eq``; ``any:`` and
``all:`` take a list of such mappings. A fact whose value is unknown (``None``) never
satisfies a comparison, so missing telemetry cannot trigger a rule by accident.
Every comparison that held is returned, so a recommendation can name its reasons.
The vocabulary is documented in docs/dispatch.md.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, NamedTuple

from loadsense.correlator.dispatch.classes import CLASSES
from loadsense.correlator.dispatch.regime import REGIMES
from loadsense.globs import compile_glob

Value = float | bool | str | None

NUMBER_FACTS = frozenset(
    {
        "urgency",
        "staleness_cost",
        "slo_risk",
        "recoverability",
        "min_output_freshness",
        "feeds_stale_model",
        "downstream_rps",
        "colocated_min_slack",
        "upstream_schema_drift",
        "upstream_failing_assertions",
        "upstream_validation_confidence",
        "queue_oldest_age_s",
        "dispatch_delay_s",
        "host_contention",
        "telemetry_age_s",
        "etl_pressure",
        "ml_pressure",
    }
)
BOOL_FACTS = frozenset({"protected", "causes_colocated_staleness", "freshness_critical"})
TEXT_FACTS = frozenset({"class", "regime", "kind", "name", "namespace", "service_name", "queue"})
FACTS = NUMBER_FACTS | BOOL_FACTS | TEXT_FACTS

_NUMBER_OPS: dict[str, Callable[[float, float], bool]] = {
    "eq": lambda a, b: a == b,
    "ne": lambda a, b: a != b,
    "lt": lambda a, b: a < b,
    "le": lambda a, b: a <= b,
    "gt": lambda a, b: a > b,
    "ge": lambda a, b: a >= b,
}
_TEXT_OPS = frozenset({"eq", "ne", "in", "not_in", "glob"})
_BOOL_OPS = frozenset({"eq", "ne"})


class ConditionError(ValueError):
    """A condition is malformed; ``path`` names the offending field (``when.urgency.ge``)."""

    def __init__(self, path: str, message: str) -> None:
        super().__init__(f"{path}: {message}")
        self.path = path


class Fact(NamedTuple):
    """A fact's value and the thing it is about (a dataset, a service, the workload).

    A named tuple rather than a dataclass: a tick builds ~30 per workload."""

    value: Value
    subject: str = ""


@dataclass(frozen=True)
class Comparison:
    fact: str
    op: str
    threshold: float | bool | str | tuple[str, ...]

    def holds(self, value: Value) -> bool:
        if value is None:
            return False
        if self.fact in NUMBER_FACTS:
            if isinstance(value, bool) or not isinstance(value, int | float):
                return False
            if math.isnan(value):
                return False
            assert isinstance(self.threshold, int | float)
            return _NUMBER_OPS[self.op](float(value), float(self.threshold))
        if self.fact in BOOL_FACTS:
            return (value == self.threshold) == (self.op == "eq")
        text = str(value)
        if self.op == "eq":
            return text == self.threshold
        if self.op == "ne":
            return text != self.threshold
        if self.op == "glob":
            return compile_glob(str(self.threshold)).match(text)
        assert isinstance(self.threshold, tuple)
        return (text in self.threshold) == (self.op == "in")


@dataclass(frozen=True)
class Condition:
    """All of ``comparisons`` and of ``all_of`` hold, and one of ``any_of`` (if any)."""

    comparisons: tuple[Comparison, ...] = ()
    all_of: tuple[Condition, ...] = ()
    any_of: tuple[Condition, ...] = ()

    def evaluate(self, facts: Mapping[str, Fact]) -> tuple[Comparison, ...] | None:
        """The comparisons that made the condition hold, or None when it does not."""
        held: list[Comparison] = []
        for comparison in self.comparisons:
            fact = facts.get(comparison.fact)
            if fact is None or not comparison.holds(fact.value):
                return None
            held.append(comparison)
        for child in self.all_of:
            sub = child.evaluate(facts)
            if sub is None:
                return None
            held.extend(sub)
        if self.any_of:
            for child in self.any_of:
                sub = child.evaluate(facts)
                if sub is not None:
                    held.extend(sub)
                    break
            else:
                return None
        return tuple(held)


ALWAYS = Condition()


def parse_condition(raw: Any, path: str) -> Condition:
    """Validate and build a condition; errors name the field path."""
    if raw is None:
        return ALWAYS
    if not isinstance(raw, Mapping):
        raise ConditionError(path, "expected a mapping of facts to comparisons")
    comparisons: list[Comparison] = []
    all_of: list[Condition] = []
    any_of: list[Condition] = []
    for key, spec in raw.items():
        key = str(key)
        where = f"{path}.{key}"
        if key in {"any", "all"}:
            if not isinstance(spec, list) or not spec:
                raise ConditionError(where, "expected a non-empty list of conditions")
            parsed = [parse_condition(item, f"{where}[{i}]") for i, item in enumerate(spec)]
            (any_of if key == "any" else all_of).extend(parsed)
            continue
        if key not in FACTS:
            known = ", ".join(sorted(FACTS))
            raise ConditionError(where, f"unknown fact {key!r} (known: {known})")
        ops = spec if isinstance(spec, Mapping) else {"eq": spec}
        if not ops:
            raise ConditionError(where, "expected at least one operator")
        for op, threshold in ops.items():
            comparisons.append(_comparison(key, str(op), threshold, f"{where}.{op}"))
    return Condition(tuple(comparisons), tuple(all_of), tuple(any_of))


def _comparison(fact: str, op: str, threshold: Any, path: str) -> Comparison:
    if fact in NUMBER_FACTS:
        if op not in _NUMBER_OPS:
            raise ConditionError(path, f"unknown operator {op!r} (known: {', '.join(_NUMBER_OPS)})")
        if isinstance(threshold, bool) or not isinstance(threshold, int | float):
            raise ConditionError(path, f"expected a number, got {threshold!r}")
        if not math.isfinite(threshold):
            raise ConditionError(path, "expected a finite number")
        return Comparison(fact, op, float(threshold))
    if fact in BOOL_FACTS:
        if op not in _BOOL_OPS:
            raise ConditionError(path, f"unknown operator {op!r} (known: eq, ne)")
        if not isinstance(threshold, bool):
            raise ConditionError(path, f"expected true or false, got {threshold!r}")
        return Comparison(fact, op, threshold)
    if op not in _TEXT_OPS:
        raise ConditionError(
            path, f"unknown operator {op!r} (known: {', '.join(sorted(_TEXT_OPS))})"
        )
    if op in {"in", "not_in"}:
        if not isinstance(threshold, list) or not all(isinstance(t, str) for t in threshold):
            raise ConditionError(path, "expected a list of strings")
        values = tuple(threshold)
    elif isinstance(threshold, str):
        values = (threshold,)
    else:
        raise ConditionError(path, f"expected a string, got {threshold!r}")
    allowed = _ENUMS.get(fact)
    if allowed is not None and op != "glob":
        for value in values:
            if value not in allowed:
                raise ConditionError(
                    path, f"unknown {fact} {value!r} (known: {', '.join(allowed)})"
                )
    return Comparison(fact, op, values if op in {"in", "not_in"} else values[0])


_ENUMS: dict[str, tuple[str, ...]] = {
    "class": CLASSES,
    "regime": REGIMES,
    "kind": ("job", "queue", "service", "training"),
}
