"""The serving model: how a model service's latency grows with contention on its host.

Each service runs ``replicas`` servers; requests arrive as a Poisson stream of rate
``lambda`` split at random between them, and each server is FIFO with exponential
service times: ``replicas`` independent M/M/1 queues. Contention enters through the
service rate. The host shares its CPU and IO between everything placed on it in
proportion to demand (processor sharing): with CPU demand ``D`` against capacity ``C``
every consumer gets the share ``phi_cpu = min(1, C / D)``, and likewise ``phi_io``.
A request's mean service time ``s0`` splits into a CPU part (``cpu_share``) and an IO
part, each stretched by its share:

    s = s0 * (cpu_share / phi_cpu + (1 - cpu_share) / phi_io),   mu = 1 / s

The sojourn time of an M/M/1 queue with arrival rate ``l = lambda / replicas`` is
exponential with rate ``mu - l``, so the true p99 is ``ln(100) / (mu - l)``. A queue with
``l >= mu`` is unstable: it answers at its timeout, :data:`SATURATED_S`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

LN100 = math.log(100.0)
SATURATED_S = 10.0
"""What an unstable service answers (its request timeout), in seconds."""

BOUNDS_S: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.075, 0.1, 0.15, 0.2, 0.25, 0.3, 0.4, 0.5, 0.75, 1.0,
    2.5, 5.0, 7.5, 10.0,
)  # fmt: skip
"""Explicit bounds of the exported ``http.server.request.duration`` histogram (seconds)."""


@dataclass(frozen=True)
class Latency:
    service_s: float
    rate: float | None
    """Rate of the exponential sojourn time; None when the queue is unstable."""

    @property
    def p99_s(self) -> float:
        return SATURATED_S if self.rate is None else min(SATURATED_S, LN100 / self.rate)


def share(capacity: float, demand: float) -> float:
    """Processor-sharing share of a resource: ``min(1, capacity / demand)``."""
    return 1.0 if demand <= capacity else capacity / demand


def latency(
    rps: float, replicas: int, base_s: float, cpu_share: float, phi_cpu: float, phi_io: float
) -> Latency:
    service_s = base_s * (cpu_share / phi_cpu + (1.0 - cpu_share) / phi_io)
    spare = 1.0 / service_s - rps / replicas
    return Latency(service_s, spare if spare > 0 else None)


def bucket_counts(requests: int, lat: Latency) -> list[int]:
    """``requests`` spread over :data:`BOUNDS_S` (+Inf last) by the sojourn distribution.

    Exact expected shares ``exp(-r a) - exp(-r b)`` per bucket ``(a, b]``, rounded to
    integers by largest remainder, so the counts always sum to ``requests``.
    """
    if lat.rate is None:
        shares = [0.0] * len(BOUNDS_S) + [0.0]
        shares[BOUNDS_S.index(SATURATED_S)] = 1.0
    else:
        edges = (0.0, *BOUNDS_S)
        cdf = [1.0 - math.exp(-lat.rate * b) for b in edges]
        shares = [cdf[i + 1] - cdf[i] for i in range(len(BOUNDS_S))] + [1.0 - cdf[-1]]
    raw = [requests * s for s in shares]
    counts = [math.floor(x) for x in raw]
    order = sorted(range(len(raw)), key=lambda i: (counts[i] - raw[i], i))
    for i in order[: requests - sum(counts)]:
        counts[i] += 1
    return counts
