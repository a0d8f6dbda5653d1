"""The ``alerts`` section of the Loadsense config file, validated (docs/alerts.md).

Keys: ``rule_files`` (globs of Prometheus rule files; none: the shipped pack
:data:`DEFAULT_RULE_PACK` when the ``alerts_default_rules`` setting is on, else no rules),
``resend_delay`` (re-send firing alerts this often, default ``1m``),
``outage_tolerance`` (how old stored ``for`` progress may be to be restored, default
``1h``), ``external_url`` (base of ``generatorURL``/``externalURL``; default the
service's own address), ``alertmanagers`` and ``webhooks`` (lists of receivers, each
``{url, timeout?, queue_capacity?, max_attempts?}``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from loadsense.correlator.alerts.rules import parse_duration
from loadsense.errors import ConfigError

_KEYS = {
    "rule_files",
    "resend_delay",
    "outage_tolerance",
    "external_url",
    "alertmanagers",
    "webhooks",
}
_RECEIVER_KEYS = {"url", "timeout", "queue_capacity", "max_attempts"}

DEFAULT_RULE_PACK = Path(__file__).with_name("loadsense.rules.yaml")
"""The default rule pack, packaged so an installed service has it; the same text as
docs/rules/loadsense.rules.yaml, which users copy (a test keeps them equal)."""


@dataclass(frozen=True)
class ReceiverConfig:
    url: str
    timeout_s: float = 10.0
    queue_capacity: int = 10_000
    """Notifications queued for this receiver; past it the oldest are dropped (counted)."""
    max_attempts: int = 5
    """Posts of one batch before it is dropped (counted); backoff doubles from 0.5 s."""


@dataclass(frozen=True)
class AlertsConfig:
    rule_files: tuple[str, ...] = ()
    resend_delay_s: float = 60.0
    outage_tolerance_s: float = 3600.0
    external_url: str = ""
    alertmanagers: tuple[ReceiverConfig, ...] = ()
    webhooks: tuple[ReceiverConfig, ...] = ()


def _fail(key: str, reason: str) -> ConfigError:
    return ConfigError(f"alerts.{key}: {reason}", field=f"alerts.{key}")


def _duration(raw: Mapping[str, Any], key: str, default: float) -> float:
    if key not in raw:
        return default
    try:
        return parse_duration(raw[key])
    except ValueError as exc:
        raise _fail(key, str(exc)) from None


def _url(value: Any, key: str) -> str:
    text = str(value).strip().rstrip("/") if isinstance(value, str) else ""
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise _fail(key, f"expected an http(s)://host[:port] URL, got {value!r}")
    return text


def _positive_int(raw: Mapping[str, Any], key: str, default: int, where: str) -> int:
    value = raw.get(key, default)
    if isinstance(value, bool) or not isinstance(value, int) or value <= 0:
        raise _fail(f"{where}.{key}", f"expected a positive integer, got {value!r}")
    return value


def _receivers(raw: Any, key: str) -> tuple[ReceiverConfig, ...]:
    if raw is None:
        return ()
    if not isinstance(raw, list):
        raise _fail(key, "expected a list of {url: ...}")
    out: list[ReceiverConfig] = []
    for i, item in enumerate(raw):
        where = f"{key}[{i}]"
        if isinstance(item, str):
            item = {"url": item}
        if not isinstance(item, Mapping):
            raise _fail(where, "expected {url: ...}")
        unknown = set(item) - _RECEIVER_KEYS
        if unknown:
            raise _fail(where, f"unknown keys {sorted(unknown)}")
        timeout = _duration(item, "timeout", 10.0)
        if timeout <= 0:
            raise _fail(f"{where}.timeout", "must be > 0")
        out.append(
            ReceiverConfig(
                url=_url(item.get("url"), f"{where}.url"),
                timeout_s=timeout,
                queue_capacity=_positive_int(item, "queue_capacity", 10_000, where),
                max_attempts=_positive_int(item, "max_attempts", 5, where),
            )
        )
    return tuple(out)


def parse_alerts_config(raw: Mapping[str, Any], default_rules: bool = False) -> AlertsConfig:
    """The validated section; with no ``rule_files`` and ``default_rules`` (the setting
    ``alerts_default_rules``), the rules are :data:`DEFAULT_RULE_PACK`."""
    for key in raw:
        if key not in _KEYS:
            raise _fail(str(key), f"unknown key (known: {', '.join(sorted(_KEYS))})")
    files = raw.get("rule_files") or []
    if isinstance(files, str):
        files = [files]
    if not isinstance(files, list) or not all(isinstance(f, str) and f for f in files):
        raise _fail("rule_files", "expected a list of paths or globs")
    if not files and default_rules:
        files = [str(DEFAULT_RULE_PACK)]
    external = raw.get("external_url")
    return AlertsConfig(
        rule_files=tuple(files),
        resend_delay_s=_duration(raw, "resend_delay", 60.0),
        outage_tolerance_s=_duration(raw, "outage_tolerance", 3600.0),
        external_url=_url(external, "external_url") if external is not None else "",
        alertmanagers=_receivers(raw.get("alertmanagers"), "alertmanagers"),
        webhooks=_receivers(raw.get("webhooks"), "webhooks"),
    )
