"""Dataset freshness, and effective freshness through lineage (docs/signals.md#freshness).

Per dataset ``namespace/name``, as of ``as_of``:

- ``last_update``: latest eventTime of a COMPLETE run listing it as an output
  (``dataset_updates``), at or before ``as_of``; later (future) updates are ignored;
- ``expected_interval``: declared (``signals.datasets.<glob>.expected_interval_s``),
  else the median of the last 20 intervals between distinct update times (needs >= 3
  updates, else unknown);
- ``age = as_of - last_update``; ``grace = expected_interval``; ``H`` = declared
  ``half_life_s``, else ``expected_interval``;
- ``freshness = 2^(-max(0, age - grace) / H)``; ``deadline = last_update + grace + H``;
- ``effective_freshness = min(freshness, effective freshness of the inputs of the run
  that produced the latest update)``, with ``depth`` the length of the longest chain
  behind it. Unknown values are skipped by the min; all unknown gives unknown.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from loadsense.signals import run_inputs, summaries
from loadsense.signals.contract import NS_PER_S, Params
from loadsense.signals.sql import AS_OF, glob_case, render
from loadsense.storage.client import Storage

KIND = "freshness"


@dataclass(frozen=True)
class FreshnessRow:
    subject: str  # dataset namespace/name
    last_update: float | None  # epoch seconds
    updates: int
    expected_interval: float | None  # seconds
    interval_declared: bool
    age: float | None  # seconds
    grace: float | None
    half_life: float | None
    freshness: float | None  # 2^(-max(0, age - grace) / H); None when unknown
    deadline: float | None  # epoch seconds: last_update + grace + H
    effective_freshness: float | None
    depth: int  # lineage depth behind effective_freshness
    producer: str | None  # job of the latest update
    last_run_id: str | None
    inputs: tuple[str, ...] = ()  # inputs of the run that produced the latest update


_LATEST = "(bitShiftLeft(toUInt128(toUnixTimestamp64Nano(event_time)), 64) + cityHash64(run_id))"
"""The latest update's key: its time, then a hash of its run id for equal times."""

_SQL = """
SELECT
    subject, last_ns, updates, last_run, producer, declared_s,
    coalesce(declared_s, inferred_s) AS interval_s,
    coalesce(declared_h, interval_s) AS half_life_s,
    ({as_of:Int64} - last_ns) / 1e9 AS age_s,
    if(interval_s IS NULL OR half_life_s IS NULL, NULL,
       pow(2, -greatest(0, age_s - interval_s) / half_life_s)) AS freshness,
    last_ns / 1e9 + interval_s + half_life_s AS deadline,
    run_inputs
FROM (
    SELECT
        concat(dataset_namespace, '/', dataset_name) AS subject,
        toUnixTimestamp64Nano(max(event_time)) AS last_ns,
        -- a numeric key (time, then a hash of the run id for equal times): tuples as
        -- argMax keys or values cost more than the rest of the query together
        argMax(run_id, @latest@) AS last_run,
        argMax(concat(job_namespace, '/', job_name), @latest@) AS producer,
        arraySort(groupUniqArray(toUnixTimestamp64Nano(event_time))) AS times,
        length(times) AS updates,
        arraySort(arrayPopFront(arrayDifference(
            arraySlice(times, greatest(1, updates - 20), 21)))) AS intervals,
        length(intervals) AS k,
        if(k >= 2, (intervals[intDiv(k + 1, 2)] + intervals[intDiv(k + 2, 2)]) / 2e9, NULL)
            AS inferred_s,
        @declared@ AS declared_s,
        @half_life@ AS declared_h
    FROM dataset_updates FINAL
    WHERE event_time <= @as_of@
    GROUP BY dataset_namespace, dataset_name
) AS u
LEFT JOIN (
    SELECT run_id, groupUniqArray(concat(dataset_namespace, '/', dataset_name)) AS run_inputs
    FROM lineage_edges FINAL
    WHERE direction = 'input' AND run_id != '' AND event_time <= @as_of@
      -- only the runs behind latest updates (a tenth of the edges)
      AND run_id IN (
          SELECT argMax(run_id, @latest@)
          FROM dataset_updates FINAL
          WHERE event_time <= @as_of@
          GROUP BY dataset_namespace, dataset_name)
    GROUP BY run_id
) AS i ON i.run_id = u.last_run
ORDER BY subject
"""


_INCREMENTAL_OWN = f"""
SELECT
    subject, last_ns, updates, last_run, producer, declared_s,
    coalesce(declared_s, inferred_s) AS interval_s,
    coalesce(declared_h, interval_s) AS half_life_s,
    ({{as_of:Int64}} - last_ns) / 1e9 AS age_s,
    if(interval_s IS NULL OR half_life_s IS NULL, NULL,
       pow(2, -greatest(0, age_s - interval_s) / half_life_s)) AS freshness,
    last_ns / 1e9 + interval_s + half_life_s AS deadline
FROM (
    SELECT
        concat(dataset_namespace, '/', dataset_name) AS subject,
        max(last_ns) AS last_ns,
        argMax(last_run, last_key) AS last_run,
        argMax(producer, last_key) AS producer,
        sum(updates) AS updates,
        -- the latest 21 distinct times: each part holds its own latest 21
        arraySort(arrayFlatten(groupArray(recent))) AS recent_all,
        arraySlice(recent_all, greatest(1, length(recent_all) - 20), 21) AS times,
        arraySort(arrayPopFront(arrayDifference(times))) AS intervals,
        length(intervals) AS k,
        if(k >= 2, (intervals[intDiv(k + 1, 2)] + intervals[intDiv(k + 2, 2)]) / 2e9, NULL)
            AS inferred_s,
        @declared@ AS declared_s,
        @half_life@ AS declared_h
    FROM ({summaries.parts("boundary", "hi")})
    GROUP BY dataset_namespace, dataset_name
)
ORDER BY subject  -- as the definition: a cycle's depths depend on the visiting order
"""
"""Each dataset's own facts from the dataset summary plus the updates since (the same
values as :data:`_SQL`; signals/summaries.py)."""


def _own_rows(storage: Storage, as_of_ns: int, params: Params) -> dict[str, tuple[Any, ...]]:
    """``subject -> (subject, last_ns, updates, run, producer, declared_s, interval,
    half_life, age, freshness, deadline, inputs)``: each dataset's own facts, before
    lineage (plain tuples: 10k rows are built every tick). From the dataset summary and
    the updates since when a valid one exists, else from every stored update."""
    subject = "concat(dataset_namespace, '/', dataset_name)"
    cfg = params.config
    declared, p1 = glob_case(subject, cfg.rules_for("datasets", "expected_interval_s"), "ei")
    half_life, p2 = glob_case(subject, cfg.rules_for("datasets", "half_life_s"), "hl")
    summary = summaries.usable(storage, as_of_ns, params)
    if summary is None:
        sql = render(_SQL, declared=declared, half_life=half_life, as_of=AS_OF, latest=_LATEST)
        result = storage.client.query(sql, parameters={"as_of": as_of_ns, **p1, **p2})
        return {r[0]: r for r in result.result_rows}
    sql = render(_INCREMENTAL_OWN, declared=declared, half_life=half_life)
    own = storage.client.query(
        sql,
        parameters={"as_of": as_of_ns, "hi": as_of_ns + 1, **summary.parameters(), **p1, **p2},
    ).result_rows
    runs = {str(r[3]) for r in own}
    memo = params.run_inputs
    inputs = (run_inputs.lookup if memo is None else memo.lookup)(storage, runs, as_of_ns)
    return {r[0]: (*r, inputs.get(r[3], [])) for r in own}


_NEVER_UPDATED: tuple[Any, ...] = (
    None,
    None,
    0,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    None,
    (),
)
"""The :func:`_own_rows` tuple of a dataset known only from lineage (or as an input)."""


def propagate(
    own: Mapping[str, float | None], inputs: Mapping[str, tuple[str, ...]]
) -> dict[str, tuple[float | None, int]]:
    """``subject -> (effective_freshness, depth)`` from each dataset's own freshness and
    the inputs of its latest run.

    A dataset in a cycle sees the cycle's back edge as unknown (depth 0), so a
    malformed lineage graph cannot recurse forever.
    """
    done: dict[str, tuple[float | None, int]] = {}
    active: set[str] = set()

    def visit(subject: str) -> tuple[float | None, int]:
        got = done.get(subject)
        if got is not None:
            return got
        if subject in active:
            return None, 0
        parents = inputs.get(subject, ())
        best, depth = own.get(subject), 0
        if parents:
            active.add(subject)
            for parent in parents:
                eff, d = visit(parent)
                if eff is not None and (best is None or eff < best):
                    best = eff
                if d >= depth:
                    depth = d + 1
            active.discard(subject)
        done[subject] = result = (best, depth)
        return result

    for subject in own:
        visit(subject)
    return done


def upstream_closure(rows: Mapping[str, FreshnessRow], subject: str) -> tuple[str, ...]:
    """``subject`` and every dataset behind its effective freshness."""
    seen: set[str] = set()
    stack = [subject]
    while stack:
        s = stack.pop()
        if s in seen:
            continue
        seen.add(s)
        row = rows.get(s)
        if row is not None:
            stack.extend(row.inputs)
    return tuple(sorted(seen))


def compute(storage: Storage, as_of_ns: int, params: Params) -> tuple[FreshnessRow, ...]:
    """Freshness of every dataset known at ``as_of_ns`` (formula: module docstring)."""
    own = _own_rows(storage, as_of_ns, params)
    inputs = {subject: tuple(sorted(r[11])) if r[11] else () for subject, r in own.items()}
    fresh: dict[str, float | None] = {subject: r[9] for subject, r in own.items()}
    # datasets known from lineage only, or only as an input, were never updated
    for subject in params.graph.datasets:
        fresh.setdefault(subject, None)
    for parents in list(inputs.values()):
        for parent in parents:
            fresh.setdefault(parent, None)
    effective = propagate(fresh, inputs)
    out = []
    for subject in sorted(fresh):
        eff, depth = effective[subject]
        r = own.get(subject, _NEVER_UPDATED)
        _, last_ns, updates, run, producer, declared_s, interval, h, age, f, deadline, _ = r
        out.append(
            FreshnessRow(
                subject,
                None if last_ns is None else last_ns / NS_PER_S,
                int(updates),
                interval,
                declared_s is not None,
                age,
                interval,  # grace
                h,
                f,
                deadline,
                eff,
                depth,
                producer,
                run,
                inputs.get(subject, ()),
            )
        )
    return tuple(out)
