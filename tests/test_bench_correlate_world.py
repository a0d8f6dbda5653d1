"""The correlator benchmark's generated lineage history: every run of every job, day by day.

The generator writes one UTC day per statement; a run lost or doubled at a day's edge
would skew every history-length comparison in ``docs/performance.md``.
"""

from __future__ import annotations

import itertools
import json
import subprocess
import sys
from pathlib import Path

NS = 1_000_000_000

_SCRIPT = """
import json, random, sys, time
from loadsense.api.app import prepare_storage
from loadsense.bench.correlate import Scale, load_lineage
from loadsense.settings import Settings
from loadsense.storage.client import open_storage

storage = open_storage(f"chdb://{sys.argv[1]}/db", "loadsense")
prepare_storage(storage, Settings())
now_ns = time.time_ns()
load_lineage(storage, Scale.of(0.002, history_hours=30), now_ns, random.Random(7))
q = storage.client.query
jobs = q(
    "SELECT job_name, groupArray(toUnixTimestamp64Nano(event_time)) FROM run_events "
    "WHERE event_type = 'START' GROUP BY job_name"
).result_rows
ends = q("SELECT event_type, count() FROM run_events GROUP BY event_type").result_rows
updates = q("SELECT count() FROM dataset_updates").result_rows[0][0]
edges = q(
    "SELECT count(DISTINCT run_id), countIf(direction = 'output') FROM lineage_edges "
    "WHERE source = 'run'"
).result_rows[0]
print(json.dumps({"now_ns": now_ns, "jobs": jobs, "ends": dict(ends),
                  "updates": updates, "edges": list(edges)}))
"""


def test_every_run_of_a_30_hour_history_is_generated_once(tmp_path: Path) -> None:
    out = subprocess.run(
        [sys.executable, "-c", _SCRIPT, str(tmp_path)],
        check=True,
        stdout=subprocess.PIPE,
        text=True,
        timeout=300,
    ).stdout
    world = json.loads(out.strip().splitlines()[-1])
    now_ns, history_ns = world["now_ns"], 30 * 3600 * NS
    # Scale.of(0.002): 20 datasets, 20 // 7 = 2 per layer of 7, one job each
    assert len(world["jobs"]) == 14
    for job, starts in world["jobs"]:
        starts.sort()
        steps = {b - a for a, b in itertools.pairwise(starts)}
        # one interval per job, with no gap or double at a day boundary
        assert len(steps) == 1, (job, sorted(steps))
        (interval,) = steps
        assert interval in {300 * NS, 600 * NS, 900 * NS, 1800 * NS}
        # the first run within one interval after the history starts, the last one
        # within one interval before the cut 2 minutes before now
        assert now_ns - history_ns <= starts[0] < now_ns - history_ns + interval
        assert now_ns - 120 * NS - interval <= starts[-1] < now_ns - 120 * NS
    runs = sum(len(starts) for _, starts in world["jobs"])
    ends = world["ends"]
    assert ends["START"] == runs == ends.get("COMPLETE", 0) + ends.get("FAIL", 0)
    assert world["updates"] == ends["COMPLETE"]  # a COMPLETE updates its one output
    assert world["edges"] == [runs, runs]  # every run has edges, one of them its output
