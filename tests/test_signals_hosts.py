"""Host contention: PSI first, else utilisation through the knees; members by host.name."""

from __future__ import annotations

import pytest

from loadsense.signals.config import SignalsConfig, parse_signals_config
from loadsense.signals.evaluate import evaluate_all
from loadsense.signals.hosts import HostRow, knee
from loadsense.storage.client import Storage
from tests.support.service import Service
from tests.support.signals_feed import NS, T0, Feed, unique

MS = 1_000_000


def hosts(
    storage: Storage, as_of_ns: int, config: SignalsConfig | None = None
) -> dict[str, HostRow]:
    ev = evaluate_all(storage, as_of_ns, config or SignalsConfig())
    return {r.subject: r for r in ev.rows["hosts"]}


def test_knee() -> None:
    assert knee(0.5, 0.6, 0.95) == 0.0
    assert knee(0.7, 0.5, 0.9) == pytest.approx(0.5)  # (0.7 - 0.5) / 0.4
    assert knee(0.99, 0.6, 0.95) == 1.0


def test_psi_wins_over_utilisation_and_knees_map_the_rest(
    storage: Storage, service: Service
) -> None:
    feed = Feed(service.url)
    a, b = unique("node"), unique("gpu")
    at = T0 + 30 * NS
    feed.host_sample(a, "cpu", "some", at, 0.30)  # PSI: 30% of time stalled
    feed.host_sample(a, "cpu", "", at, 0.99)  # utilisation is ignored when PSI is there
    feed.host_sample(a, "memory", "", at, 0.89)  # knees (0.8, 0.98): 0.09 / 0.18 = 0.5
    # Busy seconds of two disks over 30 s: sda +18 s -> 0.6, sdb +6 s -> 0.2; the busiest
    # counts: io knees (0.5, 0.9) -> (0.6 - 0.5) / 0.4 = 0.25.
    for device, step in (("sda", 6.0), ("sdb", 2.0)):
        points = [(T0 + (10 + 10 * k) * NS, 100.0 + step * k) for k in range(4)]
        feed.disk_io_time(a, device, points, T0 - 3600 * NS)
    feed.host_sample(b, "cpu", "", at, 0.75)  # host override knees (0.5, 1.0): 0.5
    feed.host_sample(b, "memory", "some", T0 - 60 * NS, 0.90)  # older than 60 s: ignored
    feed.host_sample(b, "memory", "full", at, 0.95)  # 'full' stalls are not used
    config = parse_signals_config({"hosts": {"gpu-*": {"knees": {"cpu": [0.5, 1.0]}}}})
    rows = hosts(storage, T0 + 60 * NS, config)
    assert rows[a].cpu == pytest.approx(0.30)
    assert rows[a].memory == pytest.approx((0.89 - 0.8) / (0.98 - 0.8))
    assert rows[a].io == pytest.approx((18 / 30 - 0.5) / (0.9 - 0.5))
    assert rows[a].contention == pytest.approx(0.5)  # max(0.30, 0.5, 0.25)
    assert rows[a].source == "mixed"
    assert rows[b].cpu == pytest.approx((0.75 - 0.5) / (1.0 - 0.5))
    assert rows[b].memory is None and rows[b].io is None
    assert rows[b].contention == pytest.approx(0.5)
    assert rows[b].source == "utilisation"


def test_services_and_jobs_seen_on_the_host(storage: Storage, service: Service) -> None:
    feed = Feed(service.url)
    host, ns = unique("node"), unique("etl")
    service, loader = unique("ranker"), unique("loader")
    feed.run(f"{ns}/{loader}", T0, T0 + 10 * NS, outputs=[f"{ns}/table"])
    feed.spans(service, [T0 + 20 * NS], [5 * MS], host=host)
    feed.spans(loader, [T0 + 20 * NS], [5 * MS], host=host, kind="INTERNAL")
    row = hosts(storage, T0 + 60 * NS)[host]
    assert row.services == (service,)
    assert row.jobs == (f"{ns}/{loader}",)
    assert row.contention is None and row.source == "none"  # telemetry, but no samples
