"""The live demo: a compressed scenario played in real time against a running service.

    python -m loadsense.bench.scenarios.demo --api http://127.0.0.1:4318   # loadsense demo

Every duration of the scenario (steps, schedules, run times, intervals, surges) is
divided by ``--speed`` (default 20: two simulated hours play in six minutes), events are
stamped with the wall clock, and the scenario loops with a new seed each time. The
service runs on its own wall clock (no ticks are sent); the scheduler follows its
recommendations through the client, so the dashboard shows the signals, regimes and
recommendations changing and the cluster reacting. Signal windows are not compressed
(a 15-minute window spans several compressed steps), so signals trail the action.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import replace
from pathlib import Path

import httpx

from loadsense.api.client import LoadsenseClient
from loadsense.bench.scenarios.adapter import LoadsenseScheduler
from loadsense.bench.scenarios.producers import Producers
from loadsense.bench.scenarios.sim import Simulation
from loadsense.bench.scenarios.spec import Scenario, load_scenario, shipped_scenarios
from loadsense.errors import LoadsenseError

DEFAULT_SCENARIO = "io-pressure"
DEFAULT_SPEED = 20.0
READY_TIMEOUT_S = 300.0
"""How long the demo waits for the service to answer ``/readyz``: ``loadsense up --demo``
starts it beside the service, which on a loaded machine takes a while to listen."""


def compress(s: Scenario, speed: float) -> Scenario:
    """The same scenario with every duration divided by ``speed`` (service times kept)."""
    k = 1.0 / speed
    return replace(
        s,
        duration_s=s.duration_s * k,
        step_s=s.step_s * k,
        services=tuple(
            replace(
                v,
                surges=tuple(
                    replace(u, start_s=u.start_s * k, end_s=u.end_s * k) for u in v.surges
                ),
            )
            for v in s.services
        ),
        datasets=tuple(
            replace(
                d,
                interval_s=d.interval_s * k,
                half_life_s=d.half_life_s * k,
                initial_age_s=d.initial_age_s * k,
            )
            for d in s.datasets
        ),
        dags=tuple(
            replace(
                g,
                every_s=g.every_s * k,
                offset_s=g.offset_s * k,
                deadline_s=g.deadline_s * k,
                bursts=tuple((at * k, runs) for at, runs in g.bursts),
                tasks=tuple(replace(t, work_s=t.work_s * k) for t in g.tasks),
            )
            for g in s.dags
        ),
        events=tuple(replace(e, at_s=e.at_s * k) for e in s.events),
    )


def resolve(name: str) -> Path:
    """A shipped scenario by name, else a file path."""
    for f in shipped_scenarios():
        if f.stem == name:
            return f
    return Path(name)


def wait_ready(api: str, timeout_s: float = READY_TIMEOUT_S) -> None:
    """Return once ``GET /readyz`` answers 200; a :class:`LoadsenseError` after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            if httpx.get(f"{api}/readyz", timeout=5.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise LoadsenseError(f"{api} not ready after {timeout_s:.0f} s")
        time.sleep(0.5)


def play(
    api: str,
    token: str | None,
    scenario: Scenario,
    loops: int | None = None,
    seed: int = 1,
    clock: Callable[[], float] = time.time,
    sleep: Callable[[float], None] = time.sleep,
    log: Callable[[str], None] = print,
) -> int:
    """Play ``scenario`` (already compressed) ``loops`` times (forever when None)."""
    loop = 0
    with LoadsenseClient(api, token=token, timeout=30.0) as client:
        while loops is None or loop < loops:
            t0 = clock()
            sim = Simulation(scenario, seed + loop)
            producers = Producers(scenario, api, token, t0)
            scheduler = LoadsenseScheduler(client.recommendations, clock)
            log(f"demo: {scenario.name} (loop {loop + 1}) against {api}")
            try:
                producers.begin(sim)
                while not sim.done:
                    step = sim.step(scheduler)
                    wait = t0 + step.end - clock()
                    if wait > 0:
                        sleep(wait)
                    producers.publish(step, sim)
            finally:
                producers.close()
            loop += 1
    return loop


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="loadsense demo", description=__doc__.split("\n")[0])
    p.add_argument("--api", required=True, help="the service's base URL")
    p.add_argument("--token", help="ingest token, when the service has tokens")
    p.add_argument(
        "--scenario", default=DEFAULT_SCENARIO, help="a shipped scenario's name or a YAML file"
    )
    p.add_argument("--speed", type=float, default=DEFAULT_SPEED, help="time compression")
    p.add_argument("--loops", type=int, help="stop after this many loops (default: forever)")
    p.add_argument("--seed", type=int, default=1, help="seed of the first loop")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.speed <= 0:
        print("loadsense demo: error: --speed must be > 0", file=sys.stderr)
        return 2
    try:
        scenario = compress(load_scenario(resolve(args.scenario)), args.speed)
        wait_ready(args.api.rstrip("/"))
        play(args.api.rstrip("/"), args.token, scenario, args.loops, args.seed)
    except LoadsenseError as exc:
        print(f"loadsense demo: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
