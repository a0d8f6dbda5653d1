"""The signal contract: what a signal family must provide, and the small types all share.

A signal family is one module of ``signals/`` (freshness, exposure, queues, latency,
hosts, lineage). It exposes

- ``KIND``: its name in the API and in ``signal_points`` (``"freshness"`` ...);
- a frozen row dataclass whose first field is ``subject`` (the dataset, service, queue
  or host the row describes) and whose other fields are numbers, ``None`` (unknown) or
  small tuples of names;
- ``compute(storage, as_of_ns, params) -> tuple[Row, ...]``: a pure function of the
  stored data and the instant ``as_of_ns`` (nanoseconds since the epoch, UTC). It never
  reads the wall clock, so live ticks, replays and simulations share one code path.
  The numbers come from ClickHouse SQL over deduplicated data (``FINAL`` or a
  ``GROUP BY`` on the identity) with every value bound as a parameter; Python only
  does the small math around per-subject results (for instance walking the lineage
  graph, which is small).

Families depend on each other in one direction (exposure uses freshness, lineage uses
latency), so :class:`Params` carries the rows of the kinds a family declares it needs
in ``earlier``; ``loadsense.signals.evaluate.evaluate_all`` runs independent families side by side
and each one once its needs are done. Formulas and defaults: ``docs/signals.md``.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, Protocol

from loadsense.storage.client import Storage

if TYPE_CHECKING:
    from loadsense.signals.config import SignalsConfig
    from loadsense.signals.graph import LineageGraph
    from loadsense.signals.run_inputs import RunInputsMemo

NS_PER_S = 1_000_000_000

KINDS: tuple[str, ...] = ("freshness", "exposure", "queues", "latency", "hosts", "lineage")
"""Every signal kind, in evaluation order (a kind may use the kinds before it)."""


class Row(Protocol):
    """A signal row: a frozen dataclass whose first field is ``subject``."""

    @property
    def subject(self) -> str: ...


@dataclass(frozen=True)
class Params:
    """What a signal function gets besides storage and the instant."""

    config: SignalsConfig
    graph: LineageGraph
    earlier: Mapping[str, tuple[Any, ...]] = field(default_factory=lambda: MappingProxyType({}))
    """Rows of the kinds already evaluated for this instant, by kind."""
    cache: dict[str, Any] = field(default_factory=dict)
    """Intermediate results shared by the families of one evaluation (one instant, one
    config), e.g. the served requests both latency and exposure read."""
    from_scratch: bool = False
    """Read every stored event instead of the lineage state tables (the definition the
    state is tested equal to; docs/signals.md#lineage-state)."""
    run_inputs: RunInputsMemo | None = None
    """Runs' inputs kept across evaluations by a long-lived reader (the correlator);
    None: look them up (signals/run_inputs.py)."""


SignalFunction = Callable[[Storage, int, Params], tuple[Any, ...]]
"""``compute(storage, as_of_ns, params) -> rows``."""


@dataclass(frozen=True)
class Family:
    """A registered signal family: its kind, row type and function."""

    kind: str
    row_type: type[Any]
    compute: SignalFunction
    needs: tuple[str, ...] = ()
    """Kinds whose rows ``compute`` reads from ``Params.earlier`` (only these are there)."""


def numeric_fields(row: Any) -> Iterator[tuple[str, float]]:
    """The finite numeric fields of ``row`` (what ``signal_points`` stores per row).

    Booleans are stored as 0/1; ``None`` (unknown) and non-finite values are skipped, so
    an unknown never becomes a misleading zero in history.
    """
    for f in dataclasses.fields(row):
        value = getattr(row, f.name)
        if isinstance(value, bool):
            yield f.name, 1.0 if value else 0.0
        elif isinstance(value, int | float) and math.isfinite(value):
            yield f.name, float(value)


def as_dict(row: Any) -> dict[str, Any]:
    """``row`` as plain JSON-ready data (tuples become lists, nested rows dicts)."""
    out: dict[str, Any] = dataclasses.asdict(row)
    return out


def ns_to_s(ns: int | None) -> float | None:
    return None if ns is None else ns / NS_PER_S
