"""Search, sort and page a snapshot's rows on the server, so a client asks for 50 rows
of 10k instead of downloading them all (the dashboard's tables, a "top 1" headline).

Every parameter is bounded and validated: ``sort`` is one of the row type's numeric
fields or ``subject`` (an allow-list derived from the row dataclass, so it cannot drift
from the rows), ``order`` ``asc`` or ``desc`` (alone: by subject), ``limit`` at most
:data:`MAX_LIMIT`, ``offset`` at most :data:`MAX_OFFSET`, ``search`` a case-insensitive
substring of the subject. Unknown values (an absent field) sort last in either order;
equal values keep subject order, so pages never overlap or skip a row between two
requests on one snapshot.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields
from typing import Any, Generic, TypeVar, get_type_hints

from fastapi import Query

from loadsense.errors import InvalidInput, shown

Row = TypeVar("Row")

MAX_LIMIT = 500
"""Most rows one page holds."""

MAX_OFFSET = 1_000_000
"""Largest offset accepted (more rows than any snapshot holds)."""

MAX_SEARCH_CHARS = 512
"""Longest search text (as long as a dataset name may be)."""

ORDERS = ("asc", "desc")

_NUMERIC = (int, float, int | None, float | None)


def sort_keys(row_type: type[Any], extra: Sequence[str] = ()) -> tuple[str, ...]:
    """The allow-list of ``sort`` for rows of ``row_type``: ``subject``, its numeric
    fields and ``extra`` (fields a route adds to each row)."""
    hints = get_type_hints(row_type)
    numeric = [f.name for f in fields(row_type) if hints[f.name] in _NUMERIC]
    return ("subject", *numeric, *extra)


@dataclass(frozen=True)
class PageRequest:
    """One validated request: what to keep, in which order, which slice."""

    search: str | None = None
    sort: str | None = None
    descending: bool = False
    limit: int | None = None
    offset: int = 0


def page_request(
    allowed: Sequence[str],
    search: str | None,
    sort: str | None,
    order: str | None,
    limit: int | None,
    offset: int,
) -> PageRequest:
    """Check ``sort`` against ``allowed`` (400 naming the known keys) and ``order``."""
    if sort is not None and sort not in allowed:
        raise InvalidInput(
            f"sort: unknown key {shown(sort)} (known: {', '.join(allowed)})", field="sort"
        )
    if order is not None and order not in ORDERS:
        raise InvalidInput(f"order: expected 'asc' or 'desc', got {shown(order)}", field="order")
    if order is not None and sort is None:
        sort = "subject"  # an order alone orders by name
    return PageRequest(search or None, sort, order == "desc", limit, offset)


@dataclass(frozen=True)
class Page(Generic[Row]):
    total: int
    """Rows that matched ``search`` (and any filter before it), before the slice."""
    rows: list[Row]


def apply(
    rows: Sequence[Row], request: PageRequest, value: Callable[[Row, str], Any] = getattr
) -> Page[Row]:
    """``rows`` searched, sorted and sliced as ``request`` says; ``value(row, key)``
    reads a sort key (default: the attribute)."""
    found = list(rows)
    if request.search:
        needle = request.search.casefold()
        found = [r for r in found if needle in value(r, "subject").casefold()]
    if request.sort is not None:
        key = request.sort
        found.sort(key=lambda r: value(r, "subject"))
        known = [r for r in found if value(r, key) is not None]
        unknown = [r for r in found if value(r, key) is None]
        # stable in both directions: equal values stay in subject order
        known.sort(key=lambda r: value(r, key), reverse=request.descending)
        found = known + unknown
    end = None if request.limit is None else request.offset + request.limit
    return Page(len(found), found[request.offset : end])


SEARCH_QUERY = Query(
    None,
    max_length=MAX_SEARCH_CHARS,
    description="Only subjects containing this text (case-insensitive)",
)
ORDER_QUERY = Query(
    None,
    description="`asc` (default) or `desc`; unknown values sort last either way",
    json_schema_extra={"enum": list(ORDERS)},
)
LIMIT_QUERY = Query(
    None, ge=1, le=MAX_LIMIT, description=f"Most rows returned (1-{MAX_LIMIT}); default all"
)
OFFSET_QUERY = Query(0, ge=0, le=MAX_OFFSET, description="Rows skipped before the first one")


def sort_query(allowed: Sequence[str]) -> Any:
    return Query(
        None,
        max_length=64,
        description=f"Sort by one of: {', '.join(allowed)}. Ties keep subject order.",
        json_schema_extra={"enum": list(allowed)},
    )
