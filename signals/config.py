"""The ``signals:`` section of the config file, validated into a frozen object.

Format (docs/signals.md, "Configuration")::

    signals:
      window_s: 900              # W for exposure, latency, queue growth, schema drift
      theta: 0.5                 # a request is stale when min input freshness < theta
      slo_ms: 250                # default latency SLO
      exposure_resolution_s: 10  # requests are evaluated per step of this size
      run_window_s: 86400        # runs considered for durations, failure rate
      host_window_s: 60          # host samples older than this are ignored
      rate_window_s: 60          # R: the short window of rps_recent (regime pressure)
      knees: {cpu: [0.6, 0.95], memory: [0.8, 0.98], io: [0.5, 0.9]}
      datasets:                  # glob on "namespace/name" -> overrides
        "warehouse/daily_*": {expected_interval_s: 86400, half_life_s: 3600}
      services:                  # glob on service.name
        "ranker*": {slo_ms: 100, theta: 0.7, inputs: ["warehouse/features"]}
      queues:                    # glob on queue name
        "orders*": {depth_limit: 1000, age_limit_s: 600}
      hosts:                     # glob on host.name
        "gpu-*": {knees: {cpu: [0.8, 0.99]}}

Rules are tried in file order; for each key the first rule whose glob matches and
sets that key wins. Unknown keys raise :class:`ConfigError` naming the section and key.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any

from loadsense.errors import ConfigError
from loadsense.globs import compile_glob

RESOURCES = ("cpu", "memory", "io")

DEFAULT_KNEES: Mapping[str, tuple[float, float]] = MappingProxyType(
    {"cpu": (0.6, 0.95), "memory": (0.8, 0.98), "io": (0.5, 0.9)}
)
"""Utilisation below the first knee is no contention (0), above the second is full (1)."""

_FIELDS: Mapping[str, Mapping[str, str]] = MappingProxyType(
    {
        "datasets": MappingProxyType({"expected_interval_s": "pos", "half_life_s": "pos"}),
        "services": MappingProxyType({"slo_ms": "pos", "theta": "unit", "inputs": "names"}),
        "queues": MappingProxyType({"depth_limit": "pos", "age_limit_s": "pos"}),
        "hosts": MappingProxyType({"knees": "knees"}),
    }
)

_SCALARS: Mapping[str, str] = MappingProxyType(
    {
        "window_s": "pos",
        "theta": "unit",
        "slo_ms": "pos",
        "exposure_resolution_s": "pos",
        "run_window_s": "pos",
        "host_window_s": "pos",
        "rate_window_s": "pos",
        "knees": "knees",
    }
)


def glob_regex(glob: str) -> str:
    """The anchored RE2 regex (ClickHouse ``match``) of a glob, read by
    loadsense/globs.py as every name filter is: ``*``, ``?``, ``[...]``."""
    return compile_glob(glob).re2()


@dataclass(frozen=True)
class Rule:
    """One glob and the overrides it sets."""

    glob: str
    values: Mapping[str, Any]

    @property
    def regex(self) -> str:
        return glob_regex(self.glob)

    def matches(self, name: str) -> bool:
        return compile_glob(self.glob).match(name)


@dataclass(frozen=True)
class SignalsConfig:
    """Defaults and per-subject overrides for every signal family."""

    window_s: float = 900.0
    theta: float = 0.5
    slo_ms: float = 250.0
    exposure_resolution_s: float = 10.0
    run_window_s: float = 86_400.0
    host_window_s: float = 60.0
    rate_window_s: float = 60.0
    knees: Mapping[str, tuple[float, float]] = field(default_factory=lambda: DEFAULT_KNEES)
    datasets: tuple[Rule, ...] = ()
    services: tuple[Rule, ...] = ()
    queues: tuple[Rule, ...] = ()
    hosts: tuple[Rule, ...] = ()

    def rules_for(self, section: str, key: str) -> tuple[tuple[str, Any], ...]:
        """``(regex, value)`` for every rule of ``section`` setting ``key``, in order."""
        rules: tuple[Rule, ...] = getattr(self, section)
        return tuple((r.regex, r.values[key]) for r in rules if key in r.values)

    def lookup(self, section: str, key: str, name: str, default: Any = None) -> Any:
        """The value of ``key`` for subject ``name``: first matching rule, else default."""
        rules: tuple[Rule, ...] = getattr(self, section)
        for rule in rules:
            if key in rule.values and rule.matches(name):
                return rule.values[key]
        return default

    def knees_for(self, host: str) -> Mapping[str, tuple[float, float]]:
        merged = dict(self.knees)
        for rule in reversed(self.hosts):
            if "knees" in rule.values and rule.matches(host):
                merged.update(rule.values["knees"])
        return merged


def _where(origin: str, path: str) -> str:
    return f"{origin}: signals.{path}"


def _parse(kind: str, value: Any, where: str) -> Any:
    if kind == "pos":
        if isinstance(value, bool) or not isinstance(value, int | float) or value <= 0:
            raise ConfigError(f"{where}: expected a number > 0, got {value!r}")
        return float(value)
    if kind == "unit":
        if isinstance(value, bool) or not isinstance(value, int | float) or not 0 < value <= 1:
            raise ConfigError(f"{where}: expected a number in (0, 1], got {value!r}")
        return float(value)
    if kind == "names":
        if not isinstance(value, list | tuple) or not all(isinstance(v, str) for v in value):
            raise ConfigError(f"{where}: expected a list of 'namespace/name' strings")
        return tuple(value)
    if kind == "knees":
        return _parse_knees(value, where)
    raise AssertionError(kind)


def _parse_knees(value: Any, where: str) -> Mapping[str, tuple[float, float]]:
    if not isinstance(value, Mapping):
        raise ConfigError(f"{where}: expected a mapping of resource -> [low, high]")
    knees: dict[str, tuple[float, float]] = {}
    for resource, pair in value.items():
        if resource not in RESOURCES:
            raise ConfigError(
                f"{where}.{resource}: unknown resource (known: {', '.join(RESOURCES)})"
            )
        ok = isinstance(pair, list | tuple) and len(pair) == 2
        if ok:
            low, high = pair
            ok = all(isinstance(v, int | float) and not isinstance(v, bool) for v in pair)
            ok = ok and 0 <= low < high <= 1
        if not ok:
            raise ConfigError(f"{where}.{resource}: expected [low, high] with 0 <= low < high <= 1")
        knees[str(resource)] = (float(pair[0]), float(pair[1]))
    return MappingProxyType(knees)


def _parse_rules(section: str, raw: Any, origin: str) -> tuple[Rule, ...]:
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{_where(origin, section)}: expected a mapping of glob -> overrides")
    known = _FIELDS[section]
    rules = []
    for glob, values in raw.items():
        where = _where(origin, f"{section}.{glob}")
        if not isinstance(values, Mapping):
            raise ConfigError(f"{where}: expected a mapping of overrides")
        parsed: dict[str, Any] = {}
        for key, value in values.items():
            if key not in known:
                raise ConfigError(
                    f"{where}: unknown key {key!r} (known: {', '.join(sorted(known))})",
                    field=f"signals.{section}.{glob}.{key}",
                )
            parsed[str(key)] = _parse(known[key], value, f"{where}.{key}")
        rules.append(Rule(str(glob), MappingProxyType(parsed)))
    return tuple(rules)


def parse_signals_config(raw: Mapping[str, Any], origin: str = "config") -> SignalsConfig:
    """Validate ``Settings.signals``; ``origin`` names the file in error messages."""
    values: dict[str, Any] = {}
    for key, value in raw.items():
        if key in _FIELDS:
            values[key] = _parse_rules(key, value, origin)
        elif key in _SCALARS:
            parsed = _parse(_SCALARS[key], value, _where(origin, key))
            if key == "knees":
                parsed = MappingProxyType({**DEFAULT_KNEES, **parsed})
            values[key] = parsed
        else:
            known = ", ".join(sorted([*_SCALARS, *_FIELDS]))
            raise ConfigError(
                f"{_where(origin, key)}: unknown key {key!r} (known: {known})",
                field=f"signals.{key}",
            )
    return SignalsConfig(**values)
