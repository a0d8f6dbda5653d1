"""The ``loadsense`` command line.

Subcommands: ``serve`` (the service), ``replica`` (a read replica of the recommendation
API, api/replica/), ``agent`` (the host sampler), ``schema`` (print DDL, single node or
cluster), ``config`` (print the settings reference), ``rules check`` (validate alert
rule files, correlator/alerts/rules.py), ``demo`` (a live scenario against a running
service, api/demo.py), ``dashboard`` (the Streamlit dashboard) and ``up`` (the service
and its dashboard together, api/up.py). Errors print
one line and exit non-zero; tracebacks are for bugs only.
"""

from __future__ import annotations

import argparse
import logging
import sys
from collections.abc import Callable, Sequence
from types import FrameType
from typing import Any

import uvicorn

from loadsense.api.demo import register as register_demo
from loadsense.api.server import server_config
from loadsense.errors import ConfigError, LoadsenseError
from loadsense.settings import CLOCKS, ROLES, Settings, load_settings, settings_markdown
from loadsense.settings import default_of as _default

logger = logging.getLogger("loadsense")

Command = Callable[[argparse.Namespace], int]


def _common_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", help="YAML config file (also LOADSENSE_CONFIG)")
    p.add_argument("--data-dir", dest="data_dir", help="embedded storage directory")
    p.add_argument("--dsn", dest="clickhouse_dsn", help="storage DSN (chdb:///path or http://..)")


def _settings(args: argparse.Namespace, keys: Sequence[str]) -> Settings:
    flags = {k: getattr(args, k, None) for k in ("data_dir", "clickhouse_dsn", *keys)}
    if getattr(args, "insecure", False):
        flags["insecure"] = True
    return load_settings(flags=flags, config_file=args.config)


def _configure_logging(level: str) -> None:
    logging.basicConfig(
        level=getattr(logging, level, logging.INFO),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


class _DrainingServer(uvicorn.Server):
    """On SIGTERM/SIGINT, commit queued rows at once (requests waiting for their ack get
    it) while uvicorn stops accepting and waits for in-flight requests."""

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        ctx = getattr(getattr(self.config.app, "state", None), "ctx", None)
        if ctx is not None:
            ctx.writer.drain()
        super().handle_exit(sig, frame)


def cmd_serve(args: argparse.Namespace) -> int:
    from loadsense.api.app import create_app
    from loadsense.api.auth import check_exposure
    from loadsense.correlator.alerts.config import parse_alerts_config
    from loadsense.correlator.alerts.rules import load_files
    from loadsense.runtime import tune_gc
    from loadsense.signals.config import parse_signals_config
    from loadsense.storage.client import open_storage

    settings = _settings(args, ("host", "port", "clock", "roles"))
    _configure_logging(settings.log_level)
    check_exposure(settings)
    parse_signals_config(settings.signals, args.config or "config")  # fail before serving
    # a broken rule file too
    load_files(parse_alerts_config(settings.alerts, settings.alerts_default_rules).rule_files)
    storage = open_storage(settings.dsn, settings.clickhouse_database)
    try:
        app = create_app(settings, storage)
        tune_gc()
        config = server_config(app, settings, settings.port)
        logger.info("listening on http://%s:%d", settings.host, settings.port)
        _DrainingServer(config).run()
    finally:
        storage.close()
    return 0


def cmd_replica(args: argparse.Namespace) -> int:
    # Only the replica's modules: no storage, no ingest, so it starts fast and stays light.
    from loadsense.api.replica.app import create_replica_app
    from loadsense.api.replica.auth import check_exposure

    settings = _settings(args, ("host", "replica_port", "replica_upstream"))
    _configure_logging(settings.log_level)
    check_exposure(settings)
    app = create_replica_app(settings)
    config = server_config(app, settings, settings.replica_port)
    logger.info(
        "replica of %s listening on http://%s:%d",
        settings.replica_upstream,
        settings.host,
        settings.replica_port,
    )
    uvicorn.Server(config).run()
    return 0


def cmd_agent(args: argparse.Namespace) -> int:
    from loadsense.agent.run import AgentConfig, run_agent

    settings = _settings(
        args, ("agent_interval_s", "agent_token", "agent_max_backlog", "log_level")
    )
    _configure_logging(settings.log_level)
    extra = {"host_name": args.host_name} if args.host_name else {}
    config = AgentConfig(
        endpoint=args.endpoint,
        interval_s=settings.agent_interval_s,
        token=settings.agent_token or None,
        max_backlog=settings.agent_max_backlog,
        **extra,
    )
    return run_agent(config)


def cmd_schema(args: argparse.Namespace) -> int:
    from loadsense.storage.migrations import exporter_of, render_all, target_for

    settings = _settings(args, ())
    cluster = args.cluster or settings.clickhouse_cluster
    database = args.database or settings.clickhouse_database
    target = target_for(database, settings.retention_days, cluster, exporter_of(settings))
    for statement in render_all(target):
        print(statement.rstrip() + ";\n")
    return 0


def cmd_rules_check(args: argparse.Namespace) -> int:
    """Validate each file as the service would load it; the first error exits 1 with
    file, group, rule and reason."""
    from loadsense.correlator.alerts.rules import load_files

    for file in args.files:
        groups = load_files([file]).groups
        rules = sum(len(g.rules) for g in groups)
        print(f"{file}: SUCCESS: {rules} rules found in {len(groups)} groups")
    return 0


def cmd_config(args: argparse.Namespace) -> int:
    print(settings_markdown(), end="")
    return 0


def cmd_dashboard(args: argparse.Namespace) -> int:
    from loadsense.api.up import run_dashboard

    settings = load_settings(flags={"dashboard_api": args.api, "dashboard_token": args.token})
    return run_dashboard(
        settings.dashboard_api,
        args.host,
        args.port,
        settings.dashboard_token,
        settings.dashboard_refresh_s,
    )


def _has_command(name: str) -> bool:
    """Whether this version's parser has subcommand ``name`` (``up --demo`` needs one)."""
    return any(
        isinstance(action, argparse._SubParsersAction) and name in action.choices
        for action in build_parser()._actions
    )


def cmd_up(args: argparse.Namespace) -> int:
    from loadsense.api.supervise import Child
    from loadsense.api.up import cli, run_up

    settings = _settings(args, ("port",))
    _configure_logging(settings.log_level)
    logging.getLogger("httpx").setLevel(logging.WARNING)  # not every readiness poll
    api = f"http://127.0.0.1:{settings.port}"
    extra: list[Child] = []
    if args.demo:
        if not _has_command("demo"):
            raise ConfigError("--demo: this version has no 'loadsense demo' subcommand yet")
        ingest = settings.ingest_tokens[:1]
        extra.append(
            Child("demo", cli("demo", "--api", api, *(("--token", *ingest) if ingest else ())))
        )
    serve_args = ["--port", str(settings.port)]
    for flag, value in (("--config", args.config), ("--data-dir", args.data_dir)):
        if value:
            serve_args += [flag, value]
    if args.clickhouse_dsn:
        serve_args += ["--dsn", args.clickhouse_dsn]
    tokens = settings.read_tokens or settings.ingest_tokens
    token = settings.dashboard_token or (tokens[0] if tokens else "")
    return run_up(serve_args, api, "127.0.0.1", args.dashboard_port, token, extra)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loadsense",
        description="Observability and telemetry correlation for ETL and ML serving.",
    )
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    serve = sub.add_parser("serve", help="run the service (ingestion, API, correlator)")
    _common_flags(serve)
    serve.add_argument("--host", help=f"bind address (default {_default('host')})")
    serve.add_argument("--port", type=int, help=f"bind port (default {_default('port')})")
    serve.add_argument("--clock", choices=CLOCKS, help="correlator clock")
    serve.add_argument(
        "--roles",
        help=f"comma list of {', '.join(ROLES)} (default all; docs/scale-out.md)",
    )
    serve.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback bind without tokens (not for production)",
    )
    serve.set_defaults(func=cmd_serve)

    replica = sub.add_parser(
        "replica", help="serve the recommendation read API from memory, fed by a primary"
    )
    replica.add_argument("--config", help="YAML config file (also LOADSENSE_CONFIG)")
    replica.add_argument(
        "--upstream",
        dest="replica_upstream",
        help=f"primary's base URL (default {_default('replica_upstream')})",
    )
    replica.add_argument("--host", help=f"bind address (default {_default('host')})")
    replica.add_argument(
        "--port",
        dest="replica_port",
        type=int,
        help=f"bind port (default {_default('replica_port')})",
    )
    replica.add_argument(
        "--insecure",
        action="store_true",
        help="allow a non-loopback bind without a read token (not for production)",
    )
    replica.set_defaults(func=cmd_replica)

    agent = sub.add_parser("agent", help="sample this host and export it over OTLP/HTTP")
    agent.add_argument("--endpoint", required=True, help="service URL, e.g. http://host:4318")
    agent.add_argument(
        "--interval",
        dest="agent_interval_s",
        type=float,
        help=f"seconds between samples (default {_default('agent_interval_s')})",
    )
    agent.add_argument(
        "--token", dest="agent_token", help="ingest bearer token (also LOADSENSE_AGENT_TOKEN)"
    )
    agent.add_argument("--host-name", dest="host_name", help="host.name (default: hostname)")
    agent.add_argument(
        "--max-backlog",
        dest="agent_max_backlog",
        type=int,
        help="samples kept while the service is unreachable (oldest dropped past this; "
        f"default {_default('agent_max_backlog')})",
    )
    agent.add_argument("--log-level", dest="log_level", help="log level")
    agent.add_argument("--config", help="YAML config file (also LOADSENSE_CONFIG)")
    agent.set_defaults(func=cmd_agent)

    schema = sub.add_parser("schema", help="print the DDL of every migration")
    _common_flags(schema)
    schema.add_argument("--cluster", help="render for this cluster (ON CLUSTER, Replicated*)")
    schema.add_argument(
        "--database", help=f"database name (default {_default('clickhouse_database')})"
    )
    schema.set_defaults(func=cmd_schema)

    rules = sub.add_parser("rules", help="alert rule files")
    rules_sub = rules.add_subparsers(dest="rules_command", required=True, metavar="ACTION")
    check = rules_sub.add_parser(
        "check", help="validate Prometheus rule files for the built-in evaluator"
    )
    check.add_argument("files", nargs="+", metavar="FILE")
    check.set_defaults(func=cmd_rules_check)

    config = sub.add_parser("config", help="print the settings reference (markdown)")
    config.set_defaults(func=cmd_config)

    register_demo(sub)

    dashboard = sub.add_parser("dashboard", help="run the Streamlit dashboard over the HTTP API")
    dashboard.add_argument("--api", help="service base URL (default http://127.0.0.1:4318)")
    dashboard.add_argument("--host", default="127.0.0.1", help="bind address (default 127.0.0.1)")
    dashboard.add_argument("--port", type=int, default=8501, help="bind port (default 8501)")
    dashboard.add_argument("--token", help="read token (also LOADSENSE_DASHBOARD_TOKEN)")
    dashboard.set_defaults(func=cmd_dashboard)

    up = sub.add_parser("up", help="run the service and its dashboard; Ctrl-C stops both")
    _common_flags(up)
    up.add_argument("--port", type=int, help="service port (default 4318)")
    up.add_argument(
        "--dashboard-port", dest="dashboard_port", type=int, default=8501, help="default 8501"
    )
    up.add_argument(
        "--demo",
        action=argparse.BooleanOptionalAction,
        default=False,
        help="also run the live demo (loadsense demo: a simulated world sent to the service)",
    )
    up.set_defaults(func=cmd_up)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    func: Any = args.func
    try:
        code: int = func(args)
    except LoadsenseError as exc:
        print(f"loadsense: error: {exc.message}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return code


if __name__ == "__main__":
    sys.exit(main())
