"""Small SQL builders shared by signal families: per-subject overrides by glob.

Globs become anchored RE2 regexes passed as bound parameters, so a config value never
becomes SQL text; only the number of rules shapes the statement.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from loadsense.storage.client import Storage
from loadsense.storage.schema.telemetry import SPAN_STEP_S

AS_OF = "fromUnixTimestamp64Nano({as_of:Int64}, 'UTC')"
"""The evaluation instant as a ``DateTime64(9, 'UTC')`` expression."""


def engine_now_ms(storage: Storage) -> int:
    """The engine's clock, epoch ms: what ``now64(3)`` stamps inserts with (views'
    arrival times), which a reader compares with rather than its own clock."""
    return int(storage.client.query("SELECT toUnixTimestamp64Milli(now64(3))").result_rows[0][0])


def since(seconds_param: str) -> str:
    """``as_of - <seconds_param>`` as a ``DateTime64(9)`` expression."""
    return (
        "fromUnixTimestamp64Nano({as_of:Int64} - "
        f"toInt64({{{seconds_param}:Float64}} * 1e9), 'UTC')"
    )


def glob_case(
    expr: str, rules: Sequence[tuple[str, Any]], prefix: str
) -> tuple[str, dict[str, Any]]:
    """``multiIf(match(expr, re0), v0, ..., NULL)`` with bound regexes and values.

    ``rules`` are ``(regex, number)`` pairs in priority order; the result is a
    ``Nullable(Float64)`` expression (NULL when no rule matches) and its parameters.
    """
    if not rules:
        return "CAST(NULL AS Nullable(Float64))", {}
    parts: list[str] = []
    params: dict[str, Any] = {}
    for i, (regex, value) in enumerate(rules):
        parts.append(f"match({expr}, {{{prefix}_re{i}:String}})")
        parts.append(f"toNullable({{{prefix}_v{i}:Float64}})")
        params[f"{prefix}_re{i}"] = regex
        params[f"{prefix}_v{i}"] = float(value)
    return f"multiIf({', '.join(parts)}, NULL)", params


def render(template: str, **parts: str) -> str:
    """Substitute ``@name@`` markers with SQL fragments built by this module.

    (``str.format`` would collide with ClickHouse's ``{param:Type}`` placeholders.)
    """
    for name, fragment in parts.items():
        template = template.replace(f"@{name}@", fragment)
    return template


def counter_rate(samples: str, temporality: str) -> str:
    """Per-second rate of a monotonic sum from ``samples``, an array of
    ``(time_ns, value, start_ns)`` tuples sorted by time, whatever its temporality.

    Cumulative: the increase between consecutive samples, restarting from the new value
    after a reset (the value drops or the series' start time changes), over the time the
    samples span; needs 2 samples. Delta: the sum of the values over the time from the
    earliest start to the last sample. NULL when it cannot be computed.
    """
    s, n = samples, f"length({samples})"
    cumulative = (
        f"if({n} > 1 AND {s}[{n}].1 > {s}[1].1, "
        f"arraySum(arrayMap(i -> if({s}[i].2 >= {s}[i - 1].2 AND {s}[i].3 = {s}[i - 1].3, "
        f"{s}[i].2 - {s}[i - 1].2, {s}[i].2), range(2, {n} + 1))) "
        f"/ (({s}[{n}].1 - {s}[1].1) / 1e9), NULL)"
    )
    delta = (
        f"if({n} > 0 AND {s}[{n}].1 > arrayMin(arrayMap(x -> x.3, {s})), "
        f"arraySum(arrayMap(x -> x.2, {s})) "
        f"/ (({s}[{n}].1 - arrayMin(arrayMap(x -> x.3, {s}))) / 1e9), NULL)"
    )
    return f"if({temporality} = 'delta', {delta}, {cumulative})"


def seen_spans(since_sql: str, until_sql: str, where: str = "1") -> str:
    """``(service_name, host_name)`` pairs of ``span_steps`` with at least one span where
    ``since < start_time <= until`` (``where`` narrows the rollup rows, e.g. by kind),
    possibly repeated. Whole steps between the bounds count as they are; in the step
    holding ``since`` the latest span must be after it, in the step holding ``until`` the
    first span at or before it (exact unless both bounds fall in one step)."""
    first = f"toStartOfInterval({since_sql}, INTERVAL {SPAN_STEP_S} SECOND)"
    last = f"toStartOfInterval({until_sql}, INTERVAL {SPAN_STEP_S} SECOND)"
    return (
        "SELECT service_name, host_name FROM span_steps"
        f" WHERE step > {first} AND step < {last} AND ({where})"
        " GROUP BY service_name, host_name"
        " UNION ALL "
        "SELECT service_name, host_name FROM ("
        "SELECT step, service_name, host_name, min(first_start) AS f, max(last_start) AS l"
        f" FROM span_steps WHERE step IN ({first}, {last}) AND ({where})"
        " GROUP BY step, service_name, host_name)"
        f" WHERE l > {since_sql} AND f <= {until_sql}"
    )


_ESCAPES = str.maketrans({c: "\\" + c for c in ("\\", "'", "`", "\t", "\n")})
"""clickhouse-connect's escaping of a top-level string parameter (``escape_str``), as one
``str.translate`` instead of a Python loop over every character."""


class EscapedParam:
    """A string parameter value already escaped for server-side binding; the driver
    passes ``str()`` of unknown types through unchanged."""

    __slots__ = ("_text",)

    def __init__(self, text: str) -> None:
        self._text = text.translate(_ESCAPES)

    def __str__(self) -> str:
        return self._text


def json_param(values: Sequence[Any]) -> EscapedParam:
    """A large array bound as one JSON ``String`` parameter (read back with
    ``JSONExtract``): still a bound value, but encoded by the C JSON encoder and escaped
    in one pass (tens of thousands of values per tick; the driver's per-character
    escaping took ~0.1 s per tick at 10k datasets)."""
    return EscapedParam(json.dumps(values))
