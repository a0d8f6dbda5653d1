"""Scenario files: the YAML a user writes, validated into frozen dataclasses.

One file is one scenario (docs/benchmark.md#writing-a-scenario has the format). Loading
checks every field and names the first problem by its path in the file, e.g.
``io-pressure.yaml: dags[0].tasks[1].cpu: must be a number > 0, got 'lots'``; a scenario
that loads is one the simulator can run (every name it refers to exists, the DAGs are
acyclic, every task can be placed on some host).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadsense.errors import ConfigError

TASK_KINDS = ("etl-transform", "feature-refresh", "validation", "batch-scoring", "retraining")
EVENT_KINDS = ("schema-change", "schema-fix")
POLICIES = ("fifo", "static-priority", "static-reservation", "loadsense")


class ScenarioError(ConfigError):
    """A scenario file is missing, not YAML, or fails validation."""

    code = "scenario"


@dataclass(frozen=True)
class Host:
    name: str
    cpu: float
    io: float
    slots: int


@dataclass(frozen=True)
class Surge:
    start_s: float
    end_s: float
    factor: float


@dataclass(frozen=True)
class Service:
    """A model service: ``replicas`` M/M/1 servers behind random routing (docs/benchmark.md)."""

    name: str
    host: str
    replicas: int
    service_ms: float
    cpu_share: float
    cpu_per_replica: float
    io_per_replica: float
    slo_ms: float
    rps: float
    inputs: tuple[str, ...]
    surges: tuple[Surge, ...]
    noise: float


@dataclass(frozen=True)
class Dataset:
    name: str
    interval_s: float
    half_life_s: float
    initial_age_s: float


@dataclass(frozen=True)
class Task:
    name: str
    kind: str
    work_s: float
    width: int
    jitter: float
    cpu: float
    io: float
    hosts: tuple[str, ...]
    inputs: tuple[str, ...]
    outputs: tuple[str, ...]
    needs: tuple[str, ...]


@dataclass(frozen=True)
class Dag:
    name: str
    namespace: str
    every_s: float
    offset_s: float
    deadline_s: float
    bursts: tuple[tuple[float, int], ...]
    tasks: tuple[Task, ...]


@dataclass(frozen=True)
class Event:
    at_s: float
    kind: str
    dataset: str


@dataclass(frozen=True)
class Scenario:
    name: str
    description: str
    duration_s: float
    step_s: float
    reservation: float
    hosts: tuple[Host, ...]
    services: tuple[Service, ...]
    datasets: tuple[Dataset, ...]
    dags: tuple[Dag, ...]
    events: tuple[Event, ...]

    def dataset(self, name: str) -> Dataset:
        return next(d for d in self.datasets if d.name == name)


class _Reader:
    """Typed access to one mapping of the file, with errors naming the path."""

    def __init__(self, source: str, path: str, raw: Any, known: Sequence[str]) -> None:
        self.source, self.path = source, path
        if not isinstance(raw, Mapping):
            self.fail(f"must be a mapping, got {type(raw).__name__}")
        unknown = sorted(set(map(str, raw)) - set(known))
        if unknown:
            self.fail(f"unknown key {unknown[0]!r} (known: {', '.join(known)})")
        self.raw: Mapping[str, Any] = raw

    def fail(self, message: str, key: str | None = None) -> None:
        where = f"{self.path}.{key}" if key and self.path else (key or self.path or "(top)")
        raise ScenarioError(f"{self.source}: {where}: {message}", field=where)

    def has(self, key: str) -> bool:
        return key in self.raw

    def text(self, key: str, default: str | None = None) -> str:
        value = self.raw.get(key, default)
        if not isinstance(value, str) or not value.strip():
            self.fail(f"must be a non-empty string, got {value!r}", key)
        return str(value)

    def number(
        self, key: str, default: float | None = None, *, low: float = 0.0, strict: bool = True
    ) -> float:
        value = self.raw.get(key, default)
        ok = isinstance(value, int | float) and not isinstance(value, bool)
        if not ok or value != value or (value <= low if strict else value < low):
            bound = f"> {low:g}" if strict else f">= {low:g}"
            self.fail(f"must be a number {bound}, got {value!r}", key)
        return float(value)

    def share(self, key: str, default: float) -> float:
        value = self.number(key, default, strict=False)
        if value > 1:
            self.fail(f"must be a share in [0, 1], got {value!r}", key)
        return value

    def integer(self, key: str, default: int | None = None) -> int:
        value = self.raw.get(key, default)
        if not isinstance(value, int) or isinstance(value, bool) or value < 1:
            self.fail(f"must be an integer >= 1, got {value!r}", key)
        return int(value)

    def names(self, key: str) -> tuple[str, ...]:
        value = self.raw.get(key, [])
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            self.fail(f"must be a list of names, got {value!r}", key)
        return tuple(value)

    def items(self, key: str, *, required: bool = True) -> list[Any]:
        value = self.raw.get(key, [] if not required else None)
        if not isinstance(value, list) or (required and not value):
            self.fail(f"must be a non-empty list, got {value!r}", key)
        return list(value)

    def choice(self, key: str, options: Sequence[str]) -> str:
        value = self.text(key)
        if value not in options:
            self.fail(f"unknown value {value!r} (known: {', '.join(options)})", key)
        return value


def _unique(reader: _Reader, key: str, names: Sequence[str]) -> None:
    seen: set[str] = set()
    for i, name in enumerate(names):
        if name in seen:
            reader.fail(f"duplicate name {name!r}", f"{key}[{i}].name")
        seen.add(name)


def _surge(source: str, path: str, raw: Any) -> Surge:
    r = _Reader(source, path, raw, ("start_s", "end_s", "factor"))
    start, end = r.number("start_s", strict=False), r.number("end_s")
    if end <= start:
        r.fail(f"must be after start_s ({start:g}), got {end:g}", "end_s")
    return Surge(start, end, r.number("factor"))


def _service(source: str, path: str, raw: Any) -> Service:
    keys = (
        "name", "host", "replicas", "service_ms", "cpu_share", "cpu_per_replica",
        "io_per_replica", "slo_ms", "rps", "inputs", "surges", "noise",
    )  # fmt: skip
    r = _Reader(source, path, raw, keys)
    surges = tuple(
        _surge(source, f"{path}.surges[{i}]", s)
        for i, s in enumerate(r.items("surges", required=False))
    )
    return Service(
        name=r.text("name"),
        host=r.text("host"),
        replicas=r.integer("replicas"),
        service_ms=r.number("service_ms"),
        cpu_share=r.share("cpu_share", 0.8),
        cpu_per_replica=r.number("cpu_per_replica"),
        io_per_replica=r.number("io_per_replica", 0.0, strict=False),
        slo_ms=r.number("slo_ms"),
        rps=r.number("rps"),
        inputs=r.names("inputs"),
        surges=surges,
        noise=r.share("noise", 0.1),
    )


def _task(source: str, path: str, raw: Any) -> Task:
    keys = (
        "name",
        "kind",
        "work_s",
        "width",
        "jitter",
        "cpu",
        "io",
        "hosts",
        "inputs",
        "outputs",
        "needs",
    )
    r = _Reader(source, path, raw, keys)
    hosts = r.names("hosts")
    if not hosts:
        r.fail("must name at least one host", "hosts")
    return Task(
        name=r.text("name"),
        kind=r.choice("kind", TASK_KINDS),
        work_s=r.number("work_s"),
        width=r.integer("width", 1),
        jitter=r.share("jitter", 0.1),
        cpu=r.number("cpu"),
        io=r.number("io", 0.0, strict=False),
        hosts=hosts,
        inputs=r.names("inputs"),
        outputs=r.names("outputs"),
        needs=r.names("needs"),
    )


def _dag(source: str, path: str, raw: Any) -> Dag:
    keys = ("name", "namespace", "every_s", "offset_s", "deadline_s", "bursts", "tasks")
    r = _Reader(source, path, raw, keys)
    bursts = []
    for i, b in enumerate(r.items("bursts", required=False)):
        br = _Reader(source, f"{path}.bursts[{i}]", b, ("at_s", "runs"))
        bursts.append((br.number("at_s", strict=False), br.integer("runs")))
    tasks = tuple(_task(source, f"{path}.tasks[{i}]", t) for i, t in enumerate(r.items("tasks")))
    _unique(r, "tasks", [t.name for t in tasks])
    names = {t.name for t in tasks}
    for i, t in enumerate(tasks):
        for need in t.needs:
            if need not in names:
                r.fail(f"unknown task {need!r}", f"tasks[{i}].needs")
    _check_acyclic(r, tasks)
    return Dag(
        name=r.text("name"),
        namespace=r.text("namespace", "etl"),
        every_s=r.number("every_s"),
        offset_s=r.number("offset_s", 0.0, strict=False),
        deadline_s=r.number("deadline_s"),
        bursts=tuple(bursts),
        tasks=tasks,
    )


def _check_acyclic(r: _Reader, tasks: Sequence[Task]) -> None:
    needs = {t.name: set(t.needs) for t in tasks}
    done: set[str] = set()
    while needs:
        ready = [n for n, deps in needs.items() if deps <= done]
        if not ready:
            r.fail(f"tasks form a cycle through {sorted(needs)[0]!r}", "tasks")
        for n in ready:
            done.add(n)
            del needs[n]


def parse_scenario(raw: Any, source: str = "scenario") -> Scenario:
    """Validate a loaded YAML document (``source`` names it in errors)."""
    keys = (
        "name", "description", "duration_s", "step_s", "reservation",
        "hosts", "services", "datasets", "dags", "events",
    )  # fmt: skip
    r = _Reader(source, "", raw, keys)
    hosts = []
    for i, h in enumerate(r.items("hosts")):
        hr = _Reader(source, f"hosts[{i}]", h, ("name", "cpu", "io", "slots"))
        hosts.append(
            Host(hr.text("name"), hr.number("cpu"), hr.number("io", 1.0), hr.integer("slots"))
        )
    services = [_service(source, f"services[{i}]", s) for i, s in enumerate(r.items("services"))]
    datasets = []
    for i, d in enumerate(r.items("datasets")):
        dr = _Reader(
            source, f"datasets[{i}]", d, ("name", "interval_s", "half_life_s", "initial_age_s")
        )
        interval = dr.number("interval_s")
        datasets.append(
            Dataset(
                dr.text("name"),
                interval,
                dr.number("half_life_s", interval),
                dr.number("initial_age_s", 0.0, strict=False),
            )
        )
    dags = [_dag(source, f"dags[{i}]", d) for i, d in enumerate(r.items("dags"))]
    events = []
    for i, e in enumerate(r.items("events", required=False)):
        er = _Reader(source, f"events[{i}]", e, ("at_s", "kind", "dataset"))
        events.append(
            Event(
                er.number("at_s", strict=False), er.choice("kind", EVENT_KINDS), er.text("dataset")
            )
        )
    duration, step = r.number("duration_s"), r.number("step_s", 60.0)
    if duration < step:
        r.fail(f"must be at least step_s ({step:g}), got {duration:g}", "duration_s")
    scenario = Scenario(
        name=r.text("name"),
        description=str(raw.get("description", "")).strip(),
        duration_s=duration,
        step_s=step,
        reservation=r.share("reservation", 0.3),
        hosts=tuple(hosts),
        services=tuple(services),
        datasets=tuple(datasets),
        dags=tuple(dags),
        events=tuple(sorted(events, key=lambda e: e.at_s)),
    )
    _check_references(r, scenario)
    return scenario


def _check_references(r: _Reader, s: Scenario) -> None:
    _unique(r, "hosts", [h.name for h in s.hosts])
    _unique(r, "services", [v.name for v in s.services])
    _unique(r, "datasets", [d.name for d in s.datasets])
    _unique(r, "dags", [d.name for d in s.dags])
    hosts = {h.name: h for h in s.hosts}
    datasets = {d.name for d in s.datasets}
    for i, svc in enumerate(s.services):
        if svc.host not in hosts:
            r.fail(f"unknown host {svc.host!r}", f"services[{i}].host")
        for name in svc.inputs:
            if name not in datasets:
                r.fail(f"unknown dataset {name!r}", f"services[{i}].inputs")
    writers: dict[str, str] = {}
    for i, dag in enumerate(s.dags):
        for j, task in enumerate(dag.tasks):
            where = f"dags[{i}].tasks[{j}]"
            for h in task.hosts:
                if h not in hosts:
                    r.fail(f"unknown host {h!r}", f"{where}.hosts")
            if not any(task.cpu <= hosts[h].cpu and task.io <= hosts[h].io for h in task.hosts):
                r.fail("fits on none of its hosts (cpu and io above their capacity)", where)
            for name in (*task.inputs, *task.outputs):
                if name not in datasets:
                    r.fail(f"unknown dataset {name!r}", f"{where}.inputs/outputs")
            for name in task.outputs:
                if name in writers:
                    r.fail(
                        f"dataset {name!r} already written by {writers[name]!r}", f"{where}.outputs"
                    )
                writers[name] = f"{dag.name}.{task.name}"
    for i, e in enumerate(s.events):
        if e.dataset not in datasets:
            r.fail(f"unknown dataset {e.dataset!r}", f"events[{i}].dataset")


def load_scenario(path: str | Path) -> Scenario:
    """Read and validate one scenario file; errors name the file and the field."""
    p = Path(path)
    try:
        text = p.read_text(encoding="utf-8")
    except OSError as exc:
        raise ScenarioError(f"{p.name}: cannot read: {exc.strerror}") from exc
    try:
        raw = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ScenarioError(f"{p.name}: not valid YAML: {exc}") from exc
    return parse_scenario(raw, p.name)


def shipped_scenarios() -> list[Path]:
    """The scenario files shipped with the benchmark, in name order."""
    return sorted(Path(__file__).parent.glob("*.yaml"))
