"""Telemetry that cannot be correlated: services sending OTLP without ``host.name``.

A service's spans and metric points are tied to a host only through the resource
attribute ``host.name``. An SDK configured with just ``OTEL_EXPORTER_OTLP_ENDPOINT``
sends none, so the service never appears on its host and no co-location signal (host
contention, the dispatch rules built on it) can involve it. This query lists such
services from the ``resources`` table (one row per distinct resource attribute set,
``seen_at`` the latest receipt), so operators can fix the producer's
``OTEL_RESOURCE_ATTRIBUTES``. It reads receipt time, not signal time: it is about what
producers send now, not about a simulated instant.
"""

from __future__ import annotations

from dataclasses import dataclass

from loadsense.storage.client import Storage

DEFAULT_WINDOW_S = 24 * 3600.0
"""How far back a receipt counts (seconds)."""


@dataclass(frozen=True)
class MissingHost:
    """A service that sent at least one resource without ``host.name`` in the window."""

    service: str
    resources_without_host: int
    resources_with_host: int
    last_seen_s: float  # epoch seconds of the latest receipt without host.name


_MISSING_HOST_SQL = """
SELECT service_name,
       countIf(host_name = '') AS without_host,
       countIf(host_name != '') AS with_host,
       toUnixTimestamp64Milli(maxIf(seen_at, host_name = '')) / 1e3 AS last_seen
FROM resources FINAL
WHERE seen_at > fromUnixTimestamp64Nano({now:Int64} - toInt64({window_s:Float64} * 1e9), 'UTC')
  AND seen_at <= fromUnixTimestamp64Nano({now:Int64}, 'UTC')
GROUP BY service_name
HAVING without_host > 0
ORDER BY service_name
LIMIT {limit:UInt32}
"""


def missing_host_name(
    storage: Storage, now_ns: int, window_s: float = DEFAULT_WINDOW_S, limit: int = 1000
) -> tuple[MissingHost, ...]:
    """Services with a resource lacking ``host.name`` received in ``(now - window, now]``,
    by name (at most ``limit``)."""
    result = storage.client.query(
        _MISSING_HOST_SQL,
        parameters={"now": now_ns, "window_s": float(window_s), "limit": limit},
    )
    return tuple(
        MissingHost(
            service=str(service),
            resources_without_host=int(without),
            resources_with_host=int(with_host),
            last_seen_s=float(last_seen),
        )
        for service, without, with_host, last_seen in result.result_rows
    )
