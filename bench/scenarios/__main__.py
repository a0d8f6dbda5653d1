"""``python -m loadsense.bench.scenarios``: run scenarios under policies, write the report.

    python -m loadsense.bench.scenarios --all                    # every shipped scenario
    python -m loadsense.bench.scenarios --scenario my.yaml --policy fifo --seeds 1-3

Writes ``scenarios.md`` and one ``<scenario>.png`` per scenario to ``--out``
(default ``bench/results``). The ``loadsense`` policy starts one fresh
``loadsense serve --clock external`` per run; ``--jobs`` runs that many at once.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from loadsense.bench.scenarios.report import markdown, plot
from loadsense.bench.scenarios.runner import RunResult, run
from loadsense.bench.scenarios.spec import POLICIES, Scenario, load_scenario, shipped_scenarios
from loadsense.errors import LoadsenseError

TUNING_SEEDS = "1-5"
HELD_OUT_SEEDS = "101-110"


def parse_seeds(text: str) -> list[int]:
    """``"1-5"``, ``"1,4,9"`` or a mix (``"1-3,7"``); refuses anything else."""
    seeds: list[int] = []
    for part in filter(None, (p.strip() for p in text.split(","))):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()):
            raise argparse.ArgumentTypeError(f"seeds must look like 1-5 or 1,4,9: {text!r}")
        seeds.extend(range(int(low), int(high) + 1) if dash else [int(low)])
    if not seeds:
        raise argparse.ArgumentTypeError("no seeds given")
    return list(dict.fromkeys(seeds))


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m loadsense.bench.scenarios", description=__doc__.split("\n")[0]
    )
    which = p.add_mutually_exclusive_group(required=True)
    which.add_argument("--scenario", action="append", help="scenario YAML file (repeatable)")
    which.add_argument("--all", action="store_true", help="every shipped scenario")
    p.add_argument("--policy", action="append", choices=POLICIES, help="default: all four")
    p.add_argument("--seeds", type=parse_seeds, default=None, help=f"default {HELD_OUT_SEEDS}")
    p.add_argument(
        "--tune-seeds",
        type=parse_seeds,
        default=None,
        help=f"tuning seeds reported beside the held-out ones (default with --all: {TUNING_SEEDS})",
    )
    p.add_argument("--out", type=Path, default=Path("bench/results"), help="report directory")
    p.add_argument("--jobs", type=int, default=2, help="loadsense runs at once (default 2)")
    return p


def run_all(
    scenarios: Sequence[Scenario],
    policies: Sequence[str],
    seeds: Sequence[int],
    jobs: int,
    on_scenario: Callable[[list[RunResult]], None] = lambda done: None,
) -> list[RunResult]:
    """Every run of the plan; ``on_scenario`` sees the results so far each time every run
    of the next scenario (in plan order) has finished, so a long run reports as it goes."""
    plan = [(s, p, seed) for s in scenarios for p in policies for seed in seeds]
    started = time.monotonic()

    def one(s: Scenario, policy: str, seed: int) -> RunResult:
        result = run(s, policy, seed)
        if policy == "loadsense":  # the static runs take milliseconds
            elapsed = time.monotonic() - started
            print(f"{s.name} {policy} seed {seed}: done at {elapsed:.0f} s", file=sys.stderr)
        return result

    per_scenario = len(policies) * len(seeds)
    results: list[RunResult] = []
    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        futures = [pool.submit(one, s, p, seed) for s, p, seed in plan]
        for future in futures:
            results.append(future.result())
            if len(results) % per_scenario == 0:
                on_scenario(list(results))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    started = time.monotonic()
    try:
        files = shipped_scenarios() if args.all else [Path(f) for f in args.scenario]
        scenarios = [load_scenario(f) for f in files]
        policies = args.policy or list(POLICIES)
        held_out = args.seeds or parse_seeds(HELD_OUT_SEEDS)
        tuning = args.tune_seeds or (parse_seeds(TUNING_SEEDS) if args.all else [])
        seed_sets = {"tuning": tuning, "held-out": held_out} if tuning else {"held-out": held_out}
        seeds = list(dict.fromkeys([*tuning, *held_out]))
        args.out.mkdir(parents=True, exist_ok=True)

        def write(results: list[RunResult]) -> None:
            done = {r.scenario for r in results}
            plots = {}
            for s in scenarios:
                name = f"{s.name}.png"
                if s.name in done and plot(results, s.name, held_out[0], args.out / name):
                    plots[s.name] = name
            report = markdown(results, seed_sets, plots)
            (args.out / "scenarios.md").write_text(report, encoding="utf-8")

        results = run_all(scenarios, policies, seeds, args.jobs, write)
    except LoadsenseError as exc:
        print(f"error: {exc.message}", file=sys.stderr)
        return 2
    elapsed = time.monotonic() - started
    print(f"wrote {args.out / 'scenarios.md'}: {len(results)} runs in {elapsed:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
