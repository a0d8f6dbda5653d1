"""Insert blocks in ClickHouse's Native format, encoded by compiled code.

clickhouse-connect serialises inserts in Python (for embedded chDB it always does: its
compiled codec is not offered there); that was two thirds of the writer's CPU per row.
clickhouse-connect-core's Rust encoder writes the same Native bytes from the same
Python values (spans, points and lineage rows stored through both are identical), and
the engine reads them directly. When the codec is missing or does not know a column's
type, :func:`encode` answers ``None`` and the caller uses the Python path.
"""

from __future__ import annotations

import importlib
import logging
from collections.abc import Sequence
from typing import Any

logger = logging.getLogger(__name__)


def _load_codec() -> Any:
    try:
        return importlib.import_module("_ch_core")
    except ImportError:
        logger.info("clickhouse-connect-core is not installed; inserts are encoded in Python")
        return None


_CODEC = _load_codec()


def available() -> bool:
    return _CODEC is not None


def encode(
    columns: Sequence[str], type_names: Sequence[str], data: Sequence[Sequence[Any]], rows: int
) -> bytes | None:
    """One Native block of ``rows`` rows, or None when the compiled codec cannot write it."""
    if _CODEC is None:
        return None
    try:
        block: bytes = _CODEC.encode_native_block(
            list(columns), list(type_names), [list(col) for col in data], rows, None
        )
    except NotImplementedError as exc:  # a type the codec does not cover
        logger.debug("native codec cannot encode %s: %s", type_names, exc)
        return None
    return block
