"""What a user installs: wheels built from a fresh clone of this commit, as pip builds them.

The service's wheel must install one top-level package, ``loadsense``, with every room of
the house inside it and nothing of ``tests/`` or ``deploy/``; the client's wheel
(``client/``) must carry the scheduler-side client alone and need only httpx and pydantic.
Content checks read the wheels' RECORD; the slow tests install them into empty
virtualenvs (pip's cache makes the dependencies a local copy after the first run) and
run them from a directory outside the source tree, so nothing is imported from it.
"""

from __future__ import annotations

import ast
import csv
import io
import json
import subprocess
import sys
import tomllib
import uuid
import zipfile
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from loadsense.settings import Settings
from loadsense.storage.client import Storage
from tests.support.feed import feed_runs, tick
from tests.support.service import Service, running_service

ROOT = Path(__file__).parents[1]
ROOMS = ("agent", "api", "bench", "collectors", "correlator", "dashboard", "signals", "storage")


def _run(*command: str | Path, cwd: Path, timeout: float = 600) -> str:
    done = subprocess.run(
        [str(c) for c in command],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    assert done.returncode == 0, f"{command}: {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh clone of the commit under test (uncommitted changes are not in it)."""
    head = _run("git", "rev-parse", "HEAD", cwd=ROOT).strip()
    target = tmp_path_factory.mktemp("clone") / "loadsense"
    _run("git", "clone", "--quiet", "--no-checkout", ROOT, target, cwd=ROOT)
    _run("git", "checkout", "--quiet", head, cwd=target)
    return target


def _build(source: Path, out: Path) -> Path:
    _run(sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "-w", out, source, cwd=out)
    (wheel,) = out.glob("*.whl")
    return wheel


@pytest.fixture(scope="module")
def server_wheel(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(clone, tmp_path_factory.mktemp("server-wheel"))


@pytest.fixture(scope="module")
def client_wheel(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _build(clone / "client", tmp_path_factory.mktemp("client-wheel"))


def _record(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        (record,) = (n for n in archive.namelist() if n.endswith(".dist-info/RECORD"))
        rows = csv.reader(io.StringIO(archive.read(record).decode()))
        return [row[0] for row in rows if row]


def _top_level(paths: list[str]) -> set[str]:
    return {p.split("/", 1)[0] for p in paths if ".dist-info/" not in p}


def _metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = (n for n in archive.namelist() if n.endswith(".dist-info/METADATA"))
        return archive.read(name).decode()


def test_server_wheel_holds_one_top_level_package_with_every_room(server_wheel: Path) -> None:
    paths = _record(server_wheel)
    assert _top_level(paths) == {"loadsense"}
    for room in ROOMS:
        assert f"loadsense/{room}/__init__.py" in paths, room
    assert "loadsense/api/client.py" in paths
    assert "loadsense/py.typed" in paths
    assert "loadsense/correlator/alerts/loadsense.rules.yaml" in paths  # the default pack
    assert not [p for p in paths if p.startswith(("tests/", "deploy/", "client/"))]
    # every module of the source tree is shipped, under its loadsense.* name
    sources = {f"loadsense/{p.relative_to(ROOT)}" for r in ROOMS for p in (ROOT / r).rglob("*.py")}
    sources |= {str(p.relative_to(ROOT)) for p in (ROOT / "loadsense").rglob("*.py")}
    assert sources - set(paths) == set()


def test_client_wheel_holds_the_client_alone_and_needs_only_httpx_and_pydantic(
    client_wheel: Path,
) -> None:
    paths = _record(client_wheel)
    modules = {p for p in paths if p.endswith(".py")}
    assert _top_level(paths) == {"loadsense"}
    assert "loadsense/api/client.py" in modules
    # namespace packages: installing it next to the service overwrites none of its files
    assert not [p for p in modules if p.endswith("__init__.py")]
    # everything of ours the client imports travels with it
    shipped = {p.removesuffix(".py").replace("/", "."): p for p in modules}
    with zipfile.ZipFile(client_wheel) as archive:
        sources = {module: archive.read(path).decode() for module, path in shipped.items()}
    for module, source in sources.items():
        tree = ast.parse(source)
        for node in ast.walk(tree):
            if isinstance(node, ast.ImportFrom) and (node.module or "").startswith("loadsense"):
                assert node.module in shipped, f"{module} imports {node.module}, not shipped"
    requires = [
        line.split(":", 1)[1].strip().split(">")[0].split("=")[0].strip()
        for line in _metadata(client_wheel).splitlines()
        if line.startswith("Requires-Dist:") and "extra ==" not in line
    ]
    assert sorted(requires) == ["httpx", "pydantic"]


def test_client_version_follows_the_service() -> None:
    server = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["version"]
    client = tomllib.loads((ROOT / "client/pyproject.toml").read_text())["project"]["version"]
    assert client == server


def _venv(where: Path) -> Path:
    _run(sys.executable, "-m", "venv", where, cwd=where.parent)
    return where / "bin"


@pytest.mark.slow
def test_server_wheel_installs_into_an_empty_venv_and_runs(
    server_wheel: Path, tmp_path: Path
) -> None:
    bin_dir = _venv(tmp_path / "venv")
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", server_wheel, cwd=tmp_path)
    help_text = _run(bin_dir / "loadsense", "--help", cwd=tmp_path)
    assert "serve" in help_text and "replica" in help_text and "agent" in help_text
    probe = (
        "import importlib.util, json, loadsense.collectors.otlp as o;"
        "print(json.dumps({n: importlib.util.find_spec(n) is not None"
        " for n in ('api', 'storage', 'signals', 'collectors', 'tests')}|{'otlp': o.__file__}))"
    )
    found = json.loads(_run(bin_dir / "python", "-c", probe, cwd=tmp_path))
    otlp = found.pop("otlp")
    assert found == dict.fromkeys(("api", "storage", "signals", "collectors", "tests"), False)
    assert "site-packages/loadsense/collectors/otlp" in otlp


@pytest.fixture(scope="module")
def live(storage: Storage) -> Iterator[tuple[Service, set[str]]]:
    """A service on the external clock that has recommendations for fresh workloads."""
    with running_service(storage, Settings(clock="external")) as svc:
        workloads = feed_runs(svc.url, f"packaging-{uuid.uuid4().hex[:8]}", seed=7)
        tick(svc.url)
        yield svc, workloads


CLIENT_SCRIPT = """
import importlib.util, json, sys
from loadsense.api.client import LoadsenseAPIError, LoadsenseClient

server_only = ("chdb", "fastapi", "uvicorn", "clickhouse_connect", "yaml", "loadsense.settings")
present = [n for n in server_only if importlib.util.find_spec(n) is not None]
with LoadsenseClient(sys.argv[1]) as ls:
    regime = ls.regime()
    listed = ls.recommendations(workload=sys.argv[2] + "/*")
    one = ls.recommendation(listed[0].workload)
    again = ls.wait_for_change(timeout=0.2, workload=sys.argv[2] + "/*")
    try:
        ls.recommendation("no-such/workload")
        missing = None
    except LoadsenseAPIError as exc:
        missing = [exc.status, exc.code]
print(json.dumps({
    "present": present, "regime": regime.regime, "policy": regime.policy_version,
    "workloads": sorted(r.workload for r in listed),
    "one": [one.workload, one.action, one.priority],
    "unchanged": again is None, "missing": missing,
}))
"""


@pytest.mark.slow
def test_client_installs_alone_and_talks_to_a_live_service(
    client_wheel: Path, live: tuple[Service, set[str]], tmp_path: Path
) -> None:
    svc, workloads = live
    namespace = next(iter(workloads)).split("/", 1)[0]
    bin_dir = _venv(tmp_path / "venv")
    _run(bin_dir / "python", "-m", "pip", "install", "--quiet", client_wheel, cwd=tmp_path)
    out = json.loads(
        _run(bin_dir / "python", "-c", CLIENT_SCRIPT, svc.url, namespace, cwd=tmp_path)
    )
    regime = httpx.get(f"{svc.url}/api/v1/regime").json()
    first = httpx.get(f"{svc.url}/api/v1/recommendations/{out['workloads'][0]}").json()
    assert out == {
        "present": [],  # none of the service's dependencies, nor its other modules, came along
        "regime": regime["regime"],
        "policy": regime["policy"]["version"],
        "workloads": sorted(workloads),
        "one": [first["workload"], first["action"], first["priority"]],
        "unchanged": True,  # nothing ticked since: the long poll times out with 304
        "missing": [404, "not_found"],
    }
