"""The dispatch policy: options, class overrides and rules, loaded from YAML and validated.

Rules are tried in file order and the first whose ``when`` holds decides the action
(``boost``, ``admit``, ``throttle``, ``defer``, ``pause``); a workload no rule matches
is admitted at its base priority. Validation happens once, at load: every error names
the file, the rule and the field, e.g. ``policy.yaml: rules[2] 'etl-yield': when.urgency.gte:
unknown operator``. The format is documented in docs/dispatch.md; the shipped
default is ``default_policy.yaml`` next to this module.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from importlib import resources
from pathlib import Path
from typing import Any

import yaml

from loadsense.correlator.dispatch.classes import CLASSES, ClassOverride
from loadsense.correlator.dispatch.conditions import (
    ALWAYS,
    Condition,
    ConditionError,
    parse_condition,
)
from loadsense.correlator.dispatch.feedback import FeedbackOptions
from loadsense.correlator.dispatch.regime import RegimeOptions
from loadsense.errors import ConfigError
from loadsense.vocabulary import ACTIONS

DEFAULT_POLICY = "default_policy.yaml"


class PolicyError(ConfigError):
    """The policy file is unreadable or invalid; the message names file, rule and field."""

    code = "policy"


@dataclass(frozen=True)
class PolicyOptions:
    """Tunables of the policy and of the safety envelope (docs/dispatch.md)."""

    max_change_share: float = 0.25  # at most this share of workloads change action per tick
    min_concurrency: int = 1  # freshness-critical ETL never goes below this
    default_concurrency: int = 4  # what KEDA is told for admitted work without a cap
    freshness_critical_urgency: float = 0.7
    telemetry_stale_s: float = 900.0  # older telemetry: neutral recommendation, low confidence
    recommendation_ttl_s: float = 60.0
    urgency_horizon_s: float = 3600.0
    stale_theta: float = 0.5  # freshness below this is "stale" for causes_colocated_staleness
    protected_classes: tuple[str, ...] = ("online-inference",)
    regime: RegimeOptions = field(default_factory=RegimeOptions)
    feedback: FeedbackOptions = field(default_factory=FeedbackOptions)


@dataclass(frozen=True)
class Until:
    """When a deferral ends: after ``after_s`` seconds, once ``condition`` holds, or both."""

    after_s: float | None = None
    condition: Condition | None = None
    text: str = ""  # the condition as written, shown to schedulers as ``resume_when``


@dataclass(frozen=True)
class Rule:
    name: str
    index: int
    when: Condition
    action: str
    priority: int | None = None
    priority_delta: int = 0
    max_concurrency: int | None = None
    rate_per_s: float | None = None
    until: Until | None = None


@dataclass(frozen=True)
class Policy:
    version: str
    source: str  # file path, or "default"
    options: PolicyOptions
    classes: tuple[ClassOverride, ...] = ()
    rules: tuple[Rule, ...] = ()


def _fail(file: str, where: str, message: str) -> PolicyError:
    return PolicyError(f"{file}: {where}: {message}", field=where)


def _number(raw: Any, file: str, where: str, *, minimum: float = 0.0, integer: bool = False) -> Any:
    if isinstance(raw, bool) or not isinstance(raw, int | float):
        raise _fail(file, where, f"expected a number, got {raw!r}")
    if integer and not isinstance(raw, int):
        raise _fail(file, where, f"expected an integer, got {raw!r}")
    if raw < minimum or raw != raw or raw in (float("inf"), float("-inf")):
        raise _fail(file, where, f"must be a finite number >= {minimum}, got {raw!r}")
    return raw


def _known_keys(raw: Mapping[str, Any], known: set[str], file: str, where: str) -> None:
    for key in raw:
        if key not in known:
            listed = ", ".join(sorted(known))
            raise _fail(
                file, f"{where}.{key}" if where else str(key), f"unknown key (known: {listed})"
            )


def _mapping(raw: Any, file: str, where: str) -> Mapping[str, Any]:
    if raw is None:
        return {}
    if not isinstance(raw, Mapping):
        raise _fail(file, where, "expected a mapping")
    return raw


def _options(raw: Any, file: str) -> PolicyOptions:
    data = dict(_mapping(raw, file, "options"))
    regime_raw = _mapping(data.pop("regime", None), file, "options.regime")
    feedback = _feedback(_mapping(data.pop("feedback", None), file, "options.feedback"), file)
    known = {f.name for f in fields(PolicyOptions)} - {"regime", "feedback"}
    _known_keys(data, known, file, "options")
    values: dict[str, Any] = {}
    for key, value in data.items():
        where = f"options.{key}"
        if key == "protected_classes":
            values[key] = tuple(_class_list(value, file, where))
        elif key in {"min_concurrency", "default_concurrency"}:
            values[key] = _number(value, file, where, minimum=1, integer=True)
        else:
            values[key] = float(_number(value, file, where))
    if "max_change_share" in values and not 0 < values["max_change_share"] <= 1:
        raise _fail(file, "options.max_change_share", "must be in (0, 1]")
    _known_keys(regime_raw, {f.name for f in fields(RegimeOptions)}, file, "options.regime")
    regime = RegimeOptions(
        **{
            k: float(_number(v, file, f"options.regime.{k}", minimum=0.0))
            for k, v in regime_raw.items()
        }
    )
    if not 0 < regime.exit <= regime.enter <= 1:
        raise _fail(file, "options.regime", "need 0 < exit <= enter <= 1")
    for key in ("queue_age_limit_s", "dispatch_delay_limit_s", "slack_reference", "rps_reference"):
        if getattr(regime, key) <= 0:
            raise _fail(file, f"options.regime.{key}", "must be > 0")
    return PolicyOptions(**values, regime=regime, feedback=feedback)


def _feedback(raw: Mapping[str, Any], file: str) -> FeedbackOptions:
    """``options.feedback``: the AIMD controller of throttled concurrency (feedback.py)."""
    where = "options.feedback"
    _known_keys(raw, {f.name for f in fields(FeedbackOptions)}, file, where)
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key == "enabled":
            if not isinstance(value, bool):
                raise _fail(file, f"{where}.enabled", f"expected true or false, got {value!r}")
            values[key] = value
        elif key in {"increase", "min_concurrency", "max_concurrency"}:
            values[key] = _number(value, file, f"{where}.{key}", minimum=1, integer=True)
        elif key == "target_slack":
            values[key] = float(_number(value, file, f"{where}.{key}", minimum=-1.0))
        else:
            values[key] = float(_number(value, file, f"{where}.{key}"))
    try:
        return FeedbackOptions(**values)
    except ValueError as exc:
        raise _fail(file, where, str(exc).removeprefix("feedback.")) from exc


def _class_list(raw: Any, file: str, where: str) -> list[str]:
    if not isinstance(raw, list) or not all(isinstance(c, str) for c in raw):
        raise _fail(file, where, "expected a list of class names")
    for cls in raw:
        if cls not in CLASSES:
            raise _fail(file, where, f"unknown class {cls!r} (known: {', '.join(CLASSES)})")
    return list(raw)


def _override(raw: Any, index: int, file: str) -> ClassOverride:
    where = f"classes[{index}]"
    data = _mapping(raw, file, where)
    _known_keys(data, {"match", "class", "protected"}, file, where)
    match = _mapping(data.get("match"), file, f"{where}.match")
    _known_keys(match, {"namespace", "name", "service_name", "queue"}, file, f"{where}.match")
    if not match:
        raise _fail(
            file, f"{where}.match", "expected at least one of namespace, name, service_name, queue"
        )
    for key, glob in match.items():
        if not isinstance(glob, str):
            raise _fail(file, f"{where}.match.{key}", "expected a glob string")
    cls = data.get("class")
    if cls is not None and cls not in CLASSES:
        raise _fail(file, f"{where}.class", f"unknown class {cls!r} (known: {', '.join(CLASSES)})")
    protected = data.get("protected")
    if protected is not None and not isinstance(protected, bool):
        raise _fail(file, f"{where}.protected", "expected true or false")
    if cls is None and protected is None:
        raise _fail(file, where, "sets neither class nor protected")
    return ClassOverride(index=index, cls=cls, protected=protected, **match)


_RULE_KEYS = {
    "name",
    "when",
    "action",
    "priority",
    "priority_delta",
    "max_concurrency",
    "rate_per_s",
    "until",
}


def _rule(raw: Any, index: int, file: str, seen: set[str]) -> Rule:
    data = _mapping(raw, file, f"rules[{index}]")
    name = data.get("name")
    if not isinstance(name, str) or not name.strip():
        raise _fail(file, f"rules[{index}].name", "every rule needs a non-empty name")
    where = f"rules[{index}] {name!r}"
    if name in seen:
        raise _fail(file, f"{where}.name", "duplicate rule name")
    seen.add(name)
    _known_keys(data, _RULE_KEYS, file, where)
    action = data.get("action")
    if action not in ACTIONS:
        raise _fail(
            file, f"{where}.action", f"expected one of {', '.join(ACTIONS)}, got {action!r}"
        )
    try:
        when = parse_condition(data.get("when"), "when")
        until = _until(data.get("until"), file, where) if "until" in data else None
    except ConditionError as exc:
        raise _fail(file, f"{where}.{exc.path}", str(exc).split(": ", 1)[1]) from exc
    priority = data.get("priority")
    if priority is not None:
        priority = _number(priority, file, f"{where}.priority", integer=True)
        if priority > 100:
            raise _fail(file, f"{where}.priority", "must be within 0..100")
    delta = data.get("priority_delta", 0)
    if isinstance(delta, bool) or not isinstance(delta, int) or not -100 <= delta <= 100:
        raise _fail(file, f"{where}.priority_delta", "expected an integer within -100..100")
    cap = data.get("max_concurrency")
    if cap is not None:
        cap = _number(cap, file, f"{where}.max_concurrency", minimum=1, integer=True)
    rate = data.get("rate_per_s")
    if rate is not None:
        rate = float(_number(rate, file, f"{where}.rate_per_s"))
        if rate <= 0:
            raise _fail(file, f"{where}.rate_per_s", "must be > 0")
    if action == "throttle" and cap is None and rate is None:
        raise _fail(file, where, "throttle needs max_concurrency or rate_per_s")
    if action in {"defer", "pause"} and (cap is not None or rate is not None):
        raise _fail(file, where, f"{action} takes no max_concurrency or rate_per_s")
    if until is not None and action != "defer":
        raise _fail(file, f"{where}.until", "only defer takes until")
    return Rule(name, index, when, action, priority, delta, cap, rate, until)


def _until(raw: Any, file: str, where: str) -> Until:
    data = _mapping(raw, file, f"{where}.until")
    _known_keys(data, {"after_s", "condition"}, file, f"{where}.until")
    if not data:
        raise _fail(file, f"{where}.until", "expected after_s and/or condition")
    after = data.get("after_s")
    if after is not None:
        after = float(_number(after, file, f"{where}.until.after_s"))
    cond_raw = data.get("condition")
    condition = parse_condition(cond_raw, "until.condition") if cond_raw is not None else None
    text = yaml.safe_dump(cond_raw, default_flow_style=True, width=1000).strip() if cond_raw else ""
    return Until(after, condition, text)


def parse_policy(text: str, source: str) -> Policy:
    """Validate ``text`` (YAML) and build the policy; ``source`` names it in errors."""
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise PolicyError(f"{source}: invalid YAML: {exc}") from exc
    data = _mapping(raw, source, "policy")
    _known_keys(data, {"version", "options", "classes", "rules"}, source, "")
    declared = data.get("version", "policy")
    if not isinstance(declared, str | int) or isinstance(declared, bool):
        raise _fail(source, "version", "expected a string")
    digest = hashlib.sha256(text.encode()).hexdigest()[:8]
    classes_raw = data.get("classes") or []
    rules_raw = data.get("rules") or []
    for key, value in (("classes", classes_raw), ("rules", rules_raw)):
        if not isinstance(value, list):
            raise _fail(source, key, "expected a list")
    seen: set[str] = set()
    return Policy(
        version=f"{declared}@{digest}",
        source=source,
        options=_options(data.get("options"), source),
        classes=tuple(_override(c, i, source) for i, c in enumerate(classes_raw)),
        rules=tuple(_rule(r, i, source, seen) for i, r in enumerate(rules_raw)),
    )


def default_policy_text() -> str:
    return (
        resources.files("loadsense.correlator.dispatch").joinpath(DEFAULT_POLICY).read_text("utf-8")
    )


def load_policy(path: str | Path | None = None) -> Policy:
    """The policy at ``path``, or the shipped default when ``path`` is None."""
    if path is None:
        return parse_policy(default_policy_text(), DEFAULT_POLICY)
    file = Path(path)
    try:
        text = file.read_text(encoding="utf-8")
    except OSError as exc:
        raise PolicyError(f"{file}: cannot read policy file: {exc.strerror}") from exc
    return parse_policy(text, str(file))


__all__ = ["ACTIONS", "ALWAYS", "Policy", "PolicyError", "PolicyOptions", "Rule", "Until"]
