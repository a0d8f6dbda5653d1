"""The ``dispatch`` section of the Loadsense config file, validated.

Keys (docs/dispatch.md): ``policy_file`` (path of the YAML policy; default: the shipped
``default_policy.yaml``), ``audit`` (bool, default true: write decision changes to
``recommendation_log``) and ``max_wait_s`` (longest long poll, default 60).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadsense.errors import ConfigError


@dataclass(frozen=True)
class DispatchConfig:
    policy_file: str | None = None
    audit: bool = True
    max_wait_s: float = 60.0


def parse_dispatch_config(raw: Mapping[str, Any]) -> DispatchConfig:
    known = {"policy_file", "audit", "max_wait_s"}
    for key in raw:
        if key not in known:
            raise ConfigError(
                f"dispatch: unknown key {key!r} (known: {', '.join(sorted(known))})",
                field=f"dispatch.{key}",
            )
    policy_file = raw.get("policy_file")
    if policy_file is not None and (not isinstance(policy_file, str) or not policy_file):
        raise ConfigError("dispatch.policy_file: expected a path", field="dispatch.policy_file")
    audit = raw.get("audit", True)
    if not isinstance(audit, bool):
        raise ConfigError("dispatch.audit: expected true or false", field="dispatch.audit")
    wait = raw.get("max_wait_s", 60.0)
    if isinstance(wait, bool) or not isinstance(wait, int | float) or not 0 < wait <= 300:
        raise ConfigError(
            "dispatch.max_wait_s: expected a number in (0, 300]", field="dispatch.max_wait_s"
        )
    return DispatchConfig(policy_file=policy_file, audit=audit, max_wait_s=float(wait))
