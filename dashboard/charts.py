"""Altair charts shared by the pages; every axis says its unit.

Series arrive from ``GET /api/v1/signals/{kind}/history`` as ``[epoch s, value]``
pairs per subject and field; :func:`series_frame` turns them into a long frame
(``time``, ``subject``, ``field``, ``value``) that every time chart takes.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import altair as alt
import pandas as pd

REGIMES = ("calm", "etl-heavy", "serving-critical", "overload")
REGIME_COLOURS = {
    "calm": "#d9f0d3",
    "etl-heavy": "#fee8c8",
    "serving-critical": "#deebf7",
    "overload": "#fcbba1",
}


def series_frame(history: dict[str, Any] | None) -> pd.DataFrame:
    rows = [
        (t, s["subject"], s["field"], v)
        for s in (history or {}).get("series", [])
        for t, v in s["points"]
    ]
    frame = pd.DataFrame(rows, columns=["t", "subject", "field", "value"])
    frame["time"] = pd.to_datetime(frame["t"], unit="s", utc=True)
    return frame


def regime_regions(enter: float) -> pd.DataFrame:
    """The four regimes as rectangles of the (ETL, ML) pressure square, split at
    ``enter``: a pressure counts as high once it reaches ``enter``."""
    lo, hi = (0.0, enter), (enter, 1.0)
    cells = (("calm", lo, lo), ("etl-heavy", hi, lo), ("serving-critical", lo, hi))
    rows = [(name, x[0], x[1], y[0], y[1]) for name, x, y in cells]
    rows.append(("overload", hi[0], hi[1], hi[0], hi[1]))
    return pd.DataFrame(rows, columns=["regime", "x0", "x1", "y0", "y1"])


def regime_map(
    enter: float, exit_: float, point: tuple[float, float], trail: pd.DataFrame
) -> alt.LayerChart | alt.FacetChart:
    """The regime map: ETL load intensity (x) against ML latency criticality (y), the
    regimes shaded, dashed lines where a latched pressure lets go (``exit``), the trail
    over the range and the current point."""
    x_axis = alt.X(
        "x0:Q", title="ETL load intensity (pressure, 0-1)", scale=alt.Scale(domain=[0, 1])
    )
    y_axis = alt.Y(
        "y0:Q", title="ML latency criticality (pressure, 0-1)", scale=alt.Scale(domain=[0, 1])
    )
    colour = alt.Color(
        "regime:N",
        scale=alt.Scale(domain=list(REGIMES), range=[REGIME_COLOURS[r] for r in REGIMES]),
        legend=alt.Legend(title="Regime", orient="bottom"),
    )
    regions = regime_regions(enter)
    shade = (
        alt.Chart(regions)
        .mark_rect(opacity=0.9)
        .encode(x_axis, alt.X2("x1"), y_axis, alt.Y2("y1"), colour)
    )
    labels = (
        alt.Chart(
            regions.assign(cx=(regions.x0 + regions.x1) / 2, cy=(regions.y0 + regions.y1) / 2)
        )
        .mark_text(fontSize=13, color="#555")
        .encode(x="cx:Q", y="cy:Q", text="regime:N")
    )
    bounds = pd.DataFrame([("enter", enter), ("exit", exit_)], columns=["bound", "value"])
    vlines = (
        alt.Chart(bounds)
        .mark_rule(strokeDash=[4, 3], color="#333")
        .encode(
            x="value:Q",
            tooltip=["bound", "value"],
            opacity=alt.condition("datum.bound == 'exit'", alt.value(0.6), alt.value(1.0)),
        )
    )
    hlines = (
        alt.Chart(bounds)
        .mark_rule(strokeDash=[4, 3], color="#333")
        .encode(
            y="value:Q",
            tooltip=["bound", "value"],
            opacity=alt.condition("datum.bound == 'exit'", alt.value(0.6), alt.value(1.0)),
        )
    )
    layers: list[Any] = [shade, labels, vlines, hlines]
    if not trail.empty:
        layers.append(
            alt.Chart(trail)
            .mark_line(point=alt.OverlayMarkDef(size=18), color="#555", opacity=0.7)
            .encode(x="etl:Q", y="ml:Q", order="t:Q", tooltip=["time:T", "etl:Q", "ml:Q"])
        )
    now = pd.DataFrame([{"etl": point[0], "ml": point[1], "label": "now"}])
    layers.append(
        alt.Chart(now)
        .mark_point(shape="diamond", size=260, filled=True, color="#c0392b")
        .encode(x="etl:Q", y="ml:Q", tooltip=["etl:Q", "ml:Q"])
    )
    return alt.layer(*layers).properties(height=420)


def trail_frame(history: dict[str, Any] | None) -> pd.DataFrame:
    """The regime history (fields ``etl``, ``ml``) as one row per instant."""
    frame = series_frame(history)
    if frame.empty:
        return pd.DataFrame(columns=["t", "time", "etl", "ml"])
    wide = frame.pivot_table(index=["t", "time"], columns="field", values="value").reset_index()
    if not {"etl", "ml"} <= set(wide.columns):
        return pd.DataFrame(columns=["t", "time", "etl", "ml"])
    return wide.dropna(subset=["etl", "ml"])


def _utc(epoch_s: float) -> alt.DateTime:
    at = datetime.fromtimestamp(epoch_s, UTC)
    return alt.DateTime(
        year=at.year,
        month=at.month,
        date=at.day,
        hours=at.hour,
        minutes=at.minute,
        seconds=at.second,
        utc=True,
    )


def time_axis(domain: tuple[float, float] | None) -> alt.X:
    """The time axis (UTC, hours and minutes), spanning ``domain`` (epoch s) when given."""
    scale = alt.Scale(domain=[_utc(domain[0]), _utc(domain[1])]) if domain else alt.Undefined
    return alt.X("time:T", title="time (UTC)", axis=alt.Axis(format="%H:%M"), scale=scale)


def time_chart(
    frame: pd.DataFrame,
    y_title: str,
    colour: str = "subject",
    rules: Sequence[tuple[str, float]] = (),
    height: int = 260,
    domain: tuple[float, float] | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """Lines of ``value`` over ``time`` per ``colour`` across ``domain`` (the page's time
    range), with labelled horizontal rules (SLO, deadline, limits)."""
    base = (
        alt.Chart(frame)
        .mark_line(point=True)
        .encode(
            x=time_axis(domain),
            y=alt.Y("value:Q", title=y_title),
            color=alt.Color(f"{colour}:N", title=colour),
            tooltip=["time:T", f"{colour}:N", alt.Tooltip("value:Q", format=".4g")],
        )
    )
    layers: list[Any] = [base]
    if rules:
        marks = pd.DataFrame(list(rules), columns=["label", "value"])
        layers.append(
            alt.Chart(marks)
            .mark_rule(strokeDash=[6, 4], color="#c0392b")
            .encode(y="value:Q", tooltip=["label", "value"])
        )
        layers.append(
            alt.Chart(marks)
            .mark_text(align="left", dx=4, dy=-6, color="#c0392b")
            .encode(y="value:Q", x=alt.value(0), text="label")
        )
    return alt.layer(*layers).properties(height=height)


def event_chart(
    frame: pd.DataFrame,
    y_title: str,
    x_rules: Sequence[tuple[str, float]] = (),
    domain: tuple[float, float] | None = None,
) -> alt.LayerChart | alt.FacetChart:
    """Events (``time``, ``what``) as ticks on one row per ``what``, with labelled
    vertical rules (a deadline)."""
    layers: list[Any] = [
        alt.Chart(frame)
        .mark_tick(thickness=3, size=22)
        .encode(
            x=time_axis(domain),
            y=alt.Y("what:N", title=y_title),
            color=alt.Color("what:N", legend=None),
            tooltip=["time:T", "what:N", "detail:N"],
        )
    ]
    if x_rules:
        marks = pd.DataFrame(
            [(label, pd.to_datetime(at, unit="s", utc=True)) for label, at in x_rules],
            columns=["label", "time"],
        )
        layers.append(
            alt.Chart(marks)
            .mark_rule(strokeDash=[6, 4], color="#c0392b")
            .encode(x="time:T", tooltip=["label", "time:T"])
        )
    return alt.layer(*layers).properties(height=max(90, 40 * max(1, frame["what"].nunique())))
