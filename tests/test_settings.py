"""Settings: precedence flags > env > file > defaults, and clear errors."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from types import MappingProxyType
from typing import get_origin, get_type_hints

import pytest

from loadsense.errors import ConfigError
from loadsense.settings import SETTINGS, Setting, Settings, load_settings, settings_markdown


def test_defaults_bind_loopback_on_the_otlp_port() -> None:
    s = load_settings(env={})
    assert (s.host, s.port) == ("127.0.0.1", 4318)
    assert s.retention_days == 30
    assert s.batch_max_rows == 10_000 and s.batch_max_delay_ms == 100.0
    assert s.dsn == f"chdb://{Path('.loadsense').resolve() / 'db'}"


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    cfg = tmp_path / "loadsense.yaml"
    cfg.write_text("port: 1111\nretention_days: 7\nhost: 127.0.0.2\n")
    env = {"LOADSENSE_PORT": "2222", "LOADSENSE_RETENTION_DAYS": "9"}
    s = load_settings(flags={"port": 3333}, env=env, config_file=cfg)
    assert s.port == 3333  # flag beats env and file
    assert s.retention_days == 9  # env beats file
    assert s.host == "127.0.0.2"  # file beats default


def test_config_file_from_env_variable(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("ingest_tokens: [a, b]\n")
    s = load_settings(env={"LOADSENSE_CONFIG": str(cfg)})
    assert s.ingest_tokens == ("a", "b")


def test_unknown_key_in_file_is_named(tmp_path: Path) -> None:
    cfg = tmp_path / "c.yaml"
    cfg.write_text("port: 1\nretension_days: 3\n")
    with pytest.raises(ConfigError, match="unknown setting 'retension_days'") as info:
        load_settings(env={}, config_file=cfg)
    assert info.value.field == "retension_days"
    assert str(cfg) in info.value.message


def test_invalid_values_name_the_setting(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="invalid 'port'"):
        load_settings(env={"LOADSENSE_PORT": "70000"})
    with pytest.raises(ConfigError, match=r"invalid 'retention_days'.*must be > 0"):
        load_settings(env={"LOADSENSE_RETENTION_DAYS": "0"})
    with pytest.raises(ConfigError, match="invalid 'insecure'"):
        load_settings(env={"LOADSENSE_INSECURE": "maybe"})
    bad = tmp_path / "bad.yaml"
    bad.write_text("- just\n- a list\n")
    with pytest.raises(ConfigError, match="top level must be a mapping"):
        load_settings(env={}, config_file=bad)


def test_tokens_parse_from_comma_list() -> None:
    s = load_settings(env={"LOADSENSE_INGEST_TOKENS": " a, b ,,c "})
    assert s.ingest_tokens == ("a", "b", "c")
    assert s.auth_enabled


def test_every_env_variable_is_documented_in_the_reference() -> None:
    table = settings_markdown()
    for setting in SETTINGS:
        assert f"`{setting.key}`" in table
        if setting.env:
            assert f"`{setting.env}`" in table
    doc = Path(__file__).parents[1] / "docs" / "configuration.md"
    assert table in doc.read_text(), "docs/configuration.md is stale: loadsense config"


def test_settings_are_immutable() -> None:
    s = Settings()
    with pytest.raises(AttributeError):
        s.port = 1  # type: ignore[misc]


def test_settings_fields_are_the_declarations_with_their_types() -> None:
    hints = get_type_hints(Settings)
    assert [f.name for f in fields(Settings)] == [s.key for s in SETTINGS]
    defaults = Settings()
    for setting in SETTINGS:
        value = getattr(defaults, setting.key)
        assert value == setting.default
        expected = get_origin(hints[setting.key]) or hints[setting.key]
        if expected is Mapping:
            expected = MappingProxyType
        assert isinstance(value, expected), (setting.key, value, expected)
        # the default survives its own parser (what a config file spelling it out gets)
        if not isinstance(value, Mapping):
            assert setting.parse(value) == value, setting.key


def test_a_setting_without_default_is_refused() -> None:
    with pytest.raises(TypeError, match="setting 'x' declares no default"):
        Setting("x", "LOADSENSE_X", str, "an undeclared default")


def test_agent_settings_come_from_the_environment() -> None:
    env = {"LOADSENSE_AGENT_INTERVAL_S": "2.5", "LOADSENSE_AGENT_TOKEN": "t"}
    s = load_settings(env=env)
    assert (s.agent_interval_s, s.agent_token, s.agent_max_backlog) == (2.5, "t", 360)


def test_roles_parse_from_a_comma_list_in_declared_order() -> None:
    assert load_settings(env={}).roles == ("ingest", "api", "correlator")
    s = load_settings(env={"LOADSENSE_ROLES": " api , ingest "})
    assert s.roles == ("ingest", "api")
    assert load_settings(flags={"roles": "correlator"}, env={}).roles == ("correlator",)


def test_unknown_or_empty_roles_are_refused_by_name() -> None:
    with pytest.raises(ConfigError, match=r"invalid 'roles': unknown role 'ingester'"):
        load_settings(env={"LOADSENSE_ROLES": "api,ingester"})
    with pytest.raises(ConfigError, match=r"invalid 'roles': expected one or more of"):
        load_settings(env={"LOADSENSE_ROLES": " , "})


def test_telemetry_source_and_exporter_names() -> None:
    s = load_settings(env={})
    assert (s.telemetry_source, s.otel_database) == ("native", "otel")
    assert (s.otel_traces_table, s.otel_metrics_table) == ("otel_traces", "otel_metrics")
    env = {"LOADSENSE_TELEMETRY_SOURCE": "otel-clickhouse", "LOADSENSE_OTEL_DATABASE": "tel"}
    assert load_settings(env=env).telemetry_source == "otel-clickhouse"
    with pytest.raises(ConfigError, match="invalid 'telemetry_source'"):
        load_settings(env={"LOADSENSE_TELEMETRY_SOURCE": "jaeger"})
    with pytest.raises(ConfigError, match="invalid 'otel_traces_table'"):
        load_settings(env={"LOADSENSE_OTEL_TRACES_TABLE": "t`; DROP TABLE x"})
