"""Dashboard render time: ``python -m loadsense.bench.dashboard [--scale 0.1]``.

Loads the ``bench.correlate`` world (10k datasets, 500 services, 10M spans, 1k queues,
200 hosts at ``--scale 1``) into a fresh embedded chDB, serves it on the wall clock,
waits for the first tick, then renders the Overview, Datasets and Models pages with
Streamlit's AppTest (the real page code, its API calls over HTTP and its caches) and
reports per page the first render, then the median of ``--renders`` renders with the
answers cached (a widget change) and with the cache cleared (an auto-refresh past the
5 s TTL); the target is under 2 s after the first load. The service runs in the same process as
the renders (chDB allows one data directory per process and the world is loaded in
it), so both share one interpreter: the numbers are an upper bound of what a browser
user waits. Results go to docs/performance.md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import tempfile
import time
from pathlib import Path

import httpx
import streamlit as st
from streamlit.testing.v1 import AppTest

import loadsense.dashboard
from loadsense.api.app import prepare_storage
from loadsense.bench.correlate import Scale, load, serve, settle
from loadsense.settings import Settings
from loadsense.storage.client import open_storage

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
    return {
        "first_s": round(first, 3),
        "cached_median_s": round(statistics.median(cached), 3),
        "refresh_median_s": round(statistics.median(fresh), 3),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m loadsense.bench.dashboard")
    parser.add_argument("--scale", type=float, default=1.0, help="multiply every count")
    parser.add_argument("--renders", type=int, default=5, help="timed renders after the first")
    parser.add_argument("--tmp", default=None, help="parent of the temporary data dir")
    args = parser.parse_args(argv)
    data_dir = tempfile.mkdtemp(prefix="bench-dashboard-", dir=args.tmp)
    try:
        storage = open_storage(f"chdb://{data_dir}/db", "loadsense")
        prepare_storage(storage, Settings())
        scale = Scale.of(args.scale)
        load(storage, scale, time.time_ns(), 1)
        settle(storage)
        with serve(storage, Settings()) as url:
            deadline = time.monotonic() + 600
            while not httpx.get(f"{url}/api/v1/signals/freshness", timeout=60).json()["as_of"]:
                if time.monotonic() > deadline:
                    raise TimeoutError("no tick within 600 s")
                time.sleep(1)
            result = {p: render_times(url, p, args.renders) for p in PAGES}
        print(json.dumps({"scale": scale.__dict__, "pages": result}, indent=2))
    finally:
        shutil.rmtree(data_dir, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
