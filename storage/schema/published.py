"""The state the correlator publishes for API replicas that do not run it.

One row per document (``snapshot``, ``recommendations``, ``regime``, ``alerts``) and
publication; ``version`` is the publication's wall time in nanoseconds, so a restarted
correlator's documents supersede the old ones and readers ask only for newer rows.
Replicas read it with ``FINAL`` (the latest version of each document) through a short
cache (api/published.py, docs/scale-out.md).
"""

from __future__ import annotations

from loadsense.storage.schema.model import LC, TS_MS, Column, Table

PUBLISHED_STATE = Table(
    name="published_state",
    columns=(
        Column("name", LC),
        Column("version", "UInt64"),
        Column("as_of", TS_MS),  # the tick the document belongs to
        Column("body", "String", "ZSTD"),  # JSON, exactly as the correlator serves it
    ),
    order_by=("name",),
    version="version",
    shard_key="cityHash64(name)",
)

DOCUMENTS = ("snapshot", "recommendations", "regime", "alerts")
"""The documents one publication writes (those whose component runs)."""
