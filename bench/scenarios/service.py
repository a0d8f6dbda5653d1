"""A fresh ``loadsense serve --clock external`` for one benchmark run.

Each run gets its own process and data directory (embedded chDB allows one process per
directory, and runs must not see each other's history), an ingest token, and a config
file holding what an operator would declare for the scenario: each dataset's expected
interval and half-life, each service's SLO.
"""

from __future__ import annotations

import os
import secrets
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from loadsense.bench.harness import free_port, loadsense_command, stop_process, wait_ready
from loadsense.bench.scenarios.spec import Scenario

READY_TIMEOUT_S = 120.0
SERVICE_ENV = {"LOADSENSE_LOG_LEVEL": "WARNING", "LOADSENSE_BATCH_MAX_DELAY_MS": "2"}
"""One producer at a time sends, then waits: a batching window would only add latency."""


@dataclass(frozen=True)
class LiveService:
    url: str
    token: str


def service_config(scenario: Scenario) -> dict[str, Any]:
    return {
        "signals": {
            "datasets": {
                d.name: {"expected_interval_s": d.interval_s, "half_life_s": d.half_life_s}
                for d in scenario.datasets
            },
            "services": {s.name: {"slo_ms": s.slo_ms} for s in scenario.services},
        }
    }


@contextmanager
def live_service(scenario: Scenario, policy_file: str | None = None) -> Iterator[LiveService]:
    """Start the service on a free loopback port; stop it (and its data) afterwards."""
    token = secrets.token_urlsafe(16)
    with tempfile.TemporaryDirectory(prefix="loadsense-scenario-") as tmp:
        config = service_config(scenario)
        if policy_file:
            config["dispatch"] = {"policy_file": policy_file}
        cfg = Path(tmp) / "config.yaml"
        cfg.write_text(yaml.safe_dump(config), encoding="utf-8")
        port = free_port()
        log = (Path(tmp) / "serve.log").open("w", encoding="utf-8")
        cmd = loadsense_command("serve", "--config", str(cfg))
        cmd += ["--data-dir", str(Path(tmp) / "data"), "--port", str(port), "--clock", "external"]
        env = {**os.environ, **SERVICE_ENV, "LOADSENSE_INGEST_TOKENS": token}
        proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc, READY_TIMEOUT_S, log=Path(tmp) / "serve.log")
            yield LiveService(url, token)
        finally:
            stop_process(proc)
            log.close()
