"""Debian's ``prometheus`` and ``prometheus-alertmanager`` as real peers in tests.

Each runs as a child process on an ephemeral loopback port, with a config file and
data directory the test writes under its temp dir, and is stopped (SIGTERM, then
SIGKILL) when the block ends. ``make test`` installs the packages when missing; a
test calls :func:`require` so a machine without them fails with the reason.
"""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import yaml

from loadsense.bench.harness import wait_ready
from tests.support.service import free_port

ALERTMANAGER = "prometheus-alertmanager"
PROMETHEUS = "prometheus"
PROMTOOL = "promtool"


def require(binary: str) -> str:
    path = shutil.which(binary)
    if path is None:
        raise AssertionError(
            f"{binary} not found: `make test` installs Debian's prometheus and "
            "prometheus-alertmanager packages"
        )
    return path


@dataclass
class Peer:
    url: str
    process: subprocess.Popen[bytes]
    log: Path

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(15)


def _start(cmd: list[str], url: str, log: Path, ready: str) -> Peer:
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    peer = Peer(url, proc, log)
    try:
        wait_ready(peer.url, peer.process, 30.0, path=ready, log=peer.log)
    except BaseException:
        peer.stop()
        raise
    return peer


def start_alertmanager(workdir: Path, webhook_url: str, port: int | None = None) -> Peer:
    """Alertmanager routing everything to ``webhook_url`` at once (no grouping delay)."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "route": {
            "receiver": "hook",
            "group_by": ["alertname"],
            "group_wait": "0s",
            "group_interval": "1s",
            "repeat_interval": "1h",
        },
        "receivers": [
            {"name": "hook", "webhook_configs": [{"url": webhook_url, "send_resolved": True}]}
        ],
    }
    (workdir / "alertmanager.yml").write_text(yaml.safe_dump(config))
    port = port or free_port()
    cmd = [
        require(ALERTMANAGER),
        f"--config.file={workdir / 'alertmanager.yml'}",
        f"--storage.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--cluster.listen-address=",
        "--log.level=warn",
    ]
    return _start(cmd, f"http://127.0.0.1:{port}", workdir / "alertmanager.log", "/-/ready")


@contextmanager
def alertmanager(workdir: Path, webhook_url: str, port: int | None = None) -> Iterator[Peer]:
    peer = start_alertmanager(workdir, webhook_url, port)
    try:
        yield peer
    finally:
        peer.stop()


@contextmanager
def prometheus(workdir: Path, target: str, rule_file: Path, interval: str = "1s") -> Iterator[Peer]:
    """Prometheus scraping ``target`` (host:port) with ``rule_file``. Target labels
    (``job``, ``instance``) and the scraped ``ALERTS*`` series are dropped so alert
    labels compare one to one with Loadsense's own."""
    workdir.mkdir(parents=True, exist_ok=True)
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(rule_file)],
        "scrape_configs": [
            {
                "job_name": "loadsense",
                "static_configs": [{"targets": [target]}],
                "metric_relabel_configs": [
                    {"source_labels": ["__name__"], "regex": "ALERTS.*", "action": "drop"},
                    {"regex": "job|instance", "action": "labeldrop"},
                ],
            }
        ],
    }
    (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
    port = free_port()
    cmd = [
        require(PROMETHEUS),
        f"--config.file={workdir / 'prometheus.yml'}",
        f"--storage.tsdb.path={workdir / 'data'}",
        f"--web.listen-address=127.0.0.1:{port}",
        "--log.level=warn",
    ]
    peer = _start(cmd, f"http://127.0.0.1:{port}", workdir / "prometheus.log", "/-/ready")
    try:
        yield peer
    finally:
        peer.stop()
