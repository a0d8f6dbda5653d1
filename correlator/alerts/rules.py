"""Prometheus alerting-rule files: loaded, checked and compiled for the built-in evaluator.

The format is Prometheus' own (``groups: [{name, interval?, rules: [{alert, expr,
for?, keep_firing_for?, labels?, annotations?}]}]``), so the very same file loads into
Prometheus. Everything is checked when a file loads, never at evaluation: the YAML
shape, names, durations, the PromQL (parsed by ``promql-parser``, compiled to the
evaluator's subset in ``promql.py``), RE2 regexes, metric names (the signal series of
``correlator/signal_metrics.py``) and templates. The first problem is a
:class:`RuleError` naming the file, group, rule and reason (``loadsense rules check``
prints it; the service refuses to start on it).
"""

from __future__ import annotations

import glob
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import yaml

from loadsense.correlator.alerts import promql
from loadsense.correlator.alerts.templates import TemplateData, TemplateError, compile_template
from loadsense.correlator.signal_metrics import METRIC_NAMES
from loadsense.errors import LoadsenseError

UNSUPPORTED = "not supported by the built-in evaluator; it still works in Prometheus"

ALERT_NAME_PATTERN = r"^[a-zA-Z_:][a-zA-Z0-9_:]*$"
"""What an alert name may be (Prometheus' rule for metric names)."""
_NAME = re.compile(ALERT_NAME_PATTERN)
_LABEL = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
_DURATION = re.compile(
    r"(?:(\d+)y)?(?:(\d+)w)?(?:(\d+)d)?(?:(\d+)h)?(?:(\d+)m)?(?:(\d+)s)?(?:(\d+)ms)?"
)
_UNIT_S = (365 * 86400, 7 * 86400, 86400, 3600, 60, 1, 0.001)
_GROUP_KEYS = {"name", "interval", "rules", "limit"}
_RULE_KEYS = {"alert", "expr", "for", "keep_firing_for", "labels", "annotations"}


class RuleError(LoadsenseError):
    """A rule file the evaluator cannot use; ``str()`` names file, group, rule, reason."""

    code = "bad_rule"

    def __init__(self, file: str, group: str | None, rule: str | None, reason: str) -> None:
        where = file
        if group is not None:
            where += f": group {group!r}"
        if rule is not None:
            where += f", rule {rule!r}"
        super().__init__(f"{where}: {reason}")
        self.file, self.group, self.rule, self.reason = file, group, rule, reason


def parse_duration(text: Any) -> float:
    """A Prometheus duration (``1h30m``, ``5m``, ``250ms``, ``0s``) in seconds."""
    s = str(text).strip() if isinstance(text, str | int) else ""
    if s == "0":
        return 0.0
    m = _DURATION.fullmatch(s)
    if not s or m is None or not any(m.groups()):
        raise ValueError(f"bad duration {text!r} (e.g. 30s, 5m, 1h30m)")
    return float(sum(int(g) * unit for g, unit in zip(m.groups(), _UNIT_S, strict=True) if g))


Template = Callable[[TemplateData], str]


@dataclass(frozen=True)
class Rule:
    """One alerting rule, compiled (its expression and templates)."""

    name: str
    expr: str
    node: promql.Node = field(repr=False, compare=False)
    for_s: float = 0.0
    keep_firing_for_s: float = 0.0
    labels: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    annotations: Mapping[str, str] = field(default_factory=lambda: MappingProxyType({}))
    templates: Mapping[str, Template] = field(
        default_factory=lambda: MappingProxyType({}), repr=False, compare=False
    )
    """Compiled label and annotation templates, by source text."""

    def expand(self, texts: Mapping[str, str], data: TemplateData) -> dict[str, str]:
        """``texts`` (this rule's labels or annotations) rendered for ``data``."""
        return {k: self.templates[v](data) for k, v in texts.items()}


@dataclass(frozen=True)
class Group:
    name: str
    file: str
    interval_s: float | None
    rules: tuple[Rule, ...]


@dataclass(frozen=True)
class RuleSet:
    groups: tuple[Group, ...] = ()

    @property
    def rules(self) -> Iterable[tuple[Group, Rule]]:
        return ((g, r) for g in self.groups for r in g.rules)


def _strings(value: Any, what: str) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise ValueError(f"{what} must be a mapping")
    out: dict[str, str] = {}
    for k, v in value.items():
        if not isinstance(k, str) or not _LABEL.fullmatch(k) or k.startswith("__"):
            raise ValueError(f"invalid {what} name {k!r}")
        if not isinstance(v, str | int | float) or isinstance(v, bool):
            raise ValueError(f"{what} {k!r} must be a string")
        out[k] = str(v)
    return out


def _compile(expr: str, known: frozenset[str]) -> promql.Node:
    try:
        tree = promql.parse(expr)
    except ValueError as exc:
        what = "bad regex in" if "illegal regex" in str(exc) else "bad PromQL"
        raise ValueError(f"{what} {expr!r}: {exc}") from None
    for name in sorted(promql.metric_names(tree)):
        if name not in known:
            raise ValueError(f"unknown metric {name!r} (docs/metrics.md lists the signal series)")
    if promql.is_scalar(tree):
        raise ValueError("an alerting expression must return an instant vector, not a scalar")
    try:
        return promql.compile_tree(tree)
    except promql.UnsupportedExpr as exc:
        raise ValueError(f"{exc.message} is {UNSUPPORTED}") from None
    except promql.BadRegex as exc:
        raise ValueError(exc.message) from None


def _rule(raw: Any, known: frozenset[str]) -> Rule:
    if not isinstance(raw, Mapping):
        raise ValueError("a rule must be a mapping")
    if "record" in raw:
        raise ValueError(f"recording rules are {UNSUPPORTED}")
    unknown = set(raw) - _RULE_KEYS
    if unknown:
        raise ValueError(f"unknown rule keys {sorted(unknown)}")
    name = raw.get("alert")
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise ValueError(f"invalid alert name {name!r}")
    expr = raw.get("expr")
    if not isinstance(expr, str) or not expr.strip():
        raise ValueError("expr is required")
    node = _compile(expr, known)
    for_s = parse_duration(raw.get("for", "0s"))
    keep = parse_duration(raw.get("keep_firing_for", "0s"))
    labels = _strings(raw.get("labels"), "label")
    annotations = _strings(raw.get("annotations"), "annotation")
    templates: dict[str, Template] = {}
    for text in (*labels.values(), *annotations.values()):
        try:
            templates[text] = compile_template(text)
        except TemplateError as exc:
            raise ValueError(f"bad template {text!r}: {exc.message}") from None
    return Rule(
        name,
        expr,
        node,
        for_s,
        keep,
        MappingProxyType(labels),
        MappingProxyType(annotations),
        MappingProxyType(templates),
    )


def _rule_name(raw: Any) -> str | None:
    if isinstance(raw, Mapping):
        name = raw.get("alert", raw.get("record"))
        return str(name) if name is not None else None
    return None


def load_text(text: str, file: str, known: frozenset[str] = METRIC_NAMES) -> tuple[Group, ...]:
    """The groups of one rule file's ``text``; :class:`RuleError` at the first problem."""
    try:
        doc = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise RuleError(file, None, None, f"invalid YAML: {exc}") from None
    if doc is None:
        return ()
    if not isinstance(doc, Mapping) or set(doc) - {"groups"}:
        raise RuleError(file, None, None, "top level must be a mapping with only 'groups'")
    raw_groups = doc.get("groups") or []
    if not isinstance(raw_groups, list):
        raise RuleError(file, None, None, "'groups' must be a list")
    groups: list[Group] = []
    for raw in raw_groups:
        if not isinstance(raw, Mapping) or not isinstance(raw.get("name"), str):
            raise RuleError(file, None, None, "each group needs a 'name'")
        gname = str(raw["name"])
        if any(g.name == gname for g in groups):
            raise RuleError(file, gname, None, "group name repeated in the file")
        unknown = set(raw) - _GROUP_KEYS
        if unknown:
            raise RuleError(file, gname, None, f"unknown group keys {sorted(unknown)}")
        try:
            interval = parse_duration(raw["interval"]) if "interval" in raw else None
        except ValueError as exc:
            raise RuleError(file, gname, None, str(exc)) from None
        if interval == 0:
            raise RuleError(file, gname, None, "interval must be > 0")
        raw_rules = raw.get("rules") or []
        if not isinstance(raw_rules, list):
            raise RuleError(file, gname, None, "'rules' must be a list")
        rules: list[Rule] = []
        for raw_rule in raw_rules:
            try:
                rules.append(_rule(raw_rule, known))
            except ValueError as exc:
                raise RuleError(file, gname, _rule_name(raw_rule), str(exc)) from None
        groups.append(Group(gname, file, interval, tuple(rules)))
    return tuple(groups)


def expand_globs(patterns: Sequence[str]) -> list[str]:
    """Files matched by ``patterns``, sorted and deduplicated; a pattern without a glob
    character must name an existing file."""
    files: set[str] = set()
    for pattern in patterns:
        matched = glob.glob(pattern)
        if not matched and not glob.has_magic(pattern):
            raise RuleError(pattern, None, None, "no such file")
        files.update(matched)
    return sorted(files)


def load_files(patterns: Sequence[str], known: frozenset[str] = METRIC_NAMES) -> RuleSet:
    """Every group of every file ``patterns`` match; :class:`RuleError` at the first
    problem (a group name may repeat across files, as in Prometheus)."""
    groups: list[Group] = []
    for file in expand_globs(patterns):
        try:
            text = Path(file).read_text(encoding="utf-8")
        except OSError as exc:
            raise RuleError(file, None, None, f"cannot read: {exc.strerror}") from None
        groups.extend(load_text(text, file, known))
    return RuleSet(tuple(groups))
