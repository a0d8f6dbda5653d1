"""Host contention per host (docs/signals.md)."""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from storage.client import Storage

KIND = "hosts"


@dataclass(frozen=True)
class HostRow:
    subject: str  # host.name
    cpu: float | None  # normalised pressure in [0, 1]
    memory: float | None
    io: float | None
    contention: float | None  # max of the three
    source: str  # psi | utilisation | mixed | none
    services: tuple[str, ...] = ()
    jobs: tuple[str, ...] = ()


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[HostRow, ...]:
    return ()
