"""Dashboard render time: ``python -m loadsense.bench.dashboard [--scale 0.1]``.

Loads the ``bench.correlate`` world (10k datasets, 500 services, 10M spans, 1k queues,
200 hosts at ``--scale 1``) into a fresh embedded chDB (in a child process, which exits:
chDB allows one process per data directory), starts ``loadsense serve`` on it (wall
clock, as a user runs it: its own process, ticking every 5 s), waits for the first tick,
then renders the Overview, Datasets and Models pages with Streamlit's AppTest (the real
page code, its API calls over HTTP and its caches) in this process, as ``loadsense
dashboard`` would. Per page it reports the first render, then the median of
``--renders`` renders with the answers cached (a widget change) and with the cache
cleared (an auto-refresh past the 5 s TTL); the target is under 2 s after the first
load. Results go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx
import streamlit as st
from streamlit.testing.v1 import AppTest

import loadsense.dashboard
from loadsense.bench.harness import free_port, loadsense_command, stop_process, wait_ready

APP = str(Path(loadsense.dashboard.__file__).parent / "app.py")
PAGES = ("overview", "datasets", "models")


def render_times(url: str, page: str, renders: int) -> dict[str, float]:
    os.environ["LOADSENSE_DASHBOARD_API"] = url
    at = AppTest.from_file(APP, default_timeout=600)
    started = time.perf_counter()
    at.run()
    if page != "overview":
        at.switch_page(f"pages/{page}.py").run()
    first = time.perf_counter() - started
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    cached, fresh = [], []
    for _ in range(renders):
        started = time.perf_counter()
        at.run()  # within the answers' TTL: what a widget change costs
        cached.append(time.perf_counter() - started)
        st.cache_resource.clear()  # past the TTL: what each auto-refresh costs
        started = time.perf_counter()
        at.run()
        fresh.append(time.perf_counter() - started)
    if at.exception:
        raise RuntimeError(f"{page}: {[e.value for e in at.exception]}")
    return {
        "first_s": round(first, 3),
        "cached_median_s": round(statistics.median(cached), 3),
        "refresh_median_s": round(statistics.median(fresh), 3),
        "refresh_max_s": round(max(fresh), 3),
    }


def load_world(data_dir: str, factor: float) -> None:
    """The child process's work: the world into ``data_dir``, merges settled."""
    from loadsense.api.app import prepare_storage
    from loadsense.bench.correlate import Scale, load, settle
    from loadsense.settings import Settings
    from loadsense.storage.client import open_storage

    storage = open_storage(f"chdb://{data_dir}/db", "loadsense")
    try:
        prepare_storage(storage, Settings())
        load(storage, Scale.of(factor), time.time_ns(), 1)
        settle(storage)
    finally:
        storage.close()


def wait_first_tick(url: str, timeout_s: float = 600.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not httpx.get(f"{url}/api/v1/regime", timeout=60).json().get("as_of"):
        if time.monotonic() > deadline:
            raise TimeoutError(f"no tick within {timeout_s:.0f} s")
        time.sleep(1)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadsense.bench.dashboard")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count")
    parser.add_argument("--renders", type=int, default=5, help="timed renders after the first")
    parser.add_argument("--tmp", default=None, help="parent of the temporary data dir")
    parser.add_argument("--load-into", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.load_into:
        load_world(args.load_into, args.scale)
        return 0
    data_dir = tempfile.mkdtemp(prefix="bench-dashboard-", dir=args.tmp)
    try:
        me = [sys.executable, "-m", "loadsense.bench.dashboard", "--scale", str(args.scale)]
        started = time.perf_counter()
        subprocess.run([*me, "--load-into", data_dir], check=True)
        loaded_s = time.perf_counter() - started
        port = free_port()
        env = {**os.environ, "LOADSENSE_LOG_LEVEL": "WARNING"}
        log = Path(data_dir) / "serve.log"
        with log.open("wb") as out:
            command = loadsense_command("serve", "--data-dir", data_dir, "--port", str(port))
            proc = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
        url = f"http://127.0.0.1:{port}"
        try:
            wait_ready(url, proc, timeout=300, log=log)
            wait_first_tick(url)
            result = {p: render_times(url, p, args.renders) for p in PAGES}
        finally:
            stop_process(proc)
        report = {"scale": args.scale, "load_s": round(loaded_s, 1), "pages": result}
        print(json.dumps(report, indent=2))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
