"""deploy/compose.yaml and the Collector config it mounts agree with the code.

Every ``LOADSENSE_*`` variable is a declared setting that parses, every command is a
real CLI command line, ports are the ones the settings (or flags) make the processes
listen on, healthchecks ask routes that exist, and every URL names a service of the file
on a port it listens on. No Docker engine runs here: Compose's own validation runs when
``docker-compose`` is installed (``make peers`` installs it), the rest is structural.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

import pytest
import yaml

from loadsense.settings import Settings
from tests.support.deploy_files import (
    DEPLOY,
    app_paths,
    check_collector_config,
    collector_listen_ports,
    image_command,
    image_env,
    parse_cli,
    pinned,
    settings_from_env,
    streamlit_health_path,
    url_parts,
)

COMPOSE = DEPLOY / "compose.yaml"
REQUIRED = {"INGEST_TOKEN", "READ_TOKEN", "CLICKHOUSE_PASSWORD", "HOST_NAME"}
_INTERPOLATION = re.compile(r"\$\{(\w+)(?::?[?-]([^}]*))?\}")


def interpolate(value: Any) -> Any:
    """Compose's ``${VAR:?message}`` filled with a placeholder value, recursively."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: f"x-{m.group(1).lower()}", value)
    if isinstance(value, dict):
        return {k: interpolate(v) for k, v in value.items()}
    if isinstance(value, list):
        return [interpolate(v) for v in value]
    return value


def raw() -> dict[str, Any]:
    loaded: dict[str, Any] = yaml.safe_load(COMPOSE.read_text(encoding="utf-8"))
    return loaded


def services() -> dict[str, dict[str, Any]]:
    resolved: dict[str, dict[str, Any]] = interpolate(raw())["services"]
    return resolved


def loadsense_services() -> dict[str, dict[str, Any]]:
    return {n: s for n, s in services().items() if s.get("image", "").startswith("loadsense:")}


def command_of(service: dict[str, Any]) -> list[str]:
    """What the container runs after ``loadsense`` (the image's CMD unless overridden)."""
    entrypoint = image_command()
    assert entrypoint[0] == "loadsense"
    return [str(a) for a in service.get("command", entrypoint[1:])]


def settings_of(name: str, service: dict[str, Any]) -> Settings:
    """The image's environment overlaid by the service's, as the container sees it."""
    env = {**image_env(), **service.get("environment", {})}
    return settings_from_env(env, f"compose service {name}")


def published(service: dict[str, Any]) -> dict[int, int]:
    """container port -> host port."""
    out = {}
    for mapping in service.get("ports", []):
        host, _, container = str(mapping).rpartition(":")
        out[int(container)] = int(host)
    return out


def listening_port(name: str, service: dict[str, Any]) -> int:
    """The port the service's process listens on, from its settings or its flags."""
    args = parse_cli(command_of(service))
    if args.command == "serve":
        return settings_of(name, service).port
    if args.command == "dashboard":
        return int(args.port)
    pytest.fail(f"{name}: {args.command} listens on no port")


def collector_config() -> dict[str, Any]:
    collector = services()["otel-collector"]
    mounts = [v for v in collector["volumes"] if v.endswith(":/etc/otelcol-contrib/config.yaml:ro")]
    assert len(mounts) == 1, collector["volumes"]
    path = (COMPOSE.parent / mounts[0].split(":")[0]).resolve()
    assert path == DEPLOY / "otel-collector" / "config.yaml"
    config: dict[str, Any] = yaml.safe_load(path.read_text(encoding="utf-8"))
    return config


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose not installed")
def test_compose_validates_the_file() -> None:
    """Compose's own schema and interpolation (needs no engine for ``config``)."""
    env = {name: "x" for name in REQUIRED} | {"PATH": "/usr/bin:/bin"}
    result = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"],
        env=env,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stderr
    missing = subprocess.run(
        ["docker-compose", "-f", str(COMPOSE), "config", "--quiet"],
        env={"PATH": "/usr/bin:/bin"},
        capture_output=True,
        text=True,
    )
    assert missing.returncode != 0 and "set " in missing.stderr  # secrets are required


def test_secrets_are_required_never_defaulted() -> None:
    text = COMPOSE.read_text(encoding="utf-8")
    used = {m.group(1) for m in _INTERPOLATION.finditer(text)}
    assert used == REQUIRED
    assert not re.search(r"\$\{\w+:?-", text), "a default would ship a known token or password"


def test_images_are_pinned_and_loadsense_is_built_from_the_dockerfile() -> None:
    for name, service in services().items():
        assert pinned(service["image"]), f"{name}: {service['image']}"
    for name, service in loadsense_services().items():
        build = service["build"]
        dockerfile = (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve()
        assert dockerfile == DEPLOY / "docker" / "Dockerfile", name


def test_every_loadsense_variable_is_a_setting_that_parses() -> None:
    for name, service in loadsense_services().items():
        settings_of(name, service)  # an undeclared name or a bad value fails here


def test_commands_are_real_and_the_roles_split_one_correlator_from_the_api() -> None:
    roles: dict[str, tuple[str, ...]] = {}
    commands: dict[str, str] = {}
    for name, service in loadsense_services().items():
        args = parse_cli(command_of(service))
        commands[name] = args.command
        if args.command == "serve":
            roles[name] = settings_of(name, service).roles
    assert sorted(commands.values()) == ["agent", "dashboard", "serve", "serve"], commands
    assert sorted(roles.values()) == [("correlator",), ("ingest", "api")], roles
    for name in roles:
        settings = settings_of(name, services()[name])
        assert settings.telemetry_source == "otel-clickhouse", name
        assert settings.ingest_tokens and settings.read_tokens, f"{name}: tokens"


def test_published_ports_are_the_ports_the_processes_listen_on() -> None:
    for name, service in loadsense_services().items():
        args = parse_cli(command_of(service))
        if args.command in ("serve", "dashboard"):  # reachable from other containers
            host = settings_of(name, service).host if args.command == "serve" else args.host
            assert host == "0.0.0.0", name
        if service.get("ports"):
            assert list(published(service)) == [listening_port(name, service)], name
    collector = services()["otel-collector"]
    assert set(published(collector)) == collector_listen_ports(collector_config())


def test_healthchecks_ask_routes_that_exist() -> None:
    for name, service in loadsense_services().items():
        args = parse_cli(command_of(service))
        check = service.get("healthcheck")
        if args.command == "serve":
            assert check is None, f"{name}: the image's /readyz healthcheck is the one"
            assert "/readyz" in app_paths(settings_of(name, service))
        elif args.command == "dashboard":
            url = next(a for a in check["test"] if "://" in a).split("'")[1]
            _, port, path = url_parts(url)
            assert (port, path) == (int(args.port), streamlit_health_path()), name
        else:
            assert check == {"disable": True}, f"{name}: serves no HTTP"


def test_urls_name_services_of_this_file_on_ports_they_listen_on() -> None:
    every = services()
    listens = {n: {listening_port(n, s)} for n, s in loadsense_services().items() if s.get("ports")}
    listens["otel-collector"] = collector_listen_ports(collector_config())
    listens["clickhouse"] = {8123, 9000}
    urls: list[tuple[str, str]] = []
    for name, service in loadsense_services().items():
        args = parse_cli(command_of(service))
        if args.command == "dashboard":
            urls.append((name, args.api))
        if args.command == "agent":
            urls.append((name, args.endpoint))
        if args.command == "serve":
            urls.append((name, settings_of(name, service).clickhouse_dsn))
    assert len(urls) == 4
    for name, url in urls:
        host, port, _ = url_parts(url)
        assert host in every and port in listens[host], f"{name}: {url}"
        assert host in every[name].get("depends_on", {}) or host == "clickhouse", name


def test_collector_writes_the_tables_the_loadsense_services_read() -> None:
    config = collector_config()
    for name, service in loadsense_services().items():
        if parse_cli(command_of(service)).command == "serve":
            check_collector_config(config, "clickhouse", settings_of(name, service), name)
    host = config["service"]["pipelines"]["metrics/host"]
    assert host["receivers"] == ["hostmetrics"]
    assert config["receivers"]["hostmetrics"]["root_path"] == "/hostfs"
    assert "/:/hostfs:ro" in services()["otel-collector"]["volumes"]


def test_containers_drop_privileges() -> None:
    for name, service in loadsense_services().items():
        assert service["read_only"] is True and service["cap_drop"] == ["ALL"], name
        assert "no-new-privileges:true" in service["security_opt"], name
    assert services()["agent"]["pid"] == "host"


def test_compose_file_paths_exist() -> None:
    for service in services().values():
        for volume in service.get("volumes", []):
            source = str(volume).split(":")[0]
            if source.startswith("."):
                assert Path(COMPOSE.parent / source).exists(), volume
