"""Every Loadsense setting, its environment variable, default and meaning, in one place.

Precedence, highest first: command-line flags > ``LOADSENSE_*`` environment variables >
the YAML config file (``--config`` or ``LOADSENSE_CONFIG``) > the defaults below.
Unknown keys in the config file are an error naming the key. ``docs/configuration.md``
is generated from :data:`SETTINGS` (``loadsense config --markdown``).
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
"""Path of the optional YAML configuration file."""

LOADSENSE_DATA_DIR = "LOADSENSE_DATA_DIR"
"""Directory for embedded storage and local state. Default ``.loadsense``."""

LOADSENSE_CLICKHOUSE_DSN = "LOADSENSE_CLICKHOUSE_DSN"
"""Storage DSN: ``chdb:///path`` (embedded, default ``chdb://<data dir>/db``) or
``http(s)://user:pass@host:8123/db`` for a ClickHouse server or cluster."""

LOADSENSE_CLICKHOUSE_DATABASE = "LOADSENSE_CLICKHOUSE_DATABASE"
"""Database holding Loadsense tables when the DSN names none. Default ``loadsense``."""

LOADSENSE_CLICKHOUSE_CLUSTER = "LOADSENSE_CLICKHOUSE_CLUSTER"
"""Cluster name: when set, migrations render ``ON CLUSTER`` with replicated local tables
behind ``Distributed`` tables (see ``loadsense schema --cluster``). Default: none."""

LOADSENSE_HOST = "LOADSENSE_HOST"
"""Address the HTTP server binds. Default ``127.0.0.1`` (loopback only)."""

LOADSENSE_PORT = "LOADSENSE_PORT"
"""Port for ingestion and API alike. Default ``4318`` (the OTLP/HTTP default)."""

LOADSENSE_INGEST_TOKENS = "LOADSENSE_INGEST_TOKENS"
"""Comma-separated bearer tokens allowed to write (ingest). Empty: no auth on loopback."""

LOADSENSE_READ_TOKENS = "LOADSENSE_READ_TOKENS"
"""Comma-separated bearer tokens allowed to read. When set, only these may read (an
ingest token may not); when empty, ingest tokens may read too (single-token setups)."""

LOADSENSE_PUBLIC_DOCS = "LOADSENSE_PUBLIC_DOCS"
"""``true`` serves ``/openapi.json``, ``/docs`` and ``/redoc`` without a token even when
tokens are configured. Default ``false``: they need a read token like the API they
describe."""

LOADSENSE_INSECURE = "LOADSENSE_INSECURE"
"""``true`` allows binding a non-loopback address without tokens. Default ``false``."""

LOADSENSE_RETENTION_DAYS = "LOADSENSE_RETENTION_DAYS"
"""Days telemetry is kept (table TTL). Default 30."""

LOADSENSE_BATCH_MAX_ROWS = "LOADSENSE_BATCH_MAX_ROWS"
"""A table's pending rows are inserted once they reach this many. Default 10000."""

LOADSENSE_BATCH_MAX_DELAY_MS = "LOADSENSE_BATCH_MAX_DELAY_MS"
"""...or once the oldest pending row has waited this long. Default 100 ms."""

LOADSENSE_QUEUE_MAX_ROWS = "LOADSENSE_QUEUE_MAX_ROWS"
"""Rows queued (not yet committed) across all tables before ingest answers 503. Default 2M."""

LOADSENSE_QUEUE_MAX_BYTES = "LOADSENSE_QUEUE_MAX_BYTES"
"""Approximate bytes queued across all tables before ingest answers 503. Default 512 MiB."""

LOADSENSE_RETRY_AFTER_S = "LOADSENSE_RETRY_AFTER_S"
"""Seconds advertised in ``Retry-After`` on 503. Default 1."""

LOADSENSE_MAX_BODY_BYTES = "LOADSENSE_MAX_BODY_BYTES"
"""Largest request body accepted, measured after decompression. Default 20 MiB."""

LOADSENSE_HTTP_MAX_CONNECTIONS = "LOADSENSE_HTTP_MAX_CONNECTIONS"
"""Open HTTP connections the server holds; one more is answered 503 with
``Retry-After`` and closed at once. Default 500."""

LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S = "LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S"
"""Seconds an idle keep-alive connection stays open after a response. Default 5."""

LOADSENSE_HTTP_HEADER_TIMEOUT_S = "LOADSENSE_HTTP_HEADER_TIMEOUT_S"
"""Seconds a client has to send a request's line and headers, from the connection's
opening or its first byte after a response; then 408 and close. Default 10."""

LOADSENSE_HTTP_BODY_TIMEOUT_S = "LOADSENSE_HTTP_BODY_TIMEOUT_S"
"""Seconds a client has to send a request's body after its headers; then 408 and
close. Default 60."""

LOADSENSE_HTTP_MAX_URL_BYTES = "LOADSENSE_HTTP_MAX_URL_BYTES"
"""Longest request target (path and query) accepted; longer is 414. Default 8192."""

LOADSENSE_HTTP_MAX_HEADER_BYTES = "LOADSENSE_HTTP_MAX_HEADER_BYTES"
"""Largest total of header names and values accepted; larger is 431. Default 65536."""

LOADSENSE_MAX_FUTURE_SKEW_S = "LOADSENSE_MAX_FUTURE_SKEW_S"
"""How far ahead of the receiver's clock an event or span time may be (producer clock skew)
before it is refused. Default 300 s."""

LOADSENSE_CLOCK = "LOADSENSE_CLOCK"
"""``wall`` (default) or ``external`` (time advances only by ``POST /api/v1/tick``)."""

LOADSENSE_TICK_INTERVAL_S = "LOADSENSE_TICK_INTERVAL_S"
"""Seconds between correlator ticks on the wall clock. Default 5."""

LOADSENSE_TICK_ON_LINEAGE = "LOADSENSE_TICK_ON_LINEAGE"
"""On the wall clock, tick early when OpenLineage events are committed (a dataset update
changes freshness at once, not at the next scheduled tick). Default true."""

LOADSENSE_TICK_MIN_GAP_S = "LOADSENSE_TICK_MIN_GAP_S"
"""Seconds the correlator rests between the end of a tick and an early (event-triggered)
one: bounds its share of the CPU (and the ingest it slows) under a steady stream of
lineage events. Default 2."""

LOADSENSE_LOG_LEVEL = "LOADSENSE_LOG_LEVEL"
"""Python log level name. Default ``INFO``."""

LOADSENSE_SHUTDOWN_TIMEOUT_S = "LOADSENSE_SHUTDOWN_TIMEOUT_S"
"""Seconds allowed on SIGTERM to finish requests and flush queued rows. Default 30."""

LOADSENSE_REPLICA_UPSTREAM = "LOADSENSE_REPLICA_UPSTREAM"
"""``loadsense replica``: base URL of the primary it copies recommendations from.
Default ``http://127.0.0.1:4318``."""

LOADSENSE_REPLICA_PORT = "LOADSENSE_REPLICA_PORT"
"""``loadsense replica``: port it serves the recommendation API on. Default ``4319``."""

LOADSENSE_REPLICA_WAIT_S = "LOADSENSE_REPLICA_WAIT_S"
"""``loadsense replica``: seconds each long poll upstream waits for a change. Decisions
arrive as soon as the primary publishes them; ``as_of``, ``expires_at`` and the regime's
pressures are refreshed at least this often. Default 5."""

LOADSENSE_REPLICA_MAX_STALENESS_S = "LOADSENSE_REPLICA_MAX_STALENESS_S"
"""``loadsense replica``: seconds without a successful exchange with the primary after
which ``/readyz`` answers 503 (the last view is still served). Default 30."""

LOADSENSE_DASHBOARD_URL = "LOADSENSE_DASHBOARD_URL"
"""Where the dashboard is reachable: ``/`` links to it and ``loadsense up`` prints it.
Default ``http://127.0.0.1:8501``."""

LOADSENSE_DASHBOARD_API = "LOADSENSE_DASHBOARD_API"
"""``loadsense dashboard``: base URL of the service whose API it reads.
Default ``http://127.0.0.1:4318``."""

LOADSENSE_DASHBOARD_TOKEN = "LOADSENSE_DASHBOARD_TOKEN"  # noqa: S105 (a variable name)
"""``loadsense dashboard``: read token it sends (needed when tokens are configured)."""

LOADSENSE_DASHBOARD_REFRESH_S = "LOADSENSE_DASHBOARD_REFRESH_S"
"""``loadsense dashboard``: seconds between automatic refreshes of a page. Default 10."""


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


def _clock(value: Any) -> str:
    text = str(value)
    if text not in {"wall", "external"}:
        raise ValueError(f"expected 'wall' or 'external', got {value!r}")
    return text


def _mapping(value: Any) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        raise ValueError("expected a mapping")
    return MappingProxyType(dict(value))


@dataclass(frozen=True)
class Setting:
    """One setting: its key in the config file, its environment variable and parser."""

    key: str
    env: str | None
    parse: Callable[[Any], Any]
    help: str


SETTINGS: tuple[Setting, ...] = (
    Setting("data_dir", LOADSENSE_DATA_DIR, str, "Embedded storage and state directory"),
    Setting("clickhouse_dsn", LOADSENSE_CLICKHOUSE_DSN, str, "Storage DSN"),
    Setting("clickhouse_database", LOADSENSE_CLICKHOUSE_DATABASE, str, "Database name"),
    Setting("clickhouse_cluster", LOADSENSE_CLICKHOUSE_CLUSTER, str, "Cluster for DDL"),
    Setting("host", LOADSENSE_HOST, str, "Bind address"),
    Setting("port", LOADSENSE_PORT, _port, "Bind port"),
    Setting("ingest_tokens", LOADSENSE_INGEST_TOKENS, _parse_tokens, "Write tokens"),
    Setting("read_tokens", LOADSENSE_READ_TOKENS, _parse_tokens, "Read tokens"),
    Setting("insecure", LOADSENSE_INSECURE, _parse_bool, "Allow exposure without tokens"),
    Setting("public_docs", LOADSENSE_PUBLIC_DOCS, _parse_bool, "API docs without a token"),
    Setting("retention_days", LOADSENSE_RETENTION_DAYS, _positive(int), "Telemetry TTL in days"),
    Setting("batch_max_rows", LOADSENSE_BATCH_MAX_ROWS, _positive(int), "Rows per insert"),
    Setting("batch_max_delay_ms", LOADSENSE_BATCH_MAX_DELAY_MS, _positive(float), "Max batch wait"),
    Setting("queue_max_rows", LOADSENSE_QUEUE_MAX_ROWS, _positive(int), "Queued rows bound"),
    Setting("queue_max_bytes", LOADSENSE_QUEUE_MAX_BYTES, _positive(int), "Queued bytes bound"),
    Setting("retry_after_s", LOADSENSE_RETRY_AFTER_S, _positive(float), "Retry-After on 503"),
    Setting("max_body_bytes", LOADSENSE_MAX_BODY_BYTES, _positive(int), "Body size limit"),
    Setting(
        "http_max_connections",
        LOADSENSE_HTTP_MAX_CONNECTIONS,
        _positive(int),
        "Open connections bound",
    ),
    Setting(
        "http_keepalive_timeout_s",
        LOADSENSE_HTTP_KEEPALIVE_TIMEOUT_S,
        _positive(float),
        "Idle keep-alive timeout",
    ),
    Setting(
        "http_header_timeout_s",
        LOADSENSE_HTTP_HEADER_TIMEOUT_S,
        _positive(float),
        "Request head read timeout",
    ),
    Setting(
        "http_body_timeout_s",
        LOADSENSE_HTTP_BODY_TIMEOUT_S,
        _positive(float),
        "Request body read timeout",
    ),
    Setting("http_max_url_bytes", LOADSENSE_HTTP_MAX_URL_BYTES, _positive(int), "URL length limit"),
    Setting(
        "http_max_header_bytes",
        LOADSENSE_HTTP_MAX_HEADER_BYTES,
        _positive(int),
        "Header size limit",
    ),
    Setting("max_future_skew_s", LOADSENSE_MAX_FUTURE_SKEW_S, _positive(float), "Future skew"),
    Setting("clock", LOADSENSE_CLOCK, _clock, "Correlator clock"),
    Setting("tick_interval_s", LOADSENSE_TICK_INTERVAL_S, _positive(float), "Tick period"),
    Setting("tick_on_lineage", LOADSENSE_TICK_ON_LINEAGE, _parse_bool, "Early tick on lineage"),
    Setting("tick_min_gap_s", LOADSENSE_TICK_MIN_GAP_S, _positive(float), "Rest before early"),
    Setting("log_level", LOADSENSE_LOG_LEVEL, str.upper, "Log level"),
    Setting("shutdown_timeout_s", LOADSENSE_SHUTDOWN_TIMEOUT_S, _positive(float), "Drain time"),
    Setting("replica_upstream", LOADSENSE_REPLICA_UPSTREAM, _http_url, "Replica: primary URL"),
    Setting("replica_port", LOADSENSE_REPLICA_PORT, _port, "Replica: bind port"),
    Setting("replica_wait_s", LOADSENSE_REPLICA_WAIT_S, _positive(float), "Replica: poll wait"),
    Setting(
        "replica_max_staleness_s",
        LOADSENSE_REPLICA_MAX_STALENESS_S,
        _positive(float),
        "Replica: not ready past this age",
    ),
    Setting("dashboard_url", LOADSENSE_DASHBOARD_URL, _http_url, "Dashboard address"),
    Setting("dashboard_api", LOADSENSE_DASHBOARD_API, _http_url, "Dashboard: API it reads"),
    Setting("dashboard_token", LOADSENSE_DASHBOARD_TOKEN, str, "Dashboard: read token"),
    Setting(
        "dashboard_refresh_s",
        LOADSENSE_DASHBOARD_REFRESH_S,
        _positive(float),
        "Dashboard: auto-refresh period",
    ),
    Setting("signals", None, _mapping, "Per-signal defaults and overrides (docs/signals.md)"),
    Setting("dispatch", None, _mapping, "Dispatch policy options (docs/dispatch.md)"),
)

_BY_KEY = {s.key: s for s in SETTINGS}


@dataclass(frozen=True)
class Settings:
    """The typed, immutable configuration of one Loadsense process."""

    data_dir: str = ".loadsense"
    clickhouse_dsn: str = ""
    clickhouse_database: str = "loadsense"
    clickhouse_cluster: str = ""
    host: str = "127.0.0.1"
    port: int = 4318
    ingest_tokens: tuple[str, ...] = ()
    read_tokens: tuple[str, ...] = ()
    insecure: bool = False
    public_docs: bool = False
    retention_days: int = 30
    batch_max_rows: int = 10_000
    batch_max_delay_ms: float = 100.0
    queue_max_rows: int = 2_000_000
    queue_max_bytes: int = 512 * 1024 * 1024
    retry_after_s: float = 1.0
    max_body_bytes: int = 20 * 1024 * 1024
    http_max_connections: int = 500
    http_keepalive_timeout_s: float = 5.0
    http_header_timeout_s: float = 10.0
    http_body_timeout_s: float = 60.0
    http_max_url_bytes: int = 8192
    http_max_header_bytes: int = 65536
    max_future_skew_s: float = 300.0
    clock: str = "wall"
    tick_interval_s: float = 5.0
    tick_on_lineage: bool = True
    tick_min_gap_s: float = 2.0
    log_level: str = "INFO"
    shutdown_timeout_s: float = 30.0
    replica_upstream: str = "http://127.0.0.1:4318"
    replica_port: int = 4319
    replica_wait_s: float = 5.0
    replica_max_staleness_s: float = 30.0
    dashboard_url: str = "http://127.0.0.1:8501"
    dashboard_api: str = "http://127.0.0.1:4318"
    dashboard_token: str = field(default="", repr=False)
    dashboard_refresh_s: float = 10.0
    signals: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))
    dispatch: Mapping[str, Any] = field(default_factory=lambda: MappingProxyType({}))

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
    """The settings table for ``docs/configuration.md``."""
    defaults = {f.name: f.default for f in fields(Settings)}
    lines = [
        "| key (config file) | environment variable | default | meaning |",
        "| --- | --- | --- | --- |",
    ]
    for s in SETTINGS:
        default = defaults.get(s.key)
        shown = "" if s.key in {"signals", "dispatch"} else repr(default)
        lines.append(f"| `{s.key}` | {f'`{s.env}`' if s.env else '-'} | {shown} | {s.help} |")
    return "\n".join(lines) + "\n"
