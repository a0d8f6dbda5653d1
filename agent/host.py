"""What the agent measures on its host, shaped like the OpenTelemetry Collector's
``hostmetrics`` receiver so the service maps both producers the same way.

| metric | type | unit | attributes | source |
| --- | --- | --- | --- | --- |
| ``system.cpu.utilization`` | gauge | 1 | ``cpu``, ``state`` | psutil per-CPU times, delta |
| ``system.cpu.load_average.1m`` | gauge | {thread} | - | ``os.getloadavg`` |
| ``system.memory.utilization`` | gauge | 1 | ``state`` | psutil ``virtual_memory`` |
| ``system.disk.io_time`` | cumulative sum | s | ``device`` | psutil ``busy_time`` |
| ``system.disk.pending_operations`` | non-monotonic sum | {operation} | ``device`` | diskstats |
| ``loadsense.host.pressure`` | gauge | 1 | ``resource``, ``stall`` | PSI avg10 / 100 |
| ``loadsense.host.pressure.stall_time`` | cumulative sum | s | ``resource``, ``stall`` | total |

The pure parts (CPU deltas, diskstats parsing) are functions; :class:`HostSampler` holds
the little state they need (the previous CPU times) and turns readings into
observations. A reading that fails yields no observations for that metric, never an
exception into the SDK's collection.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import psutil
from opentelemetry.metrics import CallbackOptions, Observation

from loadsense.agent.pressure import PRESSURE_ROOT, read_pressure

logger = logging.getLogger(__name__)

DISKSTATS = Path("/proc/diskstats")

# psutil's Linux CPU time fields -> the hostmetrics receiver's ``state`` values. guest and
# guest_nice are already counted in user and nice, so they are left out of the total.
CPU_STATES: Mapping[str, str] = {
    "user": "user",
    "nice": "nice",
    "system": "system",
    "idle": "idle",
    "iowait": "wait",
    "irq": "interrupt",
    "softirq": "softirq",
    "steal": "steal",
}

_SKIPPED_DEVICE_PREFIXES = ("loop", "ram")


@dataclass(frozen=True)
class CpuShare:
    cpu: int
    state: str
    utilization: float  # fraction of the interval, 0..1


def cpu_utilization(
    previous: Sequence[Mapping[str, float]], current: Sequence[Mapping[str, float]]
) -> tuple[CpuShare, ...]:
    """Per-CPU, per-state share of the time between two ``cpu_times(percpu=True)`` readings.

    A CPU whose counters did not advance (or went backwards, after hot-plug) is left
    out rather than reported as 0% busy.
    """
    shares: list[CpuShare] = []
    for cpu, (before, after) in enumerate(zip(previous, current, strict=False)):
        deltas = {
            state: max(0.0, float(after.get(field, 0.0)) - float(before.get(field, 0.0)))
            for field, state in CPU_STATES.items()
            if field in after
        }
        total = sum(deltas.values())
        if total <= 0.0:
            continue
        shares.extend(CpuShare(cpu, state, d / total) for state, d in deltas.items())
    return tuple(shares)


def parse_pending_operations(text: str) -> dict[str, int]:
    """Device -> I/Os currently in flight, from ``/proc/diskstats`` (field 9 after the name)."""
    pending: dict[str, int] = {}
    for line in text.splitlines():
        parts = line.split()
        if len(parts) < 14 or parts[2].startswith(_SKIPPED_DEVICE_PREFIXES):
            continue
        try:
            pending[parts[2]] = int(parts[11])
        except ValueError:
            continue
    return pending


def _cpu_times() -> list[dict[str, float]]:
    return [t._asdict() for t in psutil.cpu_times(percpu=True)]


class HostSampler:
    """Observation callbacks for the instruments in the module table."""

    def __init__(self, pressure_root: Path = PRESSURE_ROOT, diskstats: Path = DISKSTATS) -> None:
        self._pressure_root = pressure_root
        self._diskstats = diskstats
        self._lock = threading.Lock()
        self._cpu_before = _cpu_times()

    def cpu_utilization(self, options: CallbackOptions) -> Iterable[Observation]:
        with self._lock:
            current = _cpu_times()
            shares = cpu_utilization(self._cpu_before, current)
            self._cpu_before = current
        return [
            Observation(s.utilization, {"cpu": f"cpu{s.cpu}", "state": s.state}) for s in shares
        ]

    def load_average(self, options: CallbackOptions) -> Iterable[Observation]:
        try:
            one_minute = os.getloadavg()[0]
        except OSError:  # not offered on this platform
            return []
        return [Observation(one_minute)]

    def memory_utilization(self, options: CallbackOptions) -> Iterable[Observation]:
        vm = psutil.virtual_memory()
        if vm.total <= 0:
            return []
        buffered = float(getattr(vm, "buffers", 0))
        cached = float(getattr(vm, "cached", 0))
        free = float(vm.free)
        used = max(0.0, vm.total - free - buffered - cached)
        states = {"used": used, "free": free, "buffered": buffered, "cached": cached}
        return [Observation(v / vm.total, {"state": k}) for k, v in states.items()]

    def disk_io_time(self, options: CallbackOptions) -> Iterable[Observation]:
        counters = psutil.disk_io_counters(perdisk=True) or {}
        return [
            Observation(c.busy_time / 1000.0, {"device": name})
            for name, c in counters.items()
            if hasattr(c, "busy_time") and not name.startswith(_SKIPPED_DEVICE_PREFIXES)
        ]

    def disk_pending_operations(self, options: CallbackOptions) -> Iterable[Observation]:
        try:
            text = self._diskstats.read_text(encoding="ascii")
        except OSError:  # not Linux
            return []
        return [
            Observation(n, {"device": device})
            for device, n in parse_pending_operations(text).items()
        ]

    def pressure(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(p.avg10 / 100.0, {"resource": p.resource, "stall": p.stall})
            for p in read_pressure(self._pressure_root)
        ]

    def pressure_stall_time(self, options: CallbackOptions) -> Iterable[Observation]:
        return [
            Observation(p.total_us / 1e6, {"resource": p.resource, "stall": p.stall})
            for p in read_pressure(self._pressure_root)
        ]
