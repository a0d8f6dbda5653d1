"""Instants: RFC 3339 date-times and epoch seconds to integer nanoseconds, strictly.

One parser for the whole project: the OpenLineage collector reads ``eventTime`` with
:func:`rfc3339_ns`, and every API route that takes an instant (``as_of``, ``from``,
``to``, ``since``) uses :func:`parse_instant`.

``datetime.fromisoformat`` stops at microseconds and accepts forms RFC 3339 does not
(no offset, week dates); Spark and Flink producers send nanosecond fractions. And
``Decimal``/``float`` accept exponents (``1e400000`` costs seconds of CPU to expand),
underscores and other scripts' digits. These parsers take exactly the grammar below,
cost time proportional to a bounded input, and keep nanoseconds exactly.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

from loadsense.errors import InvalidInput, shown

_RFC3339 = re.compile(  # [0-9], not \d: \d also matches other scripts' digits
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_NAIVE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt ][0-9]{2}:[0-9]{2}:[0-9]{2}(?:\.[0-9]+)?")
_EPOCH = re.compile(r"([0-9]{1,10})(?:\.([0-9]{1,9}))?")
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NS = 1_000_000_000

MAX_NS = 9_223_372_036_854_775_807
"""Largest instant ClickHouse ``DateTime64(9)`` holds (2262-04-11)."""

API_MAX_NS = 7_258_118_400 * _NS
"""2200-01-01T00:00:00Z: the API accepts instants in [1970-01-01, 2200-01-01)."""

MAX_INSTANT_CHARS = 40
"""Longest instant the API reads (an RFC 3339 time with nanoseconds and offset is 35)."""


INSTANT_DESCRIPTION = (
    "Epoch seconds (ASCII digits, up to 9 decimals) or an RFC 3339 date-time with offset, "
    "within 1970-01-01 .. 2200-01-01"
)
"""How the OpenAPI document describes an instant parameter."""

_SECONDS_BELOW_2200 = (
    "(?:[0-9]{1,9}|[0-6][0-9]{9}|7[01][0-9]{8}|72[0-4][0-9]{7}|725[0-7][0-9]{6}"
    "|72580[0-9]{5}|725810[0-9]{4}|725811[0-7][0-9]{3}|7258118[0-3][0-9]{2})"
)
INSTANT_PATTERN = (
    f"^(?:{_SECONDS_BELOW_2200}(?:\\.[0-9]{{1,9}})?"
    "|(?:197[1-9]|19[89][0-9]|20[0-9]{2}|21[0-8][0-9]|219[0-8])"
    "-(?:0[1-9]|1[0-2])-(?:0[1-9]|1[0-9]|2[0-8])"
    "T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\\.[0-9]{1,9})?(?:Z|[+-]0[0-9]:[0-5][0-9]))$"
)
"""The OpenAPI ``pattern`` of an instant: a subset :func:`parse_instant` always accepts.
The parser also accepts days 29-31 where they exist, offsets from 10 hours, and the years
1970 and 2199 where the offset keeps the instant in range; a regex cannot say which
dates exist or apply an offset, so the parser, not this pattern, is the rule."""


class TimeFormatError(ValueError):
    """The text is not an RFC 3339 date-time with an offset."""


@lru_cache(maxsize=4096)
def _days(year: str, month: str, day: str) -> int:
    """Days since the epoch of a calendar date (cached, bounded: events cluster on few
    dates, and each key is at most 8 digits)."""
    try:
        return date(int(year), int(month), int(day)).toordinal() - _EPOCH_ORDINAL
    except ValueError as exc:
        raise TimeFormatError(f"invalid date: {exc}") from None


def rfc3339_ns(text: str) -> int:
    """Nanoseconds since the Unix epoch for ``text``, or :class:`TimeFormatError`.

    Fractions beyond nine digits are truncated. The offset is required: an instant
    without one is ambiguous, which is what RFC 3339 exists to prevent.
    """
    m = _RFC3339.fullmatch(text)
    if m is None:
        raise TimeFormatError("not an RFC 3339 date-time (e.g. 2024-05-01T12:00:00.000Z)")
    year, month, day, hh, mm, ss, fraction, _, sign, off_h, off_m = m.groups()
    hour, minute, second = int(hh), int(mm), int(ss)
    if hour > 23 or minute > 59 or second > 59:
        raise TimeFormatError("time of day out of range")
    seconds = _days(year, month, day) * 86400 + hour * 3600 + minute * 60 + second
    if sign:
        hours, minutes = int(off_h), int(off_m)
        if hours > 23 or minutes > 59:
            raise TimeFormatError("offset out of range")
        offset = hours * 3600 + minutes * 60
        seconds += -offset if sign == "+" else offset
    nanos = int(fraction[:9].ljust(9, "0")) if fraction else 0
    return seconds * _NS + nanos


def naive_as_utc_ns(text: str) -> int | None:
    """Nanoseconds for an RFC 3339 date-time written *without* an offset, read as UTC;
    None when ``text`` is not of that shape (:class:`TimeFormatError` for a bad date).

    Only for producers' timestamps where a documented leniency applies (OpenLineage
    ``eventTime`` from ``datetime.now().isoformat()``); :func:`rfc3339_ns` and
    :func:`parse_instant` stay strict.
    """
    if _NAIVE.fullmatch(text) is None:
        return None
    return rfc3339_ns(text + "Z")


def parse_instant(value: str, field: str) -> int:
    """An API instant as int nanoseconds, or :class:`InvalidInput` naming ``field``.

    Accepted: epoch seconds as ASCII digits with at most nine fraction digits
    (``1750000000``, ``1750000000.25``) or an RFC 3339 date-time with an offset
    (``2025-06-15T15:06:40Z``), within 1970-01-01 .. 2200-01-01. No sign, exponent,
    underscore, surrounding space or non-ASCII digit.
    """
    expected = (
        f"{field}: expected epoch seconds (digits, up to 9 decimals) or an RFC 3339 time "
        f"with offset (2025-06-15T15:06:40Z), got {shown(value)}"
    )
    if len(value) > MAX_INSTANT_CHARS:
        raise InvalidInput(expected, field=field)
    m = _EPOCH.fullmatch(value)
    if m is not None:
        whole, fraction = m.groups()
        ns = int(whole) * _NS + (int(fraction.ljust(9, "0")) if fraction else 0)
    else:
        try:
            ns = rfc3339_ns(value)
        except TimeFormatError as exc:
            if _RFC3339.fullmatch(value) is None:
                raise InvalidInput(expected, field=field) from None
            raise InvalidInput(f"{field}: {exc}, got {shown(value)}", field=field) from None
    if not 0 <= ns < API_MAX_NS:
        raise InvalidInput(
            f"{field}: out of range (1970-01-01 .. 2200-01-01), got {shown(value)}", field=field
        )
    return ns
