"""The benchmark report: scenario x policy x ground-truth metrics, the target, the plots.

The Markdown is a function of the results alone (no times, no host details), so the
same scenarios and seeds give the same report byte for byte.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from statistics import fmean

from loadsense.bench.scenarios.runner import RunResult

STATIC_POLICIES = ("fifo", "static-priority", "static-reservation")
TOLERANCE = 0.05
EXPOSURE_CUT = 0.5


@dataclass(frozen=True)
class Summary:
    policy: str
    slo_minutes: float
    exposure: float
    etl_runs: float
    deadline_misses: float
    wasted_runs: float
    wasted_minutes: float


@dataclass(frozen=True)
class Verdict:
    slo_ok: bool
    throughput_ok: bool
    exposure_ok: bool
    best_slo: str
    best_throughput: str
    reference: str

    @property
    def met(self) -> bool:
        return self.slo_ok and self.throughput_ok and self.exposure_ok


def summarise(results: Sequence[RunResult], policy: str) -> Summary:
    mine = [r.metrics for r in results if r.policy == policy]
    return Summary(
        policy=policy,
        slo_minutes=fmean(m.slo_violation_minutes for m in mine),
        exposure=fmean(m.exposure for m in mine),
        etl_runs=fmean(m.etl_runs for m in mine),
        deadline_misses=fmean(m.deadline_misses for m in mine),
        wasted_runs=fmean(m.wasted_runs for m in mine),
        wasted_minutes=fmean(m.wasted_minutes for m in mine),
    )


def verdict(summaries: dict[str, Summary]) -> Verdict | None:
    """The issue's target for ``loadsense`` against the static policies (means over seeds).

    SLO-violation minutes at most 5 % above the best static policy's; ETL runs at least
    95 % of the best static policy's; exposure at most half that of the static policy
    with the fewest SLO-violation minutes (ties: the lower exposure).
    """
    if "loadsense" not in summaries or not any(p in summaries for p in STATIC_POLICIES):
        return None
    ls = summaries["loadsense"]
    static = [summaries[p] for p in STATIC_POLICIES if p in summaries]
    best_slo = min(static, key=lambda s: (s.slo_minutes, s.exposure))
    best_runs = max(static, key=lambda s: s.etl_runs)
    return Verdict(
        slo_ok=ls.slo_minutes <= best_slo.slo_minutes * (1 + TOLERANCE) + 1e-9,
        throughput_ok=ls.etl_runs >= best_runs.etl_runs * (1 - TOLERANCE) - 1e-9,
        exposure_ok=ls.exposure <= best_slo.exposure * EXPOSURE_CUT + 1e-9,
        best_slo=best_slo.policy,
        best_throughput=best_runs.policy,
        reference=best_slo.policy,
    )


def _seeds(seeds: Sequence[int]) -> str:
    return ", ".join(str(s) for s in seeds)


def markdown(
    results: Sequence[RunResult], seed_sets: dict[str, Sequence[int]], plots: dict[str, str]
) -> str:
    head = ["# Scenario benchmark", ""]
    head.append("Ground truth from the simulator (docs/benchmark.md); means over the seeds.")
    head.append("")
    for label, seeds in seed_sets.items():
        head.append(f"- {label} seeds: {_seeds(seeds)}")
    head.append("")
    lines: list[str] = []
    met: list[str] = []
    for scenario in dict.fromkeys(r.scenario for r in results):
        lines += [f"## {scenario}", ""]
        for label, seeds in seed_sets.items():
            chosen = [r for r in results if r.scenario == scenario and r.seed in seeds]
            if not chosen:
                continue
            policies = list(dict.fromkeys(r.policy for r in chosen))
            summaries = {p: summarise(chosen, p) for p in policies}
            lines += [f"### {label} seeds ({_seeds(seeds)})", ""]
            lines.append(
                "| policy | SLO-violation min | stale exposure | ETL runs | deadline misses "
                "| wasted runs | wasted shard-min |"
            )
            lines.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
            for p in policies:
                s = summaries[p]
                lines.append(
                    f"| {p} | {s.slo_minutes:.1f} | {s.exposure:.4f} | {s.etl_runs:.1f} "
                    f"| {s.deadline_misses:.1f} | {s.wasted_runs:.1f} | {s.wasted_minutes:.1f} |"
                )
            lines.append("")
            v = verdict(summaries)
            if v is not None:
                mark = {True: "met", False: "missed"}
                lines.append(
                    f"Target: SLO minutes within 5 % of {v.best_slo}: {mark[v.slo_ok]}; "
                    f"ETL runs within 5 % of {v.best_throughput}: {mark[v.throughput_ok]}; "
                    f"exposure at most half of {v.reference}'s: {mark[v.exposure_ok]}. "
                    f"**{'Target met' if v.met else 'Target missed'}.**"
                )
                lines.append("")
                if label == list(seed_sets)[-1]:
                    met.append(f"| {scenario} | {'met' if v.met else 'missed'} |")
        if scenario in plots:
            lines += [f"![{scenario}]({plots[scenario]})", ""]
    if met:
        head += [f"| scenario | target ({list(seed_sets)[-1]} seeds) |", "| --- | --- |", *met, ""]
    return "\n".join(head + lines).rstrip() + "\n"


def plot(results: Sequence[RunResult], scenario: str, seed: int, path: Path) -> bool:
    """True p99 of the first service against its SLO, and exposure, one line per policy."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    runs = [r for r in results if r.scenario == scenario and r.seed == seed]
    if not runs:
        return False
    service = next(iter(runs[0].p99_ms))
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(9, 6), sharex=True)
    for r in runs:
        minutes = [t / 60.0 for t in r.times]
        top.plot(minutes, r.p99_ms[service], label=r.policy, linewidth=1.2)
        bottom.plot(minutes, r.exposure, label=r.policy, linewidth=1.2)
    top.axhline(runs[0].slo_ms[service], color="black", linestyle="--", linewidth=1, label="SLO")
    top.set_yscale("log")
    top.set_ylabel(f"{service} true p99 (ms)")
    bottom.set_ylabel("stale share of requests")
    bottom.set_xlabel("simulated minutes")
    top.set_title(f"{scenario} (seed {seed})")
    top.legend(loc="upper right", fontsize="small")
    fig.tight_layout()
    fig.savefig(path, dpi=90, metadata={"Software": None})
    plt.close(fig)
    return True
