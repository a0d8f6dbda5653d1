"""Every Loadsense setting, its environment variable, default and meaning, in one place.

Precedence, highest first: command-line flags > ``LOADSENSE_*`` environment variables >
the YAML config file (``--config`` or ``LOADSENSE_CONFIG``) > the defaults below.
Unknown keys in the config file are an error naming the key. ``docs/configuration.md``
is generated from :data:`SETTINGS` (``loadsense config``).

Each setting is declared once, as a :class:`Setting` in :data:`SETTINGS` (key, environment
variable, parser, meaning, ``default=``). Adding one takes that entry and a field of the
same name and type in :class:`Settings` declared ``= _declared("key")``; the import-time
check refuses a field without an entry, an entry without a field, or an entry without a
default. Code that needs a default outside :class:`Settings` asks :func:`default_of`.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any
from urllib.parse import urlsplit

import yaml

from loadsense.errors import ConfigError

LOADSENSE_CONFIG = "LOADSENSE_CONFIG"
"""Path of the optional YAML configuration file (the ``--config`` flag wins)."""

# The environment variable of each setting; what it means is said once, in SETTINGS.
LOADSENSE_DATA_DIR = "LOADSENSE_DATA_DIR"
LOADSENSE_CLICKHOUSE_DSN = "LOADSENSE_CLICKHOUSE_DSN"
LOADSENSE_CLICKHOUSE_DATABASE = "LOADSENSE_CLICKHOUSE_DATABASE"
LOADSENSE_CLICKHOUSE_CLUSTER = "LOADSENSE_CLICKHOUSE_CLUSTER"
LOADSENSE_ROLES = "LOADSENSE_ROLES"
LOADSENSE_TELEMETRY_SOURCE = "LOADSENSE_TELEMETRY_SOURCE"
LOADSENSE_OTEL_DATABASE = "LOADSENSE_OTEL_DATABASE"
LOADSENSE_OTEL_TRACES_TABLE = "LOADSENSE_OTEL_TRACES_TABLE"
LOADSENSE_OTEL_METRICS_TABLE = "LOADSENSE_OTEL_METRICS_TABLE"
LOADSENSE_HOST = "LOADSENSE_HOST"
LOADSENSE_PORT = "LOADSENSE_PORT"
LOADSENSE_INGEST_TOKENS = "LOADSENSE_INGEST_TOKENS"
LOADSENSE_READ_TOKENS = "LOADSENSE_READ_TOKENS"
LOADSENSE_PUBLIC_DOCS = "LOADSENSE_PUBLIC_DOCS"
LOADSENSE_INSECURE = "LOADSENSE_INSECURE"
LOADSENSE_RETENTION_DAYS = "LOADSENSE_RETENTION_DAYS"
LOADSENSE_BATCH_MAX_ROWS = "LOADSENSE_BATCH_MAX_ROWS"
LOADSENSE_BATCH_MAX_DELAY_MS = "LOADSENSE_BATCH_MAX_DELAY_MS"
LOADSENSE_QUEUE_MAX_ROWS = "LOADSENSE_QUEUE_MAX_ROWS"
LOADSENSE_QUEUE_MAX_BYTES = "LOADSENSE_QUEUE_MAX_BYTES"
LOADSENSE_RETRY_AFTER_S = "LOADSENSE_RETRY_AFTER_S"
LOADSENSE_INSERT_CONNECTIONS = "LOADSENSE_INSERT_CONNECTIONS"
LOADSENSE_LINEAGE_ACK = "LOADSENSE_LINEAGE_ACK"
LOADSENSE_DERIVED_DELAY_MS = "LOADSENSE_DERIVED_DELAY_MS"
LOADSENSE_MAX_BODY_BYTES = "LOADSENSE_MAX_BODY_BYTES"
LOADSENSE_HTTP_MAX_CONNECTIONS = "LOADSENSE_HTTP_MAX_CONNECTIONS"
LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S = "LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S"
LOADSENSE_HTTP_HEADER_TIMEOUT_S = "LOADSENSE_HTTP_HEADER_TIMEOUT_S"
LOADSENSE_HTTP_BODY_TIMEOUT_S = "LOADSENSE_HTTP_BODY_TIMEOUT_S"
LOADSENSE_HTTP_MAX_URL_BYTES = "LOADSENSE_HTTP_MAX_URL_BYTES"
LOADSENSE_HTTP_MAX_HEADER_BYTES = "LOADSENSE_HTTP_MAX_HEADER_BYTES"
LOADSENSE_MAX_FUTURE_SKEW_S = "LOADSENSE_MAX_FUTURE_SKEW_S"
LOADSENSE_CLOCK = "LOADSENSE_CLOCK"
LOADSENSE_TICK_INTERVAL_S = "LOADSENSE_TICK_INTERVAL_S"
LOADSENSE_TICK_ON_LINEAGE = "LOADSENSE_TICK_ON_LINEAGE"
LOADSENSE_TICK_MIN_GAP_S = "LOADSENSE_TICK_MIN_GAP_S"
LOADSENSE_LOG_LEVEL = "LOADSENSE_LOG_LEVEL"
LOADSENSE_SHUTDOWN_TIMEOUT_S = "LOADSENSE_SHUTDOWN_TIMEOUT_S"
LOADSENSE_REPLICA_UPSTREAM = "LOADSENSE_REPLICA_UPSTREAM"
LOADSENSE_REPLICA_PORT = "LOADSENSE_REPLICA_PORT"
LOADSENSE_REPLICA_WAIT_S = "LOADSENSE_REPLICA_WAIT_S"
LOADSENSE_REPLICA_MAX_STALENESS_S = "LOADSENSE_REPLICA_MAX_STALENESS_S"
LOADSENSE_AGENT_TOKEN = "LOADSENSE_AGENT_TOKEN"  # noqa: S105 - a variable name, not a secret
LOADSENSE_AGENT_INTERVAL_S = "LOADSENSE_AGENT_INTERVAL_S"
LOADSENSE_AGENT_MAX_BACKLOG = "LOADSENSE_AGENT_MAX_BACKLOG"
LOADSENSE_DASHBOARD_URL = "LOADSENSE_DASHBOARD_URL"
LOADSENSE_DASHBOARD_API = "LOADSENSE_DASHBOARD_API"
LOADSENSE_DASHBOARD_TOKEN = "LOADSENSE_DASHBOARD_TOKEN"  # noqa: S105 - a variable name
LOADSENSE_DASHBOARD_REFRESH_S = "LOADSENSE_DASHBOARD_REFRESH_S"
LOADSENSE_ALERTS_DEFAULT_RULES = "LOADSENSE_ALERTS_DEFAULT_RULES"


def _parse_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in {"1", "true", "yes", "on"}:
        return True
    if text in {"0", "false", "no", "off", ""}:
        return False
    raise ValueError(f"expected true/false, got {value!r}")


def _parse_tokens(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    return tuple(str(t).strip() for t in items if str(t).strip())


def _positive(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = kind(value)
        if number <= 0:
            raise ValueError(f"must be > 0, got {value!r}")
        return number

    return parse


def _non_negative(kind: Callable[[Any], Any]) -> Callable[[Any], Any]:
    def parse(value: Any) -> Any:
        if isinstance(value, bool):
            raise ValueError(f"expected a number, got {value!r}")
        number = kind(value)
        if number < 0:
            raise ValueError(f"must be >= 0, got {value!r}")
        return number

    return parse


def _port(value: Any) -> int:
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"port out of range: {value!r}")
    return port


def _http_url(value: Any) -> str:
    text = str(value).strip().rstrip("/")
    parts = urlsplit(text)
    if parts.scheme not in {"http", "https"} or not parts.hostname:
        raise ValueError(f"expected an http(s)://host[:port] URL, got {value!r}")
    return text


def _one_of(options: tuple[str, ...]) -> Callable[[Any], str]:
    """A parser accepting exactly one of ``options``."""
    shown = " or ".join(repr(o) for o in options)

    def parse(value: Any) -> str:
        text = str(value)
        if text not in options:
            raise ValueError(f"expected {shown}, got {value!r}")
        return text

    return parse


CLOCKS = ("wall", "external")
"""The correlator's clocks (setting ``clock``)."""
_clock = _one_of(CLOCKS)

LINEAGE_ACKS = ("event", "all")
"""When an OpenLineage request is acknowledged (setting ``lineage_ack``)."""
_lineage_ack = _one_of(LINEAGE_ACKS)


ROLES = ("ingest", "api", "correlator")
"""What one ``serve`` process does (setting ``roles``): ``ingest`` receives OTLP and
OpenLineage, ``api`` answers the read routes, ``correlator`` runs the clock, migrates the
schema and publishes its state. Exactly one process in a deployment runs ``correlator``."""


def _roles(value: Any) -> tuple[str, ...]:
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(str(r).strip() for r in items if str(r).strip())
    if not names:
        raise ValueError(f"expected one or more of {', '.join(ROLES)}, got none")
    unknown = [r for r in names if r not in ROLES]
    if unknown:
        raise ValueError(f"unknown role {unknown[0]!r} (known: {', '.join(ROLES)})")
    return tuple(r for r in ROLES if r in names)


TELEMETRY_SOURCES = ("native", "otel-clickhouse")
"""Where serving-latency, queue and host signals read spans and metrics (setting
``telemetry_source``): Loadsense's own tables, or the OpenTelemetry Collector
ClickHouse exporter's."""


def _telemetry_source(value: Any) -> str:
    text = str(value).strip()
    if text not in TELEMETRY_SOURCES:
        raise ValueError(f"expected 'native' or 'otel-clickhouse', got {value!r}")
    return text


def _identifier(value: Any) -> str:
    text = str(value).strip()
    if not text or not all(c.isascii() and (c.isalnum() or c == "_") for c in text):
        raise ValueError(f"expected a ClickHouse name of letters, digits and _, got {value!r}")
    return text


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping")
    return MappingProxyType(dict(value))


_NO_DEFAULT: Any = object()


@dataclass(frozen=True)
class Setting:
    """One setting, declared once: its key in the config file, its environment variable,
    the parser that turns a raw value (YAML, environment or flag) into its type, what it
    means, and its default. :class:`Settings`, the config-file and environment parsing,
    the command line's help and ``docs/configuration.md`` all read this declaration."""

    key: str
    env: str | None
    parse: Callable[[Any], Any]
    help: str
    default: Any = _NO_DEFAULT

    def __post_init__(self) -> None:
        if self.default is _NO_DEFAULT:
            raise TypeError(f"setting {self.key!r} declares no default")


_MiB = 1024 * 1024
_EMPTY: Mapping[str, Any] = MappingProxyType({})

SETTINGS: tuple[Setting, ...] = (
    Setting(
        "data_dir",
        LOADSENSE_DATA_DIR,
        str,
        "Directory for embedded storage and local state",
        default=".loadsense",
    ),
    Setting(
        "clickhouse_dsn",
        LOADSENSE_CLICKHOUSE_DSN,
        str,
        "Storage DSN: `chdb:///path` (embedded; empty means `chdb://<data_dir>/db`) or "
        "`http(s)://user:pass@host:8123/db` for a ClickHouse server or cluster",
        default="",
    ),
    Setting(
        "clickhouse_database",
        LOADSENSE_CLICKHOUSE_DATABASE,
        str,
        "Database holding Loadsense tables when the DSN names none",
        default="loadsense",
    ),
    Setting(
        "clickhouse_cluster",
        LOADSENSE_CLICKHOUSE_CLUSTER,
        str,
        "Cluster name: when set, migrations render `ON CLUSTER` with replicated local tables "
        "behind `Distributed` tables (see `loadsense schema --cluster`); empty: none",
        default="",
    ),
    Setting(
        "roles",
        LOADSENSE_ROLES,
        _roles,
        "`serve`: comma list of `ingest`, `api`, `correlator` (also `--roles`). Several "
        "`ingest,api` replicas may share one ClickHouse server; exactly one process runs "
        "`correlator` (docs/scale-out.md)",
        default=ROLES,
    ),
    Setting(
        "telemetry_source",
        LOADSENSE_TELEMETRY_SOURCE,
        _telemetry_source,
        "Where latency, queue and host signals read spans and metrics: `native` (Loadsense's "
        "own tables) or `otel-clickhouse` (the OpenTelemetry Collector ClickHouse exporter's)",
        default="native",
    ),
    Setting(
        "otel_database",
        LOADSENSE_OTEL_DATABASE,
        _identifier,
        "`otel-clickhouse`: database the Collector's ClickHouse exporter writes",
        default="otel",
    ),
    Setting(
        "otel_traces_table",
        LOADSENSE_OTEL_TRACES_TABLE,
        _identifier,
        "`otel-clickhouse`: the exporter's traces table",
        default="otel_traces",
    ),
    Setting(
        "otel_metrics_table",
        LOADSENSE_OTEL_METRICS_TABLE,
        _identifier,
        "`otel-clickhouse`: the exporter's metrics table base name; Loadsense reads "
        "`<base>_gauge`, `<base>_sum` and `<base>_histogram` (the exporter's default names)",
        default="otel_metrics",
    ),
    Setting(
        "host",
        LOADSENSE_HOST,
        str,
        "Address the HTTP server binds (loopback only by default)",
        default="127.0.0.1",
    ),
    Setting(
        "port",
        LOADSENSE_PORT,
        _port,
        "Port for ingestion and API alike (the OTLP/HTTP default)",
        default=4318,
    ),
    Setting(
        "ingest_tokens",
        LOADSENSE_INGEST_TOKENS,
        _parse_tokens,
        "Comma-separated bearer tokens allowed to write (ingest); empty: no auth on loopback",
        default=(),
    ),
    Setting(
        "read_tokens",
        LOADSENSE_READ_TOKENS,
        _parse_tokens,
        "Comma-separated bearer tokens allowed to read. When set, only these may read (an "
        "ingest token may not); when empty, ingest tokens may read too (single-token setups)",
        default=(),
    ),
    Setting(
        "insecure",
        LOADSENSE_INSECURE,
        _parse_bool,
        "`true` allows binding a non-loopback address without tokens",
        default=False,
    ),
    Setting(
        "public_docs",
        LOADSENSE_PUBLIC_DOCS,
        _parse_bool,
        "`true` serves `/openapi.json`, `/docs` and `/redoc` without a token even when tokens "
        "are configured; `false`: they need a read token like the API they describe",
        default=False,
    ),
    Setting(
        "retention_days",
        LOADSENSE_RETENTION_DAYS,
        _positive(int),
        "Days telemetry is kept (table TTL)",
        default=30,
    ),
    Setting(
        "batch_max_rows",
        LOADSENSE_BATCH_MAX_ROWS,
        _positive(int),
        "Most rows one insert into a table carries (more wait for the next insert)",
        default=10_000,
    ),
    Setting(
        "batch_max_delay_ms",
        LOADSENSE_BATCH_MAX_DELAY_MS,
        _non_negative(float),
        "How long pending rows wait for more to join their insert; 0 inserts as soon "
        "as the table's previous insert is done, batching what arrived meanwhile",
        default=0.0,
    ),
    Setting(
        "queue_max_rows",
        LOADSENSE_QUEUE_MAX_ROWS,
        _positive(int),
        "Rows queued (not yet committed) across all tables before ingest answers 503",
        default=2_000_000,
    ),
    Setting(
        "queue_max_bytes",
        LOADSENSE_QUEUE_MAX_BYTES,
        _positive(int),
        "Approximate bytes queued across all tables before ingest answers 503",
        default=512 * _MiB,
    ),
    Setting(
        "retry_after_s",
        LOADSENSE_RETRY_AFTER_S,
        _positive(float),
        "Seconds advertised in `Retry-After` on 503",
        default=1.0,
    ),
    Setting(
        "insert_connections",
        LOADSENSE_INSERT_CONNECTIONS,
        _positive(int),
        "Embedded chDB: connections the writer inserts through, so inserts do not queue "
        "behind queries and up to this many tables are written at once; 1 writes one "
        "table at a time (a ClickHouse server shares the one client)",
        default=5,
    ),
    Setting(
        "lineage_ack",
        LOADSENSE_LINEAGE_ACK,
        _lineage_ack,
        "Embedded chDB: `event` acknowledges an OpenLineage request once its events are "
        "committed to `lineage_events`, and the rows derived from them (runs, updates, "
        "edges, schemas) follow within `derived_delay_ms` and are rebuilt from the events "
        "after a crash; `all` waits for every table (always so on a ClickHouse server)",
        default="event",
    ),
    Setting(
        "derived_delay_ms",
        LOADSENSE_DERIVED_DELAY_MS,
        _non_negative(float),
        "With `lineage_ack: event`, how long derived lineage rows wait for more to join "
        "their insert (a tick or evaluation inserts them at once)",
        default=1000.0,
    ),
    Setting(
        "max_body_bytes",
        LOADSENSE_MAX_BODY_BYTES,
        _positive(int),
        "Largest request body accepted, measured after decompression",
        default=20 * _MiB,
    ),
    Setting(
        "http_max_connections",
        LOADSENSE_HTTP_MAX_CONNECTIONS,
        _positive(int),
        "Open HTTP connections the server holds; one more is answered 503 with `Retry-After` "
        "and closed at once",
        default=500,
    ),
    Setting(
        "http_keepalive_timeout_s",
        LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S,
        _positive(float),
        "Seconds an idle keep-alive connection stays open after a response",
        default=5.0,
    ),
    Setting(
        "http_header_timeout_s",
        LOADSENSE_HTTP_HEADER_TIMEOUT_S,
        _positive(float),
        "Seconds a client has to send a request's line and headers, from the connection's "
        "opening or its first byte after a response; then 408 and close",
        default=10.0,
    ),
    Setting(
        "http_body_timeout_s",
        LOADSENSE_HTTP_BODY_TIMEOUT_S,
        _positive(float),
        "Seconds a client has to send a request's body after its headers; then 408 and close",
        default=60.0,
    ),
    Setting(
        "http_max_url_bytes",
        LOADSENSE_HTTP_MAX_URL_BYTES,
        _positive(int),
        "Longest request target (path and query) accepted; longer is 414",
        default=8192,
    ),
    Setting(
        "http_max_header_bytes",
        LOADSENSE_HTTP_MAX_HEADER_BYTES,
        _positive(int),
        "Largest total of header names and values accepted; larger is 431",
        default=65536,
    ),
    Setting(
        "max_future_skew_s",
        LOADSENSE_MAX_FUTURE_SKEW_S,
        _positive(float),
        "How far ahead of the receiver's clock an event or span time may be (producer "
        "clock skew) before it is refused",
        default=300.0,
    ),
    Setting(
        "clock",
        LOADSENSE_CLOCK,
        _clock,
        "`wall`, or `external` (time advances only by `POST /api/v1/tick`)",
        default="wall",
    ),
    Setting(
        "tick_interval_s",
        LOADSENSE_TICK_INTERVAL_S,
        _positive(float),
        "Seconds between correlator ticks on the wall clock",
        default=5.0,
    ),
    Setting(
        "tick_on_lineage",
        LOADSENSE_TICK_ON_LINEAGE,
        _parse_bool,
        "On the wall clock, tick early when OpenLineage events are committed (a dataset "
        "update changes freshness at once, not at the next scheduled tick)",
        default=True,
    ),
    Setting(
        "tick_min_gap_s",
        LOADSENSE_TICK_MIN_GAP_S,
        _positive(float),
        "Seconds the correlator rests between the end of a tick and an early "
        "(event-triggered) one: bounds its share of the CPU, and the ingest it slows, "
        "under a steady stream of lineage events",
        default=2.0,
    ),
    Setting("log_level", LOADSENSE_LOG_LEVEL, str.upper, "Python log level name", default="INFO"),
    Setting(
        "shutdown_timeout_s",
        LOADSENSE_SHUTDOWN_TIMEOUT_S,
        _positive(float),
        "Seconds allowed on SIGTERM to finish requests and flush queued rows",
        default=30.0,
    ),
    Setting(
        "replica_upstream",
        LOADSENSE_REPLICA_UPSTREAM,
        _http_url,
        "`loadsense replica`: base URL of the primary it copies recommendations from",
        default="http://127.0.0.1:4318",
    ),
    Setting(
        "replica_port",
        LOADSENSE_REPLICA_PORT,
        _port,
        "`loadsense replica`: port it serves the recommendation API on",
        default=4319,
    ),
    Setting(
        "replica_wait_s",
        LOADSENSE_REPLICA_WAIT_S,
        _positive(float),
        "`loadsense replica`: seconds each long poll upstream waits for a change; decisions "
        "arrive as soon as the primary publishes them, while `as_of`, `expires_at` and the "
        "regime's pressures are refreshed at least this often",
        default=5.0,
    ),
    Setting(
        "replica_max_staleness_s",
        LOADSENSE_REPLICA_MAX_STALENESS_S,
        _positive(float),
        "`loadsense replica`: seconds without a successful exchange with the primary after "
        "which `/readyz` answers 503 (the last view is still served)",
        default=30.0,
    ),
    Setting(
        "agent_token",
        LOADSENSE_AGENT_TOKEN,
        str,
        "`loadsense agent`: ingest token it sends as `Authorization: Bearer` (prefer this "
        "variable to `--token`: flags are visible in `ps`); empty: none",
        default="",
    ),
    Setting(
        "agent_interval_s",
        LOADSENSE_AGENT_INTERVAL_S,
        _positive(float),
        "`loadsense agent`: seconds between samples",
        default=10.0,
    ),
    Setting(
        "agent_max_backlog",
        LOADSENSE_AGENT_MAX_BACKLOG,
        _positive(int),
        "`loadsense agent`: samples kept while the service is unreachable (the oldest is "
        "dropped past this; one hour at the default interval)",
        default=360,
    ),
    Setting(
        "dashboard_url",
        LOADSENSE_DASHBOARD_URL,
        _http_url,
        "Where the dashboard is reachable: `/` links to it (`loadsense up` sets it)",
        default="http://127.0.0.1:8501",
    ),
    Setting(
        "dashboard_api",
        LOADSENSE_DASHBOARD_API,
        _http_url,
        "`loadsense dashboard`: base URL of the service whose API it reads",
        default="http://127.0.0.1:4318",
    ),
    Setting(
        "dashboard_token",
        LOADSENSE_DASHBOARD_TOKEN,
        str,
        "`loadsense dashboard`: the read token it sends (needed when tokens are configured)",
        default="",
    ),
    Setting(
        "dashboard_refresh_s",
        LOADSENSE_DASHBOARD_REFRESH_S,
        _positive(float),
        "`loadsense dashboard`: seconds between automatic refreshes of a page",
        default=10.0,
    ),
    Setting(
        "signals",
        None,
        _mapping,
        "Per-signal defaults and overrides (docs/signals.md)",
        default=_EMPTY,
    ),
    Setting(
        "dispatch", None, _mapping, "Dispatch policy options (docs/dispatch.md)", default=_EMPTY
    ),
    Setting(
        "alerts",
        None,
        _mapping,
        "Alerting: `alerts.rule_files`, `alerts.alertmanagers`, `alerts.webhooks`, "
        "`alerts.resend_delay`, `alerts.outage_tolerance`, `alerts.external_url` "
        "(docs/alerts.md)",
        default=_EMPTY,
    ),
    Setting(
        "alerts_default_rules",
        LOADSENSE_ALERTS_DEFAULT_RULES,
        _parse_bool,
        "Evaluate the shipped rule pack (docs/rules/loadsense.rules.yaml) when "
        "`alerts.rule_files` names none, so a new service shows rules and alerts; false: "
        "no rules unless configured",
        default=True,
    ),
)

_BY_KEY = {s.key: s for s in SETTINGS}


def default_of(key: str) -> Any:
    """The declared default of setting ``key`` (for code that needs one outside
    :class:`Settings`, so no default is ever written twice)."""
    return _BY_KEY[key].default


def _declared(key: str) -> Any:
    default = _BY_KEY[key].default
    if default.__class__.__hash__ is None or isinstance(default, MappingProxyType):
        return field(default_factory=lambda: default)
    return field(default=default)


@dataclass(frozen=True)
class Settings:
    """The typed, immutable configuration of one Loadsense process.

    One field per entry of :data:`SETTINGS`, in the same order, typed as its parser
    returns; the defaults come from the declarations (checked at import).
    """

    data_dir: str = _declared("data_dir")
    clickhouse_dsn: str = _declared("clickhouse_dsn")
    clickhouse_database: str = _declared("clickhouse_database")
    clickhouse_cluster: str = _declared("clickhouse_cluster")
    roles: tuple[str, ...] = _declared("roles")
    telemetry_source: str = _declared("telemetry_source")
    otel_database: str = _declared("otel_database")
    otel_traces_table: str = _declared("otel_traces_table")
    otel_metrics_table: str = _declared("otel_metrics_table")
    host: str = _declared("host")
    port: int = _declared("port")
    ingest_tokens: tuple[str, ...] = _declared("ingest_tokens")
    read_tokens: tuple[str, ...] = _declared("read_tokens")
    insecure: bool = _declared("insecure")
    public_docs: bool = _declared("public_docs")
    retention_days: int = _declared("retention_days")
    batch_max_rows: int = _declared("batch_max_rows")
    batch_max_delay_ms: float = _declared("batch_max_delay_ms")
    queue_max_rows: int = _declared("queue_max_rows")
    queue_max_bytes: int = _declared("queue_max_bytes")
    retry_after_s: float = _declared("retry_after_s")
    insert_connections: int = _declared("insert_connections")
    lineage_ack: str = _declared("lineage_ack")
    derived_delay_ms: float = _declared("derived_delay_ms")
    max_body_bytes: int = _declared("max_body_bytes")
    http_max_connections: int = _declared("http_max_connections")
    http_keepalive_timeout_s: float = _declared("http_keepalive_timeout_s")
    http_header_timeout_s: float = _declared("http_header_timeout_s")
    http_body_timeout_s: float = _declared("http_body_timeout_s")
    http_max_url_bytes: int = _declared("http_max_url_bytes")
    http_max_header_bytes: int = _declared("http_max_header_bytes")
    max_future_skew_s: float = _declared("max_future_skew_s")
    clock: str = _declared("clock")
    tick_interval_s: float = _declared("tick_interval_s")
    tick_on_lineage: bool = _declared("tick_on_lineage")
    tick_min_gap_s: float = _declared("tick_min_gap_s")
    log_level: str = _declared("log_level")
    shutdown_timeout_s: float = _declared("shutdown_timeout_s")
    replica_upstream: str = _declared("replica_upstream")
    replica_port: int = _declared("replica_port")
    replica_wait_s: float = _declared("replica_wait_s")
    replica_max_staleness_s: float = _declared("replica_max_staleness_s")
    agent_token: str = _declared("agent_token")
    agent_interval_s: float = _declared("agent_interval_s")
    agent_max_backlog: int = _declared("agent_max_backlog")
    dashboard_url: str = _declared("dashboard_url")
    dashboard_api: str = _declared("dashboard_api")
    dashboard_token: str = _declared("dashboard_token")
    dashboard_refresh_s: float = _declared("dashboard_refresh_s")
    signals: Mapping[str, Any] = _declared("signals")
    dispatch: Mapping[str, Any] = _declared("dispatch")
    alerts: Mapping[str, Any] = _declared("alerts")
    alerts_default_rules: bool = _declared("alerts_default_rules")

    @property
    def dsn(self) -> str:
        """The storage DSN, defaulting to embedded chDB under the data directory."""
        if self.clickhouse_dsn:
            return self.clickhouse_dsn
        return f"chdb://{Path(self.data_dir).resolve() / 'db'}"

    @property
    def auth_enabled(self) -> bool:
        return bool(self.ingest_tokens or self.read_tokens)

    def with_overrides(self, **values: Any) -> Settings:
        """A copy with ``values`` parsed and applied (used by tests and flags)."""
        return replace(self, **_parse_all(values, "override"))


def _parse_all(values: Mapping[str, Any], origin: str) -> dict[str, Any]:
    parsed: dict[str, Any] = {}
    for key, raw in values.items():
        setting = _BY_KEY.get(key)
        if setting is None:
            known = ", ".join(sorted(_BY_KEY))
            raise ConfigError(f"{origin}: unknown setting {key!r} (known: {known})", field=key)
        try:
            parsed[key] = setting.parse(raw)
        except (TypeError, ValueError) as exc:
            raise ConfigError(f"{origin}: invalid {key!r}: {exc}", field=key) from exc
    return parsed


def read_config_file(path: str | Path) -> dict[str, Any]:
    """Parse the YAML config file into raw values; unknown keys are an error."""
    file = Path(path)
    try:
        loaded = yaml.safe_load(file.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ConfigError(f"{file}: cannot read config file: {exc.strerror}") from exc
    except yaml.YAMLError as exc:
        raise ConfigError(f"{file}: invalid YAML: {exc}") from exc
    if loaded is None:
        return {}
    if not isinstance(loaded, dict):
        raise ConfigError(f"{file}: top level must be a mapping of settings")
    return _parse_all(loaded, str(file))


def load_settings(
    flags: Mapping[str, Any] | None = None,
    env: Mapping[str, str] | None = None,
    config_file: str | Path | None = None,
) -> Settings:
    """Build :class:`Settings` from flags > environment > config file > defaults."""
    env = os.environ if env is None else env
    flags = {k: v for k, v in (flags or {}).items() if v is not None}
    path = config_file or env.get(LOADSENSE_CONFIG)
    values: dict[str, Any] = read_config_file(path) if path else {}
    from_env = {s.key: env[s.env] for s in SETTINGS if s.env and s.env in env}
    values.update(_parse_all(from_env, "environment"))
    values.update(_parse_all(flags, "flag"))
    return Settings(**values)


def settings_markdown() -> str:
    """The settings table for ``docs/configuration.md``, from :data:`SETTINGS`."""
    lines = [
        "| key (config file) | environment variable | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        shown = "" if isinstance(s.default, Mapping) else f"`{s.default!r}`"
        env = f"`{s.env}`" if s.env else "-"
        lines.append(f"| `{s.key}` | {env} | {shown} | {s.help} |")
    return "\n".join(lines) + "\n"


def _check_declared() -> None:
    """Fail at import when :class:`Settings` and :data:`SETTINGS` drift apart."""
    names = tuple(f.name for f in fields(Settings))
    keys = tuple(s.key for s in SETTINGS)
    if names != keys:
        raise TypeError(f"Settings fields {names} differ from SETTINGS keys {keys}")


_check_declared()
