"""Stale-prediction exposure per model service over the window W (docs/signals.md#exposure).

A service's inputs are its static lineage (the inputs a JobEvent declared for the job
named like its ``service.name``) plus ``signals.services.<glob>.inputs``. The SERVER
spans in ``(as_of - W, as_of]`` are counted per step of ``exposure_resolution_s``
(default 10 s; ``signals/served.py``), and each input's effective freshness is taken
*at the moment of each step*: the step times of every dataset in the input's upstream
closure (the input and everything behind its effective freshness through latest-run
inputs, as of ``as_of``) are ``ASOF JOIN``-ed onto that dataset's update times, decayed
with its own grace and half-life, and the element-wise minimum over the closure is the
input's freshness curve. Then, per step, with ``n`` requests and ``m`` the minimum over
the service's inputs:

- ``stale_requests`` = sum of ``n`` where ``m < theta`` (default 0.5);
- ``exposure_ratio = stale_requests / requests``;
- ``weighted_exposure`` = sum of ``n * (1 - m)``;

and the same per input (``per_input``) so one table can be blamed. A dataset with no
update before a step (or an unknown interval) is unknown and skipped by the minimum.
A service with no declared inputs has ``exposure_ratio = None`` (unknown, not 0); a
window without traffic has ``requests = 0`` and ``exposure_ratio = None``.

A service without SERVER spans in W is counted from its request-duration histograms
(``signals/histograms.py``): each export interval's request increment is served at its
point's time, so it falls into that time's step and is weighted by its count.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from loadsense.signals import summaries
from loadsense.signals.contract import Params
from loadsense.signals.freshness import FreshnessRow, upstream_closure
from loadsense.signals.latency import LatencyRow
from loadsense.signals.served import served, steps
from loadsense.signals.sql import AS_OF, EscapedParam, json_param, render
from loadsense.storage.client import Storage

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
    SELECT m.1 AS member, m.2 AS grace, m.3 AS h
    FROM (SELECT arrayJoin(arrayZip(JSONExtract({m_member:String}, 'Array(String)'),
                                    JSONExtract({m_grace:String}, 'Array(Float64)'),
                                    JSONExtract({m_h:String}, 'Array(Float64)'))) AS m)
),
points AS (
    SELECT members.member AS member, members.grace AS grace, members.h AS h,
           steps.k AS k, {first_ns:Int64} + steps.k * {res_ns:Int64} AS t_ns
    FROM members
    CROSS JOIN (SELECT arrayJoin(range({steps:UInt32})) AS k) AS steps
),
updates AS (@updates@),
member_curves AS (
    SELECT member, arrayMap(x -> x.2, arraySort(x -> x.1, groupArray((k, f)))) AS curve
    FROM (
        SELECT points.member AS member, points.k AS k,
               if(updates.u_ns = 0, NULL,
                  pow(2, -greatest(0, (points.t_ns - updates.u_ns) / 1e9 - points.grace)
                         / points.h)) AS f
        FROM points
        ASOF LEFT JOIN updates
            ON updates.member = points.member AND points.t_ns >= updates.u_ns
    )
    GROUP BY member
),
input_curves AS (
    SELECT c.1 AS input, minForEach(member_curves.curve) AS curve
    FROM (SELECT arrayJoin(arrayZip(JSONExtract({c_input:String}, 'Array(String)'),
                                   JSONExtract({c_member:String}, 'Array(String)'))) AS c)
        AS closure
    INNER JOIN member_curves ON member_curves.member = closure.c.2
    GROUP BY input
),
traffic AS (
    SELECT t.1 AS svc, t.2 AS counts
    FROM (SELECT arrayJoin(arrayZip(JSONExtract({s_svc:String}, 'Array(String)'),
                                    JSONExtract({s_counts:String}, 'Array(Array(UInt64))')))
              AS t)
),
per_input AS (
    SELECT pairs.p.1 AS svc, pairs.p.2 AS input, pairs.p.3 AS theta,
           traffic.counts AS counts, input_curves.curve AS curve
    FROM (SELECT arrayJoin(arrayZip(JSONExtract({p_svc:String}, 'Array(String)'),
                                    JSONExtract({p_input:String}, 'Array(String)'),
                                    JSONExtract({p_theta:String}, 'Array(Float64)')))
              AS p) AS pairs
    INNER JOIN input_curves ON input_curves.input = pairs.p.2
    INNER JOIN traffic ON traffic.svc = pairs.p.1
)
-- per_input is read once (a CTE is re-evaluated at each use): each input's curve and
-- their element-wise minimum (the service's total, input '') per service
SELECT svc, r.1, r.2, r.3
FROM (
    SELECT svc, any(theta) AS theta, any(counts) AS counts, groupArray((input, curve)) AS ins
    FROM per_input
    GROUP BY svc
)
ARRAY JOIN arrayMap(
    x -> (x.1, arraySum(arrayMap((n, f) -> if(f < theta, n, 0), counts, x.2)),
               arraySum(arrayMap((n, f) -> n * (1 - ifNull(f, 1)), counts, x.2))),
    arrayPushBack(ins, ('', arrayReduce('minForEach', arrayMap(x -> x.2, ins))))) AS r
"""


_ALL_UPDATES = """
    SELECT concat(dataset_namespace, '/', dataset_name) AS member,
           toUnixTimestamp64Nano(event_time) AS u_ns
    FROM dataset_updates FINAL
    WHERE event_time <= @as_of@
      AND concat(dataset_namespace, '/', dataset_name)
          IN JSONExtract({m_member:String}, 'Array(String)')
"""
"""Every stored update of the members (the definition)."""

_MEMBER = """concat(dataset_namespace, '/', dataset_name)
          IN JSONExtract({m_member:String}, 'Array(String)')"""

_RECENT_UPDATES = f"""
    -- clean members: the latest update before the summary's boundary, then every update
    -- since (the same ASOF matches for steps at or after the boundary); dirty ones: all
    SELECT concat(dataset_namespace, '/', dataset_name) AS member, last_ns AS u_ns
    FROM dataset_summaries
    WHERE boundary_ns = {{boundary:Int64}} AND NOT {summaries.DIRTY} AND {_MEMBER}
    UNION ALL
    SELECT concat(dataset_namespace, '/', dataset_name) AS member,
           toUnixTimestamp64Nano(event_time) AS u_ns
    FROM dataset_updates
    WHERE event_time >= fromUnixTimestamp64Nano({{boundary:Int64}}, 'UTC')
      AND event_time <= @as_of@ AND NOT {summaries.DIRTY} AND {_MEMBER}
    UNION ALL
    SELECT concat(dataset_namespace, '/', dataset_name) AS member,
           toUnixTimestamp64Nano(event_time) AS u_ns
    FROM dataset_updates
    WHERE event_time <= @as_of@ AND {summaries.DIRTY} AND {_MEMBER}
"""
"""The updates the window's curves can match, from the dataset summary (summaries.py)."""


def _json(**arrays: list[Any]) -> dict[str, EscapedParam]:
    return {name: json_param(values) for name, values in arrays.items()}


def service_inputs(params: Params, service: str) -> tuple[str, ...]:
    """Static lineage inputs plus config bindings of ``service``."""
    bound = params.config.lookup("services", "inputs", service, ())
    return tuple(sorted({*params.graph.service_inputs.get(service, ()), *bound}))


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[ExposureRow, ...]:
    """Exposure rows for every service seen by the latency signal (module docstring)."""
    cfg = params.config
    latency: tuple[LatencyRow, ...] = params.earlier.get("latency", ())
    freshness: dict[str, FreshnessRow] = {r.subject: r for r in params.earlier["freshness"]}
    traffic = served(storage, as_of_ns, params)
    inputs = {row.subject: service_inputs(params, row.subject) for row in latency}
    thetas = {s: float(cfg.lookup("services", "theta", s, cfg.theta)) for s in inputs}
    pairs = [(s, d) for s, ds in inputs.items() if s in traffic for d in ds]
    closure = [
        (d, m) for d in sorted({d for _, d in pairs}) for m in upstream_closure(freshness, d)
    ]
    known = {
        m: (r.grace, r.half_life)
        for m in {m for _, m in closure}
        if (r := freshness.get(m)) is not None and r.grace is not None and r.half_life is not None
    }
    closure = [(d, m) for d, m in closure if m in known]
    stats: dict[tuple[str, str], tuple[int, float]] = {}
    if pairs and closure:
        grid = steps(as_of_ns, params)
        members = sorted(known)
        services = sorted({s for s, _ in pairs})
        summary = summaries.usable(storage, as_of_ns, params)
        recent = summary is not None and summary.boundary_ns <= grid.first_ns
        updates = _RECENT_UPDATES if recent else _ALL_UPDATES
        result = storage.client.query(
            render(render(_SQL, updates=updates), as_of=AS_OF),
            parameters={
                "as_of": as_of_ns,
                **(summary.parameters() if summary is not None else {}),
                "first_ns": grid.first_ns,
                "res_ns": grid.res_ns,
                "steps": grid.count,
                **_json(
                    m_member=members,
                    m_grace=[float(known[m][0] or 0) for m in members],
                    m_h=[float(known[m][1] or 1) for m in members],
                    c_input=[d for d, _ in closure],
                    c_member=[m for _, m in closure],
                    p_svc=[s for s, _ in pairs],
                    p_input=[d for _, d in pairs],
                    p_theta=[thetas[s] for s, _ in pairs],
                    s_svc=services,
                    s_counts=[list(traffic[s].per_step) for s in services],
                ),
            },
        )
        for svc, inp, stale, weighted in result.result_rows:
            stats[(str(svc), str(inp))] = (int(stale), float(weighted))
    return tuple(
        _row(cfg.window_s, thetas[r.subject], r, inputs[r.subject], stats) for r in latency
    )


def _row(
    window_s: float,
    theta: float,
    latency: LatencyRow,
    inputs: tuple[str, ...],
    stats: dict[tuple[str, str], tuple[int, float]],
) -> ExposureRow:
    service, requests = latency.subject, latency.requests
    if not inputs:
        return ExposureRow(service, window_s, theta, requests, (), None, None, None)
    # Inputs without any known freshness never enter the SQL join: nothing is stale.
    stale, weighted = stats.get((service, ""), (0, 0.0))
    per_input = []
    for dataset in inputs:
        d_stale, d_weighted = stats.get((service, dataset), (0, 0.0))
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
