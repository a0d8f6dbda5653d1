"""What every benchmark writes with its results: the command, the machine, the config,
and where the JSON file goes (``bench/results/``, not committed)."""

from __future__ import annotations

import argparse
import json
import os
import platform
import shlex
import sys
import time
from collections.abc import Sequence
from typing import Any

import psutil


def write_results(
    name: str,
    argv: Sequence[str] | None,
    args: argparse.Namespace,
    started: float,
    table: str,
    **results: Any,
) -> dict[str, Any]:
    """Save ``results`` with the run's metadata as ``<out>/<name>-<stamp>.json``, print
    the markdown ``table`` and the file's path; return the saved document."""
    command = f"python -m bench.{name} " + " ".join(
        shlex.quote(a) for a in (argv if argv is not None else sys.argv[1:])
    )
    document = {
        "command": command.strip(),
        "started": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(started)),
        "seconds": round(time.time() - started, 1),
        "machine": {
            "cpus": os.cpu_count(),
            "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
            "python": platform.python_version(),
            "platform": platform.platform(),
            "load_avg_1m_at_end": os.getloadavg()[0],
        },
        "config": {**vars(args), "out": str(args.out)},
        **results,
    }
    args.out.mkdir(parents=True, exist_ok=True)
    stamp = time.strftime("%Y%m%d-%H%M%S", time.gmtime(started))
    path = args.out / f"{name}-{stamp}.json"
    path.write_text(json.dumps(document, indent=2, default=str))
    print(table)
    print(f"results: {path} ({document['seconds']:.0f}s)")
    return document
