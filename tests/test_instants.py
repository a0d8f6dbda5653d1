"""The one instant parser (loadsense/instants.py): strict grammar, bounded work, exact
nanoseconds, and the OpenAPI pattern as a subset of what it accepts."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from loadsense.errors import InvalidInput
from loadsense.instants import API_MAX_NS, INSTANT_PATTERN, parse_instant

NS = 1_000_000_000


@settings(max_examples=1000, deadline=None)
@given(st.integers(0, API_MAX_NS // NS - 1), st.integers(0, NS - 1))
def test_epoch_seconds_are_exact(seconds: int, nanos: int) -> None:
    text = f"{seconds}.{nanos:09d}"
    assert parse_instant(text, "as_of") == seconds * NS + nanos
    assert parse_instant(str(seconds), "as_of") == seconds * NS


@settings(max_examples=1000, deadline=None)
@given(
    st.datetimes(datetime(1971, 1, 1), datetime(2199, 1, 1)),
    st.integers(-23 * 60 - 59, 23 * 60 + 59),
)
def test_rfc3339_agrees_with_datetime(moment: datetime, offset_min: int) -> None:
    sign = "+" if offset_min >= 0 else "-"
    hh, mm = divmod(abs(offset_min), 60)
    text = moment.strftime("%Y-%m-%dT%H:%M:%S.%f") + f"{sign}{hh:02d}:{mm:02d}"
    expected = moment.replace(tzinfo=UTC) - timedelta(minutes=offset_min)
    delta = expected - datetime(1970, 1, 1, tzinfo=UTC)
    ns = (delta.days * 86_400 + delta.seconds) * NS + delta.microseconds * 1000
    assert parse_instant(text, "as_of") == ns


@pytest.mark.parametrize(
    "value",
    [
        "1e400000",  # attack row 2: Decimal expands the exponent for seconds
        "1e999999",
        "1E9",
        "\u0661\u0667\u0665" + "\u0660" * 7,  # Arabic-Indic digits
        "1_000",
        " 1750000000",
        "1750000000 ",
        "+1750000000",
        "-1",
        "1750000000.",
        ".5",
        "1750000000.1234567891",  # ten decimals
        "nan",
        "inf",
        "0x10",
        "",
        "2025-06-15T15:06:40",  # no offset
        "2025-06-15",
        "2025-W24-7T00:00:00Z",
        "9" * 41,
    ],
)
def test_refused_forms_name_the_field(value: str) -> None:
    with pytest.raises(InvalidInput, match=r"^to: expected epoch seconds") as info:
        parse_instant(value, "to")
    assert info.value.field == "to"


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        ("7258118400", "out of range"),  # 2200-01-01T00:00:00Z
        ("2200-01-01T00:00:00Z", "out of range"),
        ("1969-12-31T23:59:59Z", "out of range"),
        ("1970-01-01T00:30:00+01:00", "out of range"),
        ("2025-02-29T00:00:00Z", "day is out of range"),
        ("2025-06-15T24:00:00Z", "time of day out of range"),
        ("2025-06-15T12:00:00+24:00", "offset out of range"),
    ],
)
def test_out_of_range_is_refused(value: str, reason: str) -> None:
    with pytest.raises(InvalidInput, match=f"as_of: .*{reason}"):
        parse_instant(value, "as_of")


def test_the_range_edges() -> None:
    assert parse_instant("0", "as_of") == 0
    assert parse_instant("7258118399.999999999", "as_of") == API_MAX_NS - 1
    assert parse_instant("2199-12-31T23:59:59.999999999Z", "as_of") == API_MAX_NS - 1


def test_a_huge_value_is_refused_by_length_and_echoed_cut() -> None:
    with pytest.raises(InvalidInput) as info:
        parse_instant("1" * 1_000_000, "as_of")
    assert len(info.value.message) < 250


@settings(max_examples=500, deadline=None)
@given(st.from_regex(INSTANT_PATTERN, fullmatch=True))
def test_every_string_the_openapi_pattern_admits_is_accepted(value: str) -> None:
    assert 0 <= parse_instant(value, "as_of") < API_MAX_NS


@settings(max_examples=500, deadline=None)
@given(st.text(max_size=40))
def test_anything_accepted_is_digits_or_rfc3339(value: str) -> None:
    try:
        parse_instant(value, "as_of")
    except InvalidInput:
        return
    assert re.fullmatch(r"[0-9]+(\.[0-9]{1,9})?|[0-9]{4}-.*", value, re.ASCII)
