"""What the correlator writes: signal history, the recommendation audit log, alert states."""

from __future__ import annotations

from loadsense.storage.schema.model import ATTRS, LC, TS_MS, Column, Table

SIGNAL_POINTS = Table(
    name="signal_points",
    columns=(
        Column("as_of", TS_MS, "Delta, ZSTD"),
        Column("kind", LC),  # freshness | exposure | queues | latency | hosts | lineage | ...
        Column("subject", "String"),
        Column("field", LC),
        Column("value", "Float64", "Gorilla, ZSTD"),
    ),
    # Re-evaluating an instant (replay, backfill) replaces its values.
    order_by=("kind", "subject", "field", "as_of"),
    partition_by="toDate(as_of)",
    ttl_column="as_of",
    shard_key="cityHash64(kind, subject)",
)

RECOMMENDATION_LOG = Table(
    name="recommendation_log",
    columns=(
        Column("issued_at", TS_MS, "Delta, ZSTD"),
        Column("workload", "String"),
        Column("class", LC),
        Column("action", LC),
        Column("previous_action", LC),
        Column("priority", "UInt8"),
        Column("max_concurrency", "Nullable(UInt32)"),
        Column("regime", LC),
        Column("confidence", LC),
        Column("policy_version", LC),
        Column("reasons", "String", "ZSTD"),  # JSON list of {signal, subject, value, ...}
    ),
    order_by=("workload", "issued_at"),
    engine="MergeTree",
    partition_by="toDate(issued_at)",
    ttl_column="issued_at",
    shard_key="cityHash64(workload)",
)

ALERT_STATES = Table(
    # one row per (rule, series fingerprint): its latest state, active_at in ``since``
    name="alert_states",
    columns=(
        Column("rule", LC),
        Column("subject", "String"),
        Column("state", LC),  # inactive | pending | firing | resolved
        Column("value", "Float64"),
        Column("since", TS_MS),
        Column("updated_at", TS_MS),
        Column("labels", ATTRS),
        Column("annotations", ATTRS),
    ),
    order_by=("rule", "subject"),
    version="updated_at",
    ttl_column="updated_at",
    shard_key="cityHash64(rule, subject)",
)

ALERT_TRANSITIONS = Table(
    name="alert_transitions",
    columns=(
        Column("at", TS_MS, "Delta, ZSTD"),
        Column("rule", LC),
        Column("fingerprint", "String"),
        Column("from_state", LC),  # inactive | pending | firing
        Column("to_state", LC),  # pending | firing | resolved
        Column("value", "Nullable(Float64)"),
        Column("labels", ATTRS),
    ),
    order_by=("rule", "at"),
    engine="MergeTree",
    partition_by="toDate(at)",
    ttl_column="at",
    shard_key="cityHash64(rule, fingerprint)",
)
"""Every alert state change, appended (``GET /api/v1/alerts/history``); ``alert_states``
keeps only each series' latest state, which a restart restores."""

TABLES = (SIGNAL_POINTS, RECOMMENDATION_LOG, ALERT_STATES)
