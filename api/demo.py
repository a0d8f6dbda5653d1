"""``loadsense demo``: play a compressed scenario against a running service, live.

The demo is a producer and a scheduler, not part of the service: it runs the scenario
benchmark's simulator (``python -m loadsense.bench.scenarios.demo``, docs/benchmark.md)
in its own process and talks to the service over HTTP only, as real producers do.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from typing import Any

MODULE = "loadsense.bench.scenarios.demo"


def cmd_demo(args: argparse.Namespace) -> int:
    argv = ["--api", args.api, "--scenario", args.scenario, "--speed", str(args.speed)]
    if args.token:
        argv += ["--token", args.token]
    if args.loops is not None:
        argv += ["--loops", str(args.loops)]
    # A list, no shell: the arguments reach the module as they were given.
    return subprocess.call([sys.executable, "-m", MODULE, *argv])  # noqa: S603


def register(sub: Any) -> None:
    """Add the ``demo`` subcommand to the CLI's subparsers."""
    demo = sub.add_parser("demo", help="play a compressed scenario against a running service")
    demo.add_argument("--api", required=True, help="the service's base URL")
    demo.add_argument("--token", help="ingest token, when the service has tokens")
    demo.add_argument("--scenario", default="io-pressure", help="shipped scenario or YAML file")
    demo.add_argument("--speed", type=float, default=20.0, help="time compression (default 20)")
    demo.add_argument("--loops", type=int, help="stop after this many loops (default: forever)")
    demo.set_defaults(func=cmd_demo)
