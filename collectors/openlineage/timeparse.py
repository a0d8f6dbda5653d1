"""RFC 3339 timestamps to integer nanoseconds, without losing the nanoseconds.

``datetime.fromisoformat`` stops at microseconds and accepts forms RFC 3339 does not
(no offset, week dates); Spark and Flink producers send nanosecond fractions. This
parser takes exactly ``date "T" time fraction? offset`` and keeps up to nine digits.
"""

from __future__ import annotations

import re
from datetime import date
from functools import lru_cache

_RFC3339 = re.compile(  # [0-9], not \d: \d also matches other scripts' digits
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]+))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
_EPOCH_ORDINAL = date(1970, 1, 1).toordinal()
_NS = 1_000_000_000

MAX_NS = 9_223_372_036_854_775_807
"""Largest instant ClickHouse ``DateTime64(9)`` holds (2262-04-11)."""


class TimeFormatError(ValueError):
    """The text is not an RFC 3339 date-time with an offset."""


@lru_cache(maxsize=4096)
def _days(year: str, month: str, day: str) -> int:
    """Days since the epoch of a calendar date (cached: events cluster on few dates)."""
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
