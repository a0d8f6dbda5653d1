"""Query parameters several routes declare alike, declared once."""

from __future__ import annotations

from typing import Any

from fastapi import Query

from loadsense.instants import INSTANT_DESCRIPTION, INSTANT_PATTERN, MAX_INSTANT_CHARS


def instant_query(alias: str | None, detail: str) -> Any:
    """An optional instant (``from``, ``to``, ...), documented with the format the one
    parser (:mod:`loadsense.instants`) accepts; ``detail`` follows that description."""
    return Query(
        None,
        alias=alias,
        max_length=MAX_INSTANT_CHARS,
        description=f"{INSTANT_DESCRIPTION}{detail}",
        json_schema_extra={"pattern": INSTANT_PATTERN},
    )


QUERY_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"description": "Invalid parameter (the message names it)"},
    401: {"description": "Missing or invalid bearer token"},
}
"""The error answers of a read route that takes query parameters (OpenAPI ``responses``)."""
