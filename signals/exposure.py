"""Stale-prediction exposure per model service over the window W (docs/signals.md#exposure).

A service's inputs are its static lineage (the inputs a JobEvent declared for the job
named like its ``service.name``) plus ``signals.services.<glob>.inputs``. For every
SERVER span in ``(as_of - W, as_of]`` the effective freshness of each input *at the
moment it was served* is computed in ClickHouse: request times (grouped per
``exposure_resolution_s`` step, default 10 s, each step evaluated at its start) are
``ASOF JOIN``-ed onto the update times of the input and of every dataset behind its
effective freshness (the upstream closure through latest-run inputs as of ``as_of``);
each is decayed with its own grace and half-life, and the minimum is the input's
effective freshness at that moment. Then, with ``m`` the minimum over inputs:

- ``stale_requests`` = requests with ``m < theta`` (default 0.5);
- ``exposure_ratio = stale_requests / requests``;
- ``weighted_exposure = sum(1 - m)`` over requests;

and the same per input (``per_input``) so one table can be blamed. A dataset with no
update before the request (or an unknown interval) is unknown and skipped by the
minimum. A service with no declared inputs has ``exposure_ratio = None`` (unknown,
not 0); a window without traffic has ``requests = 0`` and ``exposure_ratio = None``.
"""

from __future__ import annotations

from dataclasses import dataclass

from signals.contract import Params
from signals.freshness import FreshnessRow, upstream_closure
from signals.latency import LatencyRow
from signals.sql import AS_OF, render, since
from storage.client import Storage

KIND = "exposure"


@dataclass(frozen=True)
class InputExposure:
    """One input dataset's share of a service's exposure (to blame one table)."""

    dataset: str
    stale_requests: int
    exposure_ratio: float | None
    weighted_exposure: float


@dataclass(frozen=True)
class ExposureRow:
    subject: str  # service.name
    window_s: float
    theta: float
    requests: int
    inputs: tuple[str, ...]
    exposure_ratio: float | None  # None: no declared inputs or no traffic (unknown)
    weighted_exposure: float | None
    stale_requests: int | None
    per_input: tuple[InputExposure, ...] = ()


_SQL = """
WITH
members AS (
    SELECT m.1 AS input, m.2 AS member, m.3 AS grace, m.4 AS h
    FROM (SELECT arrayJoin(arrayZip({m_input:Array(String)}, {m_member:Array(String)},
                                    {m_grace:Array(Float64)}, {m_h:Array(Float64)})) AS m)
),
steps AS (
    SELECT arrayJoin(range(intDiv({since_ns:Int64}, {res_ns:Int64}),
                           intDiv({as_of:Int64}, {res_ns:Int64}) + 1)) * {res_ns:Int64} AS t_ns
),
grid AS (
    SELECT members.input AS input, members.member AS member, members.grace AS grace,
           members.h AS h, steps.t_ns AS t_ns
    FROM members CROSS JOIN steps
),
updates AS (
    SELECT concat(dataset_namespace, '/', dataset_name) AS member,
           toUnixTimestamp64Nano(event_time) AS u_ns
    FROM dataset_updates FINAL
    WHERE event_time <= @as_of@
      AND concat(dataset_namespace, '/', dataset_name) IN {member_names:Array(String)}
),
effective AS (
    SELECT grid.input AS input, grid.t_ns AS t_ns,
           min(if(updates.u_ns = 0, NULL,
                  pow(2, -greatest(0, (grid.t_ns - updates.u_ns) / 1e9 - grid.grace)
                         / grid.h))) AS eff
    FROM grid
    ASOF LEFT JOIN updates ON updates.member = grid.member AND grid.t_ns >= updates.u_ns
    GROUP BY input, t_ns
),
requests AS (
    SELECT service_name AS svc,
           intDiv(toUnixTimestamp64Nano(start_time), {res_ns:Int64}) * {res_ns:Int64} AS t_ns,
           uniqExact(cityHash64(trace_id, span_id)) AS n
    FROM spans
    WHERE kind = 'SERVER' AND start_time > @since@ AND start_time <= @as_of@
      AND service_name IN {services:Array(String)}
    GROUP BY svc, t_ns
),
pairs AS (
    SELECT p.1 AS svc, p.2 AS input, p.3 AS theta
    FROM (SELECT arrayJoin(arrayZip({p_svc:Array(String)}, {p_input:Array(String)},
                                    {p_theta:Array(Float64)})) AS p)
),
per_request AS (
    SELECT requests.svc AS svc, requests.t_ns AS t_ns, any(requests.n) AS n,
           any(pairs.theta) AS theta,
           groupArray((pairs.input, effective.eff)) AS effs,
           min(effective.eff) AS m
    FROM requests
    INNER JOIN pairs ON pairs.svc = requests.svc
    LEFT JOIN effective ON effective.input = pairs.input AND effective.t_ns = requests.t_ns
    GROUP BY svc, t_ns
)
SELECT svc, x.1 AS input, sum(n), sumIf(n, x.2 < theta), sum(n * (1 - ifNull(x.2, 1)))
FROM per_request
ARRAY JOIN arrayPushBack(effs, ('', m)) AS x
GROUP BY svc, input
"""


def service_inputs(params: Params, service: str) -> tuple[str, ...]:
    """Static lineage inputs plus config bindings of ``service``."""
    bound = params.config.lookup("services", "inputs", service, ())
    return tuple(sorted({*params.graph.service_inputs.get(service, ()), *bound}))


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[ExposureRow, ...]:
    """Exposure rows for every service seen by the latency signal (module docstring)."""
    cfg = params.config
    latency: tuple[LatencyRow, ...] = params.earlier.get("latency", ())
    freshness: dict[str, FreshnessRow] = {r.subject: r for r in params.earlier["freshness"]}
    inputs = {row.subject: service_inputs(params, row.subject) for row in latency}
    thetas = {s: float(cfg.lookup("services", "theta", s, cfg.theta)) for s in inputs}
    pairs = [(s, d) for s, ds in inputs.items() for d in ds]
    members: list[tuple[str, str, float, float]] = []
    for dataset in sorted({d for _, d in pairs}):
        for member in upstream_closure(freshness, dataset):
            row = freshness.get(member)
            if row is not None and row.grace is not None and row.half_life is not None:
                members.append((dataset, member, row.grace, row.half_life))
    stats: dict[tuple[str, str], tuple[int, int, float]] = {}
    if pairs and members:
        result = storage.client.query(
            render(_SQL, since=since("w"), as_of=AS_OF),
            parameters={
                "as_of": as_of_ns,
                "w": cfg.window_s,
                "res_ns": max(1, round(cfg.exposure_resolution_s * 1e9)),
                "since_ns": as_of_ns - round(cfg.window_s * 1e9),
                "services": sorted({s for s, _ in pairs}),
                "p_svc": [s for s, _ in pairs],
                "p_input": [d for _, d in pairs],
                "p_theta": [thetas[s] for s, _ in pairs],
                "m_input": [m[0] for m in members],
                "m_member": [m[1] for m in members],
                "m_grace": [m[2] for m in members],
                "m_h": [m[3] for m in members],
                "member_names": sorted({m[1] for m in members}),
            },
        )
        for svc, inp, n, stale, weighted in result.result_rows:
            stats[(str(svc), str(inp))] = (int(n), int(stale), float(weighted))
    return tuple(
        _row(cfg.window_s, thetas[r.subject], r, inputs[r.subject], stats) for r in latency
    )


def _row(
    window_s: float,
    theta: float,
    latency: LatencyRow,
    inputs: tuple[str, ...],
    stats: dict[tuple[str, str], tuple[int, int, float]],
) -> ExposureRow:
    service, requests = latency.subject, latency.requests
    if not inputs:
        return ExposureRow(service, window_s, theta, requests, (), None, None, None)
    # Inputs without any known freshness never enter the SQL join: nothing is stale.
    _, stale, weighted = stats.get((service, ""), (requests, 0, 0.0))
    per_input = []
    for dataset in inputs:
        _, d_stale, d_weighted = stats.get((service, dataset), (requests, 0, 0.0))
        ratio = d_stale / requests if requests else None
        per_input.append(InputExposure(dataset, d_stale, ratio, d_weighted))
    return ExposureRow(
        subject=service,
        window_s=window_s,
        theta=theta,
        requests=requests,
        inputs=inputs,
        exposure_ratio=stale / requests if requests else None,
        weighted_exposure=weighted,
        stale_requests=stale,
        per_input=tuple(per_input),
    )
