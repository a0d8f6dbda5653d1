"""Linux pressure stall information (PSI) from ``/proc/pressure/{cpu,memory,io}``.

PSI says how much of the time tasks were stalled waiting for a resource, which is
contention rather than utilisation: a host can be 60% busy and still make a serving
process wait. Each file has a ``some`` line (at least one task stalled) and, except
``cpu`` on kernels before 5.13, a ``full`` line (all non-idle tasks stalled)::

    some avg10=2.22 avg60=0.48 avg300=0.20 total=2664175
    full avg10=0.00 avg60=0.00 avg300=0.00 total=0

``avg10`` is a percentage of wall time over the last 10 s; ``total`` is the cumulative
stall time in microseconds. Kernels without PSI (or with it disabled, ``psi=0``) have no
such files or refuse to read them; the agent then skips pressure quietly.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

PRESSURE_ROOT = Path("/proc/pressure")
RESOURCES = ("cpu", "memory", "io")
STALLS = ("some", "full")


@dataclass(frozen=True)
class Pressure:
    """One PSI line of one resource."""

    resource: str  # cpu | memory | io
    stall: str  # some | full
    avg10: float  # percent of wall time stalled over the last 10 s, 0..100
    total_us: int  # cumulative stall time since boot, microseconds


def parse_pressure(resource: str, text: str) -> tuple[Pressure, ...]:
    """The ``some``/``full`` lines of one ``/proc/pressure/<resource>`` file.

    Lines that are not well formed (unknown stall kind, a missing or non-numeric
    ``avg10``/``total``) are skipped rather than guessed at, so a future kernel that
    adds fields or lines does not break the agent.
    """
    found: list[Pressure] = []
    for line in text.splitlines():
        kind, _, rest = line.strip().partition(" ")
        if kind not in STALLS:
            continue
        fields: dict[str, str] = {}
        for token in rest.split():
            key, sep, value = token.partition("=")
            if sep:
                fields[key] = value
        try:
            avg10 = float(fields["avg10"])
            total = int(fields["total"])
        except (KeyError, ValueError):
            continue
        if not 0.0 <= avg10 <= 100.0 or total < 0:
            continue
        found.append(Pressure(resource=resource, stall=kind, avg10=avg10, total_us=total))
    return tuple(found)


def read_pressure(root: Path = PRESSURE_ROOT) -> tuple[Pressure, ...]:
    """Every PSI line the kernel offers under ``root``; empty where PSI is unavailable."""
    found: list[Pressure] = []
    for resource in RESOURCES:
        try:
            text = (root / resource).read_text(encoding="ascii")
        except OSError:  # no PSI (file missing) or disabled (EOPNOTSUPP on read)
            continue
        found.extend(parse_pressure(resource, text))
    return tuple(found)
